"""Snapshot runs SIGKILLed at many points: the database opens, each poll is whole or absent, runs catch up."""

# Each run is a process of its own (tests/crash_child.py: recover, plan, fetch, land, normalize, load, as
# the snapshot flow does) against a simulator in this process on a manual clock. After every run the test
# opens the database and checks the books; at the end it compares the warehouse with the ground truth.

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from simulator import RunningSimulator, running_simulator, verify
from streamledger import warehouse
from tests.crash_child import POINTS
from tests.helpers import held, simulator_config

ROOT = Path(__file__).resolve().parents[2]
KILLED = -signal.SIGKILL
CHILD_TIMEOUT_SECONDS = 120.0
LOCK_WAIT_SECONDS = 0.4
# Runs here come a second apart, not a minute: a token's usual budget (real time) would starve them.
BUDGET = 100_000
SETTLED_SECONDS = 240.0  # sessions that stopped this long before the end must be final
LANDING_FILES: frozenset[str] = frozenset()  # what a landing folder may keep besides landed polls
# The runs poll on the default cadence: the full listing in a round over 15 polls (docs/poll.md), so a
# session that starts and stops between two polls on a livestream idle at both is found when the round
# comes, up to 15 polls late by design. The settling polls list everything every poll: after them, a
# session created a poll before the end and still missing was lost, not late.
EVERY_POLL = {"STREAMLEDGER_FULL_LISTING_INTERVAL_SECONDS": "60"}
# The key of each table: no two rows may share one (parse_issues has none: no two rows may be equal).
KEYS = {
    "poll_runs": "poll_id",
    "raw_responses": "poll_id, seq",
    "session_snapshots": "poll_id, session_id",
    "sessions": "session_id",
    "livestreams": "livestream_id",
    "apps": "app_id",
    "analytics_daily": "app_id, date",
    "analytics_overall": "app_id, start_time, end_time",
    "session_usage": "session_id, hour",
    "parse_issues": "*",
}


@dataclass
class Run:
    """One snapshot process: what it was told, how it ended, and the events it wrote."""

    spec: str
    returncode: int
    events: list[dict[str, Any]]
    kill_after: float | None = None

    @property
    def killed(self) -> bool:
        """True when the process died of SIGKILL."""
        return self.returncode == KILLED

    @property
    def own_poll(self) -> str | None:
        """The id of the poll this run started fetching, if it got that far."""
        return next((e["poll"] for e in self.events if e.get("phase") == "fetch"), None)

    def where_killed(self) -> str:
        """The step the run died in: recovery load, plan, fetch, land, load, after load, or start."""
        last = next((e for e in reversed(self.events) if "phase" in e), {"phase": "start", "poll": None})
        phase = str(last["phase"])
        if phase == "load" and last["poll"] != self.own_poll:
            return "recovery load"
        return {"after_load": "after load", "recover": "recovery"}.get(phase, phase)


@dataclass
class Books:
    """What the runs did, kept by the test, checked against the database after every run."""

    fetched: dict[str, int] = field(default_factory=dict)  # poll id -> responses the fetch recorded
    started: set[str] = field(default_factory=set)  # every poll id a run started fetching
    landed: set[str] = field(default_factory=set)  # polls whose landing file was renamed into place
    left_landed: set[str] = field(default_factory=set)  # seen in landing/ after a run: a recovery loads them
    killed_landing: set[str] = field(default_factory=set)  # killed while writing the landing file
    killed_before_landing: set[str] = field(default_factory=set)
    killed_after_landing: set[str] = field(default_factory=set)
    kills: Counter[str] = field(default_factory=Counter)  # by kill point ("random": killed by the test)
    steps: Counter[str] = field(default_factory=Counter)  # by the step the run died in
    not_reached: Counter[str] = field(default_factory=Counter)  # kill points the run finished before
    runs: int = 0
    seconds: float = 0.0  # spent in the runs' processes
    whole_runs: list[float] = field(default_factory=list)  # seconds of each run that was not killed

    def typical_seconds(self) -> float:
        """How long a run that is not killed takes, here (the median so far)."""
        return statistics.median(self.whole_runs) if self.whole_runs else 1.5


