"""Outgoing mail: building a safe message from an :class:`OutgoingMail`, and two transports.

A transport implements only ``send_message(msg) -> Message-ID``:

- :class:`SmtpTransport` sends through an SMTP server (smtplib; optional STARTTLS with the
  certificate checked; login with ``smtp.password``, read only when needed);
- :class:`OutboxTransport` writes ``.eml`` files into ``<state_dir>/outbox/``: the embedded default
  and the dry-run view, so a plan's mails can be read before anything is sent.

Why the builder is strict: subjects and addresses come from bug text and list mail, i.e. from
anyone. A CR or LF that reached a header would let that text add headers (a ``Bcc:``) or end the
header block. Python 3.11.7's ``email`` package does not refuse such values on its own, so every
header value goes through :func:`_clean_text` (folds CR/LF/control characters into spaces) or is
validated as an address / Message-ID and rejected with :class:`MailHeaderError`.

The Message-ID of a planned mail is derived from its idempotency key (:func:`message_id_for_key`,
through the Writer's marker): a resend after a crash between sending and recording carries the
same Message-ID, so receiving systems see one message, not two. :func:`writer_mail_sender` is the
hook :class:`triage.writes.Writer` calls for ``Change.mail``.
"""

from __future__ import annotations

import email.utils
import logging
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Protocol, runtime_checkable

from triage.adapters.tracker import TrackerError
from triage.config import SecretUnavailable, Settings
from triage.model import Change, OutgoingMail

log = logging.getLogger(__name__)

BOT_HEADER = "X-Xentriage-Bot"
# Headers the builder owns: a planned mail cannot override them through ``OutgoingMail.headers``.
_RESERVED = {
    "from", "to", "cc", "bcc", "subject", "date", "message-id", "in-reply-to", "references",
    "sender", "reply-to", "return-path", "mime-version", "content-type",
    "content-transfer-encoding", BOT_HEADER.lower(),
}
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 ftext: printable ASCII except ':'
_MSGID = re.compile(r"^<[!-;=?A-~]+@[!-;=?A-~]+>$")  # one '@'; no space, CR/LF, '<' or '>'
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_AUTO_SUBMITTED = {"auto-generated", "auto-replied", "auto-notified"}
MAX_SUBJECT = 200


class MailHeaderError(ValueError):
    """A header value (an address, a Message-ID, a header name) would be unsafe to send."""


class MailTransportError(Exception):
    """Sending failed. The message never contains a secret; ``retryable`` tells the caller that
    the same mail may be sent again later (server down, temporary refusal)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class MailTransport(Protocol):
    name: str

    def send_message(self, msg: EmailMessage) -> str:
        """Send (or store) ``msg``; return its Message-ID."""
        ...


# --- building ------------------------------------------------------------------------------


def _clean_text(value: str, limit: int | None = None) -> str:
    """One line of header text: CR, LF and other control characters become a single space."""
    text = _CONTROL.sub(" ", value).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def parse_address(value: str) -> Address:
    """One mailbox, strictly: no CR/LF, exactly one ``local@domain``; display names are kept
    only after cleaning. Raises :class:`MailHeaderError` otherwise."""
    if not value or "\r" in value or "\n" in value or _CONTROL.search(value):
        raise MailHeaderError("address contains control characters or is empty")
    pairs = email.utils.getaddresses([value])
    if len(pairs) != 1:
        raise MailHeaderError("expected exactly one address")
    name, addr = pairs[0]
    if addr.count("@") != 1 or any(c in addr for c in " <>,;\"()[]\\"):
        raise MailHeaderError("not a plain local@domain address")
    local, domain = addr.split("@")
    if not local or not domain or "." not in domain.strip("."):
        raise MailHeaderError("not a plain local@domain address")
    try:
        return Address(display_name=_clean_text(name), username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise MailHeaderError(f"invalid address: {exc}") from None


def _check_msgid(value: str) -> str:
    value = value.strip()
    if not _MSGID.match(value):
        raise MailHeaderError("invalid Message-ID (expected <id@domain>, no spaces)")
    return value


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2] or "localhost"


def message_id_for_marker(marker: str, settings: Settings) -> str:
    """The Message-ID of the mail whose action marker (``xentriage:<hex>``, see
    :func:`triage.markers.marker_for`) is ``marker``: the same planned mail always gets the same
    Message-ID, so a resend after an ambiguous failure is recognisably the same message
    (Mailman and most mail clients drop a duplicate Message-ID)."""
    token = re.sub(r"[^A-Za-z0-9]", ".", marker).strip(".") or "xentriage"
    return f"<{token}@{_domain_of(settings.general.bot_email)}>"


def message_id_for_key(key: str, settings: Settings) -> str:
    """A Message-ID stable for one idempotency key."""
    from triage.markers import marker_for

    return message_id_for_marker(marker_for(key), settings)


def bot_instance(settings: Settings) -> str:
    """The value of the loop-guard header: this installation's own address."""
    return settings.general.bot_email


