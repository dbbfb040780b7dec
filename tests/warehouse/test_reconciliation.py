"""reconciliation_daily's tolerance and verdict, on fixture rows in a fresh warehouse: Cloudflare's integer
totals, however it rounds, agree with the fractional figures; a real discrepancy differs; an open day is not
final."""

from __future__ import annotations

import math
import random
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from simulator import running_simulator
from simulator.bodies import rounded_seconds
from simulator.config import ANALYTICS_ROUNDINGS, AnalyticsRounding
from streamledger import fetch, warehouse
from streamledger.transforms.shapes import parse_instant
from tests.helpers import finish, run_poll, settings_for, simulator_config

DAY = date(2026, 11, 3)
NOON = datetime(2026, 11, 3, 12, tzinfo=UTC)
READ_AT = datetime(2026, 11, 4, 0, 15, tzinfo=UTC)  # the daily reconcile, after the day is over


def add_sessions(
    con: duckdb.DuckDBPyConnection,
    figures: list[tuple[float, float]],
    *,
    final: bool = True,
    finalized_at: datetime = NOON + timedelta(hours=2),
    app_id: str = "app",
) -> None:
    """Sessions of DAY with these (ingest, viewer) figures, final (finalized at finalized_at) or not."""
    for n, (ingest, viewer) in enumerate(figures):
        started = NOON + timedelta(minutes=n)
        con.execute(
            "insert into sessions (session_id, livestream_id, app_id, started_time, stopped_time,"
            " ingest_seconds, viewer_seconds, is_final, finalized_at, first_seen_at, last_seen_at,"
            " last_poll_id) values ($1, 'ls', $2, $3, $4, $5, $6, $7, $8, $3, $3, 'p')",
            [
                f"{app_id}-s{n}",
                app_id,
                started,
                started + timedelta(minutes=1),
                ingest,
                viewer,
                final,
                finalized_at if final else None,
            ],
        )


def add_cloudflare(
    con: duckdb.DuckDBPyConnection,
    count: int,
    ingest: float,
    viewer: float,
    *,
    fetched_at: datetime = READ_AT,
    app_id: str = "app",
) -> None:
    con.execute(
        "insert into analytics_daily values ($1, $2, $3, $4, $5, $6, 'r1')",
        [app_id, DAY, count, ingest, viewer, fetched_at],
    )


def verdict(con: duckdb.DuckDBPyConnection, app_id: str = "app") -> dict[str, Any]:
    """The app's row of DAY in reconciliation_daily, by column name."""
    result = con.execute("select * from reconciliation_daily where app_id = $1 and day = $2", [app_id, DAY])
    columns = [column[0] for column in result.description]
    (row,) = result.fetchall()
    return dict(zip(columns, row, strict=True))


def rounded(figures: list[float], rounding: AnalyticsRounding) -> int:
    """What Cloudflare would send for these figures, rounded as the simulator's knob rounds."""
    return rounded_seconds(math.fsum(figures), sum(math.floor(f) for f in figures), rounding)


# Fractions just below a whole second: the sum of floors is then almost a second short per session.
WORST = [(float(60 + n), 100.0 + n + 0.999) for n in range(40)]
DRAWN = [(float(r.randrange(1, 5000)), r.uniform(0, 20000)) for r in [random.Random(12)] for _ in range(60)]


@pytest.mark.parametrize("rounding", ANALYTICS_ROUNDINGS)
@pytest.mark.parametrize("figures", [WORST, DRAWN, WORST[:1]], ids=["worst", "drawn", "one"])
def test_integer_totals_made_by_any_rounding_agree_within_the_tolerance(
    con: duckdb.DuckDBPyConnection, rounding: AnalyticsRounding, figures: list[tuple[float, float]]
) -> None:
    add_sessions(con, figures)
    ingest = rounded([i for i, _ in figures], rounding)
    viewer = rounded([v for _, v in figures], rounding)
    add_cloudflare(con, len(figures), ingest, viewer)
    row = verdict(con)
    assert (row["verdict"], row["verdict_reason"]) == ("agrees", None)
    assert row["tolerance_seconds"] == len(figures) + 1
    assert abs(row["viewer_difference_seconds"]) <= row["tolerance_seconds"]
    if rounding == "sum_of_floors" and figures is WORST:
        assert row["viewer_difference_seconds"] == pytest.approx(0.999 * len(figures))  # nearly the bound


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"viewer": 6}, "viewer seconds differ by more than the tolerance"),
        ({"viewer": -7}, "viewer seconds differ by more than the tolerance"),
        ({"ingest": 9}, "ingest seconds differ by more than the tolerance"),
        ({"count": 1}, "session counts differ"),
        (
            {"count": -1, "ingest": 900},
            "session counts differ; ingest seconds differ by more than the tolerance",
        ),
    ],
)
def test_a_discrepancy_beyond_the_tolerance_differs(
    con: duckdb.DuckDBPyConnection, change: dict[str, int], reason: str
) -> None:
    figures = [(100.0, 250.75), (200.0, 99.5), (300.0, 10.25)]  # tolerance 3 + 1 = 4 s
    add_sessions(con, figures)
    viewer = math.floor(sum(v for _, v in figures)) - change.get("viewer", 0)
    ingest = 600 - change.get("ingest", 0)
    add_cloudflare(con, 3 + change.get("count", 0), ingest, viewer)
    row = verdict(con)
    assert (row["verdict"], row["verdict_reason"]) == ("differs", reason)


