"""Global fixtures: settings and stores for tests, plus the shared fixture plugins.

Shared plugins (each a module of fixtures other areas use):
- ``tests.bugzilla_double.pytest_plugin``: the stateful Bugzilla REST double
- ``tests.support.postgres``: a private PostgreSQL cluster on 127.0.0.1
- ``tests.support.imap_server``: a private dovecot on 127.0.0.1
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from triage.config import Settings, load_settings
from triage.store import Store


def _available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


pytest_plugins = [
    p
    for p in (
        "tests.bugzilla_double.pytest_plugin",
        "tests.support.postgres",
        "tests.support.imap_server",
        "tests.support.smtp_server",
        "tests.support.mediawiki",
    )
    if _available(p)
]

REPO = Path(__file__).resolve().parent.parent


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings from TOML text, state in tmp_path: ``make_settings('[safety]\nchange_cap = 3')``."""

    def factory(toml: str = "", **_: Any) -> Settings:
        base = f'[general]\nstate_dir = "{tmp_path / "state"}"\n'
        if "[general]" in toml:
            base = ""
        cfg = write_config(tmp_path / "xentriage.toml", base + toml)
        return load_settings(cfg)

    return factory


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store in tmp_path."""
    s = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    s.migrate()
    yield s
    s.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same test on SQLite and on a real PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    s = Store(url)
    s.migrate()
    yield s
    s.dispose()
