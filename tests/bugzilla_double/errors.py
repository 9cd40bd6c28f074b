"""Bugzilla's error answers: an HTTP status, a numeric Bugzilla code and the message text.

The status/code pairs are not uniform in Bugzilla 5.2 (an unknown product is 401/106 like "no
access", an unknown value is 404/51, ...), so every error the double raises names both explicitly,
copied from the contract recordings.
"""

from __future__ import annotations

DOCUMENTATION_URL = "https://bugzilla.readthedocs.org/en/5.0/api/"


class BugzillaError(Exception):
    """An error Bugzilla reports as ``{"error": true, "code": ..., "message": ...}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def with_suffix(self, suffix: str) -> BugzillaError:
        """``There is no version named 'X'.`` -> ``... named 'X' in the 'Xen' product.``"""
        return BugzillaError(self.status, self.code, self.message.rstrip(".") + suffix)

    def as_json(self) -> dict[str, object]:
        return {
            "error": True,
            "code": self.code,
            "message": self.message,
            "documentation": DOCUMENTATION_URL,
        }


def login_required() -> BugzillaError:
    return BugzillaError(401, 410, "You must log in before using this part of Bugzilla.")


def bug_not_found(bug_id: object) -> BugzillaError:
    return BugzillaError(404, 101, f"Bug #{bug_id} does not exist.")


def bug_not_visible(bug_id: int) -> BugzillaError:
    return BugzillaError(401, 102, f"You are not authorized to access bug #{bug_id}.")


def invalid_bug_id(text: str) -> BugzillaError:
    return BugzillaError(400, 100, f"'{text}' is not a valid bug number nor an alias to a bug.")


def no_such_value(kind: str, value: str, suffix: str = "") -> BugzillaError:
    return BugzillaError(404, 51, f"There is no {kind} named '{value}'.{suffix}")


def no_such_user(login: str) -> BugzillaError:
    return BugzillaError(
        404,
        51,
        f"There is no user named '{login}'. Either you mis-typed the name or that user has not "
        "yet registered for a Bugzilla account.",
    )


def missing_param(function: str, param: str) -> BugzillaError:
    return BugzillaError(
        400,
        50,
        " ".join(filter(None, ["The function", function, f"requires a {param} argument, and "
                                                       "that argument was not set."])),
    )


def illegal_date(text: str) -> BugzillaError:
    return BugzillaError(400, 56, f"'{text}' is not a legal date.")


def resource_not_found(method: str, path: str) -> BugzillaError:
    return BugzillaError(
        404, 32614, f"A REST API resource was not found for '{method} {path}'."
    )

