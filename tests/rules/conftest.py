"""Settings shared by the rule tests."""

from __future__ import annotations

import pytest

from tests.rules.builders import TOML
from triage.config import Settings


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings(TOML)
