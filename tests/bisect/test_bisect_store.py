"""The bisection store: one request once, the per-day budget, interrupted runs first, outcomes
kept as JSON and read back whole; the queue runner records errors without stopping."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.bisect.linkworld import commit, found
from tests.ci.world import T0
from tests.rules.world import config_toml
from triage.ci.bisect.model import CAUSE, FIX, BisectRequest
from triage.ci.bisect.queue import run_queue
from triage.ci.bisect.render import from_json as outcome_from_json
from triage.ci.bisect.render import to_json as outcome_to_json
from triage.config import load_settings
from triage.store import Store
from triage.store import bisections as rows


def req(n: int = 1, kind: str = CAUSE) -> BisectRequest:
    return BisectRequest(kind=kind, cell=f"hello-crc-kvm-x86_64-{n}", old="a" * 40,
                         new="b" * 40, signature="0123456789abcdef", flake_rate=0.1)


@pytest.fixture
def store(any_store):
    """SQLite and PostgreSQL alike."""
    return any_store


def settings_with(tmp_path, per_day: int):
    path = tmp_path / "x.toml"
    path.write_text(config_toml(tmp_path / "state", sections=f"[bisect]\nper_day = {per_day}\n"),
                    encoding="utf-8")
    return load_settings(path)


def test_a_request_is_queued_once_and_learns_its_bug(store):
    with store.session() as s:
        first, new = rows.queue(s, req(), now=T0, origin_signature="sig")
        assert new
        again, new_again = rows.queue(s, BisectRequest(**{**req().__dict__, "origin_bug": 7}),
                                      now=T0 + timedelta(hours=1))
        assert (again, new_again) == (first, False)
        other, _ = rows.queue(s, req(kind=FIX), now=T0)
        assert other != first
    with store.session() as s:
        recs = rows.by_signature(s)
    assert [r.request.origin_bug for r in recs["sig"]] == [7]
    assert recs["sig"][0].state == rows.QUEUED and recs["sig"][0].queued_at == T0


def test_per_day_budget_and_interrupted_runs(store):
    with store.session() as s:
        for n in range(3):
            rows.queue(s, req(n), now=T0 + timedelta(minutes=n))
    with store.session() as s:
        a = rows.take_next(s, now=T0, per_day=2)
    assert a is not None and a.request.cell.endswith("-0") and a.state == rows.RUNNING
    with store.session() as s:  # a crash left it running: it comes back first, not counted again
        again = rows.take_next(s, now=T0 + timedelta(minutes=5), per_day=2)
    assert again is not None and again.id == a.id
    with store.session() as s:
        rows.finish(s, a.id, found(a.request, commit(3), commit(2)), T0)
        b = rows.take_next(s, now=T0, per_day=2)
        assert b is not None and b.request.cell.endswith("-1")
        rows.fail(s, b.id, "unknown revision", T0)
        assert rows.take_next(s, now=T0 + timedelta(hours=1), per_day=2) is None  # budget spent
        c = rows.take_next(s, now=T0 + timedelta(days=1), per_day=2)  # the next UTC day
    assert c is not None and c.request.cell.endswith("-2")
    with store.session() as s:
        done = rows.get(s, a.id)
        failed = rows.get(s, b.id)
        assert rows.step_count(s, a.id) == 2
    assert done is not None and done.status == "found" and done.first_new == commit(3).id
    assert done.outcome is not None and done.outcome.first_new == commit(3)
    assert failed is not None and failed.status == rows.ERROR
    assert failed.error == "unknown revision"


def test_outcome_round_trip():
    out = found(req(), commit(5, "lib/crc: é \u202e subject"), commit(4), skip=commit(9))
    assert outcome_from_json(outcome_to_json(out)) == out


def test_queue_runner_keeps_errors_and_respects_the_budget(tmp_path, store):
    settings = settings_with(tmp_path, per_day=2)
    with store.session() as s:
        for n in range(3):
            rows.queue(s, req(n), now=T0 + timedelta(minutes=n))
    seen = []

    def bisector(r: BisectRequest):
        seen.append(r.cell)
        if r.cell.endswith("-0"):
            raise ValueError("bad revision aaaa")
        return found(r, commit(3), commit(2))

    report = run_queue(store, settings, bisector, clock=lambda: T0)
    assert seen == ["hello-crc-kvm-x86_64-0", "hello-crc-kvm-x86_64-1"]
    assert [e for _, _, e in report.ran] == ["ValueError: bad revision aaaa", ""]
    assert report.left == 1 and report.budget_spent
    assert "today's budget is spent" in report.summary()
    assert run_queue(store, settings, bisector, clock=lambda: T0).ran == []
    nxt = run_queue(store, settings, bisector, clock=lambda: T0 + timedelta(days=1))
    assert len(nxt.ran) == 1 and nxt.left == 0


def test_the_serve_job_runs_the_queue_and_is_recorded(tmp_path, monkeypatch):
    """The ``bisect`` job: a queued request whose revisions do not exist ends as an error with
    its reason (the queue goes on), and the run is recorded as ``job:bisect``."""
    from triage.ci.bisect.service import bisect_job
    from triage.store.decisions import latest_runs

    path = tmp_path / "x.toml"
    path.write_text(config_toml(tmp_path / "state", sections=f"""