def test_a_difference_of_exactly_the_tolerance_still_agrees(con: duckdb.DuckDBPyConnection) -> None:
    add_sessions(con, [(10.0, 20.0), (10.0, 20.0)])
    add_cloudflare(con, 2, 20 + 3, 40 - 3)
    assert verdict(con)["verdict"] == "agrees"
    con.execute("update analytics_daily set total_ingest_seconds = 24")  # 4 > 3
    assert verdict(con)["verdict"] == "differs"


def test_a_day_is_not_final_until_both_sides_are(con: duckdb.DuckDBPyConnection) -> None:
    add_sessions(con, [(10.0, 20.5)], app_id="open", final=False)
    add_cloudflare(con, 1, 10, 20, app_id="open")
    add_sessions(con, [(10.0, 20.5)], app_id="unread")
    add_sessions(con, [(10.0, 20.5)], app_id="early")
    add_cloudflare(con, 1, 10, 20, app_id="early", fetched_at=NOON + timedelta(hours=6))
    add_sessions(con, [(10.0, 20.5)], app_id="late", finalized_at=READ_AT + timedelta(minutes=5))
    add_cloudflare(con, 1, 10, 20, app_id="late")
    # A real discrepancy on a day that is not final is still not judged: a later read decides it.
    add_sessions(con, [(10.0, 20.5)], app_id="growing", final=False)
    add_cloudflare(con, 1, 3, 5, app_id="growing")
    expected = {
        "open": "a session of the day is not final",
        "unread": "Cloudflare's totals for the day were not read",
        "early": "Cloudflare's totals were read before the day was over",
        "late": "Cloudflare's totals were read before the day's last session was final",
        "growing": "a session of the day is not final",
    }
    for app_id, reason in expected.items():
        row = verdict(con, app_id)
        assert (row["verdict"], row["verdict_reason"]) == ("not final", reason), app_id


def test_a_day_cloudflare_counts_but_the_warehouse_has_not_differs(con: duckdb.DuckDBPyConnection) -> None:
    add_cloudflare(con, 2, 120, 300)
    row = verdict(con)
    assert (row["warehouse_sessions"], row["tolerance_seconds"]) == (None, 3)
    assert (row["verdict"], row["verdict_reason"]) == (
        "differs",
        "session counts differ; ingest seconds differ by more than the tolerance; "
        "viewer seconds differ by more than the tolerance",
    )


SIM_START = datetime(2026, 10, 31, 23, 56, tzinfo=UTC)
SIM_POLLS = 30  # 23:56 to 00:06, a poll every 20 s


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A warehouse of polls across a UTC midnight, and the simulator time of its last poll."""
    folder = tmp_path_factory.mktemp("polled")
    with running_simulator(simulator_config(start_at=SIM_START, livestreams=6)) as sim:
        settings = settings_for(sim, folder)
        for _ in range(SIM_POLLS):
            sim.advance(20)
            assert run_poll(settings).outcome == "ok"
        return settings.database, sim.now()


@pytest.mark.parametrize("rounding", ANALYTICS_ROUNDINGS)
def test_polled_sessions_agree_with_the_simulators_integer_daywise_totals_whatever_their_rounding(
    polled: tuple[Path, float], tmp_path: Path, rounding: AnalyticsRounding
) -> None:
    """The day that is over agrees, the next is open. The fleet is a function of the seed, so a simulator
    that rounds otherwise serves the same sessions the warehouse polled."""
    database, t = polled
    shutil.copy(database, tmp_path / "history.duckdb")
    config = simulator_config(start_at=SIM_START, livestreams=6, analytics_rounding=rounding)
    with running_simulator(config) as sim:
        sim.advance_to(t)
        settings = settings_for(sim, tmp_path)
        assert settings.database == tmp_path / "history.duckdb"
        until = parse_instant(sim.now_iso())
        assert finish(settings, fetch.fetch_daywise(settings, 2, until=until)) is not None
    con = warehouse.connect(settings.database, read_only=True)
    try:
        rows = con.sql("select * from reconciliation_daily order by day").pl().rows(named=True)
    finally:
        con.close()
    october, november = rows
    assert october["day"] == date(2026, 10, 31)
    assert october["warehouse_sessions"] == october["cloudflare_sessions"] >= 10
    assert float(october["cloudflare_viewer_seconds"]).is_integer()
    assert (october["verdict"], october["verdict_reason"]) == ("agrees", None), october
    bound = october["warehouse_sessions"] if rounding == "sum_of_floors" else 1
    assert abs(october["viewer_difference_seconds"]) < bound
    assert november["verdict"] == "not final"
