"""HTTP plumbing of the Bugzilla gateway: the requests session and where the log scrubber goes.

Kept apart from :mod:`triage.adapters.bugzilla` (which alone imports python-bugzilla) so that
module stays about the REST calls themselves.
"""

from __future__ import annotations

import email.utils
import logging
from datetime import datetime
from typing import Any

import requests

from triage.logscrub import SCRUBBER

# The API key rides in every URL (Bugzilla 5.2 reads it only from the query string). It is masked
# by the one scrubber on the handlers the CLI installs (:mod:`triage.logscrub`, which also sees
# child loggers such as ``bugzilla._backendrest``); it is also put on these loggers themselves so
# a handler somebody else adds (a test's log capture, an embedding application) gets their
# records scrubbed too.
for _name in ("bugzilla", "bugzilla._backendrest", "bugzilla._session", "bugzilla.base",
              "urllib3.connectionpool", "requests", "triage.adapters.bugzilla"):
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
