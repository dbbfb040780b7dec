"""Faults survived: the real pipeline polls the simulator while it injects every fault kind, then catches up.

Each test runs streamledger.poll.run_poll once a simulated minute against a manual-clock simulator, turns
faults on for some polls through POST /_simulator/faults and off again, then checks the warehouse against
the ground truth: every session present, the settled ones final with the true figures, no poll lost or
half-loaded, nothing duplicated, and every injected fault recorded with its cause.

The client's own waits (retry backoff, Retry-After, the request budget) run on the simulator's clock (see
simulated_time), so a five-minute 429 block costs no real time; HTTP, client timeouts and DuckDB are real.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from cyclopts import CycloptsError

from simulator import (
    RunningSimulator,
    SimulatorConfig,
    running_simulator,
    verify,
)
from simulator.cli import parse_serve
from simulator.config import COUNT_KNOBS, SHAPE_FORMS, SHARE_KNOBS, WINDOW_KNOBS
from streamledger import fetch, warehouse
from streamledger.client import RealtimeKitClient
from streamledger.poll import PollRun
from streamledger.ratelimit import RequestBudget
from streamledger.settings import Secret, Settings
from streamledger.transforms.shapes import parse_instant
from tests.helpers import run_poll, settings_for, simulator_config

MINUTE = 60.0
CLEAN_POLLS = 5  # after the faults stop: enough for two post-stop reads of every session, in two polls
SETTLED = 200.0  # a session stopped this long before the end must be final with the true figures
BLOCK_SECONDS = 300.0  # Cloudflare's block after the budget is exceeded
# Every fault a test may switch on, switched off (storms are one-off moments: they end by themselves).
FAULTS_OFF: dict[str, Any] = (
    dict.fromkeys(SHARE_KNOBS, 0.0) | dict.fromkeys(COUNT_KNOBS, 0) | dict.fromkeys(WINDOW_KNOBS)
)
DUPLICATES = {
    "sessions": "session_id",
    "session_snapshots": "poll_id, session_id",
    "raw_responses": "poll_id, seq",
    "livestreams": "livestream_id",
    "poll_runs": "poll_id",
}
FAILED = ("retry", "error")


@contextmanager
def simulated_time(sim: RunningSimulator) -> Iterator[None]:
    """Run the client's waits on the simulator's clock: its sleeps advance the clock, its budget reads it."""
    budgets: dict[tuple[str, int, float], RequestBudget] = {}

    def clock() -> float:
        return sim.model.origin_ms / 1000 + sim.now()

    def budget(
        base_url: str, name: str, limit: int, window: float, burst: tuple[int, float] | None = None
    ) -> RequestBudget:
        return budgets.setdefault(
            (base_url, limit, window), RequestBudget(limit, window, clock=clock, burst=burst)
        )

    async def sleep(seconds: float) -> None:
        if seconds > 0:  # concurrent sleepers each move the clock to their own wake-up time, never beyond
            sim.advance_to(sim.now() + seconds)
        await asyncio.sleep(0)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fetch, "shared_budget", budget)
        patch.setattr(fetch, "RealtimeKitClient", functools.partial(RealtimeKitClient, sleep=sleep))
        yield


@dataclass(frozen=True)
class Finished:
    """What a run left behind, taken before its simulator stopped."""

    settings: Settings
    truth: dict[str, dict[str, Any]]
    end: datetime  # the simulator's time when the run ended
    rows: list[PollRun]  # the ledger rows run_poll returned, one per poll run
    raised: list[str]  # polls whose run_poll raised instead
    stats: dict[str, Any]


@dataclass(frozen=True)
class HistoryFigures:
    """The invariants' figures of one finished run."""

    polls_run: int
    polls_in_ledger: int
    polls_lost: int
    duplicates: int
    sessions_truth: int
    sessions_final: int


class Runner:
    """Polls a simulator once a simulated minute and keeps every ledger row run_poll returned."""

    def __init__(self, sim: RunningSimulator, settings: Settings) -> None:
        """Poll sim with settings."""
        self.sim = sim
        self.settings = settings
        self.rows: list[PollRun] = []
        self.raised: list[str] = []

    def polls(self, count: int, transport: httpx.AsyncBaseTransport | None = None) -> list[PollRun]:
        """Advance a minute and poll, count times; return the new ledger rows."""
        rows = []
        for _ in range(count):
            self.sim.advance(MINUTE)
            try:
                rows.append(run_poll(self.settings, transport=transport))
            except Exception as exc:  # a poll that raises is lost: kept to be counted and reported
                self.raised.append(f"{type(exc).__name__}: {exc}")
        self.rows += rows
        return rows

    def faults(self, **knobs: Any) -> dict[str, Any]:
        """Set fault knobs through POST /_simulator/faults."""
        answer = httpx.post(f"{self.sim.root_url}/_simulator/faults", json=knobs)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def stats(self) -> dict[str, Any]:
        """GET /_simulator/stats."""
        body: dict[str, Any] = httpx.get(f"{self.sim.root_url}/_simulator/stats").json()
        return body

    def finish(self) -> Finished:
        """Faults off, clean polls until every session can be final, then the truth and the stats."""
        self.faults(**FAULTS_OFF)
        self.polls(CLEAN_POLLS)
        end = parse_instant(self.sim.now_iso())
        assert end is not None
        truth = verify.fetch_truth(self.sim.root_url)
        return Finished(self.settings, truth, end, list(self.rows), list(self.raised), self.stats())


