"""Finality under overlapping polls: a session is final only with its true final figures, whichever poll's
reading arrives, or is loaded, first.

Two polls overlap when a manual `streamledger snapshot` runs beside the scheduled one. Each stage of one poll
may then come before or after each stage of the other, and an answer may reach its poll long after the API
wrote it (a slow network, a process stalled starting Prefect): its figures are older than the moment we
received it. Between the client and the simulator here stands a relay on 127.0.0.1 that holds the answers
to one poll's reads until the test lets them go: the answers are written by the simulator when asked for,
and received when released.
"""

from __future__ import annotations

import itertools
import multiprocessing
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from simulator import RunningSimulator, SimulatorConfig, running_simulator, verify
from streamledger import warehouse
from streamledger.fetch import fetch_poll
from streamledger.load import load_landed
from streamledger.plan import read_plan
from streamledger.poll import FetchedPoll, PollPlan
from streamledger.rebuild import rebuild
from streamledger.settings import Settings
from tests.helpers import assert_checks_pass, finish, poll_or_landed, run_poll, settings_for, simulator_config

# While live the figures trail the truth by 3 s, so the figures of the stop differ from the final ones. The
# polls come seconds apart in real time, many to a simulated second: no request budget on either side.
OVERLAP_TIMINGS: dict[str, object] = {"report_lag_seconds": 3.0, "livestreams": 16, "budget_requests": 10**6}
UNBUDGETED: dict[str, object] = {"budget_requests": 10**6}
HOLD_SECONDS = 60.0  # a held answer is let go by the test long before this


@dataclass
class Relay:
    """Forwards every request to the simulator; answers to reads matching `holding` wait for `release`, and
    each answer waits `delay(path)` seconds more (as on a slow network: written, then long on its way)."""

    upstream: str
    base_url: str = ""
    holding: Callable[[str], bool] = lambda path: False
    delay: Callable[[str], float] = lambda path: 0.0
    release: threading.Event = field(default_factory=threading.Event)
    held: list[str] = field(default_factory=list)
    held_lock: threading.Lock = field(default_factory=threading.Lock)
    delayed: int = 0

    def answer(self, path: str, authorization: str) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = httpx.get(self.upstream + path, headers={"Authorization": authorization}, timeout=30)
        if self.holding(path):
            with self.held_lock:
                self.held.append(path)
            self.release.wait(HOLD_SECONDS)
        late = self.delay(path)
        if late > 0:
            with self.held_lock:
                self.delayed += 1
            time.sleep(late)
        keep = ("content-type", "date", "ratelimit", "ratelimit-policy", "retry-after")
        headers = [(name, value) for name, value in upstream.headers.items() if name.lower() in keep]
        return upstream.status_code, headers, upstream.content


