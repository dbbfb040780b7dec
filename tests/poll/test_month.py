"""A simulated month with integer analytics: polls every 20 simulated minutes from 2026-10-31 22:00 to
2026-12-01 02:00, a reconcile read at 00:15 each day, then the November export's cross-check. Every day and
the month agree within the tolerance. Run with -s to see the figures (the report of issue 12)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from simulator import running_simulator
from streamledger import fetch, warehouse
from streamledger.export import export_month
from streamledger.transforms.shapes import parse_instant
from tests.helpers import assert_checks_pass, finish, run_poll, settings_for, simulator_config

pytestmark = pytest.mark.slow

START = datetime(2026, 10, 31, 22, 0, tzinfo=UTC)
END = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
POLL_SECONDS = 20 * 60
# Runs here are a month of simulated time in minutes of real time: a token's usual budget would starve them.
BUDGET = 10_000_000


def test_a_simulated_month_with_integer_totals_agrees_every_day_and_in_the_export(tmp_path: Path) -> None:
    config = simulator_config(
        start_at=START,
        livestreams=4,
        gap_seconds=(1800.0, 10800.0),
        live_seconds=(600.0, 5400.0),
        short_share=0.1,
        short_live_seconds=(30.0, 120.0),
        report_lag_seconds=60.0,
        dip_share=0.05,
        budget_requests=BUDGET,
    )
    first_reads: dict[date, str] = {}  # each day's verdict at its first read, 00:15 the day after
    with running_simulator(config) as sim:
        settings = settings_for(sim, tmp_path, budget_requests=BUDGET)
        polls = 0
        while sim.now() < (END - START).total_seconds():
            before = parse_instant(sim.now_iso())
            sim.advance(POLL_SECONDS)
            now = parse_instant(sim.now_iso())
            assert before is not None
            assert now is not None
            assert run_poll(settings, check=False).outcome == "ok"
            polls += 1
            if now.date() != before.date():  # the first poll after midnight, then the daily reconcile
                sim.advance(max(0, 15 * 60 - now.minute * 60 - now.second))
                until = parse_instant(sim.now_iso())
                assert finish(settings, fetch.fetch_analytics(settings, 2, 2, until=until), check=False)
                con = warehouse.connect(settings.database, read_only=True)
                try:
                    row = con.execute(
                        "select verdict from reconciliation_daily where day = $1", [before.date()]
                    ).fetchall()
                finally:
                    con.close()
                if row:
                    first_reads[before.date()] = row[0][0]
        # The last read, once every session of November is final: the month's window and its days again.
        until = parse_instant(sim.now_iso())
        assert finish(settings, fetch.fetch_analytics(settings, 35, 2, until=until), check=False)
    assert_checks_pass(settings.database)
    con = warehouse.connect(settings.database, read_only=True)
    try:
        days = (
            con.sql(
                "select * from reconciliation_daily"
                " where day between '2026-11-01' and '2026-11-30' order by day"
            )
            .pl()
            .rows(named=True)
        )
        sessions = con.execute("select count(*), count(*) filter (where is_final) from sessions").fetchall()[
            0
        ]
    finally:
        con.close()
    manifest = export_month(settings.database, "2026-11", tmp_path / "exports").manifest
    check = manifest["cloudflare_cross_check"]

    print(f"\n{polls} polls, {len(first_reads)} daily reads; sessions {sessions[0]} ({sessions[1]} final)")
    print("day         sessions  ingest_diff  viewer_diff  tolerance  first read   final verdict")
    for row in days:
        print(
            f"{row['day']}  {row['warehouse_sessions']:8}  {row['ingest_difference_seconds']:11.3f}"
            f"  {row['viewer_difference_seconds']:11.3f}  {row['tolerance_seconds']:9}"
            f"  {first_reads.get(row['day'], '-'):11}  {row['verdict']}"
        )
    worst = max(days, key=lambda r: abs(r["viewer_difference_seconds"]) / r["tolerance_seconds"])
    print(
        f"max |viewer difference| per day {max(abs(r['viewer_difference_seconds']) for r in days):.3f} s;"
        f" largest share of its tolerance {abs(worst['viewer_difference_seconds']):.3f} of"
        f" {worst['tolerance_seconds']} s on {worst['day']}"
    )
    verdicts = list(first_reads.values())
    print(f"first-read verdicts: { {v: verdicts.count(v) for v in sorted(set(verdicts))} }")
    print(f"manifest cross-check: {check}")

    assert len(days) == 30
    assert all(row["verdict"] == "agrees" for row in days), [r for r in days if r["verdict"] != "agrees"]
    assert sum(row["warehouse_sessions"] for row in days) >= 300
    (app,) = check["apps"]
    assert (check["verdict"], app["verdict"]) == ("agrees", "agrees")
    assert (
        app["cloudflare"]["sessions"]
        == app["warehouse"]["sessions"]
        == sum(r["warehouse_sessions"] for r in days)
    )
    assert math.isclose(
        app["warehouse"]["viewer_seconds"], sum(r["warehouse_viewer_seconds"] for r in days), abs_tol=0.01
    )
    assert 0 <= app["viewer_difference_seconds"] < app["warehouse"]["sessions"]  # the default sum of floors
