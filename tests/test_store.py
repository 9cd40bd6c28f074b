"""The store: the same migrations and behaviour on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from triage.store import Store, StoreError
from triage.store.db import redact_url
from triage.store.tables import ActionRow, Base, Checkpoint, MailMessage


def test_migrations_create_every_table_and_are_idempotent(any_store: Store):
    assert any_store.is_up_to_date()
    any_store.migrate()  # a second run changes nothing
    tables = set(inspect(any_store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_datetimes_come_back_aware_utc(any_store: Store):
    local = datetime(2026, 11, 27, 3, 0, tzinfo=timezone(timedelta(hours=2)))
    with any_store.session() as s:
        s.add(Checkpoint(name="bugzilla:last_change_time", value={"t": "x"}, updated_at=local))
    with any_store.session() as s:
        row = s.get(Checkpoint, "bugzilla:last_change_time")
        assert row is not None
        assert row.updated_at == local and row.updated_at.utcoffset() == timedelta(0)


def test_action_keys_are_unique(any_store: Store):
    now = datetime.now(UTC)
    row = dict(rule="followup", kind="update", status="planned", payload={}, created_at=now)
    with any_store.session() as s:
        s.add(ActionRow(key="followup:1:v1", **row))
    with pytest.raises(IntegrityError), any_store.session() as s:
        s.add(ActionRow(key="followup:1:v1", **row))


def test_message_ids_are_unique(any_store: Store):
    now = datetime.now(UTC)
    kw = dict(source="mbox:x", kind="new-bug", status="processed", received_at=now)
    with any_store.session() as s:
        s.add(MailMessage(message_id="<a@b>", **kw))
    with pytest.raises(IntegrityError), any_store.session() as s:
        s.add(MailMessage(message_id="<a@b>", **kw))
    with any_store.session() as s:
        assert len(s.scalars(select(MailMessage)).all()) == 1


def test_session_rolls_back_on_error(any_store: Store):
    with pytest.raises(RuntimeError), any_store.session() as s:
        s.add(Checkpoint(name="x", value={}, updated_at=datetime.now(UTC)))
        s.flush()
        raise RuntimeError("crash mid-transaction")
    with any_store.session() as s:
        assert s.get(Checkpoint, "x") is None


def test_unreachable_database_is_a_store_error_without_password():
    store = Store("postgresql+psycopg://bot:hunter2@127.0.0.1:1/none")
    with pytest.raises(StoreError) as err:
        store.migrate()
    assert "hunter2" not in str(err.value)
    assert "hunter2" not in redact_url("postgresql://bot:hunter2@h/db")


def test_attachment_metadata_is_kept_with_its_bug_and_rewritten_on_refresh(any_store: Store):
    import dataclasses

    from triage.model import Attachment, Bug
    from triage.store import bugs as bug_cache

    t = datetime(2026, 11, 1, tzinfo=UTC)
    att = Attachment(id=7, bug_id=3, file_name="xl-dmesg.txt", summary="xl dmesg",
                     content_type="text/plain", creator="eve@example.org", creation_time=t)
    bug = Bug(id=3, summary="s", product="Xen", component="Hypervisor", status="NEW",
              creator="eve@example.org", creation_time=t, last_change_time=t,
              attachments=(att,))
    with any_store.session() as s:
        assert bug_cache.upsert_bugs(s, [bug]) == 1
    with any_store.session() as s:
        assert bug_cache.attachments_for(s, 3) == (att,)
        assert bug_cache.get_bug(s, 3) == bug
    obsolete = dataclasses.replace(att, is_obsolete=True)
    newer = dataclasses.replace(bug, last_change_time=t + timedelta(days=1),
                                attachments=(obsolete,))
    with any_store.session() as s:
        assert bug_cache.upsert_bug(s, newer)
    with any_store.session() as s:
        assert bug_cache.attachments_for(s, 3) == (obsolete,)
