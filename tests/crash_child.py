"""One snapshot run in a process of its own, which kills itself (SIGKILL) at the point CRASH_AT names."""

# tests/poll/test_crash.py runs this as `python -m tests.crash_child` with the settings in the usual
# STREAMLEDGER_* and CLOUDFLARE_* variables. It runs the snapshot flow's tasks without Prefect
# (tests.helpers.run_poll: recover what an earlier run landed, plan, fetch, land, normalize, load), and
# appends one JSON line per step to the file CRASH_EVENTS names, so that the test knows how far it got.
#
# CRASH_AT is empty (no kill) or `point` or `point:n`:
#
#     response:n     after the n-th HTTP response of the fetch is recorded
#     land:n         inside land(), after the n-th line of the landing file is serialized (the .tmp exists)
#     land_fsync     inside land(), the .tmp file complete and flushed, before its fsync and rename
#     landed         after the landing file is renamed into place, before the poll is normalized
#     plan:n         after the n-th planning query (a connection to the database is open)
#     execute:n      after the n-th statement run on a warehouse connection (migrations, loads, commits)
#     load_file:n    after the n-th load file (sql/load/*.sql) ran, inside the load transaction
#     commit:n       after the n-th commit returned, before the connection is closed (data only in the WAL)
#     committed      after a load returned (connection closed), before its landing file is deleted
#     checkpoint:n@s s seconds after the n-th checkpoint statement started (a load runs one after its commit,
#                    writing the WAL into the file; it takes some 20-40 ms)
#     close:n@s      s seconds after the n-th connection close started
#     lock_wait:n    after the n-th attempt to open the database was refused by another process's lock
#
# Counts run over the whole process, recovery included: `load_file:15` with one landed poll to recover
# kills the second load (the new poll's) after its second file.

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import duckdb
import orjson

from streamledger import fetch, landing, load, plan, warehouse
from streamledger import poll as nouns
from streamledger.client import RealtimeKitClient
from streamledger.poll import FetchedPoll, PollPlan, PollRun
from streamledger.settings import Settings
from tests.helpers import poll_or_landed

POINTS = (
    "response",
    "land",
    "land_fsync",
    "landed",
    "plan",
    "execute",
    "load_file",
    "commit",
    "committed",
    "checkpoint",
    "close",
    "lock_wait",
)


