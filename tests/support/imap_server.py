"""A real dovecot IMAP server on 127.0.0.1 for tests: private config, private users, no syslog.

Fixtures:
- ``dovecot`` (session): a running :class:`Dovecot` with a plain IMAP and an IMAPS listener
  (self-signed certificate for ``localhost``/``127.0.0.1``, its CA file in ``.ca_file``).
- ``imap_mailbox`` (function): a fresh, empty folder on that server for one test, as
  :class:`ImapMailbox` (name, append helpers, UIDVALIDITY reset).

The server runs as dovecot's own unprivileged users (``default_login_user``,
``default_internal_user``, mail owned by ``dovecot``) because dovecot refuses mail access as root.
Its files live in a world-traversable temporary folder, since pytest's tmp folders are 0700.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "lists"
PASSWORD = "imap-test-password"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie): a dying child still holds its sockets."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate valid for localhost and 127.0.0.1: (cert, key)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = xentriage-test-{port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
debug_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_uid = {uid}
mail_gid = {gid}
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
ssl_min_protocol = TLSv1.2
mail_location = maildir:{root}/mail/%u
mail_max_userip_connections = 100
imap_idle_notify_interval = 1 secs
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
"""


@dataclass
class Dovecot:
    root: Path
    port: int
    tls_port: int
    user: str = USER
    password: str = PASSWORD
    process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def ca_file(self) -> Path:
        return self.root / "cert.pem"

    @property
    def log(self) -> Path:
        return self.root / "dovecot.log"

    def start(self, timeout: float = 15.0) -> None:
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=(self.root / "stderr.log").open("ab"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not answer on port {self.port}: {self.tail()}")

    def tail(self) -> str:
        texts = []
        for name in ("dovecot.log", "stderr.log"):
            p = self.root / name
            if p.exists():
                texts.append(p.read_text(errors="replace")[-2000:])
        return "\n".join(texts)

    def _children(self, pid: int) -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(stat.parent.name))
        return found

    def kill(self) -> None:
        """kill -9 the server: the master and every login and imap process it started, so
        open client connections break the way they do when a machine dies."""
        if self.process is None:
            return
        children = self._children(self.process.pid)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(c) for c in children):
            time.sleep(0.02)
        # Children notice their master died and exit; wait until the port is free again.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    time.sleep(0.05)
            except OSError:
                return

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None

    def client(self) -> imaplib.IMAP4:
        """A plain stdlib client (independent of the code under test) for setting up state."""
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        c.login(self.user, self.password)
        return c

    def doveadm(self, *args: str) -> str:
        out = subprocess.run([DOVEADM, "-c", str(self.config), *args], check=True,
                             capture_output=True, text=True)
        return out.stdout


@dataclass
class ImapMailbox:
    server: Dovecot
    name: str

    def append(self, raw: bytes) -> None:
        c = self.server.client()
        try:
            typ, data = c.append(self.name, None, None, raw)
            assert typ == "OK", data
        finally:
            c.logout()

    def append_many(self, raws: list[bytes]) -> None:
        c = self.server.client()
        try:
            for raw in raws:
                typ, data = c.append(self.name, None, None, raw)
                assert typ == "OK", data
        finally:
            c.logout()

    def uidvalidity(self) -> int:
        c = self.server.client()
        try:
            _typ, data = c.status(self.name, "(UIDVALIDITY)")
            text = data[0].decode()
            return int(text.rsplit("UIDVALIDITY", 1)[1].strip(" )"))
        finally:
            c.logout()

    def count(self) -> int:
        c = self.server.client()
        try:
            _typ, data = c.status(self.name, "(MESSAGES)")
            return int(data[0].decode().rsplit("MESSAGES", 1)[1].strip(" )"))
        finally:
            c.logout()

    def recreate(self) -> None:
        """Force a UIDVALIDITY change the way a server migration does: delete the folder,
        create it again and put the same messages back (new UIDs, new UIDVALIDITY)."""
        c = self.server.client()
        try:
            c.select(self.name)
            _typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[])")
            raws = [item[1] for item in data if isinstance(item, tuple)]
            c.close()
            assert c.delete(self.name)[0] == "OK"
            time.sleep(1.1)  # UIDVALIDITY is time based: make sure it differs
            assert c.create(self.name)[0] == "OK"
            for raw in raws:
                c.append(self.name, None, None, raw)
        finally:
            c.logout()


def _binary_missing() -> bool:
    return not (Path(DOVECOT).exists() and Path(DOVEADM).exists())


@contextlib.contextmanager
def running_dovecot() -> Iterator[Dovecot]:
    """A private dovecot for the duration of the block (used by the fixture and the bench)."""
    owner = pwd.getpwnam("dovecot")
    root = Path(tempfile.mkdtemp(prefix="xentriage-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    make_certificate(root)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    port, tls_port = free_port(), free_port()
    (root / "dovecot.conf").write_text(CONFIG.format(
        root=root, port=port, tls_port=tls_port, uid=owner.pw_uid, gid=owner.pw_gid))
    for sub in ("mail", "home"):
        os.chown(root / sub, owner.pw_uid, owner.pw_gid)
    server = Dovecot(root=root, port=port, tls_port=tls_port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    if _binary_missing():
        if os.environ.get("CI"):
            pytest.fail("dovecot (dovecot-imapd) is not installed but CI is set")
        pytest.skip("dovecot (dovecot-imapd) is not installed")
    try:
        pwd.getpwnam("dovecot")
    except KeyError:
        pytest.fail("the dovecot system user is missing (install dovecot-imapd)")
    with running_dovecot() as server:
        yield server


@pytest.fixture
def imap_mailbox(dovecot: Dovecot) -> Iterator[ImapMailbox]:
    if dovecot.process is None or dovecot.process.poll() is not None:
        dovecot.start()  # a previous test killed it
    name = f"bugs-{uuid.uuid4().hex[:10]}"
    c = dovecot.client()
    try:
        assert c.create(name)[0] == "OK"
    finally:
        c.logout()
    yield ImapMailbox(dovecot, name)
