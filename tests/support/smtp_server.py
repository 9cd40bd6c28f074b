"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, a free port, one per test.

Fixtures:
- ``smtp_server``: a running :class:`SmtpTestServer` that captures every message it accepts.
  ``refuse(code, text)`` makes it answer DATA with an error (``451`` temporary, ``550``
  permanent) until ``accept()``; ``stop()`` / ``start()`` take it down and bring it back on the
  same port (an outage); ``require_auth(user, password)`` turns on AUTH PLAIN/LOGIN;
  ``enable_starttls(cert, key)`` offers and requires STARTTLS;
  ``wait_for(n)`` waits until n messages arrived; ``toml()`` is the ``[smtp]`` table that
  points the bot at it (for ``make_settings``).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data.replace(b"\r\n", b"\n"), policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class _Handler:
    def __init__(self, server: SmtpTestServer) -> None:
        self.server = server

    async def handle_DATA(self, _srv: Any, _session: Any, envelope: Any) -> str:
        with self.server.lock:
            refusal = self.server.refusal
            if refusal is None:
                self.server.received.append(
                    Received(
                        mail_from=envelope.mail_from,
                        rcpt_tos=tuple(envelope.rcpt_tos),
                        data=bytes(envelope.original_content or envelope.content),
                    )
                )
            else:
                self.server.refused_count += 1
        return refusal or "250 Message accepted for delivery"


class SmtpTestServer:
    host = "127.0.0.1"

    def __init__(self) -> None:
        self.port = _free_port()
        self.received: list[Received] = []
        self.refusal: str | None = None
        self.refused_count = 0
        self.lock = threading.Lock()
        self._auth: tuple[str, str] | None = None
        self._tls: ssl.SSLContext | None = None
        self._controller: Controller | None = None

    # --- life cycle ---
    def start(self) -> None:
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {}
        if self._auth is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False,
                          auth_required=True)
        if self._tls is not None:
            kwargs.update(tls_context=self._tls, require_starttls=True)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                      ready_timeout=10, **kwargs)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    # --- behaviour ---
    def refuse(self, code: int = 451, text: str = "Try again later") -> None:
        self.refusal = f"{code} {text}"

    def accept(self) -> None:
        self.refusal = None

    def require_auth(self, user: str, password: str) -> None:
        """Restart with AUTH required (PLAIN/LOGIN, allowed without TLS on loopback)."""
        self._auth = (user, password)
        self.stop()
        self.start()

    def enable_starttls(self, certfile: str, keyfile: str) -> None:
        """Restart offering (and requiring) STARTTLS with this certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(certfile, keyfile)
        self._tls = ctx
        self.stop()
        self.start()

    def _authenticate(self, _server: Any, _session: Any, _envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if (
            self._auth is not None
            and isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self._auth[0]
            and auth_data.password.decode() == self._auth[1]
        ):
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    # --- inspection ---
    @property
    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    break
            time.sleep(0.01)
        return self.messages

    def toml(self, **extra: Any) -> str:
        """An ``[smtp]`` table that sends to this server."""
        lines = ["[smtp]", 'transport = "smtp"', f'host = "{self.host}"', f"port = {self.port}",
                 "timeout_seconds = 5"]
        for key, value in extra.items():
            lines.append(f"{key} = {value!r}" if not isinstance(value, bool)
                         else f"{key} = {str(value).lower()}")
        return "\n".join(lines).replace("'", '"') + "\n"


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    server = SmtpTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
