"""CI linking against the Bugzilla double: file, comment, resolve, reopen; retry and flakes;
INVALID and DUPLICATE respected; mixed titles flagged; environment never filed; the cap."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.ci.world import T0, Farm, Retries, linker_for
from tests.rules.world import KEY_ENV, Reporter, double_options
from triage.store import ci as ci_rows

SIG = "0123456789abcdef"
TITLE = "lib/crc/crc.c:12: error: 'x' undeclared"
CRC_KVM, CRC_XEN, BASE_KVM = ("hello-crc-kvm-x86_64", "hello-crc-xen-x86_64",
                              "hello-base-kvm-x86_64")
BROKEN = {"sig": SIG, "title": TITLE}


@pytest.fixture
def double(make_bugzilla_double, monkeypatch):
    d = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, d.admin_api_key)
    return d


def ci_bugs(double):
    return [b for b in (double.bug(i) for i in range(1, 50) if _exists(double, i))
            if "[ci:" in b.get("whiteboard", "")]


def _exists(double, bug_id):
    try:
        double.bug(bug_id)
    except Exception:
        return False
    return True


def break_crc(farm, revision, cells=(CRC_KVM, CRC_XEN)):
    for cell in cells:
        farm.add(cell, "build-failed", revision, **BROKEN)
        farm.add(cell, "build-failed", revision, **BROKEN)  # its retry


def test_file_once_comment_resolve_reopen(tmp_path, double):
    linker, _, store = linker_for(tmp_path, double)
    farm = Farm(store)
    for cell in (CRC_KVM, CRC_XEN, BASE_KVM):
        farm.add(cell, "passed", "r1")
    farm.add(BASE_KVM, "passed", "r2")
    break_crc(farm, "r2", cells=(CRC_KVM,))
    farm.add("hello-netdev-xen-x86_64", "unsupported", "r2")
    farm.add("hello-hosttool-kvm-x86_64", "environment", "r2", worker="bare",
             title="host tool missing")

    first = linker.run(production=True)
    assert [o for o in first.outcomes.values()] == ["confirmed"]
    (bug,) = ci_bugs(double)
    assert bug["summary"] == TITLE and bug["product"] == "Xen"
    assert bug["component"] == "Hypervisor"  # ci.components: crc -> Xen/Hypervisor
    assert f"[ci:{SIG}]" in bug["whiteboard"]
    text = double.comments(bug["id"])[0]["text"]
    for words in ("Class: build-failed", "Last good revision: r1", "First bad revision: r2",
                  "Affected: library=crc", CRC_KVM, "builds/", "How to reproduce",
                  "Comparable cells passing at the same revision: hello-base-kvm-x86_64"):
        assert words in text, words

    # A second run adds nothing.
    again = linker.run(production=True)
    assert again.changes == [] and len(ci_bugs(double)) == 1
    assert len(double.comments(bug["id"])) == 1

    # A new cell with the same cause: one comment (at most one a day).
    break_crc(farm, "r2", cells=(CRC_XEN,))
    linker.run(production=True)
    comments = double.comments(bug["id"])
    assert len(comments) == 2 and CRC_XEN in comments[1]["text"]
    farm.add("hello-crc-kvm-arm64", "build-failed", "r2", **BROKEN)
    farm.add("hello-crc-kvm-arm64", "build-failed", "r2", **BROKEN)
    held = linker.run(production=True)
    assert held.changes == [] and len(double.comments(bug["id"])) == 2

    # Every affected cell passes again: the fixing revision, resolved FIXED.
    for cell in (CRC_KVM, CRC_XEN, "hello-crc-kvm-arm64"):
        farm.add(cell, "passed", "r3")
    linker.run(production=True)
    fixed = double.bug(bug["id"])
    assert (fixed["status"], fixed["resolution"]) == ("RESOLVED", "FIXED")
    assert "fixed at revision r3" in double.comments(bug["id"])[-1]["text"]
    assert linker.run(production=True).changes == []

    # It comes back: the same bug is reopened with the new evidence.
    break_crc(farm, "r4", cells=(CRC_KVM,))
    linker.run(production=True)
    back = double.bug(bug["id"])
    assert back["status"] == "CONFIRMED" and back["resolution"] == ""
    assert "reopening" in double.comments(bug["id"])[-1]["text"]
    assert len(ci_bugs(double)) == 1
    assert linker.run(production=True).changes == []

    with store.session() as s:
        row = ci_rows.signatures(s)[SIG]
    assert row.bug_id == bug["id"] and row.state == "failing"


def test_new_failure_is_retried_first_and_a_flake_files_nothing(tmp_path, double):
    retries = Retries()
    linker, _, store = linker_for(tmp_path, double, retry=retries)
    farm = Farm(store)
    farm.add(CRC_KVM, "passed", "r1")
    farm.add(CRC_KVM, "build-failed", "r2", **BROKEN)
    report = linker.run(production=True)
    assert report.changes == [] and retries.asked == [(CRC_KVM, "r2", 2)]
    assert report.retried == [CRC_KVM]
    linker.run(production=True)
    assert len(retries.asked) == 1  # once per failing build
    farm.add(CRC_KVM, "passed", "r2")  # the retry passes: a flake
    flaky = linker.run(production=True)
    assert flaky.changes == [] and flaky.flaky == [CRC_KVM]
    assert flaky.verdicts[CRC_KVM].flake_rate == 1.0
    assert ci_bugs(double) == []


def test_invalid_is_never_filed_again_and_duplicate_is_folded(tmp_path, double):
    linker, _, store = linker_for(tmp_path, double)
    farm = Farm(store)
    farm.add(CRC_KVM, "passed", "r1")
    break_crc(farm, "r2", cells=(CRC_KVM,))
    other = "fedcba9876543210"
    farm.add(BASE_KVM, "passed", "r1")
    for _ in range(2):
        farm.add(BASE_KVM, "boot-failed", "r2", sig=other, title="page fault at boot")
    linker.run(production=True)
    crc_bug, base_bug = sorted(ci_bugs(double), key=lambda b: b["summary"] != TITLE)
    dev = Reporter(double, "dev@example.org",
                   double.create_user("dev@example.org", "Dev", groups=("editbugs",)))
    # A developer's own bug that the crc failure duplicates.
    target = int(dev._call("POST", "bug", {
        "product": "Xen", "component": "Hypervisor", "version": "unstable",
        "summary": "crc broken", "description": "seen by hand", "op_sys": "All",
        "platform": "All"})["id"])
    dev.update(base_bug["id"], status="RESOLVED", resolution="INVALID")
    dev.update(crc_bug["id"], status="RESOLVED", resolution="DUPLICATE",
               comment={"body": f"*** This bug has been marked as a duplicate of bug {target} ***"})
    farm.add(CRC_XEN, "build-failed", "r2", **BROKEN)
    farm.add(CRC_XEN, "build-failed", "r2", **BROKEN)
    farm.add(BASE_KVM, "boot-failed", "r3", sig=other, title="page fault at boot")
    report = linker.run(production=True)
    states = {p.signature: p.state for p in report.plans}
    assert states[other] == "invalid"
    assert len(ci_bugs(double)) == 2  # nothing filed again
    # the duplicate's new cell is reported on the target bug, not on the duplicate
    assert any(CRC_XEN in c["text"] for c in double.comments(target))
    assert not any(CRC_XEN in c["text"] for c in double.comments(crc_bug["id"])[1:])


def test_mixed_titles_environment_and_the_change_cap(tmp_path, double):
    linker, _, store = linker_for(tmp_path, double, extra="[safety]\nchange_cap = 0\n")
    farm = Farm(store)
    break_crc(farm, "r1", cells=(CRC_KVM,))
    for _ in range(2):
        farm.add(BASE_KVM, "build-failed", "r1", sig=SIG, title="an unrelated error")
    sig2 = "1111222233334444"
    for _ in range(2):
        farm.add(CRC_XEN, "boot-timeout", "r1", sig=sig2, title="no output")
    farm.add("hello-hosttool-kvm-x86_64", "environment", "r1", worker="bare",
             title="host tool missing")
    report = linker.run(production=True)
    states = {p.signature: p.state for p in report.plans}
    assert states[SIG] == "flagged"
    assert report.aborted and "change cap" in report.aborted
    assert ci_bugs(double) == []
    from triage.ci.status import load_status

    status = load_status(store, {"bare": "farm-admin@example.org"})
    assert [e[:3] for e in status.environment] == [
        ("bare", "farm-admin@example.org", "hello-hosttool-kvm-x86_64")]
    assert {s.signature: s.state for s in status.signatures} == {SIG: "flagged",
                                                                  sig2: "failing"}


def test_dry_run_writes_nothing_and_plans_the_same_bug(tmp_path, double):
    linker, _, store = linker_for(tmp_path, double, clock=T0 + timedelta(days=2))
    farm = Farm(store)
    farm.add(CRC_KVM, "passed", "r1")
    break_crc(farm, "r2", cells=(CRC_KVM,))
    for _ in range(2):
        dry = linker.run(production=False)
        assert list(dry.outcomes.values()) == ["dry-run"]
    assert ci_bugs(double) == []
    assert list(linker.run(production=True).outcomes.values()) == ["confirmed"]
    assert len(ci_bugs(double)) == 1
