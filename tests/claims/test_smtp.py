"""The SMTP adapter against a real aiosmtpd on loopback: building, header injection, outages."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
from email import policy
from pathlib import Path

import pytest

from triage.adapters.smtp import (
    BOT_HEADER,
    MailHeaderError,
    MailTransportError,
    OutboxTransport,
    SmtpTransport,
    build_message,
    deliver,
    message_id_for_key,
    open_transport,
)
from triage.model import Change, OutgoingMail

REPLY = OutgoingMail(
    to=("alice@example.org",),
    subject="Re: [Xen-bugs] #triage claim 7",
    text="Bug 7 is now claimed by alice@example.org.\n",
    in_reply_to="<cmd-1@example.org>",
    references=("<root@example.org>",),
)


@pytest.fixture
def settings(make_settings):
    return make_settings('[general]\nbot_email = "triage-bot@xen.example.org"\n'
                         'state_dir = "state"\n')


def test_build_message_sets_bot_headers(settings):
    msg = build_message(REPLY, settings, message_id="<m1@xen.example.org>")
    assert msg["From"] == "triage-bot@xen.example.org"
    assert msg["To"] == "alice@example.org"
    assert msg[BOT_HEADER] == "triage-bot@xen.example.org"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<cmd-1@example.org>"
    assert msg["References"] == "<root@example.org> <cmd-1@example.org>"
    assert msg["Message-ID"] == "<m1@xen.example.org>"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == REPLY.text


def test_unsolicited_mail_is_auto_generated_with_fresh_message_id(settings):
    mail = OutgoingMail(to=("dev@lists.example.org",), subject="Digest", text="x\n",
                        html="<p>x</p>")
    a, b = build_message(mail, settings), build_message(mail, settings)
    assert a["Auto-Submitted"] == "auto-generated"
    assert a["Message-ID"] != b["Message-ID"]
    assert a["Message-ID"].endswith("@xen.example.org>")
    assert a.get_content_type() == "multipart/alternative"


def test_message_id_is_stable_per_idempotency_key(settings):
    assert message_id_for_key("k1", settings) == message_id_for_key("k1", settings)
    assert message_id_for_key("k1", settings) != message_id_for_key("k2", settings)


def _reparse(msg) -> email.message.EmailMessage:
    return email.message_from_bytes(msg.as_bytes(), policy=policy.default)


@pytest.mark.parametrize("evil", [
    "hello\r\nBcc: victim@example.org",
    "hello\nBcc: victim@example.org",
    "hello\rBcc: victim@example.org",
    "hello\r\n\r\nbody injected",
    "hello\u2028Bcc: victim@example.org",
    "hello\x00\x0bBcc: victim@example.org",
])
def test_subject_from_bug_text_cannot_add_headers(settings, evil):
    mail = OutgoingMail(to=("alice@example.org",), subject=evil, text="body\n")
    raw = build_message(mail, settings).as_bytes()
    back = _reparse(build_message(mail, settings))
    assert back["Bcc"] is None
    assert "victim" not in "".join(k for k in back.keys())
    assert b"\nBcc:" not in raw and b"\r\nBcc:" not in raw
    assert back.get_content().strip() == "body"
    assert back["Subject"].startswith("hello")
    assert "\n" not in back["Subject"] and "\r" not in back["Subject"]


@pytest.mark.parametrize("address", [
    "alice@example.org\r\nBcc: victim@example.org",
    "alice@example.org, victim@example.org",
    "Alice <alice@example.org>\nX-Evil: 1",
    "not-an-address",
    "",
])
def test_bad_addresses_are_rejected(settings, address):
    with pytest.raises(MailHeaderError):
        build_message(OutgoingMail(to=(address,), subject="s", text="t"), settings)


def test_display_name_with_injection_is_folded(settings):
    # A display name is kept but cleaned: the CR/LF cannot start a header.
    mail = OutgoingMail(to=('"Eve\\r\\nBcc: v@example.org" <eve@example.org>',), subject="s",
                        text="t\n")
    back = _reparse(build_message(mail, settings))
    assert back["Bcc"] is None
    assert back["To"].addresses[0].addr_spec == "eve@example.org"


@pytest.mark.parametrize("field", ["in_reply_to", "references"])
def test_bad_message_ids_are_rejected(settings, field):
    bad = "<a@b>\r\nBcc: victim@example.org"
    kwargs = {field: bad if field == "in_reply_to" else (bad,)}
    with pytest.raises(MailHeaderError):
        build_message(OutgoingMail(to=("a@example.org",), subject="s", text="t", **kwargs),
                      settings)


def test_extra_headers_cannot_override_or_inject(settings):
    for headers in ({"Bcc": "v@example.org"}, {"X-Bad: y": "z"}, {BOT_HEADER: "other"},
                    {"Auto-Submitted": "no"}):
        with pytest.raises(MailHeaderError):
            build_message(OutgoingMail(to=("a@example.org",), subject="s", text="t",
                                       headers=headers), settings)
    msg = build_message(OutgoingMail(to=("a@example.org",), subject="s", text="t",
                                     headers={"X-Bug-Id": "7\r\nBcc: v@example.org"}), settings)
    back = _reparse(msg)
    assert back["X-Bug-Id"] == "7 Bcc: v@example.org" and back["Bcc"] is None


def test_smtp_transport_delivers(make_settings, smtp_server):
    settings = make_settings(smtp_server.toml(from_address="bounces@xen.example.org"))
    mail = OutgoingMail(to=("alice@example.org",), cc=("list@example.org",), subject="s",
                        text="héllo\n")
    sent_id = SmtpTransport(settings).send_message(build_message(mail, settings))
    (got,) = smtp_server.wait_for(1)
    assert got["Message-ID"] == sent_id
    assert smtp_server.received[0].mail_from == "bounces@xen.example.org"
    assert set(smtp_server.received[0].rcpt_tos) == {"alice@example.org", "list@example.org"}
    assert got.get_content() == "héllo\n"


def test_smtp_server_down_is_a_clear_retryable_error(make_settings, smtp_server):
    settings = make_settings(smtp_server.toml())
    smtp_server.stop()
    with pytest.raises(MailTransportError) as info:
        SmtpTransport(settings).send_message(build_message(REPLY, settings))
    assert info.value.retryable
    assert f"127.0.0.1:{smtp_server.port}" in str(info.value)
    assert "cannot send" in str(info.value)


@pytest.mark.parametrize(("code", "retryable"), [(451, True), (554, False)])
def test_smtp_refusal(make_settings, smtp_server, code, retryable):
    settings = make_settings(smtp_server.toml())
    smtp_server.refuse(code, "Not now")
    with pytest.raises(MailTransportError) as info:
        SmtpTransport(settings).send_message(build_message(REPLY, settings))
    assert info.value.retryable is retryable
    assert str(code) in str(info.value)
    assert smtp_server.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_and_no_secret_in_errors(make_settings, smtp_server, monkeypatch):
    smtp_server.require_auth("bot", "right-password")
    settings = make_settings(smtp_server.toml(user="bot", password_env="T_SMTP_PW"))
    monkeypatch.setenv("T_SMTP_PW", "wrong-secret-value-123")
    with pytest.raises(MailTransportError) as info:
        SmtpTransport(settings).send_message(build_message(REPLY, settings))
    assert "wrong-secret-value-123" not in str(info.value)
    assert not info.value.retryable
    monkeypatch.setenv("T_SMTP_PW", "right-password")
    SmtpTransport(settings).send_message(build_message(REPLY, settings))
    assert len(smtp_server.wait_for(1)) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_missing_password_is_reported_without_sending(make_settings, smtp_server, monkeypatch):
    smtp_server.require_auth("bot", "pw")
    monkeypatch.delenv("T_SMTP_PW2", raising=False)
    settings = make_settings(smtp_server.toml(user="bot", password_env="T_SMTP_PW2"))
    with pytest.raises(MailTransportError, match="T_SMTP_PW2"):
        SmtpTransport(settings).send_message(build_message(REPLY, settings))


@pytest.fixture
def certificate(tmp_path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is needed for the STARTTLS test and CI is set")
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def test_starttls_checks_the_certificate(make_settings, smtp_server, certificate):
    cert, key = certificate
    smtp_server.enable_starttls(str(cert), str(key))
    untrusted = make_settings(smtp_server.toml(starttls=True))
    with pytest.raises(MailTransportError, match="TLS failed"):
        SmtpTransport(untrusted).send_message(build_message(REPLY, untrusted))
    assert smtp_server.received == []
    trusted = make_settings(smtp_server.toml(starttls=True, ca_file=str(cert)))
    SmtpTransport(trusted).send_message(build_message(REPLY, trusted))
    assert len(smtp_server.wait_for(1)) == 1


def test_outbox_writes_one_file_per_message_id(settings):
    transport = open_transport(settings, production=False)
    assert isinstance(transport, OutboxTransport)
    change = Change(key="reply:<cmd-1@example.org>", rule="claims", reason="r", mail=REPLY)
    first = deliver(change, settings, transport)
    second = deliver(change, settings, transport)
    assert first == second
    (path,) = transport.messages()
    assert path.parent == settings.state_dir / "outbox"
    back = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert back["Message-ID"] == first and back["In-Reply-To"] == "<cmd-1@example.org>"


def test_production_with_smtp_transport_uses_smtp(make_settings, smtp_server):
    settings = make_settings(smtp_server.toml())
    assert isinstance(open_transport(settings, production=True), SmtpTransport)
    # Dry runs never leave the machine, whatever the transport says.
    assert isinstance(open_transport(settings, production=False), OutboxTransport)
