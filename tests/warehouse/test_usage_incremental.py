"""session_usage kept incrementally (sql/load/11_usage_stale.sql, 12_session_usage.sql) equals computing every
session's whole curve again, exactly, over random reading sequences with placeholders, dips, resets, a stop,
final figures above or below the readings, late readings and reloaded polls."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamledger import warehouse

START = datetime(2026, 11, 30, 22, 47, 13, tzinfo=UTC)
USAGE = "select session_id, hour, ingest_seconds, viewer_seconds from session_usage order by session_id, hour"
USAGE_CHECKS = {
    "final_usage_sums_to_figures",
    "session_usage_not_negative",
    "session_usage_state_matches",
    "usage_stale_empty",
}
SNAPSHOT = (
    "insert into session_snapshots (poll_id, fetched_at, observed_at, session_id, livestream_id, app_id,"
    " endpoint, started_time, stopped_time, ingest_seconds, viewer_seconds)"
    " values ($1, $2, $2, $3, 'ls', 'app', 'active_session', $4, $5, $6, $7)"
)
STATE = "select * from session_usage_state order by session_id"


@dataclass(frozen=True)
class Reading:
    """One poll's observation of a session: seconds after START, its figures, and what the poll does."""

    after: float
    ingest: float | None
    viewer: float | None
    late: bool = False  # loaded after the next poll (two polls beside each other)
    reload: bool = False  # loaded twice (a rerun)


@dataclass(frozen=True)
class Story:
    """A session's readings, its stop (seconds after START, after which reading) and its final figures."""

    readings: list[Reading]
    stop_after: float | None
    stop_at_reading: int
    final: tuple[float, float] | None


figures = st.one_of(
    st.none(),
    st.floats(min_value=0, max_value=5e7, allow_nan=False).map(lambda x: round(x, 3)),
    st.sampled_from([0.0, 60.0]),  # a reset, and the API's placeholder
)
readings = st.builds(
    Reading,
    after=st.floats(min_value=-100, max_value=40 * 3600, allow_nan=False).map(lambda x: round(x, 6)),
    ingest=figures,
    viewer=figures,
    late=st.sampled_from([False] * 5 + [True]),
    reload=st.sampled_from([False] * 9 + [True]),
)


@st.composite
def stories(draw: st.DrawFn) -> Story:
    raw = draw(st.lists(readings, min_size=1, max_size=25))
    ordered = sorted(raw, key=lambda r: r.after)
    stop_at_reading = draw(st.integers(0, len(ordered)))
    instant = st.floats(min_value=0, max_value=40 * 3600, allow_nan=False).map(lambda x: round(x, 6))
    stop_after = draw(st.none() | instant)
    amount = st.floats(min_value=0, max_value=6e7, allow_nan=False).map(lambda x: round(x, 3))
    final = draw(st.none() | st.tuples(amount, amount))
    return Story(ordered, stop_after, stop_at_reading, final if stop_after is not None else None)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = warehouse.connect(tmp_path_factory.mktemp("usage") / "w.duckdb")
    warehouse.migrate(connection)
    yield connection
    connection.close()


