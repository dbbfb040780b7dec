"""The warehouse's checks (sql/checks): they hold on a polled warehouse and name what a broken one breaks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from simulator import running_simulator
from streamledger import warehouse
from streamledger.cli import main
from tests.helpers import run_poll, settings_for, simulator_config

POLLS = 10

# A deliberate break of a polled warehouse, and exactly the checks it must fail.
BREAKS: dict[str, tuple[str, set[str]]] = {
    "a raw response deleted": (
        "delete from raw_responses where (poll_id, seq) = (select min((poll_id, seq)) from raw_responses)",
        {"poll_requests_recorded"},
    ),
    "a raw response stored twice": (
        "insert into raw_responses select * from raw_responses order by poll_id, seq limit 1",
        {"poll_requests_recorded", "raw_response_keys_unique"},
    ),
    "a ledger row that does not add up": (
        "update poll_runs set requests = requests + 1 where poll_id = (select max(poll_id) from poll_runs)",
        {"poll_requests_recorded"},
    ),
    "a ledger row deleted": (
        "delete from poll_runs where poll_id = (select max(poll_id) from poll_runs)",
        {"poll_rows_have_a_ledger_row"},
    ),
    "a snapshot deleted": (
        "delete from session_snapshots where (poll_id, session_id) = "
        "(select min((poll_id, session_id)) from session_snapshots)",
        {"poll_counts_match_rows"},
    ),
    "a snapshot stored twice": (
        "insert into session_snapshots select * from session_snapshots order by poll_id, session_id limit 1",
        {"poll_counts_match_rows", "snapshot_keys_unique"},
    ),
    "a final session without its viewer seconds": (
        "update sessions set viewer_seconds = null where session_id = "
        "(select min(session_id) from sessions where is_final and viewer_seconds > 0)",
        {"final_sessions_have_figures", "final_usage_sums_to_figures"},
    ),
    "a final session without finalized_at": (
        "update sessions set finalized_at = null where session_id = "
        "(select min(session_id) from sessions where is_final)",
        {"finalization_recorded"},
    ),
    "an hour of a final session counted twice": (
        "update session_usage set ingest_seconds = 2 * ingest_seconds where (session_id, hour) = "
        "(select min((session_id, hour)) from session_usage where ingest_seconds > 0"
        " and session_id in (select session_id from sessions where is_final))",
        {"final_usage_sums_to_figures"},
    ),
    "a negative hour of a running session": (
        "update session_usage set viewer_seconds = -1 where (session_id, hour) = "
        "(select min((session_id, hour)) from session_usage"
        " where session_id in (select session_id from sessions where not is_final))",
        {"session_usage_not_negative"},
    ),
    "a first hour forgotten": (
        "delete from session_usage_state"
        " where session_id = (select min(session_id) from session_usage where hour is not null)",
        {"session_usage_state_matches"},
    ),
    "a session left stale": (
        "insert into usage_stale (session_id) select min(session_id) from sessions",
        {"usage_stale_empty"},
    ),
}


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse of POLLS polls half a minute apart, with final, stopped and running sessions."""
    folder = tmp_path_factory.mktemp("checks")
    with running_simulator(simulator_config()) as sim:
        settings = settings_for(sim, folder)
        for _ in range(POLLS):
            sim.advance(30)
            run_poll(settings)  # which asserts, after every load, that every check holds
    return settings.database


@pytest.fixture
def database(polled: Path, tmp_path: Path) -> Path:
    """A private copy of the polled warehouse."""
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(polled, copy)
    return copy


def test_every_check_states_its_guarantee_and_is_one_query() -> None:
    found = warehouse.checks()
    assert len(found) >= 10
    assert [check.file for check in found] == sorted(check.file for check in found)
    for check in found:
        text = warehouse.sql_text(check.file)
        header = [line for line in text.splitlines() if line.startswith("--")]
        assert len(header) >= 4, f"{check.file}: a header says what it guarantees and why it matters"
        (statement,) = warehouse.statements(text)
        query = [line for line in statement.splitlines() if not line.startswith("--")]
        assert query[0].startswith(("select ", "with ")), f"{check.file}: a check is one query"


def test_a_polled_warehouse_holds_every_check_and_status_check_exits_0(
    polled: Path, database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    con = warehouse.connect(database, read_only=True)
    try:
        assert warehouse.run_checks(con) == []
        finals = con.execute("select count(*) from sessions where is_final").fetchall()[0][0]
    finally:
        con.close()
    assert finals >= 3  # the checks on final sessions had something to check
    assert main(["status", "--database", str(database), "--check"]) == 0
    out = capsys.readouterr().out
    for check in warehouse.checks():
        assert f"check {check.name:<32} ok\n" in out


@pytest.mark.parametrize("broken", sorted(BREAKS))
def test_a_broken_warehouse_fails_exactly_the_checks_it_breaks(
    broken: str, database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    statement, expected = BREAKS[broken]
    con = warehouse.connect(database)
    try:
        changed = con.execute(statement).fetchall()[0][0]
        assert changed == 1, "the break changed one row"
        failures = warehouse.run_checks(con)
    finally:
        con.close()
    assert {failure.check.name for failure in failures} == expected
    for failure in failures:
        assert failure.violations >= 1
        assert 1 <= len(failure.rows) <= min(failure.violations, warehouse.CHECK_ROWS_KEPT)
        assert failure.check in warehouse.checks()  # with the description its file's header gives
    assert main(["status", "--database", str(database), "--check"]) == 1
    out = capsys.readouterr().out
    for name in expected:
        assert f"check {name:<32} FAILED: " in out
    passed = [line for line in out.splitlines() if line.startswith("check ") and line.endswith(" ok")]
    assert f"check {'schema_known':<32} ok" in passed  # the file itself is sound: its invariants are not
    assert len(passed) == 1 + len(warehouse.checks()) - len(expected)


def test_status_check_shows_the_first_violations_and_how_many_more(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    con = warehouse.connect(database)
    try:
        con.execute("insert into usage_stale (session_id) select session_id from sessions")
        stale = con.execute("select count(*) from usage_stale").fetchall()[0][0]
        first = con.execute("select min(session_id) from usage_stale").fetchall()[0][0]
    finally:
        con.close()
    assert stale > warehouse.CHECK_ROWS_KEPT
    assert main(["status", "--database", str(database), "--check"]) == 1
    out = capsys.readouterr().out
    failed = f"FAILED: {stale} rows (usage_stale is empty between loads.)"
    assert f"check {'usage_stale_empty':<32} {failed}\n" in out
    assert f"      session_id={first}\n" in out
    assert f"      ... and {stale - warehouse.CHECK_ROWS_KEPT} more\n" in out
    # Without --check, status reads no check and the exit status says nothing about them.
    assert main(["status", "--database", str(database)]) == 0
    assert "check " not in capsys.readouterr().out
