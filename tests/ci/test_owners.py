"""Environment failures go to the worker's owner by mail (a real SMTP server, aiosmtpd), once
per worker, cause and day, through the action ledger; a dry run writes the dry-run outbox;
never a Bugzilla write."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from tests.ci.world import T0, Farm, linker_for, result
from tests.rules.world import KEY_ENV, double_options
from triage.ci.owners import plan_owner_mails
from triage.store.tables import ActionRow

OWNER = "farm-admin@example.org"  # tests.ci.world: the owner of worker "bare"
NO_QEMU = "qemu-system-x86_64 not found on the worker"


@pytest.fixture
def double(make_bugzilla_double, monkeypatch):
    d = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, d.admin_api_key)
    return d


def env(cell: str, build_id: int, *, worker: str = "bare", sig: str = "e0e0e0e0e0e0e0e0",
        minutes: int | None = None):
    when = T0 + timedelta(minutes=build_id if minutes is None else minutes)
    return result(cell, "environment", "r1", build_id, sig=sig, title=NO_QEMU, worker=worker,
                  when=when)


def test_plan_one_mail_per_worker_cause_and_day():
    now = T0 + timedelta(hours=20)
    rs = [env("hello-a-kvm-x86_64", 1), env("hello-b-kvm-x86_64", 2),
          env("hello-c-kvm-x86_64", 3, sig="ffffffffffffffff"),
          env("hello-d-kvm-x86_64", 4, worker="full"),  # an owner for "full" below
          env("hello-e-kvm-x86_64", 5, worker="nobody"),  # no owner: log and status only
          env("hello-f-kvm-x86_64", 6, minutes=-60 * 30),  # older than the window: history
          env("hello-g-kvm-x86_64", 7, minutes=60 * 17),  # the next UTC day: its own mail
          result("hello-h-kvm-x86_64", "build-failed", "r1", 8, sig="1" * 16, title="x",
                 worker="bare")]
    mails = plan_owner_mails(rs, {"bare": OWNER, "full": "other@example.org"}, now)
    by_key = {m.key: [r.cell for r in m.results] for m in mails}
    day, next_day = T0.date().isoformat(), (T0 + timedelta(days=1)).date().isoformat()
    assert by_key == {
        f"ci:env:bare:e0e0e0e0e0e0e0e0:{day}": ["hello-a-kvm-x86_64", "hello-b-kvm-x86_64"],
        f"ci:env:bare:e0e0e0e0e0e0e0e0:{next_day}": ["hello-g-kvm-x86_64"],
        f"ci:env:bare:ffffffffffffffff:{day}": ["hello-c-kvm-x86_64"],
        f"ci:env:full:e0e0e0e0e0e0e0e0:{day}": ["hello-d-kvm-x86_64"],
    }
    # No signature (the worker never classified a log): the reason is the cause.
    unsigned = [result("hello-a-kvm-x86_64", "environment", "r1", 9, title="disk full",
                       worker="bare", when=T0), result("hello-b-kvm-x86_64", "environment",
                                                        "r1", 10, title="disk full",
                                                        worker="bare", when=T0)]
    unsigned = [type(r)(**{**r.__dict__, "signature": ""}) for r in unsigned]
    (one,) = plan_owner_mails(unsigned, {"bare": OWNER}, now)
    assert one.signature.startswith("reason-") and len(one.results) == 2


def test_production_mails_the_owner_once_and_never_bugzilla(tmp_path, double, smtp_server):
    linker, _settings, store = linker_for(tmp_path, double,
                                         "[safety]\nproduction = true\n" + smtp_server.toml())
    farm = Farm(store)
    farm.add("hello-hosttool-kvm-x86_64", "environment", "r1", worker="bare",
             sig="e0e0e0e0e0e0e0e0", title=NO_QEMU)
    farm.add("hello-base-kvm-x86_64", "environment", "r1", worker="bare",
             sig="e0e0e0e0e0e0e0e0", title=NO_QEMU)
    farm.add("hello-base-kvm-arm64", "environment", "r1", worker="full",
             sig="e0e0e0e0e0e0e0e0", title=NO_QEMU)  # worker "full" has no owner
    writes_before = double.request_count("POST") + double.request_count("PUT")
    report = linker.run(production=True)
    assert report.changes == [] and report.owners.planned == 1
    (mail,) = smtp_server.wait_for(1)
    assert mail["To"] == OWNER and "worker bare" in mail["Subject"]
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert NO_QEMU in body and "hello-hosttool-kvm-x86_64" in body
    assert "hello-base-kvm-x86_64" in body and "hello-base-kvm-arm64" not in body
    # A second pass (and a third cell failing the same way the same day): nothing more sent.
    farm.add("hello-crc-kvm-x86_64", "environment", "r1", worker="bare",
             sig="e0e0e0e0e0e0e0e0", title=NO_QEMU)
    again = linker.run(production=True)
    assert set(again.owners.outcomes.values()) == {"already-done"}  # type: ignore[union-attr]
    assert len(smtp_server.wait_for(2, timeout=0.5)) == 1
    with store.session() as s:
        (row,) = s.scalars(select(ActionRow).where(ActionRow.key.like("ci:env:%")))
        assert row.status == "confirmed" and row.target == "smtp"
    assert double.request_count("POST") + double.request_count("PUT") == writes_before


def test_dry_run_writes_the_dry_run_outbox_only(tmp_path, double, smtp_server):
    linker, settings, store = linker_for(tmp_path, double, smtp_server.toml())
    farm = Farm(store)
    farm.add("hello-hosttool-kvm-x86_64", "environment", "r1", worker="bare",
             sig="e0e0e0e0e0e0e0e0", title=NO_QEMU)
    for _ in range(2):
        report = linker.run(production=False)
        assert set(report.owners.outcomes.values()) == {"dry-run"}  # type: ignore[union-attr]
    from triage.cli.cmd_ci import render_link

    text = render_link(report)
    assert "worker owners: 1 environment mail(s) planned" in text
    assert "- mail ci:env:bare:e0e0e0e0e0e0e0e0:" in text and "[dry-run]" in text
    dry = sorted((settings.state_dir / "outbox" / "dry-run").glob("*.eml"))
    assert len(dry) == 1
    mail = message_from_bytes(dry[0].read_bytes(), policy=policy.default)
    assert mail["To"] == OWNER
    assert smtp_server.wait_for(1, timeout=0.5) == []


def test_owner_mails_over_the_change_cap_send_nothing(tmp_path, double, smtp_server):
    linker, _settings, store = linker_for(
        tmp_path, double, "[safety]\nproduction = true\nchange_cap = 1\n" + smtp_server.toml())
    farm = Farm(store)
    farm.add("hello-hosttool-kvm-x86_64", "environment", "r1", worker="bare",
             sig="e0e0e0e0e0e0e0e0", title=NO_QEMU)
    farm.add("hello-base-kvm-x86_64", "environment", "r1", worker="bare",
             sig="ffffffffffffffff", title="disk full")
    report = linker.run(production=True)
    assert report.owners.planned == 2 and "change cap" in report.owners.aborted
    assert smtp_server.wait_for(1, timeout=0.5) == []


def test_switched_off(tmp_path, double, smtp_server):
    linker, _settings, store = linker_for(
        tmp_path, double, "mail_worker_owners = false\n[safety]\nproduction = true\n"
        + smtp_server.toml())
    Farm(store).add("hello-hosttool-kvm-x86_64", "environment", "r1", worker="bare",
                    sig="e0e0e0e0e0e0e0e0", title=NO_QEMU)
    assert linker.run(production=True).owners.planned == 0
    assert smtp_server.wait_for(1, timeout=0.5) == []
