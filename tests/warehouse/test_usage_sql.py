"""session_usage, the usage_daily/monthly and reconciliation views, on fixture rows in a fresh warehouse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest

from streamledger import warehouse

START = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)


def add_session(
    con: duckdb.DuckDBPyConnection,
    session_id: str,
    started: datetime,
    stopped: datetime | None,
    final: tuple[float, float] | None,
    readings: list[tuple[datetime, float, float]],
) -> None:
    newest = max(readings)
    ingest, viewer = final if final else (newest[1], newest[2])
    con.execute(
        "insert into sessions (session_id, livestream_id, app_id, started_time, stopped_time, ingest_seconds,"
        " viewer_seconds, is_final, first_seen_at, last_seen_at, last_poll_id)"
        " values ($1, 'ls', 'app', $2, $3, $4, $5, $6, $2, $2, 'p')",
        [session_id, started, stopped, ingest, viewer, final is not None],
    )
    for n, (at, i, v) in enumerate(readings):
        con.execute(
            "insert into session_snapshots (poll_id, fetched_at, observed_at, session_id, livestream_id,"
            " app_id, endpoint, ingest_seconds, viewer_seconds)"
            " values ($1, $2, $2, $3, 'ls', 'app', 'active_session', $4, $5)",
            [f"p{n}", at, session_id, i, v],
        )
    warehouse.refresh_session_usage(con)


def usage(con: duckdb.DuckDBPyConnection, session_id: str) -> list[tuple[datetime, float, float]]:
    return con.execute(
        "select hour, ingest_seconds, viewer_seconds from session_usage where session_id = $1 order by hour",
        [session_id],
    ).fetchall()


def test_a_final_sessions_hours_sum_to_its_final_figures_across_midnight_and_month(
    con: duckdb.DuckDBPyConnection,
) -> None:
    stop = START + timedelta(hours=1)
    readings = [
        (START + timedelta(minutes=15), 800.0, 2000.5),
        (START + timedelta(minutes=45), 2600.0, 7000.25),
    ]
    add_session(con, "s1", START, stop, (3500.0, 9000.75), readings)
    rows = usage(con, "s1")
    assert [hour for hour, _, _ in rows] == [
        datetime(2026, 10, 31, 23, tzinfo=UTC),
        datetime(2026, 11, 1, 0, tzinfo=UTC),
    ]
    assert sum(i for _, i, _ in rows) == pytest.approx(3500.0, abs=1e-9)
    assert sum(v for _, _, v in rows) == pytest.approx(9000.75, abs=1e-9)
    # 23:30-23:45 -> 800; 23:45-00:15 -> 1800 split evenly at midnight; so 800 + 900 before midnight.
    assert rows[0][1] == pytest.approx(1700.0)
    monthly = con.execute("select month, ingest_seconds from usage_monthly order by month").fetchall()
    assert monthly == [(date(2026, 10, 1), pytest.approx(1700.0)), (date(2026, 11, 1), pytest.approx(1800.0))]
    daily = con.execute("select day, ingest_seconds from usage_daily order by day").fetchall()
    assert [d for d, _ in daily] == [date(2026, 10, 31), date(2026, 11, 1)]


def test_placeholders_are_not_usage_and_dips_are_never_negative(con: duckdb.DuckDBPyConnection) -> None:
    stop = START + timedelta(minutes=10)
    readings = [
        (START + timedelta(seconds=20), 60.0, 60.0),  # the API's placeholder
        (START + timedelta(minutes=2), 110.0, 300.0),
        (START + timedelta(minutes=4), 90.0, 250.0),  # a dip
        (START + timedelta(minutes=6), 340.0, 900.0),
    ]
    add_session(con, "s2", START, stop, (580.0, 1500.0), readings)
    rows = usage(con, "s2")
    assert all(i >= 0 and v >= 0 for _, i, v in rows)
    assert sum(i for _, i, _ in rows) == pytest.approx(580.0)
    segments = con.execute(
        "select count(*) from session_usage where session_id = 's2' and ingest_seconds < 0"
    ).fetchall()
    assert segments == [(0,)]


def test_readings_above_the_final_figures_are_capped_so_the_sum_is_exact(
    con: duckdb.DuckDBPyConnection,
) -> None:
    stop = START + timedelta(minutes=30)
    readings = [(START + timedelta(minutes=10), 700.0, 100.0), (START + timedelta(minutes=20), 1500.0, 120.0)]
    add_session(con, "s3", START, stop, (1200.0, 150.0), readings)
    rows = usage(con, "s3")
    assert sum(i for _, i, _ in rows) == pytest.approx(1200.0)
    assert sum(v for _, _, v in rows) == pytest.approx(150.0)


def test_a_session_seen_only_with_its_final_figures_spreads_them_over_its_span(
    con: duckdb.DuckDBPyConnection,
) -> None:
    started = datetime(2026, 11, 1, 9, 59, 57, tzinfo=UTC)
    stopped = started + timedelta(seconds=6)
    add_session(con, "s4", started, stopped, (6.0, 12.0), [(stopped + timedelta(seconds=30), 6.0, 12.0)])
    rows = usage(con, "s4")
    assert [(h.hour, round(i, 6), round(v, 6)) for h, i, v in rows] == [(9, 3.0, 6.0), (10, 3.0, 6.0)]


def test_reconciliation_shows_the_difference_per_app_per_day(con: duckdb.DuckDBPyConnection) -> None:
    add_session(con, "s5", START, START + timedelta(minutes=5), (100.0, 40.0), [(START, 0.0, 0.0)])
    con.execute(
        "insert into analytics_daily values ('app', date '2026-10-31', 1, 90, 40, now(), 'r1'),"
        " ('app', date '2026-11-01', 2, 10, 10, now(), 'r1')"
    )
    rows = con.execute(
        "select day, cloudflare_sessions, warehouse_sessions, ingest_difference_seconds,"
        " ingest_difference_percent, viewer_difference_seconds, all_final"
        " from reconciliation_daily order by day"
    ).fetchall()
    assert rows[0] == (date(2026, 10, 31), 1, 1, 10.0, pytest.approx(100 * 10 / 90), 0.0, True)
    assert rows[1][:4] == (date(2026, 11, 1), 2, None, -10.0)


def test_readings_after_the_stop_tie_at_the_stop_and_still_sum_to_the_final_figures(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Every reading after the stop is clamped to stopped_time: the running maximum and the steps between
    points must take those ties in one order, or a step is counted twice (found by the soak: 51 s of usage
    for a session of 50 s, between the poll that finalized it and a later one)."""
    stop = START + timedelta(seconds=53)
    # Figures still rising after the stop (the API's report lag), then settled: 12 readings, all later.
    rising = [(START + timedelta(minutes=n + 1), 38.0 + n, 700.25 + 20.5 * n) for n in range(12)]
    settled = [(START + timedelta(minutes=13 + n), 49.0, 925.75) for n in range(3)]
    # Stored newest first, as a recovered or re-read poll can leave them: the order must come from the data.
    add_session(con, "s1", START, stop, (49.0, 925.75), (rising + settled)[::-1])
    add_session(con, "s2", START, stop, None, rising[::-1])  # not final yet: its running maximum
    rows = usage(con, "s1")
    assert sum(i for _, i, _ in rows) == pytest.approx(49.0, abs=1e-9)
    assert sum(v for _, _, v in rows) == pytest.approx(925.75, abs=1e-9)
    open_rows = usage(con, "s2")
    assert sum(i for _, i, _ in open_rows) == pytest.approx(rising[-1][1], abs=1e-9)
    assert sum(v for _, _, v in open_rows) == pytest.approx(rising[-1][2], abs=1e-9)
