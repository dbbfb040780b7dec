"""What tests share: a simulator and settings for it, a checked poll without Prefect, a second process,
and the recorded API bodies of tests/fixtures/api (parsed, as bytes, or served over real HTTP)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import polars as pl
from polars.testing import assert_frame_equal

from streamledger import fetch, landing, load, plan, warehouse
from streamledger.errors import DatabaseBusy
from streamledger.poll import FetchedPoll, PollRun
from streamledger.settings import Secret, Settings
from streamledger.timing import timed
from streamledger.transforms.normalize import normalize_responses
from streamledger.transforms.redact import redact_body

if TYPE_CHECKING:
    from simulator import RunningSimulator, SimulatorConfig

# Crossing a month boundary during tests exercises UTC day/month attribution.
SIM_START = datetime(2026, 10, 31, 23, 58, 0, tzinfo=UTC)


# The API's timings, shortened for tests that poll every few simulated seconds (docs/testing.md): the
# placeholder lasts 8 s (the API: 40-50 s) and the final figures land 2-4 s after the stop (the API: about
# a minute); the product's settle time is shortened to match (TEST_SETTLE_SECONDS, default 120 s).
FAST_LIFECYCLE: dict[str, object] = {"placeholder_seconds": (8.0, 8.0), "final_after_seconds": (2.0, 4.0)}
TEST_SETTLE_SECONDS = 6.0


def simulator_config(**changes: object) -> SimulatorConfig:
    """A manual-clock simulator config for tests, on FAST_LIFECYCLE's timings unless changed."""
    from simulator import SimulatorConfig

    base: dict[str, object] = {
        "clock": "manual",
        "start_at": SIM_START,
        "livestreams": 12,
        "seed": 11,
        **FAST_LIFECYCLE,
    }
    return SimulatorConfig(**(base | changes))  # type: ignore[arg-type]


def settings_for(sim: RunningSimulator, tmp_path: Path, **changes: object) -> Settings:
    """Settings pointing at a running simulator and a database under tmp_path."""
    settings = Settings(
        api_token=Secret(sim.config.token),
        account_id=sim.config.account_id,
        app_ids=sim.config.app_ids,
        base_url=sim.base_url,
        database=tmp_path / "history.duckdb",
        landing_dir=tmp_path / "landing",
        max_retry_wait_seconds=5.0,
        # The test fleets start and stop sessions on every livestream between two polls: a full listing
        # every poll finds each such session at the next poll, as the default (a round spread over 15 polls)
        # finds it within 15. tests/poll/test_discovery.py polls on the default cadence.
        full_listing_interval_seconds=60.0,
        # Tests poll back to back in real time, minutes apart on the simulator's clock: the burst cap, in
        # real seconds, would hold them. tests/poll/test_discovery.py polls with it, and test_ratelimit.py.
        burst_requests=100_000,
        settle_seconds=TEST_SETTLE_SECONDS,
        # The manual clock starts at SIM_START, weeks behind ours, by design: each poll would be flagged for
        # it. tests/poll/test_clock.py holds the flag to its limit.
        max_clock_skew_seconds=math.inf,
    )
    return settings.with_overrides(**changes)


def command_env(sim: RunningSimulator, tmp_path: Path, **changes: str) -> dict[str, str]:
    """The environment of a `streamledger` command in a process of its own: pointed at `sim`, with its
    database, Prefect server home and Prefect client home under tmp_path, and none of this process's
    Prefect, Cloudflare or streamledger variables."""
    ours = ("PREFECT_", "CLOUDFLARE_", "STREAMLEDGER_", "REALTIMEKIT_")
    return {key: value for key, value in os.environ.items() if not key.startswith(ours)} | {
        "CLOUDFLARE_API_TOKEN": sim.config.token,
        "CLOUDFLARE_ACCOUNT_ID": sim.config.account_id,
        "REALTIMEKIT_APP_ID": "sim-app",
        "CLOUDFLARE_BASE_URL": sim.base_url,
        "STREAMLEDGER_DATABASE": str(tmp_path / "command.duckdb"),
        "STREAMLEDGER_PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_HOME": str(tmp_path / "client"),
        **changes,
    }