[bisect]
per_day = 2
workdir = "{tmp_path / 'work'}"
repository = "{tmp_path}"
"""), encoding="utf-8")
    settings = load_settings(path)
    st = Store(settings.store_url)
    st.migrate()
    with st.session() as s:
        rows.queue(s, BisectRequest(kind=CAUSE, cell="hello-crc-kvm-x86_64", old="a" * 40,
                                    new="b" * 40, signature="0123456789abcdef"), now=T0)
    bisect_job(str(path))
    with st.session() as s:
        (rec,) = rows.all_bisections(s)
        (run,) = latest_runs(s, "job:bisect")
    assert rec.state == rows.DONE and rec.status == rows.ERROR and rec.error
    assert "not a git repository" in rec.error
    assert run.outcome == "ok" and "1 bisection(s) run (1 could not run)" in str(run.summary)
    st.dispose()


def test_a_matrix_that_does_not_load_takes_nothing_and_errors_can_be_retried(tmp_path, store):
    from triage.ci.bisect.queue import BisectionError
    from triage.ci.bisect.service import bisect_pass

    bad = tmp_path / "matrix.toml"
    bad.write_text("[[tree]\n", encoding="utf-8")
    path = tmp_path / "x.toml"
    path.write_text(config_toml(tmp_path / "state", sections=f'[bisect]\nmatrix = "{bad}"\n'),
                    encoding="utf-8")
    settings = load_settings(path)
    with store.session() as s:
        rows.queue(s, req(), now=T0)
    with pytest.raises(BisectionError, match=r"bisect\.matrix"):
        bisect_pass(settings, store, production=False)
    with store.session() as s:
        (rec,) = rows.all_bisections(s)
    assert rec.state == rows.QUEUED  # nothing taken, nothing counted
    with store.session() as s:
        taken = rows.take_next(s, now=T0, per_day=4)
        assert taken is not None
        rows.fail(s, taken.id, "no repository", T0)
    ran = []

    def bisector(r: BisectRequest):
        ran.append(r.cell)
        return found(r, commit(3), commit(2))

    queue, _ = bisect_pass(settings, store, production=False, bisector=bisector,
                           retry_errors=True, clock=lambda: T0)
    assert ran == [req().cell] and queue.ran[0][1] is not None  # queued again and run
    with store.session() as s:
        assert rows.all_bisections(s)[0].status == "found"


def test_one_queue_runner_at_a_time(tmp_path, store):
    """While one run holds the queue, another takes nothing (it would re-run the bisection
    the first one has running and share its worktrees)."""
    from triage.ci.bisect.queue import QueueBusy, queue_lock
    from triage.ci.bisect.service import bisect_pass

    settings = settings_with(tmp_path, per_day=4)
    with store.session() as s:
        rows.queue(s, req(), now=T0)
        assert rows.take_next(s, now=T0, per_day=4) is not None  # the first run has it running
    with queue_lock(settings.bisect.workdir):
        with pytest.raises(QueueBusy):
            bisect_pass(settings, store, production=False, bisector=lambda r: found(
                r, commit(3), commit(2)), clock=lambda: T0)
    with store.session() as s:
        assert rows.all_bisections(s)[0].state == rows.RUNNING
    queue, _ = bisect_pass(settings, store, production=False,
                           bisector=lambda r: found(r, commit(3), commit(2)), clock=lambda: T0)
    assert len(queue.ran) == 1  # the lock is free again: the interrupted one runs


def test_bugzilla_down_after_the_run_keeps_the_outcome(tmp_path, store):
    from triage.adapters.tracker import TrackerError
    from triage.ci.bisect.service import bisect_pass

    class Down:
        def run(self, production: bool):
            raise TrackerError("Bugzilla at 127.0.0.1:9 is unreachable")

    settings = settings_with(tmp_path, per_day=4)
    with store.session() as s:
        rows.queue(s, req(), now=T0)
    queue, link = bisect_pass(settings, store, production=True, linker=Down(),  # type: ignore[arg-type]
                              bisector=lambda r: found(r, commit(3), commit(2)),
                              clock=lambda: T0)
    assert link is None and "unreachable" in queue.link_error
    with store.session() as s:
        (rec,) = rows.all_bisections(s)
    assert rec.status == "found" and not rec.reported_key  # owed to the next linking pass
