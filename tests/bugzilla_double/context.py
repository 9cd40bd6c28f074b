"""One REST request as the handlers see it: parsed parameters, body, and the logged-in user."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import errors as E
from .events import BugEvent
from .state import State, User


@dataclass
class Request:
    state: State
    method: str
    path: str  # below /rest, e.g. "/bug/1/comment"
    query: dict[str, list[str]]
    body: dict[str, Any]
    viewer: User | None = None
    events: list[BugEvent] = field(default_factory=list)

    def params(self, name: str) -> list[str]:
        """All values of a parameter, from the query string or the JSON body."""
        values = list(self.query.get(name, []))
        if name in self.body:
            raw = self.body[name]
            values.extend(str(v) for v in (raw if isinstance(raw, list) else [raw]))
        return values

    def param(self, name: str, default: str = "") -> str:
        values = self.params(name)
        return values[0] if values else default

    def require_login(self) -> User:
        if self.viewer is None:
            raise E.login_required()
        return self.viewer


def authenticate(state: State, query: dict[str, list[str]], body: dict[str, Any]) -> User | None:
    """Bugzilla 5.2's REST authentication: parameters only.

    The ``X-BUGZILLA-API-KEY`` header is deliberately not read: 5.2 ignores it and runs the
    request anonymously (contract 072), and clients must not be tested against a kinder server.
    """
    def first(*names: str) -> str | None:
        for name in names:
            if query.get(name):
                return query[name][0]
            if body.get(name):
                return str(body[name])
        return None

    key = first("Bugzilla_api_key", "api_key")
    if key is not None:
        user = state.user_for_api_key(key)
        if user is None:
            raise E.BugzillaError(400, 306, "The API key you specified is invalid. Please check "
                                  "that you typed it correctly.")
        return user
    token = first("Bugzilla_token", "token")
    if token is not None:
        user = state.user_for_token(token)
        if user is None:
            raise E.BugzillaError(401, 32000, "The token you specified is invalid. Please log "
                                  "in again.")
        return user
    login = first("Bugzilla_login", "login") if first("Bugzilla_password") else None
    if login is not None:
        user, _ = state.login(login, first("Bugzilla_password") or "")
        return user
    return None
