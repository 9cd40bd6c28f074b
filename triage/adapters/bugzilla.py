"""The live Bugzilla gateway: the only module that imports python-bugzilla.

How it talks to Bugzilla (docs/bugzilla.md has the full story):

* REST through python-bugzilla 3.x (``force_rest=True``) with the API key, which Bugzilla 5.2
  accepts only as a query parameter, so it sits in every URL: every message and log line that
  could carry a URL is scrubbed (:mod:`triage.adapters.bugzilla_http`), and our own errors are
  raised ``from None`` so the library's exception (URL inside) is not chained into tracebacks.
* Reads are batched: searches ask for exactly the fields the model needs (``include_fields``) and
  page with ``limit``/``offset`` in ``bug_id`` order (stable while bugs change); comments,
  history and attachment metadata (name, description, type; never the data) for many bugs come
  from *one* ``GET /rest/bug/<id>/comment?ids=..&ids=..`` (``/history``, ``/attachment``) call.
  python-bugzilla's own ``get_comments`` makes one request per bug, so those three calls go
  through the one documented shim over its private REST backend
  (:mod:`triage.adapters.bugzilla_batched`, guarded by a test); everything else uses the public
  API (``query``, ``update_bugs``, ``createbug``, ``getusers``).
* Reads are retried with exponential back-off (tenacity) on timeouts, connection errors, 5xx and
  HTML-instead-of-JSON answers. Writes are retried only when the request provably never reached
  the server (connection refused); an ambiguous failure (timeout, 5xx after sending) is raised as
  ``TrackerUnavailable(retryable=True)`` and the write ledger (:mod:`triage.writes`) checks its
  marker in Bugzilla before sending again, so a comment is never posted twice.
* Bugzilla's fault codes become the tracker error classes (306 bad key, 101/102 no such bug or
  no access, 51 invalid value, ...).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import requests
from bugzilla import Bugzilla  # type: ignore[import-untyped]
from bugzilla.exceptions import BugzillaError  # type: ignore[import-untyped]
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from triage.adapters import bugzilla_batched as batched
from triage.adapters.bugzilla_convert import (
    ATTACHMENT_FIELDS,
    BUG_FIELDS,
    COMMENT_FIELDS,
    attachment_from_rest,
    bug_from_rest,
    comments_by_bug,
    create_payload,
    history_from_rest,
    needs_current_state,
    update_payload,
)
from triage.adapters.bugzilla_http import CountingSession
from triage.adapters.tracker import (
    AuthenticationError,
    BugBatch,
    BugNotFound,
    InvalidValue,
    PermissionDenied,
    TrackerError,
    TrackerUnavailable,
    WriteResult,
)
from triage.config import BugzillaSettings
from triage.logscrub import register_secret, scrub
from triage.model import Attachment, Bug, BugUpdate, Comment, HistoryEntry, NewBug, format_bz_time

log = logging.getLogger(__name__)
T = TypeVar("T")

# Bugzilla fault codes (Bugzilla::WebService::Constants) grouped by what a caller can do about them.
_AUTH_CODES = {32000, 300, 301, 305, 306, 410}
_NOT_FOUND_CODES = {100, 101, 102}
_PERMISSION_CODES = {115, 123, 106, 108, 109, 113, 505, 804, 805}
_SEARCH_ID_RE = re.compile(r"[Bb]ug #?(\d+)")
# Found (by hand) to stay well under Apache's default 8190-byte request line with 4-digit ids is
# ~800 ids; longer lists are split automatically when a server answers 414.
_URI_TOO_LONG = 414
API_KEY_MASK = "<api-key>"


class BugzillaGateway:
    """:class:`~triage.adapters.tracker.Tracker` over a live Bugzilla 5.x REST API."""

    name = "bugzilla"
    read_only = False

    def __init__(
        self,
        settings: BugzillaSettings,
        api_key: str | None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._api_key = api_key or None
        if self._api_key:
            register_secret(self._api_key, API_KEY_MASK)
        self._sleep = sleep
        self._session = CountingSession(settings.timeout_seconds)
        self._bz: Any = None
        self.comment_batch_size = settings.comment_batch_size

    # --- plumbing ------------------------------------------------------------------------------

    @property
    def requests_made(self) -> int:
        return self._session.requests_made

    @property
    def server_time(self) -> datetime | None:
        """The server clock from the last answer's ``Date`` header (None before any request)."""
        return self._session.server_date

    def _scrub(self, text: str) -> str:
        return scrub(text).replace(self._api_key or "\0", API_KEY_MASK)

    def _client(self) -> Any:
        """python-bugzilla, connected on first use (connecting costs one ``/rest/version``)."""
        if self._bz is None:
            def connect() -> Any:
                return Bugzilla(
                    self.settings.url,
                    api_key=self._api_key,
                    force_rest=True,
                    use_creds=False,  # never read ~/.bugzillarc or a token cache
                    sslverify=self.settings.verify_tls,
                    requests_session=self._session,
                )

            self._bz = self._call("connect", connect, write=False)
        return self._bz

    def _classify(self, exc: BaseException) -> TrackerError:
        """Any failure of a call as a tracker error, with the key scrubbed out of the message."""
        if isinstance(exc, TrackerError):
            return exc
        if isinstance(exc, BugzillaError):
            code = BugzillaError.get_bugzilla_error_code(exc)
            message = self._scrub(str(exc))
            if code in _AUTH_CODES:
                return AuthenticationError(f"Bugzilla rejected the credentials: {message}",
                                           code=code)
            if code in _NOT_FOUND_CODES:
                return BugNotFound(message, code=code)
            if code in _PERMISSION_CODES:
                return PermissionDenied(message, code=code)
            if code in {51, 52, 53, 54, 55, 56, 104, 107, 110, 111, 112, 114, 116, 117, 118, 119}:
                return InvalidValue(message, code=code)
            return TrackerError(message, code=code)
        if isinstance(exc, requests.HTTPError):
            response = getattr(exc, "response", None)
            status = response.status_code if response is not None else None
            code = None
            detail = ""
            if response is not None:
                try:
                    body = json.loads(response.text)
                    code = body.get("code")
                    detail = str(body.get("message", ""))
                except (ValueError, AttributeError):
                    detail = ""
            message = f"Bugzilla answered HTTP {status}" + (f": {detail}" if detail else "")
            if status is not None and status >= 500:
                return TrackerUnavailable(self._scrub(message), status=status, retryable=True)
            if code is not None:
                err = self._classify(BugzillaError(detail, code=code))
                err.status = status
                return err
            if status in (401, 403):
                return AuthenticationError(message, status=status)
            return TrackerError(message, status=status)
        if isinstance(exc, requests.Timeout):
            return TrackerUnavailable(
                f"Bugzilla timed out after {self.settings.timeout_seconds:g}s", retryable=True)
        if isinstance(exc, requests.ConnectionError):
            return TrackerUnavailable("cannot connect to Bugzilla at "
                                      f"{self.settings.url}: connection failed", retryable=True)
        if isinstance(exc, ValueError):  # json.JSONDecodeError: HTML or garbage instead of JSON
            return TrackerUnavailable("Bugzilla answered something that is not JSON "
                                      "(an HTML error page or a proxy in the way?)", retryable=True)
        return TrackerError(self._scrub(f"{type(exc).__name__}: {exc}"))

    def _never_sent(self, exc: BaseException) -> bool:
        """True when a request cannot have reached Bugzilla (so a write may be retried)."""
        if isinstance(exc, requests.ConnectTimeout):
            return True
        if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout):
            text = str(exc).lower()
            return "refused" in text or "name or service" in text or "unreachable" in text
        return False

    def _call(self, what: str, fn: Callable[[], T], *, write: bool) -> T:
        """Run one REST call with retries; a read is retried on any transient failure, a write
        only when it was never sent."""

        if what != "connect":
            self._client()  # connect first, with its own retries (not nested in this call's)

        def retryable(exc: BaseException) -> bool:
            if write:
                return self._never_sent(exc)
            err = self._classify(exc)
            return isinstance(err, TrackerUnavailable) and err.retryable

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("Bugzilla %s failed (%s); retry %d of %d", what,
                        self._classify(exc) if exc else "?", state.attempt_number,
                        self.settings.retries)

        retrying = Retrying(
            retry=retry_if_exception(retryable),
            stop=stop_after_attempt(self.settings.retries + 1),
            wait=wait_exponential(multiplier=self.settings.retry_backoff_seconds,
                                  max=max(self.settings.retry_backoff_seconds * 32, 1)),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(fn)
        except Exception as exc:
            err = self._classify(exc)
            if write and isinstance(err, TrackerUnavailable) and not self._never_sent(exc):
                err = TrackerUnavailable(
                    f"{err} (the {what} may or may not have been applied)", status=err.status,
                    retryable=True,
                )
            raise err from None

    # --- reads ---------------------------------------------------------------------------------

    def _chunks(self, ids: Sequence[int], size: int) -> Iterator[list[int]]:
        unique = list(dict.fromkeys(int(i) for i in ids))
        for start in range(0, len(unique), size):
            yield unique[start : start + size]

    def _get_raw_bugs(self, ids: list[int]) -> list[dict[str, Any]]:
        # ``id=1,2,3`` is a search (permissive: missing ids are dropped, not an error) and half
        # the length of repeated ``id=`` parameters.
        params = {"id": ",".join(str(i) for i in ids), "include_fields": ",".join(BUG_FIELDS)}
        return self._query("bug read", params)

    def _query(self, what: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One search through python-bugzilla's public ``query`` (a dict of REST search
        parameters, as ``build_query`` makes and its docs allow extending); Bugzilla's JSON."""
        bugs = self._call(what, lambda: self._client().query(dict(params)), write=False)
        return [bug.get_raw_data() for bug in bugs]

    def get_bugs(
        self,
        ids: Sequence[int],
        *,
        comments: bool = True,
        history: bool = False,
        attachments: bool = False,
    ) -> BugBatch:
        found: dict[int, dict[str, Any]] = {}
        for chunk in self._chunks(ids, self.settings.batch_size):
            for raw in self._get_raw_bugs(chunk):
                found[int(raw["id"])] = raw
        present = list(found)
        missing = [i for i in dict.fromkeys(int(i) for i in ids) if i not in found]
        comment_map: dict[int, tuple[Comment, ...]] = {}
        history_map: dict[int, tuple[HistoryEntry, ...]] = {}
        attachment_map: dict[int, tuple[Attachment, ...]] = {}
        if comments and present:
            comment_map, gone = self.get_comments(present)
            missing += [i for i in gone if i not in missing]
        if history and present:
            history_map, gone = self.get_history(present)
            missing += [i for i in gone if i not in missing]
        if attachments and present:
            attachment_map, gone = self.get_attachments(present)
            missing += [i for i in gone if i not in missing]
        bugs = tuple(
            bug_from_rest(
                found[i],
                comments=comment_map.get(i, ()),
                history=history_map.get(i, ()),
                attachments=attachment_map.get(i, ()),
                open_statuses=self.settings.workflow.open_statuses,
            )
            for i in present
            if i not in missing
        )
        return BugBatch(bugs=bugs, missing=tuple(missing))

    def _per_bug_batched(
        self, ids: Sequence[int], what: str, fetch: Callable[[list[int]], dict[int, T]],
    ) -> tuple[dict[int, T], list[int]]:
        """Fetch ``ids`` in batches of ``comment_batch_size`` through one call each.

        Bugzilla fails a whole multi-bug call when one bug is gone or private (101/102), so such
        a bug is taken out (named in the message, else found by halving) and reported as missing;
        a 414 (request line too long for the web server) halves the batch."""
        out: dict[int, T] = {}
        missing: list[int] = []
        pending = list(self._chunks(ids, self.comment_batch_size))
        while pending:
            batch = pending.pop(0)
            if not batch:
                continue
            try:
                out.update(fetch(batch))
            except BugNotFound as exc:
                if len(batch) == 1:
                    missing.append(batch[0])
                    continue
                named = [int(m) for m in _SEARCH_ID_RE.findall(str(exc)) if int(m) in batch]
                if named:
                    missing.extend(n for n in named if n not in missing)
                    pending.insert(0, [i for i in batch if i not in named])
                else:
                    half = len(batch) // 2
                    pending[0:0] = [batch[:half], batch[half:]]
            except TrackerError as exc:
                if exc.status == _URI_TOO_LONG and len(batch) > 1:
                    half = len(batch) // 2
                    self.comment_batch_size = max(1, half)
                    log.warning("Bugzilla refused a %s URL as too long; batches of %d from now",
                                what, self.comment_batch_size)
                    pending[0:0] = [batch[:half], batch[half:]]
                else:
                    raise
        return out, missing

    def get_comments(self, ids: Sequence[int]) -> tuple[dict[int, tuple[Comment, ...]], list[int]]:
        """Comments of many bugs, ``comment_batch_size`` bugs per request; returns (comments by
        bug id, ids that are gone or private)."""

        def fetch(batch: list[int]) -> dict[int, tuple[Comment, ...]]:
            params: dict[str, Any] = {"include_fields": ",".join(COMMENT_FIELDS)}
            raw = self._call("comment read",
                             lambda: batched.comments(self._client(), batch, params), write=False)
            got = comments_by_bug(raw)
            return {i: got.get(i, ()) for i in batch}

        return self._per_bug_batched(ids, "comment", fetch)

    def get_history(self, ids: Sequence[int]) -> tuple[dict[int, tuple[HistoryEntry, ...]],
                                                        list[int]]:
        def fetch(batch: list[int]) -> dict[int, tuple[HistoryEntry, ...]]:
            raw = self._call("history read",
                             lambda: batched.history(self._client(), batch, {}), write=False)
            got = {int(b["id"]): history_from_rest(b.get("history", ()))
                   for b in raw.get("bugs", [])}
            return {i: got.get(i, ()) for i in batch}

        return self._per_bug_batched(ids, "history", fetch)

    def get_attachments(self, ids: Sequence[int]) -> tuple[dict[int, tuple[Attachment, ...]],
                                                            list[int]]:
        # python-bugzilla's public get_attachments() makes one GET per bug under REST, so, as
        # for comments, the batched call goes through the shim: one request per batch of bugs.
        # Metadata only: ``data`` (the base64 content, up to megabytes per file) is excluded.
        def fetch(batch: list[int]) -> dict[int, tuple[Attachment, ...]]:
            params: dict[str, Any] = {"include_fields": ",".join(ATTACHMENT_FIELDS),
                                      "exclude_fields": "data"}
            raw = self._call(
                "attachment read",
                lambda: batched.attachments(self._client(), batch, params), write=False)
            bugs = raw.get("bugs") or {}
            return {i: tuple(attachment_from_rest(a) for a in bugs.get(str(i), ()))
                    for i in batch}

        return self._per_bug_batched(ids, "attachment", fetch)

    def _search_pages(self, query: dict[str, Any]) -> Iterator[Bug]:
        page = self.settings.page_size
        offset = 0
        while True:
            params = dict(query, include_fields=",".join(BUG_FIELDS), order="bug_id",
                          limit=page, offset=offset)
            bugs = self._query("search", params)
            for raw in bugs:
                yield bug_from_rest(raw, open_statuses=self.settings.workflow.open_statuses)
            if len(bugs) < page:
                return
            offset += page

    def search_changed_since(
        self, since: datetime | None, *, products: Sequence[str] = (), open_only: bool = False
    ) -> Iterator[Bug]:
        query: dict[str, Any] = {}
        if since is not None:
            query["last_change_time"] = format_bz_time(since)
        if products:
            query["product"] = list(products)
        if open_only:
            query["status"] = list(self.settings.workflow.open_statuses)
        return self._search_pages(query)

    def search_whiteboard(self, marker: str) -> Iterator[Bug]:
        return self._search_pages({"whiteboard": marker})

    def user_groups(self, email: str) -> tuple[str, ...]:
        try:
            users = self._call("user read", lambda: self._client().getusers([email]),
                               write=False)
        except (BugNotFound, InvalidValue, PermissionDenied):
            return ()
        for user in users:
            return tuple(str(g.get("name", "")) for g in user.groups or [])
        return ()

    # --- writes --------------------------------------------------------------------------------

    def get_bug(self, bug_id: int, *, comments: bool = True) -> Bug:
        batch = self.get_bugs([bug_id], comments=comments)
        if not batch.bugs:
            raise BugNotFound(f"Bug #{bug_id} does not exist or is not visible to this account",
                              code=101)
        return batch.bugs[0]

    def update_bug(self, bug_id: int, update: BugUpdate, *, current: Bug | None = None
                   ) -> WriteResult:
        if update.is_empty():
            return WriteResult(bug_id=bug_id)
        if current is None and needs_current_state(update):
            current = self.get_bug(bug_id, comments=False)
        body = update_payload(update, current)
        if not body:  # e.g. a whiteboard tag that is already there
            return WriteResult(bug_id=bug_id)
        # ``update_bugs`` sends the dict as given (``build_update`` would only rename keys that
        # update_payload already writes in REST's names).
        raw = self._call("update", lambda: self._client().update_bugs([bug_id], dict(body)),
                         write=True)
        changed: list[str] = []
        details: dict[str, str] = {}
        for entry in raw.get("bugs", []):
            if int(entry.get("id", bug_id)) == bug_id:
                changed = sorted((entry.get("changes") or {}).keys())
                if entry.get("last_change_time"):
                    details["last_change_time"] = str(entry["last_change_time"])
        return WriteResult(bug_id=bug_id, changed_fields=tuple(changed), details=details)

    def create_bug(self, new: NewBug) -> int:
        body = create_payload(new)
        bug = self._call("create", lambda: self._client().createbug(dict(body)), write=True)
        return int(bug.id)
