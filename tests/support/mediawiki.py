"""A real MediaWiki (Debian's ``mediawiki`` package) with SQLite, installed into a temporary
directory by ``maintenance/install.php`` and served by ``php -S`` on 127.0.0.1.

Fixture ``mediawiki``: a :class:`MediaWiki` with a bot password (grants to create, edit and
upload) for ``Admin@digest``; ``api(...)`` calls the API anonymously for checks; ``toml()`` is
the ``[wiki]`` table pointing the bot at it (the password in ``$XT_TEST_WIKI_PASSWORD``).
Skipped when the package is not installed (``scripts/setup.sh --tests`` installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

MW_DIR = Path("/usr/share/mediawiki")
ROUTER = """<?php
// Serve MediaWiki with a configuration outside its install directory.
define('MW_CONFIG_FILE', getenv('XT_MW_CONFIG'));
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$file = realpath($_SERVER['DOCUMENT_ROOT'] . $path);
if ($file !== false && substr($file, -4) === '.php') {
    chdir(dirname($file));
    require $file;
    return true;
}
return false;
"""
EXTRA = """
$wgEnableUploads = true;
$wgUploadDirectory = "{root}/images";
$wgUploadPath = "/images";
$wgCacheDirectory = "{root}/cache";
$wgEnableBotPasswords = true;
$wgPasswordAttemptThrottle = [];
$wgRateLimits = [];
$wgMainCacheType = CACHE_NONE;
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MediaWiki:
    url: str
    root: Path
    bot_user: str
    bot_password: str
    process: subprocess.Popen[bytes]

    def api(self, **params: Any) -> dict[str, Any]:
        query = urllib.parse.urlencode({**params, "format": "json"})
        with urllib.request.urlopen(f"{self.url}api.php?{query}", timeout=30) as r:
            return dict(json.loads(r.read()))

    def page_text(self, title: str) -> str | None:
        pages = self.api(action="query", prop="revisions", rvprop="content", rvslots="main",
                         titles=title)["query"]["pages"]
        page = next(iter(pages.values()))
        if "missing" in page:
            return None
        return str(page["revisions"][0]["slots"]["main"]["*"])

    def revisions(self, title: str) -> int:
        pages = self.api(action="query", prop="revisions", rvprop="ids", rvlimit="max",
                         titles=title)["query"]["pages"]
        return len(next(iter(pages.values())).get("revisions", []))

    def parsed_html(self, title: str) -> str:
        return str(self.api(action="parse", page=title, prop="text")["parse"]["text"]["*"])

    def categories(self, title: str) -> list[str]:
        parsed = self.api(action="parse", page=title, prop="categories|templates")["parse"]
        return [c["*"] for c in parsed["categories"]] + [t["*"] for t in parsed["templates"]]

    def toml(self, page: str = "Xen bugs/Weekly digest", uploads: bool = False) -> str:
        return (f'[wiki]\ntarget = "mediawiki"\nurl = "{self.url}"\npage = "{page}"\n'
                f'user = "{self.bot_user}"\npassword_env = "XT_TEST_WIKI_PASSWORD"\n'
                f"uploads = {'true' if uploads else 'false'}\ntimeout_seconds = 60\n")


@pytest.fixture
def mediawiki(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MediaWiki]:
    if not (MW_DIR / "maintenance" / "install.php").exists() or shutil.which("php") is None:
        pytest.skip("Debian's mediawiki package is not installed (scripts/setup.sh --tests)")
    root = tmp_path / "mw"
    for sub in ("db", "conf", "images", "cache"):
        (root / sub).mkdir(parents=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    subprocess.run(
        ["php", "maintenance/install.php", "--dbtype", "sqlite", "--dbpath", str(root / "db"),
         "--dbname", "wiki", "--confpath", str(root / "conf"), "--server",
         f"http://127.0.0.1:{port}", "--scriptpath", "", "--pass", "Admin-pass-1234",
         "--lang", "en", "XentriageTestWiki", "Admin"],
        cwd=MW_DIR, check=True, capture_output=True, timeout=300)
    conf = root / "conf" / "LocalSettings.php"
    with conf.open("a", encoding="utf-8") as fh:
        fh.write(EXTRA.format(root=root))
    out = subprocess.run(
        ["php", "maintenance/createBotPassword.php", "--conf", str(conf), "--appid", "digest",
         "--grants", "basic,highvolume,createeditmovepage,editpage,uploadfile,"
         "uploadeditmovefile", "Admin"],
        cwd=MW_DIR, check=True, capture_output=True, text=True, timeout=120).stdout
    match = re.search(r"password:'([^']+)'", out)
    assert match, out
    router = root / "router.php"
    router.write_text(ROUTER, encoding="utf-8")
    env = {**os.environ, "XT_MW_CONFIG": str(conf)}
    proc = subprocess.Popen(["php", "-S", f"127.0.0.1:{port}", "-t", str(MW_DIR), str(router)],
                            cwd=MW_DIR, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wiki = MediaWiki(url, root, "Admin@digest", match.group(1), proc)
    deadline = time.monotonic() + 30
    while True:
        try:
            wiki.api(action="query", meta="siteinfo")
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.2)
    monkeypatch.setenv("XT_TEST_WIKI_PASSWORD", wiki.bot_password)
    try:
        yield wiki
    finally:
        proc.terminate()
        proc.wait(timeout=10)
