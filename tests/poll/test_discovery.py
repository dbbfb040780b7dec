"""Discovery by the list's status filter: LIVE and INVOKED every poll, the full listing in rounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulator import RunningSimulator, running_simulator, verify
from streamledger.plan import round_share
from streamledger.poll import ListingRound, PollRun
from streamledger.settings import Settings
from streamledger.transforms.shapes import parse_instant
from streamledger.warehouse import connect
from tests.helpers import SIM_START, run_poll, settings_for, simulator_config

MINUTE = 60.0
DEFAULT = Settings(per_page=20)  # the default cadence: a round over 900 / 60 = 15 polls
STARTED = datetime(2026, 11, 30, tzinfo=UTC)


def at(polls_since_start: int, last_page: int, complete: bool, total: int | None = 250) -> ListingRound:
    return ListingRound(STARTED, last_page, total, complete, polls_since_start)


def test_the_first_round_reads_the_whole_list_within_the_allowance() -> None:
    assert round_share(None, DEFAULT) == (1, None)


def test_a_round_is_spread_evenly_over_the_polls_of_one_full_listing_interval() -> None:
    # 250 livestreams, 20 a page: 13 pages over 15 polls, one page a poll.
    assert round_share(at(15, 13, True), DEFAULT) == (1, 1)
    assert round_share(at(1, 1, False), DEFAULT) == (2, 1)
    assert round_share(at(1, 13, True), DEFAULT) is None  # done until the next round
    assert round_share(at(14, 13, True), DEFAULT) is None
    # 10,000 livestreams, 100 a page: 100 pages, 7 a poll; the last poll of the interval reads what is left.
    big = DEFAULT.with_overrides(per_page=100)
    assert round_share(at(15, 100, True, 10_000), big) == (1, 7)
    assert round_share(at(14, 98, False, 10_000), big) == (99, 2)
    # A round behind its interval (the allowance was short) reads the rest at once.
    assert round_share(at(40, 30, False, 10_000), big) == (31, 70)
    # A list whose size the API did not say is read to its end within the allowance.
    assert round_share(at(3, 2, False, None), big) == (3, None)


def test_the_cadence_setting_sets_the_polls_of_a_round() -> None:
    every_poll = DEFAULT.with_overrides(full_listing_interval_seconds=60.0)
    assert round_share(at(1, 13, True), every_poll) == (1, 13)
    hourly = DEFAULT.with_overrides(full_listing_interval_seconds=3600.0)
    assert round_share(at(15, 13, True), hourly) is None
    assert round_share(at(60, 13, True), hourly) == (1, 1)


def sql(database: Path, statement: str) -> list[tuple[Any, ...]]:
    """Rows of one statement on a read-only connection."""
    con = connect(database, read_only=True)
    try:
        return con.execute(statement).fetchall()
    finally:
        con.close()


def polls_every_minute(sim: RunningSimulator, settings: Settings, count: int) -> list[PollRun]:
    """`count` polls, the simulator clock a minute further before each."""
    rows = []
    for _ in range(count):
        sim.advance(MINUTE)
        rows.append(run_poll(settings))
    return rows


def test_steady_polls_list_only_live_and_invoked_and_spread_the_full_listing(tmp_path: Path) -> None:
    # 250 livestreams of which 5 stream, 13 pages of 20: on the default cadence.
    config = simulator_config(
        livestreams=250, active_livestreams=5, live_seconds=(3600.0, 7200.0), budget_requests=100_000
    )
    with running_simulator(config) as sim:
        # The first poll's 270 requests wait for the burst window (250 per 10 s): allowed to wait for it.
        settings = settings_for(
            sim,
            tmp_path,
            per_page=20,
            full_listing_interval_seconds=900.0,
            budget_requests=100_000,
            max_retry_wait_seconds=15.0,
            burst_requests=Settings().burst_requests,
        )
        rows = polls_every_minute(sim, settings, 31)
        truth = verify.fetch_truth(sim.root_url)
    assert {row.listing for row in rows} == {"filtered"}
    assert [row.planned_list for row in rows] == [13] + [0] * 14 + [1] * 13 + [0] * 2 + [1]
    rounds = sql(
        settings.database,
        "select first_page, last_page, total_count, complete, round_started_at = min(round_started_at)"
        " over (partition by round_started_at) from listing_rounds order by fetched_at",
    )
    assert rounds[0] == (1, 13, 250, True, True)
    assert [(first, last, complete) for first, last, _, complete, _ in rounds[1:14]] == [
        (page, page, page == 13) for page in range(1, 14)
    ]
    started = sql(settings.database, "select distinct round_started_at from listing_rounds order by 1")
    assert len(started) == 3  # polls 1, 16 and 31
    # After the first poll (every list page, and a sweep of every livestream), a poll sends the LIVE and
    # INVOKED listings, the five active reads and its page of the round, and nothing else.
    assert rows[0].requests == 2 + 13 + 5 + 250
    sent = [at for (at,) in sql(settings.database, "select epoch(fetched_at) from raw_responses order by 1")]
    assert max(sum(1 for later in sent if at <= later < at + 10) for at in sent) <= 250  # the burst cap
    steady = rows[1:]
    assert {row.requests - row.planned_list for row in steady} == {2 + 5}
    assert {row.planned_live for row in steady} == {5}
    assert {row.planned_sweep for row in steady} == {0}
    comparison = verify.compare(settings.database, truth)
    assert comparison.mismatches == []
    assert comparison.missing == []


def test_an_api_that_ignores_the_status_filter_is_listed_in_full_and_the_poll_says_so(tmp_path: Path) -> None:
    config = simulator_config(livestreams=30, ignore_status_filter=True)
    with running_simulator(config) as sim:
        settings = settings_for(sim, tmp_path, per_page=20, full_listing_interval_seconds=900.0)
        rows = polls_every_minute(sim, settings, 3)
        truth = verify.fetch_truth(sim.root_url)
    assert [row.listing for row in rows] == ["fallback"] * 3
    assert "the API ignored the status filter, so every page was listed" in rows[0].summary()
    # The LIVE listing held every livestream (2 pages): no INVOKED listing and no round pages besides.
    assert [row.discovery_requests for row in rows] == [2, 2, 2]
    assert {row.planned_list for row in rows} == {0}
    paths = sql(
        settings.database,
        "select distinct regexp_extract(request_path, 'status=(\\w+)', 1) from raw_responses"
        " where endpoint = 'list_livestreams'",
    )
    assert paths == [("LIVE",)]
    assert sql(settings.database, "select count(*), bool_and(filter_ignored) from listing_rounds") == [
        (3, True)
    ]
    assert sql(settings.database, "select count(*) from livestreams") == [(30,)]
    comparison = verify.compare(settings.database, truth)
    assert comparison.mismatches == []
    assert comparison.missing == []


@pytest.mark.parametrize("seed", [11, 12])
def test_a_session_that_starts_and_stops_between_two_listings_is_found_by_the_round_and_finalized_exactly(
    tmp_path: Path, seed: int
) -> None:
    # Sessions of 10-30 s with gaps of 100-200 s: most are never LIVE when a poll lists.
    config = simulator_config(
        livestreams=40,
        seed=seed,
        gap_seconds=(100.0, 200.0),
        live_seconds=(10.0, 30.0),
        budget_requests=100_000,
    )
    with running_simulator(config) as sim:
        settings = settings_for(
            sim, tmp_path, per_page=20, full_listing_interval_seconds=900.0, budget_requests=100_000
        )
        rows = polls_every_minute(sim, settings, 24)
        truth = verify.fetch_truth(sim.root_url)
    # Polls 1 and 16 start rounds (two pages each); poll 16 was at simulated minute 16.
    assert [row.planned_list for row in rows[14:18]] == [0, 1, 1, 0]
    round_two = SIM_START + timedelta(minutes=16)
    stopped_early = {
        sid
        for sid, session in truth.items()
        if (parse_instant(session["stopped_time"]) or round_two) < round_two
    }
    comparison = verify.compare(settings.database, truth)
    assert comparison.mismatches == []
    assert stopped_early
    assert not set(comparison.missing) & stopped_early
    finals = {sid for (sid,) in sql(settings.database, "select session_id from sessions where is_final")}
    assert stopped_early <= finals
    # Some of them were never shown by an active-session read: only the sweep the round set off saw them.
    shown = sql(
        settings.database,
        "select distinct session_id from session_snapshots where endpoint = 'active_session'",
    )
    assert stopped_early - {sid for (sid,) in shown}


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
def test_a_sweep_reads_a_livestreams_newest_sessions_whichever_order_the_api_lists_them_in(
    tmp_path: Path, order: str
) -> None:
    # About 45 sessions a livestream, 5 a page, 3 pages a sweep: only the pages at the newest end fit.
    config = simulator_config(
        livestreams=2, gap_seconds=(5.0, 10.0), live_seconds=(10.0, 20.0), sessions_order=order
    )
    with running_simulator(config) as sim:
        settings = settings_for(sim, tmp_path, per_page=5, max_sweep_pages=3)
        sim.advance(15 * MINUTE)
        run_poll(settings)
        truth = verify.fetch_truth(sim.root_url)
        sim.advance(MINUTE)
        run_poll(settings)
        later = verify.fetch_truth(sim.root_url)
    found = {sid for (sid,) in sql(settings.database, "select session_id from sessions")}
    for livestream_id in {s["livestream_id"] for s in truth.values()}:
        mine = sorted(
            (s for s in truth.values() if s["livestream_id"] == livestream_id),
            key=lambda s: s["started_time"] or "",
        )
        assert len(mine) > 15
        assert {s["id"] for s in mine[-6:]} <= found  # the last page and the one before it
        # The next poll's sweep reaches back to the previous one, so nothing started since is missed.
        since = {s["id"] for s in later.values() if s["livestream_id"] == livestream_id} - set(truth)
        assert since
        assert since <= found
