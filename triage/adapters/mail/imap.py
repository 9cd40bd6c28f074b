"""IMAP source (imaplib2): IDLE for push, a UID sweep as the safety net, batched UID FETCH.

* The folder is opened read-only (EXAMINE): the bot never changes flags on the list's mail.
* New mail is found by ``UID SEARCH UID <last+1>:*`` and fetched with one ``UID FETCH`` per batch
  of up to ``fetch_batch_size`` messages (and a byte budget, so a batch of huge mails does not
  fill memory); never one round trip per message.
* IDLE wakes the watcher when the server announces new mail; the periodic sweep re-opens the
  folder and searches again, which also notices a UIDVALIDITY change.
* TLS is on by default with certificate and host name checking (``ssl.create_default_context``);
  ``ca_file`` replaces the system CAs. imaplib2 3.6 checks nothing by itself unless handed CA
  certificates, so the wrapping is done here with our own ``SSLContext``.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenacity import RetryCallState

from triage import retry_policy
from triage.adapters.mail import (
    Checkpoint,
    MailBatch,
    MailSourceError,
    MailSourceUnavailable,
    SourceMessage,
)
from triage.config import Secret

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import imaplib2

log = logging.getLogger(__name__)
# imaplib2 3.6 calls Thread.setDaemon / setName / getName and threading.currentThread,
# deprecated since 3.10. Silence exactly those messages from that module, nothing else.
warnings.filterwarnings("ignore", r"setDaemon\(\) is deprecated", DeprecationWarning, "imaplib2")
warnings.filterwarnings("ignore", r"currentThread\(\) is deprecated", DeprecationWarning,
                        "imaplib2")
warnings.filterwarnings("ignore", r"(set|get)Name\(\) is deprecated", DeprecationWarning,
                        "imaplib2")
_FETCH_UID = re.compile(rb"UID (\d+)")
_FETCH_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_BYTES_PER_FETCH = 32 * 1024 * 1024  # byte budget of one UID FETCH answer


@dataclass(frozen=True)
class ImapParams:
    host: str
    port: int
    user: str
    password: Secret
    folder: str = "INBOX"
    tls: bool = True
    ca_file: Path | None = None
    fetch_batch_size: int = 500
    timeout_seconds: float = 60.0
    idle_timeout_seconds: int = 600


def make_ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """Certificate and host name checked; ``ca_file`` instead of the system's CAs if given."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class _CheckedIMAP4_SSL(imaplib2.IMAP4_SSL):  # type: ignore[misc]
    """imaplib2's IMAP4_SSL wrapped with our SSLContext instead of its unchecked default."""

    def __init__(self, host: str, port: int, *, ssl_context: ssl.SSLContext,
                 timeout: float) -> None:
        self._ssl_context = ssl_context
        super().__init__(host, port, timeout=timeout)

    def ssl_wrap_socket(self) -> None:
        # self.sock is the plain socket imaplib2's open() made (untyped in imaplib2)
        self.sock = self._ssl_context.wrap_socket(
            self.sock, server_hostname=self.host)  # type: ignore[has-type]
        self.read_fd = self.sock.fileno()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


def _speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether ``host:port`` answers a TLS ClientHello (to name a plain-vs-TLS mismatch). A probe
    only: no certificate is trusted and nothing is sent over it."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                probe.wrap_socket(raw, server_hostname=host):
            return True
    except (OSError, ValueError):
        return False