@contextmanager
def fault_run(tmp_path: Path, settings: dict[str, Any] | None = None, **config: Any) -> Iterator[Runner]:
    """A manual-clock simulator with config, on simulated time, and a Runner polling it."""
    config = {"livestreams": 8, "block_seconds": BLOCK_SECONDS} | config
    with running_simulator(simulator_config(**config)) as sim, simulated_time(sim):
        yield Runner(sim, settings_for(sim, tmp_path, **(settings or {})))


@contextmanager
def reading(database: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse."""
    con = warehouse.connect(database, read_only=True)
    try:
        yield con
    finally:
        con.close()


def sql(database: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of one statement on a read-only connection."""
    with reading(database) as con:
        return con.execute(statement, list(params)).fetchall()


def age(iso: str, end: datetime) -> float:
    """Seconds from a ground-truth timestamp to the end of the run."""
    moment = parse_instant(iso)
    assert moment is not None
    return (end - moment).total_seconds()


def assert_history_exact(run: Finished) -> HistoryFigures:
    """Every session present, settled ones final and exact; no poll lost or half-loaded; no duplicate."""
    database = run.settings.database
    assert run.raised == []
    comparison = verify.compare(database, run.truth)
    assert comparison.mismatches == []
    created_late = {sid for sid, s in run.truth.items() if age(s["created_at"], run.end) < MINUTE}
    assert set(comparison.missing) <= created_late
    settled = [s for s in run.truth.values() if s["is_final"] and age(s["stopped_time"], run.end) > SETTLED]
    assert len(settled) >= 10
    with reading(database) as con:
        found = con.execute("select session_id, is_final, ingest_seconds, viewer_seconds from sessions")
        mine = {sid: (final, ingest, viewer) for sid, final, ingest, viewer in found.fetchall()}
        ledger = con.execute(
            "select p.poll_id, p.requests, p.responses + p.transport_errors, p.sessions, p.parse_issues,"
            " (select count(*) from raw_responses r where r.poll_id = p.poll_id),"
            " (select count(*) from session_snapshots s where s.poll_id = p.poll_id),"
            " (select count(*) from parse_issues i where i.poll_id = p.poll_id)"
            " from poll_runs p"
        ).fetchall()
        duplicates = {
            table: con.execute(
                f"select coalesce(sum(n - 1), 0) from (select count(*) as n from {table} group by {key})"
            ).fetchall()[0][0]
            for table, key in DUPLICATES.items()
        }
    assert {s["id"]: mine.get(s["id"]) for s in settled} == {
        s["id"]: (True, s["ingest_seconds"], s["viewer_seconds"]) for s in settled
    }
    ran = [row.poll_id for row in run.rows]
    assert sorted(ran) == sorted(poll_id for poll_id, *_ in ledger)
    half_loaded = [
        poll_id
        for poll_id, requests, answered, sessions, issues, raw, snapshots, issue_rows in ledger
        if not requests == answered == raw or snapshots != sessions or issue_rows != issues
    ]
    assert half_loaded == []
    assert duplicates == dict.fromkeys(DUPLICATES, 0)
    assert list(run.settings.landing_dir.glob("*.jsonl")) == []  # nothing left waiting to be loaded
    return HistoryFigures(
        polls_run=len(ran) + len(run.raised),
        polls_in_ledger=len(ledger),
        polls_lost=len(ran) + len(run.raised) - len(ledger),
        duplicates=sum(duplicates.values()),
        sessions_truth=len(run.truth),
        sessions_final=sum(1 for final, _, _ in mine.values() if final),
    )


def failed_attempts(database: Path) -> list[tuple[Any, ...]]:
    """(poll_id, http_status, endpoint, outcome, error) of every response that was not an answer."""
    return sql(
        database,
        "select poll_id, http_status, endpoint, outcome, error from raw_responses"
        " where outcome in ('retry', 'error') order by poll_id, seq",
    )


# --- The simulator's faults, request by request (no pipeline) ---------------------------------------------

APPS = "/accounts/sim-account/realtime/kit/apps"
KIT = "/accounts/sim-account/realtime/kit/sim-app"
V4_401 = {
    "success": False,
    "errors": [{"code": 10001, "message": "Unable to authenticate request"}],
    "messages": [],
    "result": None,
}


@contextmanager
def api(**config: Any) -> Iterator[tuple[RunningSimulator, httpx.Client]]:
    """A manual-clock simulator and an authenticated client for its API."""
    with (
        running_simulator(simulator_config(**config)) as sim,
        httpx.Client(
            base_url=sim.base_url, headers={"Authorization": f"Bearer {sim.config.token}"}
        ) as client,
    ):
        yield sim, client


def control(sim: RunningSimulator, name: str, body: Any = None) -> httpx.Response:
    """GET (body None) or POST a control endpoint."""
    url = f"{sim.root_url}/_simulator/{name}"
    return httpx.get(url) if body is None else httpx.post(url, json=body)


def test_the_default_simulator_injects_no_fault() -> None:
    config = SimulatorConfig()
    assert all(getattr(config, name) == 0 for name in (*SHARE_KNOBS, *COUNT_KNOBS))
    assert (config.outage, config.revoked, config.storm_at) == (None, None, ())
    with api() as (sim, client):
        statuses = {client.get(f"{KIT}/livestreams").status_code for _ in range(50)}
        stats = control(sim, "stats").json()
    assert statuses == {200}
    assert {name: count for name, count in stats.items() if name.startswith("faults_") and count} == {}


def test_fault_knobs_switch_at_runtime_and_bad_ones_are_refused_with_400() -> None:
    with api() as (sim, _):
        sim.advance(30)
        on = control(
            sim, "faults", {"fault_5xx_next": 2, "outage": [10, None], "revoked": True, "storm_at": True}
        )
        off = control(sim, "faults", {"outage": False, "revoked": None})
        bodies: tuple[Any, ...] = (
            {"bogus": 1},
            {"fault_5xx": 2},
            {"fault_shape_next": -1},
            {"fault_timeout_next": 1.5},
            {"outage": [5, 1]},
            {"shape_forms": ["no_such_form"]},
            {"fault_routes": []},
            ["fault_5xx", 1],
        )
        refused = {repr(body): control(sim, "faults", body) for body in bodies}
        knobs = control(sim, "faults").json()
    assert on.status_code == 200
    assert (on.json()["fault_5xx_next"], on.json()["outage"], on.json()["revoked"]) == (
        2,
        [10.0, None],
        [30.0, None],
    )
    assert on.json()["storm_at"] == [30.0]
    assert (off.json()["outage"], off.json()["revoked"], off.json()["fault_5xx_next"]) == (None, None, 2)
    assert {body: answer.status_code for body, answer in refused.items()} == dict.fromkeys(refused, 400)
    assert "unknown fault knobs ['bogus']" in refused[repr({"bogus": 1})].json()["error"]
    assert knobs["fault_5xx"] == 0.0  # nothing refused was applied


def test_a_5xx_burst_and_an_outage_window_answer_5xx_and_are_counted() -> None:
    with api() as (sim, client):
        sim.set_faults(fault_5xx_next=3)
        burst = [client.get(f"{KIT}/livestreams").status_code for _ in range(4)]
        sim.set_faults(outage=[sim.now() + 10, sim.now() + 20])
        before = client.get(f"{KIT}/livestreams").status_code
        sim.advance(10)
        during = [client.get(f"{KIT}/livestreams").status_code for _ in range(2)]
        sim.advance(10)
        after = client.get(f"{KIT}/livestreams").status_code
        stats = control(sim, "stats").json()
    assert all(status >= 500 for status in burst[:3])
    assert (burst[3], before, after) == (200, 200, 200)
    assert all(status >= 500 for status in during)
    assert stats["faults_5xx"] == 5


def test_a_timeout_fault_holds_the_answer_past_the_client_timeout_and_the_next_is_prompt() -> None:
    with api(fault_timeout_next=1, fault_timeout_seconds=0.6) as (sim, client):
        with pytest.raises(httpx.ReadTimeout):
            client.get(f"{KIT}/livestreams", timeout=0.2)
        prompt = client.get(f"{KIT}/livestreams", timeout=0.2)
        stats = control(sim, "stats").json()
    assert prompt.status_code == 200
    assert stats["faults_timeout"] == 1


def test_a_truncated_transfer_closes_the_connection_halfway_through_the_promised_body() -> None:
    with api(fault_truncated_next=1) as (sim, client):
        with pytest.raises(httpx.RemoteProtocolError) as cut:
            client.get(f"{KIT}/livestreams")
        whole = client.get(f"{KIT}/livestreams")
        stats = control(sim, "stats").json()
    received, expected = map(int, re.findall(r"\d+", str(cut.value))[-2:])
    assert expected == len(whole.content)
    assert received == expected // 2
    assert stats["faults_truncated"] == 1


def test_a_malformed_answer_is_a_proper_prefix_of_the_json() -> None:
    with api(fault_malformed_next=1) as (sim, client):
        broken = client.get(f"{KIT}/livestreams")
        whole = client.get(f"{KIT}/livestreams")
        stats = control(sim, "stats").json()
    assert broken.status_code == 200
    assert len(broken.content) < len(whole.content)
    assert whole.content.startswith(broken.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    assert stats["faults_malformed"] == 1


def test_each_shape_form_reshapes_a_200_answer_as_its_name_says() -> None:
    with api() as (sim, client):
        sim.advance(300)
        session_id = sim.model.all_sessions(sim.now())[0].id
        path = f"{KIT}/livestreams/sessions/{session_id}"
        clean = client.get(path).json()["data"]
        shaped = {}
        for form in SHAPE_FORMS:
            sim.set_faults(fault_shape_next=1, shape_forms=[form])
            shaped[form] = client.get(path).json()
        sim.set_faults(fault_shape_next=1, shape_forms=["nulls"])
        null_list = client.get(f"{KIT}/livestreams").json()
        stats = control(sim, "stats").json()
        fleet = len(sim.model.livestreams)
    assert shaped["missing_data"] == {"success": True}
    assert shaped["data_list"] == {"success": True, "data": [clean]}
    assert json.loads(shaped["data_string"]["data"]) == clean
    extra = shaped["extra_fields"]
    assert (extra["errors"], extra["messages"], extra["result"]) == ([], [], None)
    assert {key: extra["data"][key] for key in clean} == clean
    assert extra["data"]["x_sim_flag"] is True
    assert shaped["nulls"] == {"success": True, "data": dict.fromkeys(clean)}
    assert null_list["paging"]["total_count"] == fleet  # paging survives, so a list still pages
    assert all(set(item.values()) == {None} for item in null_list["data"])
    assert stats["faults_shape_forms"] == dict.fromkeys(SHAPE_FORMS, 1) | {"nulls": 2}


def test_a_429_storm_refuses_every_request_with_retry_after_until_the_block_ends() -> None:
    with api(block_seconds=300.0) as (sim, client):
        sim.set_faults(storm_at=True)
        first = client.get(f"{KIT}/livestreams")
        sim.advance(200)
        later = client.get(APPS)  # every route is blocked
        sim.advance(100)
        after = client.get(f"{KIT}/livestreams")
        stats = control(sim, "stats").json()
    assert (first.status_code, first.headers["Retry-After"]) == (429, "300")
    assert first.json()["errors"] == [
        {"code": 971, "message": "Please wait and consider throttling your request speed"}
    ]
    assert (later.status_code, later.headers["Retry-After"]) == (429, "100")
    assert after.status_code == 200
    assert (stats["faults_storm"], stats["rate_limited"]) == (1, 2)


def test_a_revoked_token_answers_401_in_both_documented_bodies_until_restored() -> None:
    with api() as (sim, client):
        sim.set_faults(revoked=True)
        refused = [client.get(f"{KIT}/{path}") for path in ("livestreams", "analytics/livestreams/daywise")]
        sim.set_faults(revoked=False)
        restored = client.get(f"{KIT}/livestreams")
        stats = control(sim, "stats").json()
    # unauthorized_form "mixed" (the default): the v4 envelope, then the webhooks' documented body.
    assert [(r.status_code, r.json()) for r in refused] == [(401, V4_401), (401, {"message": "Unauthorized"})]
    assert restored.status_code == 200
    assert stats["faults_revoked"] == 2


def test_a_malformed_authorization_header_halts_the_poll_at_its_first_request(tmp_path: Path) -> None:
    """400 with 6003 chained 6111 refuses the header itself: no other request of the poll can succeed."""
    with running_simulator(simulator_config()) as sim:
        sim.advance(60)
        settings = settings_for(sim, tmp_path, api_token=Secret("two words"))  # sent as "Bearer two words"
        row = run_poll(settings)
        stats = control(sim, "stats").json()
    assert (row.outcome, row.requests, row.retries) == ("failed", 1, 0)
    assert stats["by_status"] == {"400": 1}
    assert row.message == (
        "list_livestreams on app sim-app, status LIVE page 1: HTTP 400, code 6003: Invalid request headers "
        "(code 6111: Invalid format for Authorization header)"
    )


def test_fault_routes_keep_faults_off_the_other_endpoints() -> None:
    with api(fault_5xx=1.0, fault_routes=("active_session",)) as (sim, client):
        livestream = sim.model.livestreams[0].id
        listed = client.get(f"{KIT}/livestreams").status_code
        active = client.get(f"{KIT}/livestreams/{livestream}/active-livestream-session").status_code
    assert listed == 200
    assert active >= 500


def test_the_cli_sets_the_new_fault_knobs() -> None:
    argv = "--fault-timeout 0.1 --fault-timeout-seconds 3 --fault-truncated 0.2 --fault-shape 0.3"
    config = parse_serve([*argv.split(), "--shape-forms", "nulls,data_list"]).config()
    assert (config.fault_timeout, config.fault_timeout_seconds, config.fault_truncated) == (0.1, 3.0, 0.2)
    assert (config.fault_shape, config.shape_forms) == (0.3, ("data_list", "nulls"))
    with pytest.raises(CycloptsError, match="expected some of"):
        parse_serve(["--shape-forms", "nulls,bogus"])


@pytest.mark.parametrize(
    ("knobs", "named"),
    [
        ({"fault_truncated": 1.5}, "fault_truncated"),
        ({"fault_5xx_next": -1}, "fault_5xx_next"),
        ({"fault_timeout_seconds": math.inf}, "fault_timeout_seconds"),
        ({"outage": (20.0, 10.0)}, "outage"),
        ({"revoked": (math.nan, 10.0)}, "revoked"),
        ({"shape_forms": ()}, "shape_forms"),
        ({"fault_routes": ("nowhere",)}, "fault_routes"),
        ({"storm_at": (math.inf,)}, "storm_at"),
    ],
)
def test_out_of_range_fault_knobs_are_refused_by_name(knobs: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        SimulatorConfig(**knobs)


TRANSIENT: dict[str, tuple[dict[str, Any], str, str]] = {
    # fault knobs, the simulator's counter, what each recorded failure says
    "5xx_burst": ({"fault_5xx_next": 40}, "faults_5xx", r"HTTP 50[0234]"),
    "outage": ({"outage": True}, "faults_5xx", r"HTTP 50[0234]"),
    "truncated": (
        {"fault_truncated": 0.3},
        "faults_truncated",
        r"no response: RemoteProtocolError: peer closed connection without sending complete message body",
    ),
    "malformed": (
        {"fault_malformed": 0.3},
        "faults_malformed",
        r"HTTP 200: (malformed JSON body|empty body)",
    ),
    "timeout": (
        {"fault_timeout_next": 2, "fault_timeout_seconds": 1.5},
        "faults_timeout",
        r"no response: ReadTimeout: timed out after 1 s",
    ),
}


@pytest.mark.parametrize("kind", list(TRANSIENT))
def test_transient_faults_are_retried_each_recorded_with_its_cause_and_history_stays_exact(
    kind: str, tmp_path: Path
) -> None:
    knobs, counter, cause = TRANSIENT[kind]
    with fault_run(tmp_path, settings={"timeout_seconds": 1.0} if kind == "timeout" else {}) as runner:
        runner.polls(2)
        runner.faults(**knobs)
        faulty = runner.polls(1)
        run = runner.finish()
    assert_history_exact(run)
    injected = run.stats[counter]
    assert injected >= 2
    failures = failed_attempts(run.settings.database)
    # Each injected fault is one failed attempt on record, and it names the fault.
    assert len(failures) == injected
    assert [error for *_, error in failures if not re.search(cause, error)] == []
    assert {poll_id for poll_id, *_ in failures} <= {row.poll_id for row in faulty}
    for row in faulty:
        if row.failed_calls:  # retries ran out: the poll says so, first line first
            # failed when not even the listing could be read (the poll could not tell what is live)
            unlisted = (row.message or "").startswith("no livestream listing could be read: ")
            assert row.outcome == ("failed" if unlisted else "partial")
            assert re.search(cause, (row.message or "").splitlines()[0])
    assert all(row.outcome == "ok" for row in run.rows if row not in faulty)


def test_slow_answers_within_the_timeout_are_waited_for_not_failed(tmp_path: Path) -> None:
    with fault_run(tmp_path, settings={"timeout_seconds": 1.0}) as runner:
        runner.polls(1)
        runner.faults(fault_timeout_next=3, fault_timeout_seconds=0.4)
        (slow,) = runner.polls(1)
        assert runner.stats()["faults_timeout"] == 3
    assert failed_attempts(runner.settings.database) == []
    assert slow.outcome == "ok"
    assert slow.network_seconds >= 0.4


def test_a_429_storm_stops_all_sending_for_the_five_minute_block_then_polls_catch_up(tmp_path: Path) -> None:
    with fault_run(tmp_path) as runner:
        runner.polls(2)
        storm = runner.sim.now() + MINUTE  # when the next poll starts
        runner.faults(storm_at=[storm])
        stormy = runner.polls(1)
        blocked = runner.polls(4)  # a minute apart, all inside the block
        run = runner.finish()
    assert_history_exact(run)
    assert run.stats["faults_storm"] == 1
    refused = run.stats["by_status"]["429"]
    assert refused == run.stats["rate_limited"]
    assert 1 <= refused <= run.settings.concurrency  # only requests already in flight met the block
    # The Date header (whole seconds on the simulator's clock) says when each answer was given.
    during_block = sql(
        run.settings.database,
        "select http_status, error from raw_responses where server_date >= ?::timestamptz"
        " and server_date < ?::timestamptz",
        runner.sim.model.iso(int(storm * 1000)),
        runner.sim.model.iso(int((storm + BLOCK_SECONDS - 1) * 1000)),
    )
    assert 1 <= len(during_block) <= refused
    assert {status for status, _ in during_block} == {429}
    assert all("HTTP 429, code 971" in error for _, error in during_block)
    assert stormy[0].rate_limited == refused
    # The storm met its first request, the listing: the poll could not tell what is live.
    assert stormy[0].outcome == "failed"
    assert (stormy[0].message or "").startswith("no livestream listing could be read: ")
    assert "HTTP 429" in (stormy[0].message or "").splitlines()[0]
    # The block is longer than the client may wait: each poll inside it ends at once, sending nothing, and
    # fails: it could not list what is live.
    for row, left in zip(blocked, (240, 180, 120, 60), strict=True):
        assert (row.outcome, row.requests) == ("failed", 0)
        assert (row.message or "").startswith("no livestream listing could be read: ")
        assert f"not sent: rate-limited: the API blocks requests for {left} s more" in (row.message or "")
        assert (row.message or "").endswith("the next poll resumes")
    assert all(row.outcome == "ok" for row in run.rows if row not in stormy + blocked)


def test_a_block_longer_than_the_allowed_wait_ends_the_poll_at_once_without_sending(tmp_path: Path) -> None:
    two_minutes_ago = datetime.now(UTC) - timedelta(seconds=120)  # so that sessions are running
    config = simulator_config(clock="real", start_at=two_minutes_ago, livestreams=8, block_seconds=6)
    with running_simulator(config) as sim:
        settings = settings_for(sim, tmp_path, max_retry_wait_seconds=1)
        run_poll(settings)  # a clean poll first: the next has running sessions to read
        sim.set_faults(storm_at=True)
        started = time.monotonic()
        row = run_poll(settings)
        took = time.monotonic() - started
        stats = control(sim, "stats").json()
    lines = (row.message or "").splitlines()
    assert took < 3  # it waited out the whole 6 s block before the fix
    assert row.outcome == "failed"  # it could not list what is live
    assert (stats["faults_storm"], row.requests, row.rate_limited) == (1, 1, 1)
    assert re.fullmatch(
        r"no livestream listing could be read: "
        r"list_livestreams on app sim-app, status LIVE page 1: HTTP 429, code 971: .*",
        lines[0],
    )
    assert "(asked to wait 6 s, more than STREAMLEDGER_MAX_RETRY_WAIT_SECONDS=1)" in lines[0]
    assert re.fullmatch(
        r"\w+ on app sim-app, .+: no response: not sent: rate-limited: the API blocks requests for \d s more"
        r" \(more than STREAMLEDGER_MAX_RETRY_WAIT_SECONDS=1\); the next poll resumes"
        r"( \(and \d+ more calls not sent\))?",
        lines[1],
    )
    assert len(lines) == 2


def test_a_revoked_token_fails_each_poll_with_one_401_line_and_no_retry_then_polls_catch_up(
    tmp_path: Path,
) -> None:
    with fault_run(tmp_path) as runner:
        runner.polls(2)
        runner.faults(revoked=True)
        revoked = runner.polls(2)
        run = runner.finish()
    assert_history_exact(run)
    assert run.stats["faults_revoked"] == 2  # one request per poll: no retry loop
    # Both 401 bodies (unauthorized_form "mixed" alternates them) halt the poll at its first request.
    assert [row.message for row in revoked] == [
        "list_livestreams on app sim-app, status LIVE page 1: HTTP 401, code 10001: "
        "Unable to authenticate request",
        "list_livestreams on app sim-app, status LIVE page 1: HTTP 401: Unauthorized",
    ]
    for row in revoked:
        assert (row.outcome, row.requests, row.retries) == ("failed", 1, 0)
    assert all(row.outcome == "ok" for row in run.rows if row not in revoked)


class _RevokeAfterTheListings(httpx.AsyncBaseTransport):
    """A real transport that revokes the simulator's token once the listings have been answered."""

    def __init__(self, sim: RunningSimulator) -> None:
        """Wrap the default transport."""
        self._sim = sim
        self._inner = httpx.AsyncHTTPTransport()
        self._answered = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send the request; revoke the token after the third answer: the LIVE and INVOKED listings and the
        full listing's page (8 livestreams) come one after another, then the reads at once."""
        response = await self._inner.handle_async_request(request)
        self._answered += 1
        if self._answered == 3:
            self._sim.set_faults(revoked=True)
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


def test_a_token_revoked_during_a_poll_fails_it_without_retrying_any_call(tmp_path: Path) -> None:
    with fault_run(tmp_path) as runner:
        runner.polls(2)
        (cut,) = runner.polls(1, transport=_RevokeAfterTheListings(runner.sim))
        run = runner.finish()
    assert_history_exact(run)
    assert cut.outcome == "failed"
    first_line = (cut.message or "").splitlines()[0]
    assert re.fullmatch(
        r"\w+ on app sim-app, .+: HTTP 401, code 10001: Unable to authenticate request", first_line
    )
    attempts = sql(
        run.settings.database,
        "select attempt, count(*) from raw_responses where poll_id = ? and http_status = 401 group by 1",
        cut.poll_id,
    )
    assert attempts == [(1, run.stats["faults_revoked"])]  # every call sent once, none retried
    # After the first 401 nothing more is sent: only requests already in flight meet the revoked token.
    statuses = sql(
        run.settings.database,
        "select http_status from raw_responses where poll_id = ? order by seq",
        cut.poll_id,
    )
    after_first_401 = [status for (status,) in statuses][[s for (s,) in statuses].index(401) + 1 :]
    assert len(after_first_401) <= run.settings.concurrency
    unsent = re.search(
        r"not sent: the API refused the token earlier in this poll \(HTTP 401\)"
        r"(?: \(and (\d+) more calls not sent\))?$",
        cut.message or "",
    )
    assert unsent is not None
    not_sent = 1 + int(unsent.group(1) or 0)
    assert cut.failed_calls == run.stats["faults_revoked"] + not_sent
    assert all(row.outcome == "ok" for row in run.rows if row is not cut)


# Simulator route -> the pipeline's endpoint name. Livestream lists come in the spec's object form here
# ({data: {livestreams, paging}}); the array form is what the other tests and the soak read.
SHAPE_ROUTES = {
    "list_livestreams": "list_livestreams",
    "active_session": "active_session",
    "session_by_id": "session_by_id",
    "livestream_details": "livestream_sessions",
}
BROKEN_SHAPES = ("missing_data", "data_list", "data_string", "nulls")
# Routes reshaped together in one poll: a broken list would leave the other routes nothing to read.
SHAPE_POLLS = (("list_livestreams",), ("active_session", "session_by_id", "livestream_details"))


@dataclass(frozen=True)
class ShapeRun:
    """A run whose faulty polls had every 200 answer of some routes in one unexpected shape."""

    finished: Finished
    fault_polls: dict[str, PollRun]  # route -> the ledger row of its faulty poll


@pytest.fixture(scope="module")
def shape_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ShapeRun]:
    """One run per shape form: two clean polls, SHAPE_POLLS's faulty polls, then finish()."""
    runs = {}
    for form in (*BROKEN_SHAPES, "extra_fields"):
        with fault_run(tmp_path_factory.mktemp(form)) as runner:
            runner.polls(2)
            fault_polls: dict[str, PollRun] = {}
            for routes in SHAPE_POLLS:
                runner.faults(fault_shape=1.0, shape_forms=[form], fault_routes=list(routes))
                (row,) = runner.polls(1)
                fault_polls |= dict.fromkeys(routes, row)
            runs[form] = ShapeRun(runner.finish(), fault_polls)
    return runs


def shaped_answers(run: ShapeRun, route: str) -> list[tuple[Any, ...]]:
    """(seq, outcome, error, body) of the 200 answers of a route in its faulty poll: all were reshaped."""
    return sql(
        run.finished.settings.database,
        "select seq, outcome, error, body from raw_responses"
        " where poll_id = ? and endpoint = ? and http_status = 200 order by seq",
        run.fault_polls[route].poll_id,
        SHAPE_ROUTES[route],
    )


@pytest.mark.parametrize("form", [*BROKEN_SHAPES, "extra_fields"])
def test_unexpected_shapes_never_corrupt_duplicate_or_lose_history(
    form: str, shape_runs: dict[str, ShapeRun]
) -> None:
    run = shape_runs[form]
    assert_history_exact(run.finished)
    reshaped = sum(len(shaped_answers(run, route)) for route in SHAPE_ROUTES)  # no other route was faulted
    assert run.finished.stats["faults_shape_forms"] == {form: reshaped}
    assert all(len(shaped_answers(run, route)) >= 1 for route in SHAPE_ROUTES)


def test_extra_fields_are_ignored_without_a_failure_or_a_parse_issue(shape_runs: dict[str, ShapeRun]) -> None:
    run = shape_runs["extra_fields"].finished
    assert run.stats["faults_shape"] >= 20
    assert failed_attempts(run.settings.database) == []
    assert sql(run.settings.database, "select count(*) from parse_issues") == [(0,)]
    assert all(row.outcome == "ok" for row in run.rows)


# An odd `data` that would read as "nothing there" (no session, no items, no sessions) fails the call, with
# the shape named (client._classify); a session record read by id with no id of its own is a parse issue.
@pytest.mark.parametrize(
    ("route", "form"),
    [
        (route, form)
        for route in SHAPE_ROUTES
        for form in BROKEN_SHAPES
        # {"success": true} without data is a documented 'no active session' answer, not a fault.
        if (route, form) != ("active_session", "missing_data")
    ],
)
def test_every_unexpected_shape_is_recorded_as_a_failed_call_or_a_parse_issue(
    route: str, form: str, shape_runs: dict[str, ShapeRun]
) -> None:
    run = shape_runs[form]
    row = run.fault_polls[route]
    issues = {
        seq
        for (seq,) in sql(
            run.finished.settings.database, "select seq from parse_issues where poll_id = ?", row.poll_id
        )
    }
    said = any(line.startswith(f"{SHAPE_ROUTES[route]} on app") for line in (row.message or "").splitlines())
    answers = shaped_answers(run, route)
    unrecorded = [
        body[:120]
        for seq, outcome, _, body in answers
        if outcome not in FAILED and seq not in issues and not said
    ]
    assert answers
    assert unrecorded == []


BLANKED = (
    "select count(*) from livestreams where status is null or ingest_server is null or playback_url is null"
)


def test_a_livestream_object_full_of_nulls_never_erases_what_is_known_of_the_livestream(
    tmp_path: Path,
) -> None:
    with fault_run(tmp_path) as runner:
        runner.polls(2)
        before = sql(runner.settings.database, BLANKED)
        runner.faults(
            fault_shape=1.0, shape_forms=["nulls"], fault_routes=["active_session", "livestream_details"]
        )
        runner.polls(1)
        after = sql(runner.settings.database, BLANKED)
    assert before == [(0,)]
    assert after == [(0,)]


SOAK_POLLS = 300
SOAK_SHARES: dict[str, Any] = {
    "fault_5xx": 0.03,
    "fault_truncated": 0.01,
    "fault_malformed": 0.01,
    "fault_shape": 0.02,
    "fault_timeout": 0.001,
    "fault_timeout_seconds": 2.5,
}
# What each failed attempt on record says, by the simulator counter of the fault that caused it.
SOAK_CAUSES = {
    "faults_5xx": "http_status >= 500",
    "faults_timeout": "error like '%no response: ReadTimeout%'",
    "faults_truncated": "error like '%no response: RemoteProtocolError: peer closed connection%'",
    # A 200 in an unexpected shape is a failed call too now, named as such: not a malformed body.
    "faults_malformed": "http_status = 200 and outcome in ('retry', 'error')"
    " and error not like '%: unexpected shape: %'",
    "faults_revoked": "http_status = 401",
    "rate_limited": "http_status = 429",
}


def soak_events(poll_index: int, t: float) -> dict[str, Any]:
    """The fault windows switched on before a soak poll (t: the simulator time before it advances)."""
    step = poll_index % 60
    if step == 10:
        return {"fault_5xx_next": 25}
    if step == 20:
        return {"outage": [t + 30, t + 150]}  # two polls answer nothing but 5xx
    if step == 30:
        return {"storm_at": [t + MINUTE]}  # the next poll meets the five-minute block
    if step == 45:
        return {"revoked": [t + 30, t + 150]}  # two polls meet a revoked token
    return {}


@pytest.mark.slow
def test_soak_of_hundreds_of_polls_with_every_fault_mixed_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    with fault_run(
        tmp_path,
        settings={"timeout_seconds": 2.0},
        livestreams=12,
        short_share=0.2,
        report_lag_seconds=5.0,
        dip_share=0.05,
        placeholder_seconds=(
            20.0,
            20.0,
        ),  # short timings (with FAST_LIFECYCLE's final figures): polls are seconds apart
    ) as runner:
        runner.faults(**SOAK_SHARES)
        for index in range(SOAK_POLLS):
            if events := soak_events(index, runner.sim.now()):
                runner.faults(**events)
            runner.polls(1)
        run = runner.finish()
    figures = assert_history_exact(run)
    stats = run.stats
    with reading(run.settings.database) as con:
        recorded = {
            counter: con.execute(f"select count(*) from raw_responses where {where}").fetchall()[0][0]
            for counter, where in SOAK_CAUSES.items()
        }
        shaped = con.execute("select count(*) from parse_issues").fetchall()[0][0]
    outcomes = Counter(row.outcome for row in run.rows)
    print(
        f"\nsoak: {figures.polls_run} polls run, {figures.polls_in_ledger} in poll_runs, "
        f"{figures.polls_lost} lost, {figures.duplicates} duplicates; outcomes {dict(outcomes)}; "
        f"{stats['requests_total']} requests; {time.monotonic() - started:.0f} s\n"
        f"faults injected: 5xx {stats['faults_5xx']}, timeout {stats['faults_timeout']}, "
        f"truncated {stats['faults_truncated']}, malformed {stats['faults_malformed']}, "
        f"shape {stats['faults_shape']} {stats['faults_shape_forms']}, storms {stats['faults_storm']} "
        f"({stats['rate_limited']} answers 429), revoked {stats['faults_revoked']} answers 401\n"
        f"failed attempts on record, by cause: {recorded}; parse issues {shaped}\n"
        f"sessions: {figures.sessions_truth} in the truth, {figures.sessions_final} final in the warehouse"
    )
    assert figures.polls_lost == 0
    assert figures.duplicates == 0
    assert figures.polls_run == SOAK_POLLS + CLEAN_POLLS
    # Every fault that fails an attempt is on record, once, with its cause.
    assert recorded == {counter: stats[counter] for counter in SOAK_CAUSES}
    assert stats["faults_storm"] == SOAK_POLLS // 60
    assert min(stats[counter] for counter in SOAK_CAUSES) >= 1
    # The failed polls met a revoked token, or could not read any listing (faults, a 429 storm).
    refused = [row for row in run.rows if row.outcome == "failed" and "HTTP 401" in (row.message or "")]
    assert len(refused) == 2 * (SOAK_POLLS // 60)
    unlisted = [
        row for row in run.rows if (row.message or "").startswith("no livestream listing could be read: ")
    ]
    assert outcomes["failed"] == len(refused) + len(unlisted)
