"""Provisioning: the rendered buildbot.tac starts a real worker that dials the master."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workers.conftest import REPO
from workers.provision import ProvisionError, WorkerSpec, render_tac, render_unit

SECRET = "s3cret-not-in-files"


def provision(tmp_path: Path, *extra: str, port: int = 9989) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.provision", "--name", "w-1",
         "--master", f"127.0.0.1:{port}", "--basedir", str(tmp_path / "w-1"),
         "--buildbot-worker", str(Path(sys.executable).with_name("buildbot-worker")), *extra],
        capture_output=True, text=True, cwd=REPO, timeout=60)


def test_render_files(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(SECRET + "\n")
    res = provision(tmp_path, "--password-file", str(pw), "--unit-dir", str(tmp_path / "units"))
    assert res.returncode == 0, res.stderr
    tac = (tmp_path / "w-1" / "buildbot.tac").read_text()
    assert SECRET not in tac and SECRET not in res.stdout
    assert "workername = 'w-1'" in tac and "port = 9989" in tac
    compile(tac, "buildbot.tac", "exec")
    unit = (tmp_path / "units" / "xentriage-worker@.service").read_text()
    assert f"ExecStart={Path(sys.executable).with_name('buildbot-worker')} start --nodaemon " \
           f"{tmp_path}/%i" in unit
    assert "xentriage-worker@w-1" in res.stdout
    assert (tmp_path / "w-1" / "info" / "admin").is_file()


def test_invalid_arguments() -> None:
    with pytest.raises(ProvisionError, match="--master"):
        WorkerSpec.parse("w", "nohost", "/tmp/x")
    with pytest.raises(ProvisionError, match="--name"):
        WorkerSpec.parse("w/../x", "h:1", "/tmp/x")
    with pytest.raises(ProvisionError, match="--password-file"):
        WorkerSpec.parse("w", "h:1", "/tmp/x", "/nonexistent/pw")
    spec = WorkerSpec.parse("w", "[::1]:9989", "/srv/workers/w", user="bb", buildbot_worker="bw")
    assert "buildmaster_host = '::1'" in render_tac(spec)
    assert "User=bb" in render_unit(spec) and "/srv/workers/%i" in render_unit(spec)


def test_missing_password_is_refused(tmp_path: Path) -> None:
    assert provision(tmp_path).returncode == 0
    tac = tmp_path / "w-1" / "buildbot.tac"
    env = {k: v for k, v in os.environ.items() if k != "XENTRIAGE_WORKER_PASSWORD"}
    res = subprocess.run([sys.executable, "-c", f"exec(open({str(tac)!r}).read())"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode != 0 and "XENTRIAGE_WORKER_PASSWORD" in res.stderr


def test_worker_connects_to_the_master_port(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(30)
        port = listener.getsockname()[1]
        assert provision(tmp_path, port=port).returncode == 0
        env = dict(os.environ, XENTRIAGE_WORKER_PASSWORD=SECRET)
        worker = subprocess.Popen(
            [str(Path(sys.executable).with_name("buildbot-worker")), "start", "--nodaemon",
             str(tmp_path / "w-1")], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            conn, _ = listener.accept()  # the worker dialled the configured master
            conn.close()
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    log = (tmp_path / "w-1" / "twistd.log").read_text()
    assert "Starting Worker" in log and SECRET not in log
