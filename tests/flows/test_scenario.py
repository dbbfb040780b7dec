"""The acceptance scenario: twenty-five simulated minutes of real snapshot flow runs across a UTC midnight
and month boundary, then a real reconcile flow run."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator import running_simulator, verify
from streamledger import warehouse
from streamledger.flows.reconcile import reconcile
from streamledger.flows.snapshot import snapshot
from streamledger.poll import PollRun
from streamledger.settings import DEFAULT_SETTLE_SECONDS
from streamledger.transforms.shapes import parse_instant
from tests.helpers import settings_for, simulator_config

START = datetime(2026, 10, 31, 23, 50, tzinfo=UTC)
POLLS = 25  # one a minute: 23:51 .. 00:15
SETTLED = 240.0  # sessions that stopped this long before the end must be final


pytestmark = pytest.mark.prefect


def test_twenty_five_minutes_of_polls_give_exact_final_history_usage_and_reconciliation(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = simulator_config(
        start_at=START,
        livestreams=16,
        gap_seconds=(5.0, 90.0),
        live_seconds=(30.0, 420.0),
        short_share=0.3,
        short_live_seconds=(2.0, 20.0),
        report_lag_seconds=5.0,
        dip_share=0.1,
        # The API's own timing of the final figures (55-65 s after the stop), with the product's default
        # settle time (120 s): polls are a minute apart, as in production. Only the placeholder is
        # shortened from the API's 40-50 s, so that sessions shorter than a poll show it and still end.
        final_after_seconds=(55.0, 65.0),
        placeholder_seconds=(20.0, 20.0),
        fault_5xx=0.03,
        fault_malformed=0.02,
    )
    with running_simulator(config) as sim:
        settings = settings_for(
            sim, tmp_path, max_attempts=8, max_retry_wait_seconds=10, settle_seconds=DEFAULT_SETTLE_SECONDS
        )
        # The flows read their settings from the environment, as scheduled runs do.
        today = datetime.now(UTC).date()
        for name, value in {
            "CLOUDFLARE_API_TOKEN": sim.config.token,
            "CLOUDFLARE_ACCOUNT_ID": sim.config.account_id,
            "REALTIMEKIT_APP_ID": ",".join(sim.config.app_ids),
            "CLOUDFLARE_BASE_URL": sim.base_url,
            "STREAMLEDGER_DATABASE": str(settings.database),
            "STREAMLEDGER_LANDING_DIR": str(settings.landing_dir),
            "STREAMLEDGER_MAX_ATTEMPTS": "8",
            "STREAMLEDGER_MAX_RETRY_WAIT_SECONDS": "10",
            "STREAMLEDGER_SETTLE_SECONDS": str(settings.settle_seconds),
            # As in tests.helpers.settings_for: every livestream streams here, and a full listing every
            # poll finds a session that started and stopped between two polls at the next one.
            "STREAMLEDGER_FULL_LISTING_INTERVAL_SECONDS": str(settings.full_listing_interval_seconds),
            # The simulated days are in the past: the daily reconcile reads back to them.
            "STREAMLEDGER_RECONCILE_DAYS": str((today - START.date()).days + 2),
        }.items():
            monkeypatch.setenv(name, value)
        rows = []
        for _ in range(POLLS):
            sim.advance(60)
            state = snapshot(return_state=True)
            assert state.is_completed(), state.message
            run = state.result()
            assert isinstance(run, PollRun)
            rows.append(run)
        assert reconcile(return_state=True).is_completed()
        end = sim.now()
        truth = verify.fetch_truth(sim.root_url)
        stats = httpx.get(f"{sim.root_url}/_simulator/stats").json()

    assert stats["rate_limited"] == 0
    assert all(row.outcome == "ok" for row in rows), [row.message for row in rows if row.message]
    comparison = verify.compare(settings.database, truth)
    assert comparison.mismatches == []
    # Every session is found (short ones by the sweep), but those the last poll could not yet have seen.
    created_late = {sid for sid, s in truth.items() if verify.seconds_before(s["created_at"], sim, end) < 60}
    assert set(comparison.missing) <= created_late
    assert sum(1 for s in truth.values() if _live_seconds(s) < 20) >= 5  # short sessions happened
    con = warehouse.connect(settings.database, read_only=True)
    try:
        sessions = {r["session_id"]: r for r in con.sql("select * from sessions").pl().iter_rows(named=True)}
        usage = dict(
            con.execute("select session_id, sum(ingest_seconds) from session_usage group by 1").fetchall()
        )
        viewer = dict(
            con.execute("select session_id, sum(viewer_seconds) from session_usage group by 1").fetchall()
        )
        days = con.execute(
            "select day, sum(ingest_seconds) from usage_daily group by day order by day"
        ).fetchall()
        months = con.execute("select month from usage_monthly order by month").fetchall()
        reconciliation = con.sql("select * from reconciliation_daily order by day").pl().to_dicts()
        failures = warehouse.run_checks(con)
    finally:
        con.close()
    assert failures == []  # every invariant of sql/checks, after real flow runs
    ended = [
        s
        for s in truth.values()
        if s["is_final"] and verify.seconds_before(s["stopped_time"], sim, end) > SETTLED
    ]
    assert len(ended) >= 30
    for true in ended:
        mine = sessions[true["id"]]
        assert mine["is_final"], true["id"]
        assert (mine["ingest_seconds"], mine["viewer_seconds"]) == (
            true["ingest_seconds"],
            true["viewer_seconds"],
        )
        if true["started_time"] is not None and (true["ingest_seconds"] or true["viewer_seconds"]):
            # Exact: session_usage is decimal seconds to the microsecond, and its hours sum to the figures.
            assert usage[true["id"]] == round(Decimal(repr(true["ingest_seconds"])), 6)
            assert viewer[true["id"]] == round(Decimal(repr(true["viewer_seconds"])), 6)
    assert [d for d, _ in days] == [date(2026, 10, 31), date(2026, 11, 1)]
    assert months == [(date(2026, 10, 1),), (date(2026, 11, 1),)]
    # Cloudflare's daywise totals are integers (the simulator's default rounding, the sum of each session's
    # figures floored): the final day agrees within its tolerance, the day still running is not final.
    october = next(r for r in reconciliation if r["day"] == date(2026, 10, 31))
    assert october["all_final"]
    assert october["cloudflare_sessions"] == october["warehouse_sessions"]
    assert float(october["cloudflare_viewer_seconds"]).is_integer()
    assert 0 <= october["viewer_difference_seconds"] < october["warehouse_sessions"]
    assert (october["verdict"], october["verdict_reason"]) == ("agrees", None)
    november = next(r for r in reconciliation if r["day"] == date(2026, 11, 1))
    assert november["verdict"] == "not final"


def _live_seconds(session: dict[str, Any]) -> float:
    if not session["started_time"] or not session["stopped_time"]:
        return float("inf")
    started, stopped = parse_instant(session["started_time"]), parse_instant(session["stopped_time"])
    assert started is not None
    assert stopped is not None
    return (stopped - started).total_seconds()
