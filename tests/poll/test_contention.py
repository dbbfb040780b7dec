"""Readers and the writer never cost each other a poll or a report; the other side is a second process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from simulator import RunningSimulator, verify
from streamledger import warehouse
from streamledger.cli import main
from streamledger.fetch import fetch_poll
from streamledger.load import load_landed
from streamledger.plan import read_plan
from streamledger.poll import FetchedPoll
from streamledger.settings import Settings
from tests.helpers import finish, held, run_poll


def poll_ids(database: Path) -> list[str]:
    con = warehouse.connect(database, read_only=True)
    try:
        return [row[0] for row in con.execute("select poll_id from poll_runs order by poll_id").fetchall()]
    finally:
        con.close()


def test_a_report_waits_while_the_writer_holds_the_file_and_says_so(
    settings: Settings, sim: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    run_poll(settings)
    with held(settings.database, read_only=False, seconds=2.0) as writer:
        started = time.monotonic()
        code = main(["report", "poll-health", "--database", str(settings.database), "--format", "csv"])
        waited = time.monotonic() - started
    assert code == 0
    captured = capsys.readouterr()
    assert f"is held by process {writer.pid}; waiting up to 60 s for it" in captured.err
    assert captured.out.startswith("kind,outcome,polls,")
    assert 1.0 <= waited < 30


def test_a_report_gives_up_after_its_wait_with_a_clear_error(
    settings: Settings, sim: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    run_poll(settings)
    with held(settings.database, read_only=False, seconds=60.0) as writer:
        code = main(["sql", "select 1", "--database", str(settings.database), "--wait", "1"])
    assert code == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        f"streamledger: error: database {settings.database}: still held by process {writer.pid} "
        "after waiting 1 s; try again when it is free"
    )


def test_the_snapshot_waits_for_a_short_reader_and_loads_its_poll(
    settings: Settings, sim: RunningSimulator
) -> None:
    run_poll(settings)
    sim.advance(60)
    with held(settings.database, read_only=True, seconds=2.0):
        started = time.monotonic()
        row = run_poll(settings.with_overrides(lock_wait_seconds=30.0))
        waited = time.monotonic() - started
    assert row.outcome == "ok"
    assert waited >= 1.0
    assert row.poll_id in poll_ids(settings.database)


def test_a_reader_holding_the_file_past_the_wait_costs_no_poll(
    settings: Settings, sim: RunningSimulator
) -> None:
    first = run_poll(settings)
    sim.advance(60)
    run_poll(settings)  # its plan, cached, knows the livestreams and the first poll's requests
    busy = settings.with_overrides(lock_wait_seconds=0.5)
    con = warehouse.connect(settings.database, read_only=True)
    ((sent,),) = con.execute("select count(*) from raw_responses").fetchall()
    con.close()
    landed: list[str] = []
    fetched_polls: list[FetchedPoll] = []
    with held(settings.database, read_only=True, seconds=120.0):
        for _ in range(2):
            sim.advance(60)
            plan = read_plan(busy)  # the database is held: the cached plan of the last poll is used
            assert plan.livestreams
            # Every request sent so far is counted: the loaded polls' and the ones landed since.
            assert len(plan.recent_sends) == sent + sum(len(p.responses) for p in fetched_polls)
            fetched = fetch_poll(busy, plan)
            assert finish(busy, fetched) is None  # it stays landed
            landed.append(fetched.poll_id)
            fetched_polls.append(fetched)
        assert sorted(p.stem for p in settings.landing_dir.glob("*.jsonl")) == sorted(landed)
        recovery = load_landed(busy)
        assert (recovery.runs, recovery.quarantined) == ([], [])
        assert recovery.waiting is not None
        assert recovery.waiting.startswith("2 landed poll(s) wait for the next run: database ")
        assert not (settings.landing_dir / "quarantine").exists()
    recovery = load_landed(settings)
    assert (recovery.quarantined, recovery.waiting) == ([], None)
    assert sorted(run.poll_id for run in recovery.runs) == sorted(landed)
    sim.advance(60)
    run_poll(settings)
    assert set(poll_ids(settings.database)) >= {first.poll_id, *landed}
    comparison = verify.compare(settings.database, verify.fetch_truth(sim.root_url))
    assert comparison.mismatches == []
    assert not list(settings.landing_dir.glob("*.jsonl"))
