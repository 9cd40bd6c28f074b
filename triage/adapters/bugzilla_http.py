"""HTTP plumbing of the Bugzilla gateway: the API-key log scrubber and the requests session.

Kept apart from :mod:`triage.adapters.bugzilla` (which alone imports python-bugzilla) so that
module stays about the REST calls themselves.
"""

from __future__ import annotations

import email.utils
import logging
from datetime import datetime
from typing import Any

import requests


class KeyScrubber(logging.Filter):
    """Removes the API key from log records of python-bugzilla, urllib3 and requests."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "<api-key>")
        return text

    def _arg(self, value: object) -> object:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, int | float) or value is None:
            return value  # keeps %d / %f formats working
        return self.scrub(str(value))

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.scrub(str(record.msg))
            if isinstance(record.args, dict):
                record.args = {k: self._arg(v) for k, v in record.args.items()}
            elif isinstance(record.args, tuple):
                record.args = tuple(self._arg(a) for a in record.args)
        return True


SCRUBBER = KeyScrubber()
for _name in ("bugzilla", "urllib3.connectionpool", "requests", "triage.adapters.bugzilla"):
    logging.getLogger(_name).addFilter(SCRUBBER)


class CountingSession(requests.Session):
    """A requests session with our timeout (python-bugzilla hard-codes 300 s) that also notes the
    server's ``Date`` header (the sync needs the server's clock, not ours) and counts requests."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.xt_timeout = timeout
        self.server_date: datetime | None = None
        self.requests_made = 0

    def request(self, method: str | bytes, url: str | bytes,  # type: ignore[override]
                *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = self.xt_timeout
        self.requests_made += 1
        response = super().request(method, url, *args, **kwargs)
        date = response.headers.get("Date")
        if date:
            try:
                self.server_date = email.utils.parsedate_to_datetime(date)
            except (TypeError, ValueError):
                pass
        return response