class Events:
    """Append-only JSON lines, each written with one unbuffered write (they survive a SIGKILL)."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.phase = "start"
        self.poll_id: str | None = None

    def emit(self, **event: Any) -> None:
        """Write one event line."""
        os.write(self._fd, orjson.dumps(event | {"t": round(time.monotonic(), 3)}) + b"\n")

    def enter(self, phase: str, poll_id: str | None = None) -> None:
        """Record that the run entered a phase (of a poll, when one is known)."""
        self.phase, self.poll_id = phase, poll_id
        self.emit(phase=phase, poll=poll_id)

    def kill(self, point: str) -> None:
        """Record where the run dies, then die the way a killed process dies."""
        self.emit(killed=point, phase=self.phase, poll=self.poll_id)
        os.kill(os.getpid(), signal.SIGKILL)


class Trigger:
    """Counts occurrences of one kind of event and kills the process at the chosen one."""

    def __init__(self, events: Events, spec: str) -> None:
        point, _, arg = spec.partition(":")
        if point and point not in POINTS:
            raise SystemExit(f"crash_child: unknown CRASH_AT point {point!r}")
        self.events = events
        self.point = point
        self.arg = arg
        self.counts: Counter[str] = Counter()

    def hit(self, point: str) -> None:
        """Count one occurrence of `point`; kill when it is the chosen one (checkpoint, close: later)."""
        self.counts[point] += 1
        nth, _, delay = self.arg.partition("@")
        if point != self.point or self.counts[point] != int(nth or "1"):
            return
        name = f"{point}:{self.arg}" if self.arg else point
        if delay:
            timer = threading.Timer(float(delay), self.events.kill, [name])
            timer.daemon = True
            timer.start()
        else:
            self.events.kill(name)


class _Connection:
    """A warehouse connection that reports its statements, commits and close to the trigger."""

    def __init__(self, con: duckdb.DuckDBPyConnection, trigger: Trigger) -> None:
        self._con = con
        self._trigger = trigger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, statement: str, *args: Any, **kwargs: Any) -> Any:
        if statement.strip().lower().endswith("checkpoint"):  # its file's header comment comes first
            self._trigger.hit("checkpoint")
        self._con.execute(statement, *args, **kwargs)
        self._trigger.hit("execute")
        if statement.strip().lower() == "commit":
            self._trigger.hit("commit")
        return self

    def close(self) -> None:
        self._trigger.hit("close")
        started = time.perf_counter()
        self._con.close()
        self._trigger.events.emit(closed=round(time.perf_counter() - started, 6))


class _Os:
    """The os module as landing.land sees it, with fsync reported to the trigger."""

    def __init__(self, trigger: Trigger) -> None:
        self._trigger = trigger

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def fsync(self, fd: int) -> None:
        self._trigger.hit("land_fsync")
        os.fsync(fd)


class _Orjson:
    """The orjson module as landing.py sees it, with the lines land() serializes reported to the trigger."""

    def __init__(self, trigger: Trigger, landing: Callable[[], bool]) -> None:
        self._trigger = trigger
        self._landing = landing

    def __getattr__(self, name: str) -> Any:
        return getattr(orjson, name)

    def dumps(self, value: Any, option: int | None = None) -> bytes:
        data = orjson.dumps(value, option=option)
        if self._landing():
            self._trigger.hit("land")
        return data


def install(events: Events, trigger: Trigger) -> None:
    """Wrap the pipeline's steps so that each reports to the event log and to the trigger."""
    real_land, real_load = landing.land, load.load_poll
    real_recover, real_read_plan, real_fetch = load.load_landed, plan.read_plan, fetch.fetch_poll
    real_run_file, real_query = warehouse.run_file, warehouse.query
    real_connect, real_open_file = warehouse.connect, warehouse.open_file
    real_record, real_new_poll_id = RealtimeKitClient._record, nouns.new_poll_id
    writing = [False]

    def land(landing_dir: Any, fetched: Any) -> Any:
        events.enter("land", fetched.poll_id)
        writing[0] = True
        try:
            path = real_land(landing_dir, fetched)
        finally:
            writing[0] = False
        events.emit(landed=fetched.poll_id)
        trigger.hit("landed")
        return path

    def load_poll(settings: Settings, fetched: Any, *args: Any, **kwargs: Any) -> PollRun:
        events.enter("load", fetched.poll_id)
        run = real_load(settings, fetched, *args, **kwargs)
        events.emit(loaded=fetched.poll_id, recovered=run.recovered)
        events.enter("after_load", fetched.poll_id)
        trigger.hit("committed")
        return run

    def load_landed(settings: Settings) -> load.Recovery:
        events.enter("recover")
        recovery = real_recover(settings)
        events.emit(
            recovered=[run.poll_id for run in recovery.runs],
            problems=recovery.quarantined,
            busy=recovery.waiting is not None,
        )
        return recovery

    def read_plan(settings: Settings) -> PollPlan:
        events.enter("plan")
        return real_read_plan(settings)

    def fetch_poll(settings: Settings, poll_plan: PollPlan, **kwargs: Any) -> FetchedPoll:
        fetched = real_fetch(settings, poll_plan, **kwargs)
        events.emit(fetched=fetched.poll_id, responses=len(fetched.responses), outcome=fetched.outcome)
        return fetched

    def run_file(con: Any, name: str, params: Any = None) -> None:
        real_run_file(con, name, params)
        trigger.hit("load_file")

    def query(con: Any, name: str, params: Any = None) -> Any:
        frame = real_query(con, name, params)
        trigger.hit("plan")
        return frame

    def connect(*args: Any, **kwargs: Any) -> Any:
        return _Connection(real_connect(*args, **kwargs), trigger)

    def record(client: RealtimeKitClient, **row: Any) -> None:
        real_record(client, **row)
        trigger.hit("response")

    def new_poll_id(started_at: Any) -> str:
        poll_id = real_new_poll_id(started_at)
        events.enter("fetch", poll_id)
        return poll_id

    def open_file(*args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
        try:
            return real_open_file(*args, **kwargs)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                events.emit(lock_refused=True)
                trigger.hit("lock_wait")
            raise

    for owner, name, value in (
        (landing, "land", land),
        (load, "load_poll", load_poll),
        (load, "load_landed", load_landed),
        (plan, "read_plan", read_plan),
        (fetch, "fetch_poll", fetch_poll),
        (load, "run_file", run_file),
        (plan, "query", query),
        (landing, "os", _Os(trigger)),
        (landing, "orjson", _Orjson(trigger, lambda: writing[0])),
        (warehouse, "connect", connect),
        (warehouse, "open_file", open_file),
        (RealtimeKitClient, "_record", record),
        (fetch, "new_poll_id", new_poll_id),
    ):
        setattr(owner, name, value)


def main() -> int:
    """Recover, then poll once, as the snapshot flow does; report each step to CRASH_EVENTS."""
    events = Events(os.environ["CRASH_EVENTS"])
    trigger = Trigger(events, os.environ.get("CRASH_AT", ""))
    install(events, trigger)
    events.emit(pid=os.getpid(), crash_at=os.environ.get("CRASH_AT", ""))
    run = poll_or_landed(Settings.from_env(), check=False)  # the test checks after each child
    if run is None:  # the database was held: the poll stays landed for the next run
        events.enter("done")
        events.emit(stays_landed=events.poll_id, counts=trigger.counts)
        return 0
    events.enter("done")
    events.emit(done=run.poll_id, counts=trigger.counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
