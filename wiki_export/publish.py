"""Publishing the wiki page: to a file (the embedded default) or to MediaWiki through mwclient.

A MediaWiki edit is made only when the page's text differs from what is there (an unchanged
re-publish makes no edit and no new revision), as the bot (bot password from the environment or
a file), with an edit summary that says what changed. The edit carries the base revision's
timestamp, so a human edit that lands between our read and our write is an edit conflict, not a
silent overwrite: the run reports it, nothing is lost (the file copy is written first), and the
next run reads the page again and retries. Dry run (the default) writes only the file copy.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from triage.config import SecretUnavailable, Settings

log = logging.getLogger(__name__)


class WikiError(Exception):
    """Publishing failed. ``retryable``: the next run may succeed (server down, edit conflict);
    never contains the password."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class PublishOutcome:
    status: str  # edited | created | unchanged | written | dry-run
    target: str
    file: Path | None = None
    revision: int | None = None
    chart_uploaded: bool = False


def wiki_file(settings: Settings) -> Path:
    return settings.wiki.file or (settings.state_dir / "wiki" / "digest.wiki")


def write_file(path: Path, text: str) -> bool:
    """Atomically (a reader never sees half a page); False when the file already holds it."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".wiki")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class WikiPage(Protocol):
    def read(self) -> tuple[str, Any]: ...
    def write(self, text: str, summary: str, base: Any) -> int | None: ...


class MediaWikiClient:
    """The one importer of mwclient: log in with a bot password, read and edit one page, upload
    a file."""

    def __init__(self, settings: Settings) -> None:
        import mwclient  # lazily: only a MediaWiki target needs it

        cfg = settings.wiki
        parts = urlsplit(cfg.url)
        if not parts.netloc:
            raise WikiError("wiki.url is not set (needed for wiki.target = \"mediawiki\")",
                            retryable=False)
        self._errors = mwclient.errors
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        try:
            password = settings.wiki_password().get()
        except SecretUnavailable as exc:
            raise WikiError(str(exc), retryable=False) from None
        try:
            self.site = mwclient.Site(parts.netloc, path=path, scheme=parts.scheme,
                                      connection_options={"timeout": cfg.timeout_seconds},
                                      # A wiki that is down fails this run; the next retries.
                                      max_retries=2, retry_timeout=5,
                                      clients_useragent="xentriage wiki export")
            self.site.login(cfg.user, password)
        except mwclient.errors.LoginError as exc:
            code = exc.code if hasattr(exc, "code") else ""
            raise WikiError(f"wiki login as {cfg.user!r} refused ({code or 'failed'})",
                            retryable=False) from None
        except (OSError, mwclient.errors.MwClientError, ValueError) as exc:
            raise WikiError(f"wiki {parts.netloc}: {type(exc).__name__}: {exc}") from None
        self.page_name = cfg.page

    def page(self) -> Any:
        return self.site.pages[self.page_name]

    def read(self) -> tuple[str, Any]:
        page = self.page()
        return (page.text(cache=False) if page.exists else ""), page

    def write(self, text: str, summary: str, base: Any) -> int | None:
        try:
            result = base.edit(text, summary=summary, bot=True, minor=False)
        except self._errors.EditError as exc:
            raise WikiError(f"edit of {self.page_name!r} refused: {exc} (edit conflict or "
                            "protection; the next run reads the page again)") from None
        except self._errors.APIError as exc:
            if exc.code == "editconflict":
                raise WikiError(f"edit conflict on {self.page_name!r}: someone edited it "
                                "meanwhile; the next run retries") from None
            raise WikiError(f"edit of {self.page_name!r} refused: {exc.code}") from None
        return int(result["newrevid"]) if result.get("newrevid") else None

    def upload(self, data: bytes, name: str, description: str) -> bool:
        """Upload the chart unless the wiki already has these exact bytes under ``name``."""
        try:
            info = self.site.images[name].imageinfo or {}
            if info.get("sha1") == hashlib.sha1(data).hexdigest():  # noqa: S324 - MediaWiki's
                return False

            self.site.upload(io.BytesIO(data), filename=name, description=description,
                             ignore=True, comment=description)
        except self._errors.MwClientError as exc:
            raise WikiError(f"chart upload as {name!r} failed: {exc}") from None
        return True


def publish(text: str, summary: str, settings: Settings, *, production: bool,
            chart: bytes = b"", client: WikiPage | None = None) -> PublishOutcome:
    """Write the file copy; then, in production with ``wiki.target = "mediawiki"``, edit the
    page if it changed (and upload the chart when ``wiki.uploads``)."""
    path = wiki_file(settings)
    write_file(path, text)
    cfg = settings.wiki
    if cfg.target == "file":
        return PublishOutcome("written", "file", path)
    if not production or settings.safety.kill_switch:
        return PublishOutcome("dry-run", cfg.url, path)
    wiki = client or MediaWikiClient(settings)
    uploaded = False
    if chart and cfg.uploads and isinstance(wiki, MediaWikiClient):
        uploaded = wiki.upload(chart, cfg.chart_name, f"xentriage: {summary}")
    current, base = wiki.read()
    if current.rstrip("\n") == text.rstrip("\n"):
        return PublishOutcome("unchanged", cfg.url, path, chart_uploaded=uploaded)
    revision = wiki.write(text, summary, base)
    log.info("wiki page %s edited (revision %s): %s", cfg.page, revision, summary)
    return PublishOutcome("created" if not current else "edited", cfg.url, path, revision,
                          uploaded)
