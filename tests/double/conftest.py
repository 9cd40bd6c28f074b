"""The contract was recorded on a Bugzilla 5.2 whose ``editbugs``/``canconfirm`` regexps were
cleared and whose target milestones were on; these tests check the double against it, so
``bugzilla_double`` here is configured as that server was (the stock defaults are tested in
tests/double/test_stock_installation.py)."""

from __future__ import annotations

import pytest

from tests.bugzilla_double import BugzillaDouble


@pytest.fixture
def bugzilla_double(contract_bugzilla_double: BugzillaDouble) -> BugzillaDouble:
    return contract_bugzilla_double
