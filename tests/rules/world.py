"""A Bugzilla double with the triage keywords, users and a config pointing at it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from tests.bugzilla_double.double import BugzillaDouble
from tests.builders import config_toml
from triage.config import Settings, load_settings

ADMIN = "admin@bugzilla.local"  # the bot writes with the admin's API key
KEY_ENV = "XT_RULES_TEST_BZ_KEY"
RESOLUTIONS = ("FIXED", "INVALID", "WONTFIX", "DUPLICATE", "WORKSFORME", "INCOMPLETE")
KEYWORDS = {"triage-review": "Waiting for the triage reviewer", "triaged": "Accepted by triage",
            "triage-rejected": "Rejected by triage"}


def double_options() -> dict[str, Any]:
    return {"resolutions": RESOLUTIONS, "extra_keywords": KEYWORDS,
            "lose_same_second_mail": False}


def config_text(tmp_path: Path, double: BugzillaDouble, extra: str = "") -> str:
    return config_toml(
        tmp_path / "state", bot_email=ADMIN, bot_accounts=["ci-bot@xen.example.org"],
        bugzilla={"url": double.url, "api_key_env": KEY_ENV, "retries": 0,
                  "timeout_seconds": 10},
        sections=f'''
[orgs]
domains = {{ "citrix.com" = "Citrix" }}
{extra}
''')


def write_config(tmp_path: Path, double: BugzillaDouble, extra: str = "") -> tuple[Path,
                                                                                   Settings]:
    path = tmp_path / "xentriage.toml"
    path.write_text(config_text(tmp_path, double, extra), encoding="utf-8")
    return path, load_settings(path)


@dataclass
class Reporter:
    """A human acting in Bugzilla through REST, with their own API key."""

    double: BugzillaDouble
    email: str

    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            self.key = self.double.create_user(self.email, self.email.split("@")[0].title())

    @classmethod
    def existing(cls, double: BugzillaDouble, email: str) -> Reporter:
        return cls(double, email, double.api_key_for(email))

    def _call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = requests.request(method, f"{self.double.url}{path}", params={"api_key": self.key},
                             json=body, timeout=10)
        r.raise_for_status()
        return dict(r.json())

    def comment(self, bug_id: int, text: str) -> None:
        self._call("POST", f"bug/{bug_id}/comment", {"comment": text})

    def update(self, bug_id: int, **fields: Any) -> None:
        self._call("PUT", f"bug/{bug_id}", fields)


def bot_comments(double: BugzillaDouble, bug_id: int) -> list[dict[str, Any]]:
    return [c for c in double.comments(bug_id) if c["creator"] == ADMIN]


def at(double: BugzillaDouble, when: datetime) -> None:
    double.set_clock(when, frozen=True)