def build_message(
    mail: OutgoingMail,
    settings: Settings,
    *,
    message_id: str | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """A ready-to-send message. Raises :class:`MailHeaderError` for an unusable address or id."""
    if not mail.to:
        raise MailHeaderError("a mail needs at least one recipient")
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = parse_address(settings.general.bot_email)
    msg["To"] = [parse_address(a) for a in mail.to]
    if mail.cc:
        msg["Cc"] = [parse_address(a) for a in mail.cc]
    msg["Subject"] = _clean_text(mail.subject, MAX_SUBJECT) or "(no subject)"
    msg["Date"] = email.utils.format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = _check_msgid(
        message_id or email.utils.make_msgid("xentriage", _domain_of(settings.general.bot_email))
    )
    references = [_check_msgid(r) for r in mail.references]
    if mail.in_reply_to:
        parent = _check_msgid(mail.in_reply_to)
        msg["In-Reply-To"] = parent
        if parent not in references:
            references.append(parent)
    if references:
        msg["References"] = " ".join(references)
    auto = "auto-replied" if mail.in_reply_to else "auto-generated"
    extra: list[tuple[str, str]] = []
    for name, value in mail.headers.items():
        if not _HEADER_NAME.match(name) or name.lower() in _RESERVED:
            raise MailHeaderError(f"header {name!r} cannot be set by a planned mail")
        if name.lower() == "auto-submitted":
            if value not in _AUTO_SUBMITTED:
                raise MailHeaderError("Auto-Submitted must be auto-generated/-replied/-notified")
            auto = value
            continue
        extra.append((name, _clean_text(value, 900)))
    # RFC 3834: automatic mail says so, and vacation responders must not answer it.
    msg["Auto-Submitted"] = auto
    msg["X-Auto-Response-Suppress"] = "All"
    msg[BOT_HEADER] = _clean_text(bot_instance(settings))
    for name, value in extra:
        msg[name] = value
    msg.set_content(mail.text, subtype="plain", charset="utf-8")
    if mail.html is not None:
        msg.add_alternative(mail.html, subtype="html", charset="utf-8")
        html_part = msg.get_body(("html",))
        assert html_part is not None
        for image in mail.images:
            # multipart/alternative(text/plain, multipart/related(text/html, image/png)): mail
            # clients show the image inline and never fetch anything.
            html_part.add_related(image.data, maintype="image", subtype=image.subtype,
                                  cid=_check_msgid(f"<{image.cid}>"), disposition="inline")
    elif mail.images:
        raise MailHeaderError("inline images need an HTML part")
    return msg


def envelope_recipients(msg: EmailMessage) -> list[str]:
    out: list[str] = []
    for field in ("To", "Cc"):
        for _, addr in email.utils.getaddresses(msg.get_all(field, [])):
            if addr and addr not in out:
                out.append(addr)
    return out


# --- transports ----------------------------------------------------------------------------


class SmtpTransport:
    """Sends through an SMTP server; one connection per :meth:`send_message` (a handful of mails
    a day do not justify connection pooling, and a fresh connection survives server restarts)."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp = settings.smtp

    def _tls_context(self) -> ssl.SSLContext:
        # create_default_context checks the certificate and the host name.
        cafile = str(self.smtp.ca_file) if self.smtp.ca_file else None
        return ssl.create_default_context(cafile=cafile)

    def send_message(self, msg: EmailMessage) -> str:
        where = f"{self.smtp.host}:{self.smtp.port}"
        message_id = str(msg["Message-ID"] or "")
        if not message_id:
            raise MailHeaderError("message has no Message-ID")
        recipients = envelope_recipients(msg)
        if not recipients:
            raise MailHeaderError("message has no recipients")
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port,
                              timeout=self.smtp.timeout_seconds) as conn:
                conn.ehlo()
                if self.smtp.starttls:
                    conn.starttls(context=self._tls_context())
                    conn.ehlo()
                if self.smtp.user:
                    password = self.settings.smtp_password().get()
                    conn.login(self.smtp.user, password)
                refused = conn.send_message(msg, from_addr=self.smtp.from_address,
                                            to_addrs=recipients)
        except SecretUnavailable as exc:
            raise MailTransportError(f"SMTP {where}: {exc}", retryable=False) from None
        except smtplib.SMTPAuthenticationError as exc:
            # The server's answer is quoted, never the password.
            raise MailTransportError(
                f"SMTP {where}: login as {self.smtp.user!r} refused ({exc.smtp_code})",
                retryable=False,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise MailTransportError(
                f"SMTP {where}: all recipients refused (codes {codes})",
                retryable=all(400 <= c < 500 for c in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(
                exc.smtp_error, bytes) else str(exc.smtp_error)
            raise MailTransportError(
                f"SMTP {where}: server answered {exc.smtp_code} {_clean_text(text, 200)}",
                retryable=400 <= exc.smtp_code < 500,
            ) from None
        except ssl.SSLError as exc:
            raise MailTransportError(f"SMTP {where}: TLS failed: {exc.reason or exc}",
                                     retryable=False) from None
        except (smtplib.SMTPException, OSError) as exc:  # TimeoutError is an OSError
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise MailTransportError(f"SMTP {where}: cannot send: {reason or type(exc).__name__}",
                                     retryable=True) from None
        if refused:
            # Partly delivered: the mail is out, so it must not be sent again; say who missed it.
            log.warning("SMTP %s refused some recipients of %s: %s", where, message_id,
                        sorted(refused))
        return message_id


class OutboxTransport:
    """Writes each message as ``<outbox>/<timestamp>-<id>.eml`` (atomically: a reader never sees
    half a file). Sending the same Message-ID twice overwrites, never duplicates."""

    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, message_id: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._@-]", "_", message_id.strip("<>"))[:180]
        return self.directory / f"{safe}.eml"

    def send_message(self, msg: EmailMessage) -> str:
        message_id = str(msg["Message-ID"] or "")
        if not message_id:
            raise MailHeaderError("message has no Message-ID")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self.path_for(message_id)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".eml")
            with os.fdopen(fd, "wb") as fh:
                fh.write(msg.as_bytes(policy=SMTP_POLICY))
            os.replace(tmp, target)
        except OSError as exc:
            raise MailTransportError(f"outbox {self.directory}: {exc.strerror}") from None
        return message_id

    def messages(self) -> list[Path]:
        return sorted(self.directory.glob("*.eml")) if self.directory.exists() else []


def outbox_dir(settings: Settings) -> Path:
    return settings.state_dir / "outbox"


def open_transport(settings: Settings, *, production: bool) -> MailTransport:
    """The transport for a run: SMTP only when writing for real and configured so; otherwise the
    outbox, which is what a dry run shows."""
    if production and settings.smtp.transport == "smtp":
        return SmtpTransport(settings)
    return OutboxTransport(outbox_dir(settings))


class MailDeliveryFailed(TrackerError):
    """A mail was not delivered. A :class:`TrackerError` because the Writer handles mail changes
    like any other write: the action is recorded failed, the event that planned it stays
    pending, and the next run sends it (with the same Message-ID)."""


MailSender = Callable[[OutgoingMail, str], str]


def writer_mail_sender(settings: Settings, *, production: bool,
                       transport: MailTransport | None = None) -> MailSender:
    """The Writer's ``mail_sender``: ``(mail, marker) -> Message-ID``."""
    chosen = transport or open_transport(settings, production=production)

    def send(mail: OutgoingMail, marker: str) -> str:
        try:
            msg = build_message(mail, settings, message_id=message_id_for_marker(marker, settings))
            return chosen.send_message(msg)
        except MailHeaderError as exc:
            raise MailDeliveryFailed(f"mail not sent: {exc}", retryable=False) from None
        except MailTransportError as exc:
            raise MailDeliveryFailed(str(exc), retryable=exc.retryable) from None

    return send


def deliver(change: Change, settings: Settings, transport: MailTransport) -> str:
    """The Writer's mail path: build ``change.mail`` with the Message-ID derived from the change's
    idempotency key and hand it to ``transport``. Returns the Message-ID."""
    if change.mail is None:
        raise ValueError("deliver() needs a Change carrying a mail")
    msg = build_message(change.mail, settings, message_id=message_id_for_key(change.key, settings))
    return transport.send_message(msg)
