"""Adapters: the only code that talks to the outside (Bugzilla, mail, SMTP, the wiki).

:func:`open_tracker` picks the tracker the settings ask for: the live Bugzilla gateway when
``bugzilla.url`` is set, else the read-only snapshot tracker over ``bugzilla.snapshot``.
"""

from __future__ import annotations

from triage.adapters.tracker import Tracker, TrackerError
from triage.config import SecretUnavailable, Settings


def open_tracker(settings: Settings, *, production: bool) -> Tracker:
    """The tracker for these settings.

    The API key is read only here, and only for a live Bugzilla. In production a live gateway
    needs it (writes need an account); a dry run reads anonymously when no key is configured.
    The snapshot tracker is always read-only, whatever ``production`` says.
    """
    bz = settings.bugzilla
    if not bz.url:
        from triage.adapters.snapshot import SnapshotTracker

        return SnapshotTracker(bz.snapshot, open_statuses=bz.workflow.open_statuses)
    from triage.adapters.bugzilla import BugzillaGateway

    secret = settings.bugzilla_api_key()
    api_key: str | None = None
    if secret.is_set():
        api_key = secret.get()
    elif production:
        raise SecretUnavailable("bugzilla.api_key_env",
                                "production writes need a Bugzilla API key "
                                f"(set {bz.api_key_env} or bugzilla.api_key_file)")
    return BugzillaGateway(bz, api_key)


__all__ = ["Tracker", "TrackerError", "open_tracker"]
