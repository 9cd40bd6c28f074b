"""xentriage: Bugzilla + mailing-list triage service and unikernel CI farm."""

__version__ = "0.1.0"