def empty(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("session_usage", "session_usage_state", "session_snapshots", "sessions", "usage_stale"):
        con.execute(f"delete from {table}")


def load_reading(
    con: duckdb.DuckDBPyConnection, session_id: str, number: int, reading: Reading, story: Story
) -> None:
    """Write one poll's snapshot and the session's row as the load leaves them, then run the usage files."""
    at = START + timedelta(seconds=reading.after)
    poll_id = f"p{number:04d}-{session_id}"
    stopped = story.stop_after is not None and number >= story.stop_at_reading
    stop = START + timedelta(seconds=story.stop_after) if stopped and story.stop_after is not None else None
    final = stopped and story.final is not None and number >= story.stop_at_reading + 1
    con.execute("begin transaction")
    con.execute("delete from session_snapshots where poll_id = $1", [poll_id])
    snapshot = [poll_id, at, session_id, START, stop, reading.ingest, reading.viewer]
    con.execute(SNAPSHOT, snapshot)
    ingest, viewer = story.final if final and story.final else (reading.ingest, reading.viewer)
    con.execute(
        "insert or replace into sessions (session_id, livestream_id, app_id, started_time, stopped_time,"
        " ingest_seconds, viewer_seconds, is_final, first_seen_at, last_seen_at, last_poll_id)"
        " values ($1, 'ls', 'app', $2,"
        " coalesce($3, (select stopped_time from sessions where session_id = $1)), $4, $5, $6, $2, $2, $7)",
        [session_id, START, stop, ingest, viewer, final, poll_id],
    )
    staged = pl.DataFrame(
        {"session_id": [session_id], "poll_id": [poll_id], "fetched_at": [at]},
        schema={"session_id": pl.String, "poll_id": pl.String, "fetched_at": pl.Datetime("us", "UTC")},
    )
    warehouse.register(con, "staged_sessions", staged)
    if reading.reload:
        warehouse.run_file(con, "load/01_clear_poll.sql", {"poll_id": poll_id})
        con.execute(SNAPSHOT, snapshot)
    warehouse.run_file(con, "load/11_usage_stale.sql")
    warehouse.run_file(con, "load/12_session_usage.sql")
    con.execute("commit")


def load_story(con: duckdb.DuckDBPyConnection, session_id: str, story: Story) -> None:
    order = list(range(len(story.readings)))
    for i in range(len(order) - 1):
        if story.readings[order[i]].late:
            order[i], order[i + 1] = order[i + 1], order[i]
    for number in order:
        load_reading(con, session_id, number, story.readings[number], story)


def usage_check_failures(con: duckdb.DuckDBPyConnection) -> list[warehouse.CheckFailure]:
    """The failures of the checks of session_usage (these fixtures have no ledger rows)."""
    return [f for c in warehouse.checks() if c.name in USAGE_CHECKS and (f := warehouse.run_check(con, c))]


def incremental_equals_full(con: duckdb.DuckDBPyConnection, left: Story, right: Story) -> None:
    """Load two sessions' stories poll by poll, then compute every curve again: the same rows, exactly."""
    empty(con)
    load_story(con, "a", left)
    load_story(con, "b", right)
    incremental = (con.execute(USAGE).fetchall(), con.execute(STATE).fetchall())
    con.execute("begin transaction")
    warehouse.refresh_session_usage(con)
    con.execute("commit")
    assert (con.execute(USAGE).fetchall(), con.execute(STATE).fetchall()) == incremental
    assert not usage_check_failures(con)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(left=stories(), right=stories())
def test_incremental_usage_equals_the_whole_curve_computed_again(
    shared: duckdb.DuckDBPyConnection, left: Story, right: Story
) -> None:
    incremental_equals_full(shared, left, right)


@pytest.mark.slow
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(left=stories(), right=stories())
def test_incremental_usage_equals_the_whole_curve_computed_again_many_times(
    shared: duckdb.DuckDBPyConnection, left: Story, right: Story
) -> None:
    incremental_equals_full(shared, left, right)


def test_a_poll_of_a_running_session_reads_only_its_new_snapshots(con: duckdb.DuckDBPyConnection) -> None:
    story = Story([Reading(600 * n, 100.0 * n, 250.5 * n) for n in range(1, 8)], None, 0, None)
    for number in range(6):
        load_reading(con, "s", number, story.readings[number], story)
    # The history before the last poll is gone (as if archived and pruned): the next poll's usage comes from
    # the curve's last point and its new reading alone, exactly as computing it from everything does.
    kept = con.sql("select * from session_snapshots").pl()
    con.execute("delete from session_snapshots")
    load_reading(con, "s", 6, story.readings[6], story)
    appended = con.execute(USAGE).fetchall()
    warehouse.register(con, "kept", kept)
    con.execute("insert into session_snapshots by name select * from kept")
    con.execute("begin transaction")
    warehouse.refresh_session_usage(con)
    con.execute("commit")
    assert con.execute(USAGE).fetchall() == appended
    total = sum((ingest for _, _, ingest, _ in appended), Decimal(0))
    assert total == Decimal("700.000000")


def test_the_first_load_after_migration_005_computes_every_sessions_usage(tmp_path: Path) -> None:
    story = Story([Reading(900 * n, 10.0 * n, 20.0 * n) for n in range(1, 5)], 3000, 3, (40.0, 80.0))
    fresh = warehouse.connect(tmp_path / "fresh.duckdb")
    warehouse.migrate(fresh)
    for number, reading in enumerate(story.readings):
        load_reading(fresh, "s", number, reading, story)
    # The same session again, 40 days later: the migration computes a month of starts at a time.
    shift = "interval 40 day"
    fresh.execute(
        f"insert into sessions by name select * replace ('t' as session_id, started_time + {shift} as"
        f" started_time, stopped_time + {shift} as stopped_time, first_seen_at + {shift} as first_seen_at,"
        f" last_seen_at + {shift} as last_seen_at) from sessions"
    )
    fresh.execute(
        f"insert into session_snapshots by name select * replace ('t' as session_id, poll_id || 't' as"
        f" poll_id, fetched_at + {shift} as fetched_at, observed_at + {shift} as observed_at, started_time +"
        f" {shift} as started_time, stopped_time + {shift} as stopped_time) from session_snapshots"
    )
    fresh.execute("begin transaction")
    warehouse.refresh_session_usage(fresh)
    fresh.execute("commit")
    expected = fresh.execute(USAGE).fetchall()
    months = {hour.month for _, hour, _, _ in expected}
    assert len(months) == 2
    for session in ("s", "t"):
        assert sum(i for s, _, i, _ in expected if s == session) == Decimal("40.000000")
    # A database at migration 004 holding the same session and snapshots, without its usage yet.
    older = warehouse.connect(tmp_path / "older.duckdb")
    warehouse.run_file(older, "warehouse/bookkeeping.sql")
    for version, name, checksum in warehouse._migration_files():
        if version <= 4:
            warehouse.run_file(older, f"migrations/{name}")
            record = {"migration_version": version, "migration_name": name, "migration_checksum": checksum}
            warehouse.run_file(older, "warehouse/record_migration.sql", record)
    for table in ("sessions", "session_snapshots"):
        columns = "* exclude (stop_seen_at)" if table == "sessions" else "*"
        rows = fresh.sql(f"select {columns} from {table}").pl()
        older.register("rows", rows.to_arrow())
        older.execute(f"insert into {table} by name select * from rows")
        older.unregister("rows")
    fresh.close()
    assert warehouse.migrate(older) == ["005_incremental_usage.sql"]
    assert older.execute(USAGE).fetchall() == expected
    assert older.execute("select count(*) from usage_stale").fetchall() == [(0,)]
    assert not usage_check_failures(older)
    older.close()
