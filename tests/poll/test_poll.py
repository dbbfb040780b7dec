"""Whole polls against the simulator over real HTTP, into a real DuckDB file (no Prefect)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from simulator import RunningSimulator, running_simulator, verify
from streamledger import landing, load, warehouse
from streamledger.fetch import fetch_poll
from streamledger.plan import read_plan
from streamledger.poll import FetchedPoll, PollRun
from streamledger.settings import Secret, Settings
from streamledger.transforms.normalize import normalize_responses
from tests.helpers import (
    HISTORY_TABLES,
    assert_same_tables,
    run_poll,
    settings_for,
    simulator_config,
    table_contents,
)


def poll_until(sim: RunningSimulator, settings: Settings, polls: int, step: float = 7.0) -> list[PollRun]:
    rows = []
    for _ in range(polls):
        sim.advance(step)
        rows.append(run_poll(settings))
    return rows


def test_polls_build_history_that_matches_the_ground_truth(sim: RunningSimulator, settings: Settings) -> None:
    rows = poll_until(sim, settings, 25)
    assert all(row.outcome == "ok" for row in rows)
    comparison = verify.compare(settings.database, verify.fetch_truth(sim.root_url), frozen_clock=True)
    assert comparison.mismatches == []
    assert comparison.seen >= 10
    assert comparison.final_seen >= 3  # sessions seen stopping carry their final figures


def test_a_poll_records_one_row_per_response_and_its_ledger_row(
    sim: RunningSimulator, settings: Settings
) -> None:
    sim.advance(40)
    row = run_poll(settings)
    con = warehouse.connect(settings.database, read_only=True)
    try:
        responses = con.execute("select count(*), count(distinct seq) from raw_responses").fetchall()
        ledger = con.execute("select requests, responses, outcome from poll_runs").fetchall()
        snapshots = con.execute("select count(*) from session_snapshots").fetchall()
        status = con.execute("select count(*) from raw_responses where http_status <> 200").fetchall()
    finally:
        con.close()
    assert responses == [(row.responses, row.responses)]
    assert ledger == [(row.requests, row.responses, "ok")]
    # The LIVE and INVOKED listings, one page of the full listing (12 livestreams), the active reads, and
    # a first sweep of every livestream's session list.
    assert row.requests == 2 + 1 + row.active_reads + 12
    assert (row.discovery_requests, row.planned_list, row.planned_live, row.planned_sweep) == (
        3,
        1,
        row.active_reads,
        12,
    )
    assert row.listing == "filtered"
    assert snapshots == [(row.sessions,)]
    assert status == [(0,)]  # a healthy API answers every request with 200


def test_loading_the_same_poll_twice_changes_nothing(sim: RunningSimulator, settings: Settings) -> None:
    poll_until(sim, settings, 3)
    sim.advance(10)
    fetched = fetch_poll(settings, read_plan(settings))
    landed = landing.read_landed(landing.land(settings.landing_dir, fetched))
    read_again = landing.read_landed(landing.landed_path(settings.landing_dir, fetched.poll_id))
    normalized = normalize_responses(landed.responses)
    load.load_poll(settings, landed, normalized)
    once = table_contents(settings.database)
    again = normalize_responses(read_again.responses)
    load.load_poll(settings, landed, again)
    twice = table_contents(settings.database)
    for table in HISTORY_TABLES:
        once[table] = once[table].drop("load_seconds", strict=False)
        twice[table] = twice[table].drop("load_seconds", strict=False)
    assert_same_tables(once, twice)


def test_a_crash_during_load_leaves_nothing_and_the_landed_poll_is_recovered(
    sim: RunningSimulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.advance(40)
    fetched = fetch_poll(settings, read_plan(settings))
    landing.land(settings.landing_dir, fetched)
    normalized = normalize_responses(fetched.responses)
    real_run_file = warehouse.run_file

    def crash_at_sessions(con: object, name: str, params: object = None) -> None:
        if name == "load/06_sessions.sql":
            raise KeyboardInterrupt("power cut")
        real_run_file(con, name, params)  # type: ignore[arg-type]

    monkeypatch.setattr(load, "run_file", crash_at_sessions)
    with pytest.raises(KeyboardInterrupt):
        load.load_poll(settings, fetched, normalized)
    counts = {t: len(rows) for t, rows in table_contents(settings.database).items()}
    assert counts == dict.fromkeys(HISTORY_TABLES, 0)

    monkeypatch.setattr(load, "run_file", real_run_file)
    recovery = load.load_landed(settings)
    assert recovery.waiting is None
    assert recovery.quarantined == []
    (recovered,) = recovery.runs
    assert recovered.poll_id == fetched.poll_id
    assert recovered.recovered is True
    assert not list(settings.landing_dir.glob("*.jsonl"))
    assert len(table_contents(settings.database)["raw_responses"]) == len(fetched.responses)


def test_no_stream_key_and_no_token_reach_the_database_or_landing_files(
    sim: RunningSimulator, settings: Settings
) -> None:
    poll_until(sim, settings, 6)
    fetched = fetch_poll(settings, read_plan(settings))
    landed = landing.land(settings.landing_dir, fetched)
    keys = [
        ls["stream_key"] for ls in httpx.get(f"{sim.root_url}/_simulator/livestreams").json()["livestreams"]
    ]
    assert len(keys) == 12
    con = warehouse.connect(settings.database, read_only=True)
    try:
        text = "\n".join(
            str(con.sql(f"select * from {table}").fetchall())
            for table in (*HISTORY_TABLES, "schema_migrations")
        )
        fingerprints = con.execute("select count(stream_key_fingerprint) from livestreams").fetchall()
    finally:
        con.close()
    landed_text = landed.read_text()
    for secret in [*keys, sim.config.token]:
        assert secret not in text
        assert secret not in landed_text
    assert fingerprints[0][0] == 12


def test_bad_credentials_fail_the_poll_with_a_one_line_message_and_keep_the_evidence(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    settings = settings_for(sim, tmp_path, api_token=Secret("wrong-token"))
    row = run_poll(settings)
    assert row.outcome == "failed"
    assert row.message == (
        "list_livestreams on app sim-app, status LIVE page 1: HTTP 403, code 10000: Authentication error"
    )
    assert row.requests == 1
    con = warehouse.connect(settings.database, read_only=True)
    try:
        assert con.execute("select http_status, outcome from raw_responses").fetchall() == [(403, "error")]
    finally:
        con.close()


def test_faults_are_survived_without_exceeding_the_budget(tmp_path: Path) -> None:
    config = simulator_config(
        fault_5xx=0.2,
        fault_malformed=0.1,
        latency_ms=5,
        latency_jitter_ms=5,
        budget_requests=400,
        livestreams=6,
    )
    with running_simulator(config) as sim:
        settings = settings_for(sim, tmp_path, budget_requests=400, max_attempts=8, max_retry_wait_seconds=10)
        rows = poll_until(sim, settings, 5)
        stats = httpx.get(f"{sim.root_url}/_simulator/stats").json()
        truth = verify.fetch_truth(sim.root_url)
    assert sum(r.retries for r in rows) > 0
    assert all(r.outcome == "ok" for r in rows), [r.message for r in rows]
    assert stats["rate_limited"] == 0
    assert stats["max_in_window"] <= 400
    assert verify.compare(settings.database, truth, frozen_clock=True).mismatches == []


def test_the_client_slows_down_on_the_ratelimit_header_before_the_server_refuses(tmp_path: Path) -> None:
    # The server allows far less than the client's own budget: only its Ratelimit header can save us.
    two_minutes_ago = datetime.now(UTC) - timedelta(seconds=120)  # so that sessions are running
    config = simulator_config(
        clock="real", start_at=two_minutes_ago, budget_requests=8, budget_window_seconds=2, livestreams=6
    )
    with running_simulator(config) as sim:
        settings = settings_for(sim, tmp_path, budget_requests=1000)
        row = run_poll(settings)
        stats = httpx.get(f"{sim.root_url}/_simulator/stats").json()
    assert row.outcome == "ok", row.message
    assert int(row.requests) > 8
    assert stats["rate_limited"] == 0
    assert stats["max_in_window"] <= 8


def test_a_429_caused_by_another_user_of_the_token_is_waited_out(tmp_path: Path) -> None:
    config = simulator_config(
        clock="real", start_at=None, budget_requests=5, budget_window_seconds=1, block_seconds=1
    )
    with running_simulator(config) as sim:
        settings = settings_for(sim, tmp_path, budget_requests=1000, max_attempts=10)
        neighbour = {"Authorization": f"Bearer {sim.config.token}"}
        url = f"{sim.base_url}/accounts/{sim.config.account_id}/realtime/kit/sim-app/livestreams"
        statuses = [httpx.get(url, headers=neighbour).status_code for _ in range(6)]
        assert statuses[-1] == 429
        row = run_poll(settings)
    assert row.outcome == "ok", row.message
    assert int(row.rate_limited) >= 1


def test_a_landing_file_that_cannot_be_loaded_is_quarantined_not_blocking(tmp_path: Path) -> None:
    settings = Settings(
        api_token=Secret("t"),
        account_id="acc",
        app_ids=("a",),
        database=tmp_path / "w.duckdb",
        landing_dir=tmp_path / "l",
    )
    settings.landing_dir.mkdir()
    (settings.landing_dir / "broken.jsonl").write_text('{"poll_id": "x"}\n')
    recovery = load.load_landed(settings)
    assert recovery.waiting is None
    assert recovery.runs == []
    assert len(recovery.quarantined) == 1
    assert recovery.quarantined[0].startswith("landing file broken.jsonl could not be loaded, moved to ")
    assert (settings.landing_dir / "quarantine" / "broken.jsonl").exists()
    assert not list(settings.landing_dir.glob("*.jsonl"))


def test_odd_answers_become_parse_issues_and_never_block_the_load(tmp_path: Path) -> None:
    settings = _offline_settings(tmp_path)
    now = datetime.now(UTC)
    apps = (
        '{"success":true,"data":[{"id":"a1","created_at":"2026-11-01T00:00:00"}],"paging":{"total_count":1}}'
    )
    orphan = (
        '{"success":true,"data":{"id":"s1","livestream_id":{"odd":1},"ingest_seconds":1,"viewer_seconds":2}}'
    )
    fetched = FetchedPoll("p1", now, now, ("a1",), [])
    fetched.responses = [
        _landed(1, "list_apps", None, apps, now),
        _landed(2, "session_by_id", "a1", orphan, now),
    ]
    normalized = normalize_responses(fetched.responses)
    row = load.load_poll(settings, fetched, normalized)
    assert row.parse_issues == 3
    con = warehouse.connect(settings.database, read_only=True)
    try:
        issues = con.execute("select app_id, field, reason from parse_issues order by seq, field").fetchall()
        apps_rows = con.execute("select app_id, created_at from apps").fetchall()
    finally:
        con.close()
    assert issues == [
        (None, "app.created_at", "not an ISO 8601 timestamp with a UTC offset"),
        ("a1", "session.livestream_id", "expected text"),
        ("a1", "session.livestream_id", "session without a livestream id: row dropped"),
    ]
    assert apps_rows == [("a1", None)]


def _offline_settings(tmp_path: Path) -> Settings:
    """Settings for loading hand-made responses into a warehouse in tmp_path (nothing is fetched)."""
    return Settings(
        api_token=Secret("t"),
        account_id="acc",
        app_ids=(),
        database=tmp_path / "w.duckdb",
        landing_dir=tmp_path,
    )


def _landed(seq: int, endpoint: str, app_id: str | None, body: str, at: datetime) -> dict[str, object]:
    return {
        "poll_id": "p1",
        "seq": seq,
        "fetched_at": at,
        "endpoint": endpoint,
        "app_id": app_id,
        "livestream_id": None,
        "session_id": "s1" if endpoint == "session_by_id" else None,
        "request_path": f"http://api.test/{endpoint}",
        "attempt": 1,
        "http_status": 200,
        "elapsed_ms": 1.0,
        "ratelimit": None,
        "server_date": None,
        "outcome": "data",
        "body": body,
        "error": None,
    }


def test_a_sweep_walks_details_in_the_schemas_single_session_form_one_session_a_page(tmp_path: Path) -> None:
    config = simulator_config(details_shape="session", livestreams=4, short_share=0.5)
    with running_simulator(config) as sim:
        sim.advance(400)
        settings = settings_for(sim, tmp_path, max_sweep_pages=50)
        row = run_poll(settings)
        truth = verify.fetch_truth(sim.root_url)
    assert row.outcome == "ok"
    comparison = verify.compare(settings.database, truth)
    assert comparison.mismatches == []
    assert comparison.missing == []  # every session, stopped long ago ones included, read through the sweep
    con = warehouse.connect(settings.database, read_only=True)
    try:
        pages = dict(
            con.execute(
                "select livestream_id, count(*) from raw_responses"
                " where endpoint = 'livestream_sessions' group by 1"
            ).fetchall()
        )
    finally:
        con.close()
    per_livestream: dict[str, int] = {}
    for session in truth.values():
        per_livestream[session["livestream_id"]] = per_livestream.get(session["livestream_id"], 0) + 1
    assert len(truth) >= 12
    assert pages == per_livestream  # a page per session: paging says one of total_count each time


def test_a_poll_whose_bodies_were_released_after_normalizing_stores_every_body(tmp_path: Path) -> None:
    settings = _offline_settings(tmp_path)
    now = datetime.now(UTC)
    apps = '{"success":true,"data":[{"id":"a1","name":"one"}],"paging":{"total_count":1}}'
    session = '{"success":true,"data":{"id":"s1","livestream_id":"l1","ingest_seconds":1,"viewer_seconds":2}}'
    fetched = FetchedPoll("p1", now, now, ("a1",), [])
    fetched.responses = [
        _landed(1, "list_apps", None, apps, now),
        _landed(2, "session_by_id", "a1", session, now),
    ]
    normalized = normalize_responses(fetched.responses)
    fetched.release_bodies()
    assert [r["body"] for r in fetched.responses] == [None, None]
    row = load.load_poll(settings, fetched, normalized)
    assert (row.responses, row.sessions) == (2, 1)
    con = warehouse.connect(settings.database, read_only=True)
    try:
        bodies = con.execute("select body from raw_responses order by seq").fetchall()
        sessions = con.execute("select session_id, ingest_seconds from sessions").fetchall()
    finally:
        con.close()
    assert bodies == [(apps,), (session,)]
    assert sessions == [("s1", 1.0)]
