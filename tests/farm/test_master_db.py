"""The master's database: `farm up --db` on a real PostgreSQL, and the SQLite engine settings."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from farm import localfarm
from farm.buildbot_config import FarmSettingsError, load_master_settings
from farm.master_db import MasterDbError, db_config, normalize_url, shown_url
from tests.farm.conftest import require_binaries
from triage.cli.cmd_farm import command as farm_command

REPO = Path(__file__).resolve().parents[2]
CELLS = ("hello-base-linuxu-x86_64", "hello-crc-linuxu-x86_64", "hello-cpuid-kvm-arm64")


def test_urls_are_normalised_and_refused_with_a_reason() -> None:
    assert normalize_url("sqlite:///state.sqlite") == "sqlite:///state.sqlite"
    assert normalize_url("postgresql://bb@127.0.0.1:5432/bb") == \
        "postgresql+psycopg://bb@127.0.0.1:5432/bb"
    assert normalize_url("postgres://bb@h/bb").startswith("postgresql+psycopg://")
    for bad, reason in [("mysql://u@h/db", "unsupported database 'mysql'"),
                        ("postgresql+pg8000://h/db", "unsupported driver 'pg8000'"),
                        ("postgresql://127.0.0.1/", "needs a database name"),
                        ("not a url", "not a database URL")]:
        with pytest.raises(MasterDbError, match=reason):
            normalize_url(bad)
    assert shown_url("postgresql+psycopg://bb:s3cret@h/bb") == "postgresql+psycopg://bb:***@h/bb"


def test_sqlite_keeps_one_connection_open_with_wal_normal(tmp_path: Path) -> None:
    db = db_config("sqlite:///state.sqlite", tmp_path)
    kwargs = db["engine_kwargs"]
    assert kwargs["poolclass"] is sa.pool.QueuePool
    conn = kwargs["creator"]()
    try:
        assert conn.execute("pragma synchronous").fetchone() == (1,)  # NORMAL
    finally:
        conn.close()
    assert (tmp_path / "state.sqlite").exists()  # the file Buildbot resolves in its basedir
    # Buildbot's own behaviour on request; PostgreSQL and in-memory SQLite keep its defaults.
    assert db_config("sqlite:///state.sqlite", tmp_path, "per-operation", "full") == \
        {"db_url": "sqlite:///state.sqlite"}
    assert "engine_kwargs" not in db_config("postgresql+psycopg://h/bb", tmp_path)
    assert "engine_kwargs" not in db_config("sqlite://", tmp_path)
    full = db_config("sqlite:///x.sqlite", tmp_path, "reuse", "full")["engine_kwargs"]
    conn = full["creator"]()
    assert conn.execute("pragma synchronous").fetchone() == (2,)  # FULL
    conn.close()


def test_farm_json_database_url_is_validated(tmp_path: Path) -> None:
    (tmp_path / "farm.json").write_text(json.dumps({"db_url": "mysql://u@h/db"}))
    with pytest.raises(FarmSettingsError, match="db_url"):
        load_master_settings(tmp_path, REPO / "ci")
    (tmp_path / "farm.json").write_text(json.dumps({"db_url": "postgresql://h/bb",
                                                    "sqlite_synchronous": "off"}))
    with pytest.raises(FarmSettingsError, match="sqlite_synchronous"):
        load_master_settings(tmp_path, REPO / "ci")


def test_farm_up_refuses_a_bad_database_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(farm_command, [
        "up", "--no-store", "--state-dir", str(tmp_path), "--db", "mysql://u@h/db"])
    assert result.exit_code == 2, result.output
    assert "unsupported database 'mysql'" in result.output
    assert not (tmp_path / "master").exists()  # nothing created


def test_farm_up_on_postgresql_runs_cells_into_that_database(
        tmp_path: Path, postgres_url: str) -> None:
    require_binaries()
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    state_dir = tmp_path / "farm"
    runner = CliRunner()
    try:
        up = runner.invoke(farm_command, ["up", "--no-store", "--state-dir", str(state_dir),
                                          "--db", url])
        assert up.exit_code == 0, up.output
        run = runner.invoke(farm_command, ["run", "--state-dir", str(state_dir), "--json",
                                           "--cells", ",".join(CELLS), "--timeout", "300"])
        # cpuid does not compile for arm64: one failed cell, exit 8.
        assert run.exit_code == 8, run.output
        farm_json = state_dir / "master" / "farm.json"
        assert json.loads(farm_json.read_text())["db_url"] == postgres_url
        assert stat.S_IMODE(farm_json.stat().st_mode) == 0o600
    finally:
        localfarm.down(state_dir)
    # The builds, their steps and the step's published properties are in PostgreSQL, and the
    # master never created a SQLite database.
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            results = dict(conn.execute(sa.text(
                "select b.value, p.value from build_properties p"
                " join build_properties b on b.buildid = p.buildid and b.name = 'cell'"
                " where p.name = 'cell_result'")).all())
            steps = conn.execute(sa.text("select count(*) from steps")).scalar_one()
    finally:
        engine.dispose()
    assert {json.loads(k): json.loads(v) for k, v in results.items()} == {
        "hello-base-linuxu-x86_64": "passed", "hello-crc-linuxu-x86_64": "passed",
        "hello-cpuid-kvm-arm64": "build-failed"}
    assert steps >= len(CELLS)
    assert not (state_dir / "master" / "state.sqlite").exists()

    # The same state directory back on SQLite: its tables are created there on `up`.
    try:
        again = runner.invoke(farm_command, ["up", "--no-store", "--state-dir", str(state_dir)])
        assert again.exit_code == 0, again.output
        state = localfarm.load_state(state_dir)
        assert localfarm.max_build_id(state) == 0  # a new, empty database
    finally:
        localfarm.down(state_dir)
    assert (state_dir / "master" / "state.sqlite").exists()


class _Builder:
    def __init__(self, name: str, building: int, free_workers: int) -> None:
        self.name, self.building, self.free = name, [object()] * building, free_workers

    def getAvailableWorkers(self) -> list[object]:  # Buildbot's name
        return [object()] * self.free


def test_builders_without_a_free_worker_sit_out_the_round() -> None:
    from farm.longest_first import LongestFirst

    order = LongestFirst({}, (), 20, by_expected=False)  # Buildbot's order: least busy first
    order.history_read = True
    builders = [_Builder("xen-x86_64", 1, 1), _Builder("kvm-arm64", 0, 0),
                _Builder("kvm-x86_64", 0, 2), _Builder("fc-x86_64", 1, 1)]
    out: list[list[_Builder]] = []
    order.prioritize(None, builders).addCallback(out.append)
    assert [b.name for b in out[0]] == ["kvm-x86_64", "fc-x86_64", "xen-x86_64"]


def test_statement_counts_are_written_for_the_benchmark(tmp_path: Path) -> None:
    from farm import master_stats

    master_stats.start_counting()
    before = dict(master_stats._counts)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with engine.begin() as conn:
        conn.execute(sa.text("create table t (x int)"))
        conn.execute(sa.text("insert into t values (1)"))
        conn.execute(sa.text("select * from t")).all()
    engine.dispose()
    counter = master_stats.StatementCounter.__new__(master_stats.StatementCounter)
    counter.path = tmp_path / master_stats.STATS_FILE
    counter.write()
    after = master_stats.read_counts(tmp_path)
    for verb in ("CREATE", "INSERT", "SELECT", "COMMIT"):
        assert after.get(verb, 0) == before.get(verb, 0) + 1, verb
    assert master_stats.read_timeline(tmp_path) == []  # no build event yet: no file
    counter.timeline_path = tmp_path / master_stats.TIMELINE_FILE
    counter.events = [{"t": 1.5, "event": "build new", "buildid": 3, "step": None}]
    counter.write()
    assert master_stats.read_timeline(tmp_path) == counter.events


def test_the_same_database_settings_compare_equal_across_a_reload(tmp_path: Path) -> None:
    """`buildbot reconfig` refuses a changed c['db']; master.cfg re-imports farm.* each time."""
    import importlib.util

    from farm import master_db

    first = master_db.db_config("sqlite:///state.sqlite", tmp_path)
    # A second copy of the module (as after master.cfg drops farm.* from sys.modules), without
    # touching the one the other tests use.
    spec = importlib.util.spec_from_file_location("master_db_again", master_db.__file__)
    assert spec is not None and spec.loader is not None
    reloaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reloaded)
    assert reloaded._SqliteCreator is not master_db._SqliteCreator
    assert reloaded.db_config("sqlite:///state.sqlite", tmp_path) == first
    assert reloaded.db_config("sqlite:///state.sqlite", tmp_path, synchronous="full") != first