def compress_uids(uids: Sequence[int]) -> str:
    """``[1,2,3,7,9,10]`` → ``1:3,7,9:10`` (keeps a FETCH of thousands of UIDs short)."""
    parts: list[str] = []
    ordered = sorted(set(uids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def parse_fetch(data: Sequence[Any]) -> dict[int, bytes]:
    """imaplib2 FETCH data (tuples of ``(b'1 (UID 5 BODY[] {n}', raw)`` and ``b')'``) → by UID."""
    out: dict[int, bytes] = {}
    for item in data:
        if isinstance(item, tuple) and len(item) >= 2:
            m = _FETCH_UID.search(item[0])
            if m:
                out[int(m.group(1))] = item[1]
    return out


class ImapSource:
    """One folder on one server. Not thread-safe: one watcher owns it."""

    def __init__(self, params: ImapParams, *, sleep: Callable[[float], None] = time.sleep,
                 max_backoff_seconds: float = 60.0, initial_backoff_seconds: float = 0.5,
                 give_up_after_seconds: float = 0.0) -> None:
        self.params = params
        self.source_id = f"imap:{params.user}@{params.host}:{params.port}/{params.folder}"
        self._conn: Any = None
        self._uidvalidity: int | None = None
        self._sleep = sleep
        self.max_backoff_seconds = max_backoff_seconds
        self.initial_backoff_seconds = initial_backoff_seconds
        self.give_up_after_seconds = give_up_after_seconds
        self._wake = threading.Event()
        self.round_trips = 0  # commands sent: the benchmark reports them
        self.reconnects = 0

    # --- connection ---------------------------------------------------------------------------

    def connect(self) -> None:
        p = self.params
        try:
            if p.tls:
                conn = _CheckedIMAP4_SSL(p.host, p.port, ssl_context=make_ssl_context(p.ca_file),
                                         timeout=p.timeout_seconds)
            else:
                conn = imaplib2.IMAP4(p.host, p.port, timeout=p.timeout_seconds)
        except ssl.SSLCertVerificationError as exc:
            raise MailSourceError(
                f"TLS certificate of {p.host}:{p.port} not trusted: {exc.verify_message}"
                + (f" (CA file {p.ca_file})" if p.ca_file else " (system CAs)")
            ) from None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:  # cut mid-handshake: retry
            raise MailSourceUnavailable(f"cannot connect to {p.host}:{p.port}: {exc}") from None
        except ssl.SSLError as exc:
            # The server answered, but not with TLS we can speak (a plain-text port reached
            # with TLS on gives WRONG_VERSION_NUMBER): the same answer every time.
            raise MailSourceError(
                f"TLS handshake with {p.host}:{p.port} failed ({exc.reason or exc}): is it a "
                "plain-text IMAP port? (mail.imap_tls = true wants the TLS port, usually 993)"
            ) from None
        except imaplib2.IMAP4.abort as exc:
            if not p.tls and _speaks_tls(p.host, p.port, min(p.timeout_seconds, 10.0)):
                raise MailSourceError(
                    f"{p.host}:{p.port} expects TLS but mail.imap_tls = false (no IMAP "
                    "greeting in plain text)") from None
            raise MailSourceUnavailable(f"cannot connect to {p.host}:{p.port}: {exc}") from None
        except OSError as exc:  # refused, unreachable, timed out: may be back soon
            raise MailSourceUnavailable(f"cannot connect to {p.host}:{p.port}: {exc}") from None
        try:
            conn.login(p.user, p.password.get())
            self.round_trips += 1
        except imaplib2.IMAP4.abort as exc:
            self._drop(conn)
            raise MailSourceUnavailable(f"login to {p.host}:{p.port} failed: {exc}") from None
        except imaplib2.IMAP4.error:
            self._drop(conn)
            # The server's text may echo what was sent; say only who failed.
            raise MailSourceError(f"IMAP login refused for user {p.user!r} on "
                                  f"{p.host}:{p.port}") from None
        self._conn = conn
        self._examine()

    def _examine(self) -> None:
        typ, data = self._conn.select(self.params.folder, readonly=True)
        self.round_trips += 1
        if typ != "OK":
            raise MailSourceError(f"cannot open folder {self.params.folder!r}: {data!r}")
        _typ, value = self._conn.response("UIDVALIDITY")
        self._uidvalidity = int(value[0]) if value and value[0] else None

    @staticmethod
    def _drop(conn: Any) -> None:
        try:
            conn.logout()
        except Exception:  # closing a broken connection: nothing more to learn
            log.debug("logout failed", exc_info=True)

    def close(self) -> None:
        if self._conn is not None:
            self._drop(self._conn)
            self._conn = None

    def ensure_connected(self, stop: threading.Event | None = None) -> None:
        """Connect, retrying with exponential back-off (tenacity) while the server is
        unavailable (refused, timing out), for at most ``give_up_after_seconds`` (0: until
        ``stop``). A permanent error (:class:`MailSourceError`) is raised at once."""
        if self._conn is not None:
            return

        def note(state: RetryCallState) -> None:
            self.reconnects += 1
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning("%s; retrying in %.1f s", exc, wait)

        retry_policy.backoff(
            retry_on=(MailSourceUnavailable,), initial=self.initial_backoff_seconds,
            maximum=self.max_backoff_seconds, give_up_after=self.give_up_after_seconds,
            stop_event=stop, sleep=self._sleep, on_retry=note)(self.connect)

    def connect_once(self) -> None:
        """Connect if not connected, without retrying (a caller with its own retry policy,
        the mail watcher, must not nest a second back-off loop inside its own)."""
        if self._conn is None:
            self.connect()

    # --- reading ------------------------------------------------------------------------------

    def _command(self, name: str, *args: Any) -> tuple[str, list[Any]]:
        try:
            typ, data = getattr(self._conn, name)(*args)
        except (imaplib2.IMAP4.abort, OSError) as exc:
            self._conn = None
            raise MailSourceUnavailable(f"IMAP connection lost: {exc}") from None
        self.round_trips += 1
        if typ != "OK":
            raise MailSourceError(f"IMAP {name} {args[:1]!r} failed: {data!r}")
        return typ, data

    def new_uids(self, after_uid: int) -> list[int]:
        _typ, data = self._command("uid", "SEARCH", f"UID {after_uid + 1}:*")
        words = b" ".join(d for d in data if d).split()
        # "N:*" always matches the newest message even when its UID is below N: filter.
        return [u for u in (int(w) for w in words) if u > after_uid]

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        _typ, data = self._command("uid", "FETCH", compress_uids(uids), "(UID RFC822.SIZE)")
        out: dict[int, int] = {}
        for item in data:
            head = item[0] if isinstance(item, tuple) else item
            if not isinstance(head, bytes):
                continue
            uid, size = _FETCH_UID.search(head), _FETCH_SIZE.search(head)
            if uid and size:
                out[int(uid.group(1))] = int(size.group(1))
        return out

    def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
        """Raw bytes of many messages in one round trip (``BODY.PEEK[]``: no \\Seen set)."""
        _typ, data = self._command("uid", "FETCH", compress_uids(uids), "(UID BODY.PEEK[])")
        return parse_fetch(data)

    def _plan(self, uids: list[int]) -> Iterator[list[int]]:
        """Split into FETCH groups: at most fetch_batch_size messages and the byte budget."""
        sizes = self.sizes(uids) if len(uids) > 1 else {}
        group: list[int] = []
        budget = 0
        for uid in uids:
            size = sizes.get(uid, 0)
            if group and (len(group) >= self.params.fetch_batch_size
                          or budget + size > _BYTES_PER_FETCH):
                yield group
                group, budget = [], 0
            group.append(uid)
            budget += size
        if group:
            yield group

    def batches(self, checkpoint: Checkpoint | None) -> Iterator[MailBatch]:
        """One sweep: re-open the folder, find what is newer than the checkpoint, fetch it."""
        self.ensure_connected()
        self._examine_or_drop()
        validity = self._uidvalidity
        last_uid, resync = 0, ""
        if checkpoint and checkpoint.get("uidvalidity") == validity:
            last_uid = int(checkpoint.get("last_uid", 0))
        elif checkpoint and checkpoint.get("uidvalidity") is not None:
            resync = (f"UIDVALIDITY changed from {checkpoint['uidvalidity']} to {validity}: "
                      "reading the folder again (Message-ID dedupe skips what was seen)")
            log.warning("%s: %s", self.source_id, resync)
        uids = self.new_uids(last_uid)
        if not uids and resync:
            yield MailBatch(self.source_id, validity, [], resync)
            return
        for group in self._plan(uids):
            raws = self.fetch(group)
            messages = [
                SourceMessage(uid=u, raw=raws[u],
                              checkpoint={"uidvalidity": validity, "last_uid": u})
                for u in group if u in raws  # expunged in between: gone, nothing to do
            ]
            yield MailBatch(self.source_id, validity, messages, resync)
            resync = ""

    def _examine_or_drop(self) -> None:
        try:
            self._examine()
        except (imaplib2.IMAP4.abort, OSError) as exc:
            self._conn = None
            raise MailSourceUnavailable(f"IMAP connection lost: {exc}") from None

    def interrupt(self) -> None:
        """End a running :meth:`wait_for_mail` from another thread or a signal handler."""
        self._wake.set()

    def wait_for_mail(self, timeout: float) -> bool:
        """IDLE until the server announces a change, ``timeout`` passes or :meth:`interrupt` is
        called. True: something happened (new mail, expunge, or the connection broke and a
        sweep is due).

        imaplib2 holds its state lock for the whole of a blocking ``idle()``, so no other
        thread could end it; IDLE is therefore started asynchronously (with a callback) and the
        wait happens here, on an event both the callback and :meth:`interrupt` can set."""
        self.ensure_connected()
        conn = self._conn
        outcome: dict[str, Any] = {}
        self._wake.clear()

        def finished(result: tuple[Any, Any, Any]) -> None:
            response, _arg, aborted = result
            outcome["aborted"], outcome["response"] = aborted, response
            self._wake.set()

        try:
            conn.response("EXISTS")  # drop the count EXAMINE left: only news counts
            conn.idle(timeout=max(1, int(timeout)), callback=finished)
            self.round_trips += 1
            self._wake.wait(timeout + 5)
            if "response" not in outcome:
                conn.noop()  # interrupted: a command ends IDLE (imaplib2 sends DONE first)
                self.round_trips += 1
        except (imaplib2.IMAP4.abort, OSError) as exc:
            self._conn = None
            log.warning("IMAP connection lost while idling: %s", exc)
            return True
        if outcome.get("aborted"):
            self._conn = None
            log.warning("IMAP connection lost while idling: %s", outcome["aborted"][1])
            return True
        _t, exists = conn.response("EXISTS")
        return bool(exists and exists[0])
