"""A raw REST client for the double: what python-bugzilla hides (status codes, error codes)."""

from __future__ import annotations

from typing import Any

import requests

from tests.bugzilla_double import BugzillaDouble


class Rest:
    """A raw REST client for one account of a double (what python-bugzilla hides)."""

    def __init__(self, double: BugzillaDouble, api_key: str | None) -> None:
        self.double = double
        self.key = api_key
        self.session = requests.Session()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             **params: Any) -> requests.Response:
        if self.key:
            params.setdefault("Bugzilla_api_key", self.key)
        return self.session.request(method, self.double.url + path.lstrip("/"), params=params,
                                    json=body, timeout=10)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.call("GET", path, **params)

    def put(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.call("PUT", path, body)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.call("POST", path, body)

    def new_bug(self, **fields: Any) -> int:
        body = {"product": "Xen", "component": "Tools", "version": "4.17", "summary": "s",
                "description": "d", **fields}
        r = self.post("bug", body)
        assert r.status_code == 200, r.text
        return int(r.json()["id"])


def admin(double: BugzillaDouble) -> Rest:
    return Rest(double, double.admin_api_key)


def user(double: BugzillaDouble, email: str, groups: tuple[str, ...] = ()) -> Rest:
    return Rest(double, double.create_user(email, groups=groups))
