"""Pytest fixtures for the Bugzilla 5.2 REST double (registered globally in tests/conftest.py).

Fixtures
--------
``bugzilla_double``
    A fresh, started :class:`BugzillaDouble` per test (function scope), seeded like the
    contract server: admin ``admin@bugzilla.local`` (all admin groups), products TestProduct
    and Xen (components Hypervisor, Tools, Unikraft; versions unstable, 4.17, 4.18, 4.19;
    milestones ---, 4.19, 4.20), keywords needs-triage/patch/regression/security, and the
    ``needinfo`` flag type. Status workflow: Bugzilla 5.2's. Configured as a stock 5.2
    installation: every account is in ``editbugs`` and ``canconfirm`` (so new bugs are filed
    CONFIRMED) and target milestones are off (no ``X-Bugzilla-Target-Milestone`` in mails).
``contract_bugzilla_double``
    The same, configured as the server the contract was recorded on
    (``CONTRACT_INSTALLATION``: no groups for every account, so ordinary users file
    UNCONFIRMED bugs and may not edit others' fields; target milestones on).
``make_bugzilla_double(**options)``
    A factory for doubles with other options; each one is started and closed after the test.
    Options: ``workflow="bugzilla-5.2" | "old" | StatusWorkflow`` (old = NEW/ASSIGNED/REOPENED/
    RESOLVED/VERIFIED/CLOSED), ``resolutions=("FIXED", ..., "INCOMPLETE")`` (5.2's default
    list has no INCOMPLETE), ``lose_same_second_mail=True``, ``mbox_path=path`` (mails are
    also appended there), ``db_path=path`` (SQLite file instead of memory), ``admin_api_key``,
    ``admin_password``, ``seed=False`` (only the admin), ``extra_keywords={name: description}``,
    ``default_groups=("editbugs", "canconfirm")`` (granted to every account created),
    ``use_target_milestone=False``.

Hooks on the double
-------------------
- ``url`` (``http://127.0.0.1:PORT/rest/``, for ``bugzilla.Bugzilla(url, api_key=...,
  force_rest=True)``), ``base_url``, ``port``, ``admin_api_key``, ``admin_login``.
- ``create_user(email, name="", groups=(), password=None) -> api_key``; ``api_key_for(email)``.
- ``seed_bugs([{...}, ...]) -> ids``: bulk insert without mails or history (5,000 bugs with
  comments in well under two seconds). Keys: summary, id (optional), product, component,
  version, status, resolution, creator, assigned_to, qa_contact, cc, keywords, whiteboard,
  severity, priority, platform, op_sys, url, creation_time, last_change_time (epoch, datetime or
  ISO text), description, comments (text or {text, creator, time, is_private}), flags ({name,
  status, requestee, setter}), private (bool).
- ``tests.bugzilla_double.client.Rest(double, api_key)``: a raw REST client (status and
  error codes visible); ``admin(double)``, ``user(double, email, groups)`` build one.
- ``bug(id)``, ``comments(id)``, ``history(id)``: the stored state, for assertions.
- ``request_log`` (``LoggedRequest(method, path, query, body, status, at)``; status None when
  dropped), ``request_count(method=None, path_prefix=None)``, ``reset_counts()``.
- Fault injection, consumed one per request in order: ``fail_next(n=1, status=500)`` (Bugzilla
  JSON error), ``html_next(n=1, status=502)`` (an HTML proxy error page), ``delay_next(n,
  seconds)`` (then answers normally), ``drop_next(n=1)`` (closes the connection without an
  answer), ``clear_faults()``.
- ``make_private(bug_id, group="private")`` (others get 401/102 and searches skip it),
  ``delete_bug(bug_id)`` (404/101 afterwards).
- Clock: ``set_clock(when, frozen=True)`` (datetime, epoch or ISO text; frozen means time only
  moves by ``advance_clock``), ``advance_clock(seconds)``, ``now()``. Every timestamp the double
  writes (creation/last change times, comments, flags, history, mail Date) comes from it.
- ``internal_errors``: exceptions inside the double (answered 500); the fixtures fail the
  test if any occurred.
- ``stop()`` / ``start()``: an outage on the same port (connections refused), state kept.
- Mail: ``outbox`` (``email.message.EmailMessage`` list, in the recorded 5.2 format),
  ``mails_for(bug_id)``, ``clear_outbox()``. Two changes of one bug within the same clock second
  produce one mail, as real Bugzilla does (``lose_same_second_mail=False`` turns that off).

Authentication is Bugzilla 5.2's: only the ``Bugzilla_api_key``/``api_key`` (or
``Bugzilla_token``) query parameters count; the ``X-BUGZILLA-API-KEY`` header is ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.bugzilla_double.double import CONTRACT_INSTALLATION, BugzillaDouble


@pytest.fixture
def bugzilla_double() -> Iterator[BugzillaDouble]:
    """A started double with fresh state, closed after the test."""
    double = BugzillaDouble().start()
    try:
        yield double
    finally:
        double.close()
    _fail_on_internal_errors([double])


@pytest.fixture
def contract_bugzilla_double() -> Iterator[BugzillaDouble]:
    """A started double configured as the server the contract was recorded on (no groups for
    every account, target milestones on): ``BugzillaDouble(**CONTRACT_INSTALLATION)``."""
    double = BugzillaDouble(**CONTRACT_INSTALLATION).start()
    try:
        yield double
    finally:
        double.close()
    _fail_on_internal_errors([double])


@pytest.fixture
def make_bugzilla_double() -> Iterator[Callable[..., BugzillaDouble]]:
    """``make_bugzilla_double(workflow="old", mbox_path=...)`` -> a started double."""
    made: list[BugzillaDouble] = []

    def factory(**options: Any) -> BugzillaDouble:
        double = BugzillaDouble(**options).start()
        made.append(double)
        return double

    try:
        yield factory
    finally:
        for double in made:
            double.close()
    _fail_on_internal_errors(made)


def _fail_on_internal_errors(doubles: list[BugzillaDouble]) -> None:
    """A crash inside the double is a bug in the double, not a client failure: say so."""
    errors = [e for d in doubles for e in d.internal_errors]
    if errors:
        pytest.fail("the Bugzilla double hit internal errors:\n" + "\n".join(errors))