def snapshot_command(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `streamledger snapshot` in a process of its own; return it and the id of its poll, which must
    have succeeded."""
    done = subprocess.run(
        [sys.executable, "-m", "streamledger.cli", "snapshot"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done, done.stdout.split()[1].rstrip(":")


# The snapshot flow's tasks that poll_or_landed took, by name, in order (a flow test holds them to the
# task runs of a real flow run).
STEPS_TAKEN: list[str] = []


def run_poll(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None, check: bool = True
) -> PollRun:
    """One poll without Prefect (see poll_or_landed) that the test needs loaded; return its ledger row."""
    run = poll_or_landed(settings, transport=transport, check=check)
    assert run is not None, "the poll stayed landed: the database was held"
    return run


def poll_or_landed(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None, check: bool = True
) -> PollRun | None:
    """One poll without Prefect: what each of the snapshot flow's tasks calls, in the flow's order.

    Returns its ledger row, or None when the database was held and the poll stays landed. Calls go through
    the stage modules, so that the crash child can wrap them. Without Prefect a process starts in under a
    second instead of four. A test that must stand between the client and the network gives a transport.
    After the load, every check of sql/checks must hold (see finish).
    """
    STEPS_TAKEN.append("recover")
    load.load_landed(settings)
    STEPS_TAKEN.append("plan")
    poll_plan = plan.read_plan(settings)
    STEPS_TAKEN.append("fetch")
    fetched = fetch.fetch_poll(settings, poll_plan, transport=transport)
    return finish(settings, fetched, check=check)


def finish(settings: Settings, fetched: FetchedPoll, *, check: bool = True) -> PollRun | None:
    """Land, normalize and load a fetched poll as the flow does; None when it stays landed (database held).

    After a load, every check of sql/checks must hold (assert_checks_pass). Benchmarks, which time the
    poll, and the crash child, whose kill points count statements, pass check=False; the crash test runs
    the checks itself after every child.
    """
    STEPS_TAKEN.append("land")
    landing.land(settings.landing_dir, fetched)
    STEPS_TAKEN.append("normalize")
    normalized, seconds = timed(normalize_responses, fetched.responses)
    fetched.release_bodies()  # as the flow's normalize task does
    STEPS_TAKEN.append("load")
    try:
        run = load.load_poll(settings, fetched, normalized, normalize_seconds=seconds)
    except DatabaseBusy:
        return None
    if check:
        assert_checks_pass(settings.database)
    return run


def assert_checks_pass(database: Path) -> None:
    """Assert that every check of sql/checks holds on the database (read on a read-only connection)."""
    con = warehouse.connect(database, read_only=True)
    try:
        failures = warehouse.run_checks(con)
    finally:
        con.close()
    assert failures == [], "\n".join(
        f"check {f.check.name} failed ({f.check.description}): {f.violations} rows, e.g. {list(f.rows)}"
        for f in failures
    )


HISTORY_TABLES = (
    "raw_responses",
    "poll_runs",
    "livestreams",
    "sessions",
    "session_snapshots",
    "parse_issues",
    "session_usage",
    "listing_rounds",
)


def table_contents(path: Path) -> dict[str, pl.DataFrame]:
    """Every history table, sorted by all columns, for content comparison."""
    con = warehouse.connect(path, read_only=True)
    try:
        return {t: con.sql(f"select * from {t} order by all").pl() for t in HISTORY_TABLES}
    finally:
        con.close()


def assert_same_tables(left: dict[str, pl.DataFrame], right: dict[str, pl.DataFrame]) -> None:
    """Assert that two table_contents are equal, exactly."""
    assert left.keys() == right.keys()
    for table in left:
        assert_frame_equal(left[table], right[table], check_exact=True)


@contextmanager
def held(database: Path, *, read_only: bool, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process that opens the DuckDB file and keeps it for `seconds` (or until killed)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, time; "
            f"c = duckdb.connect({str(database)!r}, read_only={read_only}); print('ready', flush=True); "
            f"time.sleep({seconds})",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def run_polls(sim: RunningSimulator, settings: Settings, count: int) -> None:
    """`count` polls 7 simulated seconds apart, each of which must be ok."""
    for _ in range(count):
        sim.advance(7)
        row = run_poll(settings)
        assert row.outcome == "ok", row.message


def aged_history(folder: Path, *, polls: int, shifts: tuple[tuple[int, int], ...]) -> tuple[Path, str]:
    """A warehouse of `polls` polls whose first ones are moved days back, re-derived; and its token.

    `shifts` is (count, days) in poll order: the first `count` polls move `days` back, the next pair on.
    """
    from simulator import running_simulator
    from streamledger.rebuild import rebuild

    with running_simulator(simulator_config()) as sim:
        settings = settings_for(sim, folder)
        run_polls(sim, settings, polls)
        token = sim.config.token
    con = warehouse.connect(settings.database)
    try:
        ids = [r[0] for r in con.execute("select poll_id from poll_runs order by poll_id").fetchall()]
        start = 0
        for count, days in shifts:
            con.execute(
                f"update raw_responses set fetched_at = fetched_at - interval {days} day"
                " where poll_id in (select unnest($polls))",
                {"polls": ids[start : start + count]},
            )
            start += count
    finally:
        con.close()
    rebuild(settings.database, settle_seconds=settings.settle_seconds)  # the moved history, re-derived
    return settings.database, token


# --- recorded API bodies (tests/fixtures/api; where each comes from: SOURCES.md there) ------------------

FIXTURES = Path(__file__).parent / "fixtures" / "api"


def fixture_bytes(name: str) -> bytes:
    """The recorded body in tests/fixtures/api/`name`, byte for byte as it is served."""
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> Any:
    """The recorded body in tests/fixtures/api/`name`, parsed (a fresh copy on every call)."""
    return orjson.loads(fixture_bytes(name))


def fixture_redacted(name: str) -> Any:
    """The recorded body as the client returns it: each stream key replaced by its fingerprint's marker."""
    return orjson.loads(redact_body(fixture_bytes(name).decode()))


def fixture_names() -> list[str]:
    """Every recorded body's file name, sorted (the schemas under schema/ are not bodies)."""
    return sorted(path.name for path in FIXTURES.glob("*.json"))


# The Date header the fixture server sends: 21 s after the recorded active session started.
FIXTURE_DATE = "Sat, 15 Jul 2023 07:09:00 GMT"
KIT_PREFIX = "/client/v4/accounts/acc/realtime/kit"


@dataclass(frozen=True)
class Answer:
    """One response of the fixture server: a status, a recorded body, extra headers."""

    status: int
    fixture: str
    headers: dict[str, str] = field(default_factory=dict)


class FixtureServer:
    """Recorded bodies over real HTTP on 127.0.0.1, answered by path (and page_no) under the account's kit.

    Each path gets a list of answers, given in order (the last one repeats). A path without answers gets
    what the gateway sends for an unknown route: 404 with error.404.json.
    """

    def __init__(self, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}/client/v4"
        self.answers: dict[tuple[str, int | None], list[Answer]] = {}
        self.requests: list[str] = []

    def answer(self, path: str, *answers: Answer, page: int | None = None) -> None:
        """Answer GET `path` (after .../realtime/kit, e.g. '/app/livestreams'), for one page_no or any."""
        self.answers[(path, page)] = list(answers)

    def respond(self, target: str) -> Answer:
        self.requests.append(target)
        url = urlsplit(target)
        path = url.path.removeprefix(KIT_PREFIX)
        page = parse_qs(url.query).get("page_no", [None])[0]
        queue = self.answers.get((path, int(page) if page else None)) or self.answers.get((path, None))
        if not queue:
            return Answer(404, "error.404.json")
        return queue.pop(0) if len(queue) > 1 else queue[0]


@contextmanager
def serving_fixtures() -> Iterator[FixtureServer]:
    """A FixtureServer listening on 127.0.0.1 in a thread, for the length of the block."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    holder: list[FixtureServer] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            answer = holder[0].respond(self.path)
            body = fixture_bytes(answer.fixture)
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def date_time_string(self, timestamp: float | None = None) -> str:
            return FIXTURE_DATE

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(FixtureServer(server.server_address[1]))
    # A short poll interval: shutdown() waits for one, at the end of every module that serves fixtures.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fixture-server", daemon=True
    )
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def small_disk(folder: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A real file system of `size` (e.g. "64k") mounted at `folder` (a tmpfs), read-only if asked; unmounted
    after. Its ENOSPC and EROFS are the kernel's own, as on a full or read-only disk. Needs the right to
    mount (root, as on these machines and CI): without it the test is skipped, saying why."""
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0700" + (",ro" if read_only else "")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()}): needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def resize_disk(folder: Path, size: str) -> None:
    """Grow or shrink the small_disk mounted at `folder` (what freeing space on a full disk does)."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)


def fill_disk(folder: Path) -> Path:
    """Fill the disk that holds `folder` to its last byte with one file; return the file (delete it to free
    the space again)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 512, 1):  # down to the last partial block
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler
