"""``BugzillaDouble``: the stateful Bugzilla 5.2 REST double and its test hooks."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from .bugview import bug_json, load_bugs, wanted_fields
from .errors import BugzillaError
from .mail import Mailer
from .seed import CONTRACT_ADMIN_KEY, CONTRACT_ADMIN_LOGIN, seed_admin, seed_xen
from .seeding import bulk_insert_bugs
from .server import Fault, LoggedRequest, ServerApp
from .state import STOCK_DEFAULT_GROUPS, State
from .workflow import StatusWorkflow, workflow_by_name

# The installation the contract recordings were made on: no groups granted to every account
# (so new bugs from ordinary users are UNCONFIRMED) and target milestones switched on.
CONTRACT_INSTALLATION: dict[str, Any] = {"default_groups": (), "use_target_milestone": True}


class BugzillaDouble:
    """A Bugzilla 5.2 REST server on 127.0.0.1 with SQLite state; see ``pytest_plugin``.

    By default it behaves as a stock 5.2 installation (every account in ``editbugs`` and
    ``canconfirm``; no target milestones); ``**CONTRACT_INSTALLATION`` gives the configuration
    the contract recordings were made on."""

    def __init__(self, *, workflow: str | StatusWorkflow = "bugzilla-5.2",
                 resolutions: Iterable[str] | None = None, db_path: str | Path | None = None,
                 lose_same_second_mail: bool = True, mbox_path: str | Path | None = None,
                 admin_api_key: str = CONTRACT_ADMIN_KEY, admin_password: str | None = None,
                 seed: bool = True, extra_keywords: dict[str, str] | None = None,
                 default_groups: Iterable[str] = STOCK_DEFAULT_GROUPS,
                 use_target_milestone: bool = False) -> None:
        wf = (workflow if isinstance(workflow, StatusWorkflow)
              else workflow_by_name(workflow, tuple(resolutions) if resolutions else None))
        self.state = State(wf, str(db_path) if db_path else ":memory:",
                           default_groups=default_groups,
                           use_target_milestone=use_target_milestone)
        self.admin_api_key = admin_api_key
        self.admin_login = CONTRACT_ADMIN_LOGIN
        with self.state.lock:
            seed_admin(self.state, admin_api_key, admin_password or secrets.token_urlsafe(12))
            if seed:
                seed_xen(self.state, extra_keywords)
        self._app = ServerApp(self.state, self._on_events)
        self._mbox_path = mbox_path
        self.mailer: Mailer | None = None
        self._lose_same_second = lose_same_second_mail

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> BugzillaDouble:
        """Starts serving (again, on the same port after ``stop()``)."""
        self._app.start()
        if self.mailer is None:
            self.mailer = Mailer(self.state, self.base_url,
                                 lose_same_second=self._lose_same_second,
                                 mbox_path=self._mbox_path)
        return self

    def stop(self) -> None:
        """Stops serving: connections are refused until ``start()``; state is kept."""
        self._app.stop()

    def close(self) -> None:
        self.stop()
        self.state.db.close()

    def __enter__(self) -> BugzillaDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self._app.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def url(self) -> str:
        """The REST root python-bugzilla takes: ``http://127.0.0.1:PORT/rest/``."""
        return f"{self.base_url}rest/"

    # -- users and data -----------------------------------------------------------------
    def create_user(self, email: str, name: str = "", groups: Iterable[str] = (),
                    password: str | None = None) -> str:
        """Creates an account and returns its API key."""
        with self.state.lock:
            user = self.state.add_user(email, name, password, list(groups))
            return self.state.new_api_key(user.id)

    def api_key_for(self, email: str) -> str:
        with self.state.lock:
            user = self.state.check_user(email)
            row = self.state.db.execute("SELECT api_key FROM users WHERE id=?",
                                        (user.id,)).fetchone()
            return str(row[0]) if row[0] else self.state.new_api_key(user.id)

    def seed_bugs(self, bugs: list[dict[str, Any]]) -> list[int]:
        """Bulk-inserts bugs (no mails, no history); returns their ids in order."""
        with self.state.lock:
            return bulk_insert_bugs(self.state, bugs)

    def bug(self, bug_id: int) -> dict[str, Any]:
        """A bug as an admin sees it through REST (for assertions)."""
        with self.state.lock:
            rec = load_bugs(self.state, [bug_id]).get(bug_id)
            if rec is None:
                raise KeyError(bug_id)
            admin = self.state.find_user(self.admin_login)
            return bug_json(self.state, rec, wanted_fields([], [], admin, single_get=False))

    def comments(self, bug_id: int) -> list[dict[str, Any]]:
        with self.state.lock:
            rows = self.state.db.execute(
                "SELECT c.id, u.login, c.ts, c.text, c.is_private FROM comments c JOIN users u "
                "ON u.id=c.who WHERE bug_id=? ORDER BY c.id", (bug_id,))
            return [{"id": r[0], "creator": r[1], "time": r[2], "text": r[3],
                     "is_private": bool(r[4])} for r in rows]

    def history(self, bug_id: int) -> list[dict[str, Any]]:
        with self.state.lock:
            rows = self.state.db.execute(
                "SELECT u.login, a.ts, a.field, a.removed, a.added FROM activity a JOIN users u "
                "ON u.id=a.who WHERE bug_id=? ORDER BY a.id", (bug_id,))
            return [{"who": r[0], "when": r[1], "field_name": r[2], "removed": r[3],
                     "added": r[4]} for r in rows]

    def make_private(self, bug_id: int, group: str = "private") -> None:
        """Restricts the bug to ``group`` (admins are members); others get 401/102."""
        with self.state.lock:
            self.state.group_id(group)
            self.state.db.execute("UPDATE bugs SET private_group=? WHERE id=?", (group, bug_id))

    def delete_bug(self, bug_id: int) -> None:
        """Removes the bug and everything attached to it, as ``editbugs``' delete does."""
        with self.state.lock:
            for table in ("bug_cc", "bug_keywords", "flags", "comments", "activity",
                          "attachments"):
                self.state.db.execute(f"DELETE FROM {table} WHERE bug_id=?", (bug_id,))
            self.state.db.execute("DELETE FROM bugs WHERE id=?", (bug_id,))

    # -- clock --------------------------------------------------------------------------
    def set_clock(self, when: datetime | float | str, *, frozen: bool = True) -> None:
        self.state.clock.set(when, frozen=frozen)

    def advance_clock(self, seconds: float) -> None:
        self.state.clock.advance(seconds)

    def now(self) -> int:
        return self.state.clock.now()

    # -- requests and faults ------------------------------------------------------------
    @property
    def internal_errors(self) -> list[str]:
        """Unexpected exceptions inside the double (answered as 500); should stay empty."""
        return list(self._app.internal_errors)

    @property
    def request_log(self) -> list[LoggedRequest]:
        return self._app.requests()

    def request_count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        """Requests seen, optionally by method and path prefix (``/rest/bug`` or ``bug``)."""
        if path_prefix is not None and not path_prefix.startswith("/"):
            path_prefix = "/rest/" + path_prefix
        return sum(1 for r in self._app.requests()
                   if (method is None or r.method == method.upper())
                   and (path_prefix is None or r.path.startswith(path_prefix)))

    def reset_counts(self) -> None:
        self._app.clear_log()

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        self._app.faults.add(n, Fault("fail", status))

    def html_next(self, n: int = 1, status: int = 502) -> None:
        self._app.faults.add(n, Fault("html", status))

    def delay_next(self, n: int, seconds: float) -> None:
        self._app.faults.add(n, Fault("delay", seconds=seconds))

    def drop_next(self, n: int = 1) -> None:
        self._app.faults.add(n, Fault("drop"))

    def clear_faults(self) -> None:
        self._app.faults.clear()
        self._app.rejected_ids.clear()

    def reject_ids(self, *ids: int | str) -> None:
        """Every request naming one of ``ids`` (in ``id``/``ids`` or the path) is answered with
        Bugzilla's error 100 "not a valid bug number", as a real one answers an id its
        database cannot hold."""
        self._app.rejected_ids |= {str(i) for i in ids}

    # -- mail ---------------------------------------------------------------------------
    @property
    def outbox(self) -> list[EmailMessage]:
        return list(self.mailer.outbox) if self.mailer else []

    def mails_for(self, bug_id: int) -> list[EmailMessage]:
        return [m for m in self.outbox if m["X-Bugzilla-ID"] == str(bug_id)]

    def clear_outbox(self) -> None:
        if self.mailer:
            self.mailer.outbox.clear()

    def _on_events(self, events: list[Any]) -> None:
        if self.mailer is not None:
            self.mailer.process(events)


__all__ = ["BugzillaDouble", "BugzillaError"]