class Crasher:
    """Runs snapshot processes against one simulator, database and landing folder; keeps the books."""

    command = (sys.executable, "-m", "tests.crash_child")

    def __init__(self, sim: RunningSimulator, tmp_path: Path) -> None:
        self.sim = sim
        self.database = tmp_path / "history.duckdb"
        self.landing = tmp_path / "landing"
        self.events = tmp_path / "events.jsonl"
        self.books = Books()
        self.loaded: set[str] = set()  # the polls in poll_runs at the last check
        self.writer_holds_database = False  # then the checks cannot open it, and look at landing/ only
        inherited = ("STREAMLEDGER_", "CLOUDFLARE_", "REALTIMEKIT_", "CRASH_")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)} | {
            "CLOUDFLARE_API_TOKEN": sim.config.token,
            "CLOUDFLARE_ACCOUNT_ID": sim.config.account_id,
            "REALTIMEKIT_APP_ID": ",".join(sim.config.app_ids),
            "CLOUDFLARE_BASE_URL": sim.base_url,
            "STREAMLEDGER_DATABASE": str(self.database),
            "STREAMLEDGER_LANDING_DIR": str(self.landing),
            "STREAMLEDGER_LOCK_WAIT_SECONDS": str(LOCK_WAIT_SECONDS),
            "STREAMLEDGER_MAX_RETRY_WAIT_SECONDS": "5",
            "STREAMLEDGER_BUDGET_REQUESTS": str(BUDGET),
            "CRASH_EVENTS": str(self.events),
        }

    def run(
        self, spec: str = "", *, kill_after: float | None = None, env: dict[str, str] | None = None
    ) -> Run:
        """Run one snapshot process (killed at `spec`, or by this process after `kill_after` s); check."""
        offset = self.events.stat().st_size if self.events.exists() else 0
        started = time.monotonic()
        child = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env | (env or {}) | {"CRASH_AT": spec},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _, stderr = child.communicate(timeout=kill_after or CHILD_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            if kill_after is None:
                child.kill()
                raise
            child.send_signal(signal.SIGKILL)
            _, stderr = child.communicate()
        events = _events(self.events, offset)
        run = Run(spec, child.returncode, events, kill_after)
        assert run.returncode in (0, KILLED), f"run {spec!r} failed ({run.returncode}):\n{stderr[-3000:]}"
        assert not run.killed or kill_after is not None or any("killed" in e for e in events), stderr
        self.books.seconds += time.monotonic() - started
        if not run.killed:
            self.books.whole_runs.append(time.monotonic() - started)
        self._book(run)
        self.check()
        return run

    def _book(self, run: Run) -> None:
        books = self.books
        books.runs += 1
        for event in run.events:
            if event.get("phase") == "fetch":
                books.started.add(event["poll"])
            if "fetched" in event:
                books.fetched[event["fetched"]] = event["responses"]
            if "landed" in event:
                books.landed.add(event["landed"])
        pending = {path.stem for path in self.landing.glob("*.jsonl")}
        books.landed |= pending
        books.left_landed |= pending
        point = run.spec.partition(":")[0] if run.spec else "random"
        if not run.killed:
            if run.spec or run.kill_after is not None:
                books.not_reached[point] += 1
            return
        step = run.where_killed()
        books.kills[point] += 1
        books.steps[step] += 1
        victim = run.own_poll
        if victim is not None and step in ("fetch", "land"):
            (books.killed_after_landing if victim in books.landed else books.killed_before_landing).add(
                victim
            )
            if step == "land" and victim not in books.landed:
                books.killed_landing.add(victim)
        elif victim is not None and step in ("load", "after load"):
            books.killed_after_landing.add(victim)

    def check(self) -> None:
        """The database opens; every poll in it is whole; nothing is duplicated; no landed poll is lost."""
        if self.writer_holds_database:
            runs = self.loaded  # it cannot be opened, and nothing can have been loaded meanwhile
        elif self.database.exists():
            con = warehouse.connect(self.database, read_only=True, wait_seconds=30)
            try:
                runs = set(self._check_polls(con)) if _migrated(con) else set()
            finally:
                con.close()
        else:
            runs = set()
        # A poll is loaded only once it landed; a landed poll is loaded or still waits in landing/.
        pending = {path.stem for path in self.landing.glob("*.jsonl")}
        assert runs <= self.books.landed
        assert self.books.landed <= runs | pending
        assert not list((self.landing / "quarantine").glob("*"))
        self.loaded = runs

    def _check_polls(self, con: Any) -> dict[str, tuple[Any, ...]]:
        """Every poll in the database is whole and nothing is duplicated; return poll_runs by poll id."""
        runs = _by_poll(con, "select poll_id, responses, sessions, parse_issues, recovered from poll_runs")
        raw = _by_poll(con, "select poll_id, count(*), count(http_status) from raw_responses group by 1")
        snapshots = _by_poll(con, "select poll_id, count(*) from session_snapshots group by 1")
        issues = _by_poll(con, "select poll_id, count(*) from parse_issues group by 1")
        # No half poll: rows of a poll exist only with its ledger row, and the ledger row only with all rows.
        assert set(raw) | set(snapshots) | set(issues) <= set(runs)
        for poll_id, (responses, sessions, parse_issues, _recovered) in runs.items():
            assert raw[poll_id] == (self.books.fetched[poll_id], responses), poll_id
            assert snapshots.get(poll_id, (0,)) == (sessions,), poll_id
            assert issues.get(poll_id, (0,)) == (parse_issues,), poll_id
        assert duplicate_rows(con) == dict.fromkeys(KEYS, 0)
        assert warehouse.run_checks(con) == []
        return runs

    def settle(self, polls: int) -> None:
        """Run clean polls a minute apart, each listing everything (finalization needs two reads after a
        stop, in two polls); each read its full listing to the end."""
        settling = set()
        for _ in range(polls):
            self.sim.advance(60)
            run = self.run(env=EVERY_POLL)
            assert not run.killed
            settling.add(run.own_poll)
        con = warehouse.connect(self.database, read_only=True)
        try:
            whole = "select poll_id from listing_rounds where complete and first_page = 1"
            listed = {poll_id for (poll_id,) in con.execute(whole).fetchall()}
        finally:
            con.close()
        assert settling <= listed

    def figures(self) -> dict[str, Any]:
        """The books and the database's figures, for the report and the final checks."""
        con = warehouse.connect(self.database, read_only=True)
        try:
            runs = dict(con.execute("select poll_id, recovered from poll_runs").fetchall())
            duplicates = duplicate_rows(con)
        finally:
            con.close()
        books = self.books
        stray = {p.name for p in self.landing.iterdir() if p.is_file()} - LANDING_FILES
        quarantined = list((self.landing / "quarantine").glob("*"))
        return {
            "runs": books.runs,
            "seconds per run (mean)": round(books.seconds / max(1, books.runs), 2),
            "kills": sum(books.kills.values()),
            "kills by point": dict(sorted(books.kills.items())),
            "kills by step": dict(sorted(books.steps.items())),
            "kill points not reached": dict(sorted(books.not_reached.items())),
            "polls started": len(books.started),
            "polls landed": len(books.landed),
            "polls in poll_runs": len(runs),
            "landed, then loaded by a recovery": sum(runs.values()),
            "killed before landing (absent)": len(books.killed_before_landing),
            "killed after landing (present once)": len(books.killed_after_landing),
            "polls lost": len(books.landed - set(runs)),
            "duplicate rows": sum(duplicates.values()),
            "quarantined": len(quarantined),
            "stray landing files": len(stray),
            "_runs": runs,
            "_stray": stray,
        }

    def assert_caught_up(self) -> dict[str, Any]:
        """Check the end state (no loss, no duplicate, the ground truth); return the figures."""
        figures = self.figures()
        books, runs = self.books, figures["_runs"]
        assert figures["polls lost"] == 0
        assert figures["duplicate rows"] == 0
        assert figures["quarantined"] == 0
        assert not list(self.landing.glob("*.jsonl"))
        # A poll killed before it landed is absent; one killed after is present. (A kill in the last
        # instants of a run, after its landing file was already deleted, leaves it loaded by that run
        # itself: which polls needed a recovery is what landing/ showed after each run, checked next.)
        assert not books.killed_before_landing & set(runs)
        assert books.killed_after_landing <= set(runs)
        # Exactly the polls left in landing/ by a run were loaded by a recovery.
        assert {poll_id for poll_id, recovered in runs.items() if recovered} == books.left_landed
        # A run killed while landing leaves a half-written file; the next recovery removes it.
        assert figures["_stray"] == set()
        end = self.sim.now()
        truth = verify.fetch_truth(self.sim.root_url)
        comparison = verify.compare(self.database, truth)
        assert comparison.mismatches == []
        created_late = {
            sid for sid, s in truth.items() if verify.seconds_before(s["created_at"], self.sim, end) < 60
        }
        assert set(comparison.missing) <= created_late
        con = warehouse.connect(self.database, read_only=True)
        try:
            final = dict(
                con.execute(
                    "select session_id, (ingest_seconds, viewer_seconds) from sessions where is_final"
                ).fetchall()
            )
        finally:
            con.close()
        settled = {
            sid: (s["ingest_seconds"], s["viewer_seconds"])
            for sid, s in truth.items()
            if s["is_final"] and verify.seconds_before(s["stopped_time"], self.sim, end) > SETTLED_SECONDS
        }
        assert settled
        assert {sid: final.get(sid) for sid in settled} == settled
        figures["sessions: truth, matched, final, missing"] = (
            comparison.truth,
            comparison.matched,
            comparison.final_seen,
            len(comparison.missing),
        )
        return figures


def duplicate_rows(con: Any) -> dict[str, int]:
    """Rows beyond the first that share a table's key, by table."""
    counts = {}
    for table, key in KEYS.items():
        distinct = f"(select distinct {key} from {table})"
        sql = f"select (select count(*) from {table}) - (select count(*) from {distinct})"
        [(extra,)] = con.execute(sql).fetchall()
        counts[table] = int(extra)
    return counts


def _migrated(con: Any) -> bool:
    """True when every migration is applied; when not, a killed run left none of them half applied."""
    tables = {row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()}
    applied = set()
    if "schema_migrations" in tables:
        applied = {row[0] for row in con.execute("select version from schema_migrations").fetchall()}
    versions = {int(path.name[:3]) for path in warehouse.MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.sql")}
    if applied == versions:
        return True
    assert applied < versions
    # Tables come from the first migration: present exactly when it is recorded as applied.
    assert ("poll_runs" in tables) == (1 in applied)
    return False


def _by_poll(con: Any, sql: str) -> dict[str, tuple[int, ...]]:
    return {row[0]: tuple(row[1:]) for row in con.execute(sql).fetchall()}


def _events(path: Path, offset: int) -> list[dict[str, Any]]:
    """The events a run appended after `offset` (a line cut short by the kill is skipped)."""
    if not path.exists():
        return []
    with path.open("rb") as file:
        file.seek(offset)
        lines = file.read().splitlines()
    events = []
    for line in lines:
        try:
            events.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return events


def print_figures(title: str, figures: dict[str, Any]) -> None:
    """Print the figures as a two-column table (pytest -s shows it)."""
    print(f"\n{title}")
    for name, value in figures.items():
        if not name.startswith("_"):
            print(f"  {name:<40} {value}")


def crash_sim() -> Any:
    """A manual-clock simulator with short sessions too (only a sweep finds some of them)."""
    config = simulator_config(short_share=0.2, short_live_seconds=(2.0, 15.0), budget_requests=BUDGET)
    return running_simulator(config)


def test_runs_killed_at_each_step_lose_no_poll_and_catch_up_with_the_truth(tmp_path: Path) -> None:
    """One kill at each step of a run; the runs after it recover and the history matches the truth."""
    specs = [
        "execute:9",  # the very first run, inside the migrations of a new database
        "",
        "response:7",  # fetching
        "land:2",  # writing the landing file
        "load_file:3",  # inside the load transaction of its own poll
        "load_file:13",  # recovering that poll, before the commit
        "commit:1",  # recovering it again: committed, not checkpointed
        "committed",  # recovering it again: loaded, landing file not yet deleted
        "",
        "land_fsync",  # the landing file written, not renamed
        "landed",  # landed, not loaded
        "checkpoint:1@0.01",  # recovering it: during the checkpoint after its commit
        "plan:2",  # planning
    ]
    with crash_sim() as sim:
        crasher = Crasher(sim, tmp_path)
        for spec in specs:
            sim.advance(60)
            crasher.run(spec)
        sim.advance(60)
        crasher.run(kill_after=0.6 * crasher.books.typical_seconds())  # by this process, mid-run
        crasher.settle(4)
        figures = crasher.assert_caught_up()
    print_figures("crash runs (fast)", figures)
    assert set(figures["kills by point"]) >= {spec.partition(":")[0] for spec in specs if spec}
    assert figures["killed before landing (absent)"] >= 3
    assert figures["killed after landing (present once)"] >= 2


def test_a_database_held_past_several_polls_and_kills_while_waiting_lose_no_poll(tmp_path: Path) -> None:
    """While a reader holds the file the polls stay landed, kills included; once it is free all load."""
    with crash_sim() as sim:
        crasher = Crasher(sim, tmp_path)
        sim.advance(60)
        first = crasher.run()
        with held(crasher.database, read_only=True, seconds=600):
            for spec in ("", "lock_wait:2", "response:5", "landed", ""):
                sim.advance(60)
                crasher.run(spec)
            assert len(list(crasher.landing.glob("*.jsonl"))) == 3
            assert set(crasher.figures()["_runs"]) == {first.own_poll}
        sim.advance(60)
        crasher.run("load_file:16")  # the second landed poll's load, after its third file
        crasher.settle(4)
        figures = crasher.assert_caught_up()
    print_figures("crash runs (held database)", figures)
    assert figures["kills by point"]["lock_wait"] == 1
    assert figures["landed, then loaded by a recovery"] == 3


def test_a_session_between_two_polls_on_an_idle_livestream_waits_for_the_round_the_settling_polls_read(
    tmp_path: Path,
) -> None:
    """On the default cadence a session that starts and stops between polls waits for the next round; a
    settling poll lists everything, and its sweeps find it (the cause of a "missing" session at the end)."""
    with crash_sim() as sim:
        crasher = Crasher(sim, tmp_path)
        for _ in range(5):  # the round's one page is read by the first poll: the next round is at poll 16
            sim.advance(60)
            crasher.run()
        end = sim.now()
        truth = verify.fetch_truth(sim.root_url)
        early = {sid for sid, s in truth.items() if verify.seconds_before(s["created_at"], sim, end) >= 60}
        waiting = set(verify.compare(crasher.database, truth).missing) & early
        # Never shown LIVE or INVOKED by a poll's listing: its livestream was idle at every poll since.
        assert waiting
        crasher.run(env=EVERY_POLL)  # at the same moment: only the full listing can tell
        comparison = verify.compare(crasher.database, verify.fetch_truth(sim.root_url))
    assert comparison.mismatches == []
    assert not set(comparison.missing) & early


@pytest.mark.slow
def test_a_hundred_kills_at_random_points_lose_no_poll_and_duplicate_none(tmp_path: Path) -> None:
    """About a hundred seeded kills, at every point and at random times, a writer holding the file a while."""
    rng = random.Random(20261031)
    rounds, held_rounds = 120, range(60, 68)
    with crash_sim() as sim, ExitStack() as stack:
        crasher = Crasher(sim, tmp_path)
        started = time.monotonic()
        for number in range(rounds):
            if number == held_rounds.start:  # a writer (say duckdb without -readonly) keeps the file
                stack.enter_context(held(crasher.database, read_only=False, seconds=600))
                crasher.writer_holds_database = True
            if number == held_rounds.stop:
                stack.close()
                crasher.writer_holds_database = False
            sim.advance(60)
            spec, delay = _pick(rng, holding=number in held_rounds, typical=crasher.books.typical_seconds())
            run = crasher.run(spec, kill_after=delay)
            if run.killed and rng.random() < 0.5:  # restarted at once; the restart itself killed at times
                crasher.run(_pick_restart(rng))
        crasher.settle(4)
        figures = crasher.assert_caught_up()
        figures["seconds"] = round(time.monotonic() - started)
    print_figures("crash runs (slow)", figures)
    assert figures["kills"] >= 90
    assert set(figures["kills by point"]) >= {*POINTS, "random"}


def _pick(rng: random.Random, *, holding: bool, typical: float) -> tuple[str, float | None]:
    """A kill for one round: none, at a random time within a `typical` run, or at a point and count."""
    draw = rng.random()
    if draw < 0.1:
        return "", None
    if draw < 0.3:
        return "", round(rng.uniform(0.1, 1.0) * typical, 3)
    points = [
        f"response:{rng.randint(1, 40)}",
        f"land:{rng.randint(1, 40)}",
        "land_fsync",
        "landed",
        f"plan:{rng.randint(1, 4)}",
        f"execute:{rng.randint(1, 40)}",
        f"load_file:{rng.randint(1, 13)}",
        "commit:1",
        "committed",
        f"checkpoint:{rng.randint(1, 2)}@{rng.uniform(0.0, 0.04):.4f}",
        f"close:{rng.randint(1, 3)}@{rng.uniform(0.0, 0.04):.4f}",
    ]
    if holding and rng.random() < 0.5:
        return f"lock_wait:{rng.randint(1, 4)}", None
    return rng.choice(points), None


def _pick_restart(rng: random.Random) -> str:
    """A restart: clean, or killed again (most likely while it loads what the killed run landed)."""
    if rng.random() < 0.6:
        return ""
    return rng.choice([f"load_file:{rng.randint(1, 13)}", "commit:1", "committed", "checkpoint:1@0.01"])
