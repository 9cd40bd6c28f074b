"""When the change cap stops a pass of ``xentriage serve`` (the scheduler's triage job), the
maintainer gets one mail, through the outbox (dry run: the dry-run outbox), not only a log line."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from tests.rules.world import KEY_ENV, Reporter, double_options, write_config
from triage.adapters import open_tracker
from triage.jobs import triage_job
from triage.store import Store
from triage.store.tables import ActionRow
from triage.sync import sync_bugs

VAGUE = "Xen crashes when I start a guest, with the latest version."
MAINTAINER = "maintainer@example.org"


@pytest.fixture
def world(tmp_path, make_bugzilla_double, monkeypatch):
    double = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, double.admin_api_key)
    reporters = [f"r{i}@example.org" for i in range(3)]
    for who in reporters:
        Reporter(double, who)
    double.seed_bugs([{"summary": f"crash {i}", "product": "Xen", "component": "Hypervisor",
                       "creator": who, "status": "UNCONFIRMED", "description": VAGUE}
                      for i, who in enumerate(reporters)])

    def configure(production: bool):
        extra = (f"[safety]\nchange_cap = 1\nproduction = {str(production).lower()}\n"
                 f'[digest]\nmaintainer = "{MAINTAINER}"\n')
        config, settings = write_config(tmp_path, double, extra)
        store = Store(settings.store_url)
        store.migrate()
        sync_bugs(store, open_tracker(settings, production=False), settings)
        store.dispose()
        return config, settings

    return double, configure


def mails(folder):
    return [message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def test_dry_run_abort_mails_the_maintainer_once_into_the_dry_run_outbox(world):
    double, configure = world
    config, settings = configure(production=False)
    outbox = settings.state_dir / "outbox"
    summary = triage_job(str(config), all_open=True)
    assert summary["aborted"] and summary["planned"] == 3
    (mail,) = mails(outbox / "dry-run")
    assert mail["To"] == MAINTAINER and "change cap" in mail["Subject"]
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "It planned 3 writes; the cap (safety.change_cap) is 1." in body
    assert mails(outbox) == []  # nothing sent for real
    # The same runaway on the next pass: the maintainer already knows.
    assert triage_job(str(config), all_open=True)["aborted"]
    assert len(mails(outbox / "dry-run")) == 1
    assert double.request_count("PUT") == 0


def test_production_abort_sends_one_recorded_mail(world):
    double, configure = world
    config, settings = configure(production=True)
    outbox = settings.state_dir / "outbox"
    assert triage_job(str(config), all_open=False)["aborted"]
    (mail,) = mails(outbox)
    assert mail["To"] == MAINTAINER
    store = Store(settings.store_url)
    with store.session() as s:
        (row,) = s.scalars(select(ActionRow).where(ActionRow.key.like("cap-abort:%")))
        assert row.status == "confirmed" and row.target == "smtp"
    store.dispose()
    assert triage_job(str(config), all_open=False)["aborted"]
    assert len(mails(outbox)) == 1
    assert double.request_count("PUT") == 0
