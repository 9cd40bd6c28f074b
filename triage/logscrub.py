"""Secrets out of every log line: one :class:`logging.Filter` on the handlers the project installs.

Why on the handler and not on named loggers: a filter added to a logger runs only for records
*created* on that logger, not for records of its children that propagate through it. python-bugzilla
logs from ``bugzilla._backendrest``, urllib3 from ``urllib3.connectionpool``; a filter on the
``bugzilla`` logger never saw them, and URLs carrying Bugzilla's API key (5.2 takes it only as a
query parameter) reached the log. A handler filter sees every record the handler writes, from any
logger, including the formatted traceback of an exception.

Every secret the configuration hands out (:meth:`triage.config.Secret.get`) is registered here, so
the API key, the IMAP/SMTP/wiki passwords and the command token are all masked. The CLI's logging
set-up (:func:`triage.cli.common.configure_logging`, used by every command including ``serve`` and
the ``farm`` commands) calls :func:`install`.

This module imports nothing of the project: the configuration and the adapters import it.
"""

from __future__ import annotations

import logging
import threading
import traceback

MASK = "<secret>"
# Shorter values would mask ordinary words (and are not real keys or passwords anyway).
_MIN_LENGTH = 4


class SecretScrubber(logging.Filter):
    """Replaces every registered secret in a record's message, arguments, traceback and stack."""

    def __init__(self) -> None:
        super().__init__()
        self._masks: dict[str, str] = {}  # secret -> what replaces it
        self._lock = threading.Lock()

    def add(self, secret: str | None, mask: str = MASK) -> None:
        if secret and len(secret) >= _MIN_LENGTH:
            with self._lock:
                self._masks[secret] = mask

    def discard(self, secret: str) -> None:
        with self._lock:
            self._masks.pop(secret, None)

    @property
    def secrets(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._masks)

    def scrub(self, text: str) -> str:
        with self._lock:
            masks = sorted(self._masks.items(), key=lambda item: len(item[0]), reverse=True)
        # Longest first, so a secret that contains another is masked whole.
        for secret, mask in masks:
            if secret in text:
                text = text.replace(secret, mask)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what is there, scrubbed
            message = f"{record.msg} {record.args!r}"
        clean = self.scrub(message)
        if clean != message:
            # Merged with its arguments once, here, so no argument (an exception, a URL, a dict)
            # can bring the secret back when a formatter later runs ``msg % args``.
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None:
            # Formatters reuse ``exc_text`` when it is set instead of formatting the exception
            # (whose args and chained causes may hold the URL) again.
            text = record.exc_text or "".join(
                traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = self.scrub(text)
        elif record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


SCRUBBER = SecretScrubber()


def register_secret(value: str | None, mask: str = MASK) -> None:
    """Masks ``value`` (as ``mask``) in every log record from now on (for the life of the
    process)."""
    SCRUBBER.add(value, mask)


def scrub(text: str) -> str:
    """``text`` with every registered secret masked (for messages that are not log records)."""
    return SCRUBBER.scrub(text)


def install(handlers: list[logging.Handler] | None = None) -> None:
    """Adds the scrubber to ``handlers`` (default: every handler on the root logger)."""
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        if SCRUBBER not in handler.filters:
            handler.addFilter(SCRUBBER)