@contextmanager
def relaying(sim: RunningSimulator) -> Iterator[Relay]:
    """A Relay in front of the simulator, on 127.0.0.1 in a thread, for the length of the block."""
    relay = Relay(sim.root_url)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, headers, body = relay.answer(self.path, self.headers.get("Authorization", ""))
            self.send_response_only(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    relay.base_url = f"http://127.0.0.1:{server.server_address[1]}{sim.base_url.removeprefix(sim.root_url)}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        relay.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def by_id(path: str) -> bool:
    """A finalization read: GET .../livestreams/sessions/{id}."""
    return "/livestreams/sessions/" in path


class HeldFetch:
    """A poll's fetch running in a thread through the relay, its by-id answers held until released."""

    def __init__(self, relay: Relay, settings: Settings, plan: PollPlan) -> None:
        self.relay = relay
        self.result: list[FetchedPoll] = []
        self.thread = threading.Thread(target=lambda: self.result.append(fetch_poll(settings, plan)))
        self.plan = plan

    def start(self) -> None:
        self.relay.release.clear()
        self.relay.held.clear()
        self.relay.holding = by_id
        self.thread.start()

    def wait_held(self, count: int) -> None:
        """Wait until the simulator has answered `count` of its by-id reads (the relay holds them)."""
        for _ in range(600):
            with self.relay.held_lock:
                if len(self.relay.held) >= count:
                    return
            self.thread.join(0.05)
            assert self.thread.is_alive(), (
                f"the fetch ended before its reads were held: {self.result} {self.plan.to_finalize}"
            )
        raise AssertionError(f"the relay held {len(self.relay.held)} of {count} reads")

    def received(self) -> FetchedPoll:
        self.relay.release.set()
        self.thread.join(HOLD_SECONDS)
        self.relay.holding = lambda path: False
        (fetched,) = self.result
        return fetched


def rows(database: Path, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """The rows of a query on the warehouse, read-only."""
    con = warehouse.connect(database, read_only=True)
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


def unfinished(database: Path) -> list[str]:
    """Sessions seen stopped and not final yet."""
    sql = "select session_id from sessions where stopped_time is not null and not is_final order by all"
    return [session_id for (session_id,) in rows(database, sql)]


def final_figures(database: Path, session_id: str) -> tuple[bool, float, float]:
    sql = "select is_final, ingest_seconds, viewer_seconds from sessions where session_id = $id"
    ((is_final, ingest, viewer),) = rows(database, sql, {"id": session_id})
    return is_final, ingest, viewer


def next_stop(sim: RunningSimulator, after: float) -> float:
    """The simulated time of the next stop of a session live for long enough that the figures of its stop
    (3 s behind) differ from its final ones."""
    now = sim.now()
    stops = []
    for livestream in sim.model.livestreams_of(sim.config.app_ids[0]):
        session = sim.model.latest_session(livestream, now)
        if session is not None and session.phase(now) == "LIVE" and session.recorded(now):
            stop = session.stopped_ms / 1000
            if stop > now + after and session.live_elapsed(stop) > 20:
                stops.append(stop)
    assert stops, "no live session stops later"
    return min(stops)


def test_an_old_reading_received_after_the_session_became_final_does_not_change_its_figures(
    tmp_path: Path,
) -> None:
    with running_simulator(simulator_config(**OVERLAP_TIMINGS)) as sim, relaying(sim) as relay:
        settings = settings_for(sim, tmp_path, **UNBUDGETED)
        slow = settings.with_overrides(base_url=relay.base_url)
        sim.advance(30)
        run_poll(settings)
        stop = next_stop(sim, after=2)
        sim.advance_to(stop - 1)
        run_poll(settings)  # it is live
        sim.advance_to(stop + 0.5)
        run_poll(settings)  # stopped, its final figures not landed (2-4 s after the stop): read by id next
        waiting = unfinished(settings.database)
        assert waiting
        # Poll A reads them now (the figures of their stop); its answers reach it only later.
        sim.advance(0.5)
        poll_a = HeldFetch(relay, slow, read_plan(slow))
        poll_a.start()
        poll_a.wait_held(len(waiting))
        # Meanwhile the scheduled polls read the final figures twice, settled: the sessions become final.
        for _ in range(2):
            sim.advance(8)
            run_poll(settings)
        truth = verify.fetch_truth(sim.root_url)
        true_final = {sid: (truth[sid]["ingest_seconds"], truth[sid]["viewer_seconds"]) for sid in waiting}
        assert {sid: final_figures(settings.database, sid) for sid in waiting} == {
            sid: (True, *figures) for sid, figures in true_final.items()
        }
        # Poll A's answers arrive, and it is loaded: its readings are older than the final ones.
        fetched = poll_a.received()
        read_by_a = {
            r["session_id"]: orjson.loads(r["body"])["data"]
            for r in fetched.responses
            if r["endpoint"] == "session_by_id"
        }
        assert all(
            (read_by_a[sid]["ingest_seconds"], read_by_a[sid]["viewer_seconds"]) != true_final[sid]
            for sid in waiting
        ), "poll A should have read the figures of the stop"
        assert finish(settings, fetched) is not None
        comparison = verify.compare(settings.database, verify.fetch_truth(sim.root_url))
    assert comparison.mismatches == []
    assert {sid: final_figures(settings.database, sid) for sid in waiting} == {
        sid: (True, *figures) for sid, figures in true_final.items()
    }


# The stages of the two overlapping polls. A's by-id answers are written when it sends (its fetch starts)
# and reach it when received; B's arrive at once. Every order that keeps each poll's own stages in order.
STAGES_A = ("plan A", "send A", "receive A", "load A")
STAGES_B = ("plan B", "fetch B", "load B")


def interleavings() -> list[tuple[str, ...]]:
    """Every merge of STAGES_A and STAGES_B that keeps each in its order (35)."""
    orders = []
    for slots in itertools.combinations(range(len(STAGES_A) + len(STAGES_B)), len(STAGES_B)):
        a, b = iter(STAGES_A), iter(STAGES_B)
        orders.append(tuple(next(b) if i in slots else next(a) for i in range(len(STAGES_A) + len(STAGES_B))))
    return orders


# Before A sends, stages come half a simulated second apart, so that A reads sessions in the seconds after
# their stop, before their final figures land (2-4 s after it); from then on 6 s apart, so that the polls
# beside it read the final figures, settled (6 s after the stop), and finalize them.
EARLY_STEP_SECONDS = 0.5
LATE_STEP_SECONDS = 6.0


@pytest.mark.slow
def test_every_order_of_two_overlapping_polls_finalizes_only_true_final_figures(tmp_path: Path) -> None:
    """Each order of the stages of two polls, one after the other in one history, each starting just after
    the scheduled poll saw a session stop. While A's answers are on their way the schedule goes on: a poll
    after every stage. After each order every final session carries exactly its true final figures and
    every check holds; at the end every long-settled session is final, and a rebuild (the polls replayed in
    the order they started) gives the same finality and figures as the loads in their interleaved order."""
    orders = interleavings()
    assert len(set(orders)) == len(orders) == 35
    late = 0  # sessions final, with figures other than those A read, before A received its answers
    with running_simulator(simulator_config(**OVERLAP_TIMINGS)) as sim, relaying(sim) as relay:
        settings = settings_for(sim, tmp_path, **UNBUDGETED)
        slow = settings.with_overrides(base_url=relay.base_url)
        sim.advance(30)
        run_poll(settings, check=False)
        for order in orders:
            stop = next_stop(sim, after=1)
            sim.advance_to(stop - 0.5)
            run_poll(settings, check=False)
            sim.advance_to(stop + 0.3)
            run_poll(settings, check=False)  # the stop is seen: A's plan reads the session by id
            plans: dict[str, PollPlan] = {}
            fetched: dict[str, FetchedPoll] = {}
            poll_a: HeldFetch | None = None
            step = EARLY_STEP_SECONDS
            for stage in order:
                sim.advance(step)
                if stage == "plan A":
                    plans["A"] = read_plan(slow)
                elif stage == "send A":
                    poll_a = HeldFetch(relay, slow, plans["A"])
                    poll_a.start()
                    poll_a.wait_held(len(plans["A"].to_finalize))
                    step = LATE_STEP_SECONDS
                elif stage == "receive A":
                    assert poll_a is not None
                    fetched["A"] = poll_a.received()
                    late += len(finalized_otherwise(settings.database, fetched["A"]))
                    poll_a = None
                elif stage == "plan B":
                    plans["B"] = read_plan(settings)
                elif stage == "fetch B":
                    fetched["B"] = fetch_poll(settings, plans["B"])
                else:
                    assert finish(settings, fetched[stage[-1]], check=False) is not None
                if poll_a is not None:  # the schedule goes on while A waits for its answers
                    run_poll(settings, check=False)
            assert_checks_pass(settings.database)
            comparison = verify.compare(settings.database, verify.fetch_truth(sim.root_url))
            assert comparison.mismatches == [], f"after {' > '.join(order)}"
        for _ in range(3):  # every session stopped by now settles and is read twice
            sim.advance(LATE_STEP_SECONDS)
            run_poll(settings)
        end = sim.now()
        truth = verify.fetch_truth(sim.root_url)
    assert verify.compare(settings.database, truth).mismatches == []
    settled = {
        sid
        for sid, s in truth.items()
        if s["settled"] and verify.seconds_before(s["stopped_time"], sim, end) > 2 * LATE_STEP_SECONDS
    }
    finality = "select session_id, is_final, finalized_at, ingest_seconds, viewer_seconds from sessions"
    before = sorted(rows(settings.database, finality))
    assert settled <= {sid for sid, is_final, *_ in before if is_final}
    assert len(settled) >= 35
    assert late >= 5, "some orders should finalize sessions before A receives its older readings of them"
    rebuild(settings.database, settle_seconds=settings.settle_seconds)
    assert sorted(rows(settings.database, finality)) == before


def finalized_otherwise(database: Path, fetched: FetchedPoll) -> set[str]:
    """Sessions the poll read by id that are final already, with figures other than the poll read."""
    read = {
        r["session_id"]: orjson.loads(r["body"])["data"]
        for r in fetched.responses
        if r["endpoint"] == "session_by_id" and r["http_status"] == 200
    }
    sql = (
        "select session_id, ingest_seconds, viewer_seconds from sessions"
        " where is_final and session_id in (select unnest($ids))"
    )
    return {
        sid
        for sid, ingest, viewer in rows(database, sql, {"ids": list(read)})
        if (read[sid]["ingest_seconds"], read[sid]["viewer_seconds"]) != (ingest, viewer)
    }


SOAK_SECONDS = 180.0
# The demo's lifecycle on the real clock: sessions of 10-40 s (a fifth of 1-4 s), the final figures 3-6 s
# after the stop, the figures trailing the truth by 2 s while live; the product settles after 10 s.
SOAK_SIMULATOR = {
    "livestreams": 30,
    "gap_seconds": (3.0, 15.0),
    "live_seconds": (10.0, 40.0),
    "short_share": 0.2,
    "short_live_seconds": (1.0, 4.0),
    "placeholder_seconds": (3.0, 5.0),
    "final_after_seconds": (3.0, 6.0),
    "report_lag_seconds": 2.0,
    "linger_seconds": 5.0,
    "budget_requests": 10**6,
}
SOAK_SETTLE_SECONDS = 10.0


def poll_repeatedly(settings: Settings, seconds: float, seed: int) -> None:
    """One poller process: a poll (recovery, plan, fetch, land, load) every 0 to 2 s for `seconds`."""
    pause = random.Random(seed)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        poll_or_landed(settings, check=False)
        time.sleep(pause.uniform(0.0, 2.0))


@pytest.mark.slow
def test_two_pollers_running_at_once_finalize_only_true_final_figures(tmp_path: Path) -> None:
    """Two poller processes on one database for three minutes, on the simulator's real clock; one polls
    through a relay that delays a third of its by-id answers by up to 15 s after the API wrote them. Every
    final session carries exactly its true final figures."""
    config = SimulatorConfig(seed=5, start_at=datetime.now(UTC) - timedelta(seconds=90), **SOAK_SIMULATOR)  # type: ignore[arg-type]
    late = random.Random(7)
    with running_simulator(config) as sim, relaying(sim) as relay:
        relay.delay = lambda path: late.uniform(0.0, 15.0) if by_id(path) and late.random() < 0.33 else 0.0
        direct = settings_for(sim, tmp_path, settle_seconds=SOAK_SETTLE_SECONDS, poll_interval_seconds=5.0)
        slow = direct.with_overrides(base_url=relay.base_url)
        spawn = multiprocessing.get_context("spawn")
        pollers = [
            spawn.Process(target=poll_repeatedly, args=(settings, SOAK_SECONDS, seed))
            for seed, settings in enumerate((direct, slow))
        ]
        for poller in pollers:
            poller.start()
        for poller in pollers:
            poller.join(SOAK_SECONDS + 120)
            assert poller.exitcode == 0
        assert load_landed(direct).quarantined == []
        truth = verify.fetch_truth(sim.root_url)
    comparison = verify.compare(direct.database, truth)
    assert comparison.mismatches == []
    assert comparison.final_seen >= 50
    assert relay.delayed >= 20
    # Answers did arrive in another order than the API wrote them: the case the API's clock orders.
    assert reads_received_out_of_order(direct.database) > 0
    assert_checks_pass(direct.database)


def reads_received_out_of_order(database: Path) -> int:
    """Reads of a session received after another one that the API wrote at least 2 s later."""
    sql = (
        "select count(*) from session_snapshots as a join session_snapshots as b using (session_id)"
        " where a.fetched_at > b.fetched_at and a.observed_at + interval 2 second <= b.observed_at"
    )
    ((count,),) = rows(database, sql)
    return int(count)
