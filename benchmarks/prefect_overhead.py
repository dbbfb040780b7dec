"""Benchmark: the wall time Prefect adds to a poll, a flow run on a running server against a plain call.

A manual-clock simulator (100 livestreams, all live for 1-2 hours, budget lifted) runs in this process and a
real `prefect server start` on 127.0.0.1 in its own (streamledger.prefect_server). One fresh process then
times, in rounds, `run_poll(settings)` on one database, the `snapshot` flow called as a flow run against
that server (PREFECT_API_URL set) on another and, for information, the same flow run with heartbeats off on a
third. Before each round the simulator's clock moves 60 s, so every arm reads the same API answers and, its
database having seen the same answers, does the same work (request counts are kept and compared); each arm
goes first in turn. Each database had one warm-up poll first, reported on its own like the imports. Last,
`streamledger serve` runs the snapshot deployment on a short interval against the same server, and the
runs its schedule started are timed from their scheduled time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import DATA_DIR, SEED, Figure, in_fresh_process

LIVESTREAMS = 100
UNLIMITED = 1_000_000
STEP_SECONDS = 60.0  # simulator time between two rounds of polls, as between two one-minute polls
SERVE_INTERVAL_SECONDS = 15.0  # room for a deployment run's process start (several s) between two runs
SERVE_NAME = f"poll-every-{SERVE_INTERVAL_SECONDS:g}s"
TARGET_SECONDS = 1.5
WORKDIR = DATA_DIR / "prefect_overhead"
ARMS = ("plain", "flow", "flow_quiet")
ROW_KEYS = ("requests", "network_seconds", "normalize_seconds", "load_seconds")
QUIET_PREFECT = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def run(quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """Time plain polls against flow-run polls (and scheduled deployment runs); return figures, context."""
    from simulator import SimulatorConfig, running_simulator
    from streamledger.prefect_server import local_prefect_server

    runs = 3 if quick else 7
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    config = SimulatorConfig(
        seed=SEED,
        livestreams=LIVESTREAMS,
        clock="manual",
        start_at=datetime(2026, 11, 2, tzinfo=UTC),
        gap_seconds=(0.0, 2.0),
        invoked_seconds=(0.5, 1.0),
        live_seconds=(3600.0, 7200.0),
        budget_requests=UNLIMITED,
        default_per_page=100,
    )
    started = time.perf_counter()
    with running_simulator(config) as sim, local_prefect_server(WORKDIR / "server") as api_url:
        server_seconds = time.perf_counter() - started
        env = {
            **QUIET_PREFECT,
            "PREFECT_API_URL": api_url,
            "PREFECT_HOME": str(WORKDIR / "client"),
            "CLOUDFLARE_API_TOKEN": config.token,
            "CLOUDFLARE_ACCOUNT_ID": config.account_id,
            "REALTIMEKIT_APP_ID": ",".join(config.app_ids),
            "CLOUDFLARE_BASE_URL": sim.base_url,
            "STREAMLEDGER_BUDGET_REQUESTS": str(UNLIMITED),
        }
        print(f"prefect server up in {server_seconds:.1f} s at {api_url}; {runs} rounds of polls", flush=True)
        _, rss_mb, measured = in_fresh_process(_measure, env, sim.root_url, str(WORKDIR), runs)
        for arm in ARMS:
            print(f"{arm:>10}: {measured[arm]}", flush=True)
        serve_runs = _serve(env, api_url, runs)
    return _figures(measured, serve_runs, runs), {
        "livestreams": LIVESTREAMS,
        "prefect_server_start_seconds": round(server_seconds, 1),
        "measuring_process_peak_rss_mb": round(rss_mb),
        **{f"{arm}_rows": measured[f"{arm}_rows"] for arm in ARMS},
        "serve_runs": serve_runs,
        "serve_interval_seconds": SERVE_INTERVAL_SECONDS,
    }


def _measure(env: dict[str, str], sim_root: str, workdir: str, runs: int) -> dict[str, Any]:
    """In a fresh process: imports, one warm-up poll of each database, then `runs` rounds of every arm."""
    os.environ.update(env)
    base = Path(workdir)

    clock = time.perf_counter()
    from streamledger import fetch, landing, load, plan  # noqa: F401  (what a poll's stages import)
    from streamledger.settings import Settings

    import_plain = time.perf_counter() - clock
    from streamledger.poll import PollRun
    from tests.helpers import run_poll

    settings = Settings.from_env().with_overrides(
        database=base / "plain.duckdb", landing_dir=base / "plain-landing"
    )

    def advance() -> None:
        httpx.post(f"{sim_root}/_simulator/clock", json={"advance_seconds": STEP_SECONDS}).raise_for_status()

    def plain() -> dict[str, Any]:
        return asdict(run_poll(settings, check=False))

    def as_flow_run(name: str, heartbeats: bool = True) -> Callable[[], dict[str, Any]]:
        def call() -> dict[str, Any]:
            os.environ["STREAMLEDGER_DATABASE"] = str(base / f"{name}.duckdb")
            os.environ["STREAMLEDGER_LANDING_DIR"] = str(base / f"{name}-landing")
            with contextlib.ExitStack() as stack:
                if not heartbeats:
                    stack.enter_context(temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))
                state = snapshot(return_state=True)
            if not state.is_completed():
                raise RuntimeError(f"the snapshot flow run ended {state.type.value}: {state.message}")
            result = state.result()
            assert isinstance(result, PollRun)
            return asdict(result)

        return call

    def timed_row(fn: Callable[[], dict[str, Any]]) -> tuple[float, dict[str, Any]]:
        clock = time.perf_counter()
        row = fn()
        return time.perf_counter() - clock, row

    advance()
    first_plain, _ = timed_row(plain)
    clock = time.perf_counter()
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from streamledger.flows.snapshot import snapshot

    import_flow = time.perf_counter() - clock
    arms = {"plain": plain, "flow": as_flow_run("flow"), "flow_quiet": as_flow_run("flow_quiet", False)}
    first_flow, _ = timed_row(arms["flow"])
    arms["flow_quiet"]()  # its database's first poll, like the two others
    result: dict[str, Any] = {
        "import_plain": import_plain,
        "import_flow": import_flow,
        "first_plain": first_plain,
        "first_flow": first_flow,
    }
    names = list(arms)
    for n in range(runs):
        advance()
        for name in names[n % len(names) :] + names[: n % len(names)]:  # each arm first in turn
            seconds, row = timed_row(arms[name])
            result.setdefault(name, []).append(round(seconds, 4))
            result.setdefault(f"{name}_rows", []).append({key: row[key] for key in ROW_KEYS})
    return result


def _serve(env: dict[str, str], api_url: str, runs: int) -> list[dict[str, Any]]:
    """Run `streamledger serve` until `runs` scheduled runs (after the first) completed; time each one."""
    database = WORKDIR / "serve.duckdb"
    serve_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "CLOUDFLARE_", "STREAMLEDGER_"))
    } | env
    serve_env |= {
        "STREAMLEDGER_DATABASE": str(database),
        "STREAMLEDGER_POLL_INTERVAL": f"{SERVE_INTERVAL_SECONDS:g}",
    }
    command = [sys.executable, "-m", "streamledger.cli", "serve"]
    wanted = runs + 1  # the first may have been scheduled before the runner polled: it is left out
    deadline = time.monotonic() + 120 + wanted * SERVE_INTERVAL_SECONDS * 3
    with (WORKDIR / "serve.log").open("wb") as log:
        serving = subprocess.Popen(command, env=serve_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while len(done := _completed_runs(api_url)) < wanted:
                if serving.poll() is not None:
                    raise RuntimeError(f"serve exited with status {serving.returncode}; see {log.name}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {len(done)} scheduled runs completed; see {log.name}")
                time.sleep(1)
        finally:
            serving.send_signal(signal.SIGTERM)
            try:
                serving.wait(30)
            except subprocess.TimeoutExpired:
                serving.kill()
                serving.wait()
    polls = _poll_starts(database)
    timed = []
    for flow_run in done[1:wanted]:
        scheduled, running, ended = (
            datetime.fromisoformat(flow_run[key]) for key in ("expected_start_time", "start_time", "end_time")
        )
        poll_start = next((p for p in polls if running <= p <= ended), None)
        timed.append(
            {
                "scheduled_to_running": (running - scheduled).total_seconds(),
                "scheduled_to_poll": None if poll_start is None else (poll_start - scheduled).total_seconds(),
                "scheduled_to_completed": (ended - scheduled).total_seconds(),
                "message": flow_run["state"]["message"],
            }
        )
    return timed


def _completed_runs(api_url: str) -> list[dict[str, Any]]:
    """The completed runs of the served snapshot deployment, oldest scheduled first."""
    answer = httpx.post(
        f"{api_url}/flow_runs/filter",
        json={
            "deployments": {"name": {"any_": [SERVE_NAME]}},
            "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
            "sort": "EXPECTED_START_TIME_ASC",
        },
        timeout=10,
    )
    answer.raise_for_status()
    runs: list[dict[str, Any]] = answer.json()
    return runs


def _poll_starts(database: Path) -> list[datetime]:
    """When each snapshot poll of the serve database started (its fetch)."""
    from streamledger import warehouse

    con = warehouse.connect(database, read_only=True)
    try:
        rows = con.execute("select started_at from poll_runs where kind = 'snapshot'").fetchall()
    finally:
        con.close()
    return [row[0] for row in rows]


def _figures(measured: dict[str, Any], serve_runs: list[dict[str, Any]], runs: int) -> list[Figure]:
    """The suite's figures; each note says what its seconds include."""
    size = f"{LIVESTREAMS} live livestreams, {runs} rounds"
    plain = measured["plain"]
    counts = {arm: [row.requests for row in measured[f"{arm}_rows"]] for arm in ARMS}
    requests = "/".join(str(n) for n in sorted(set(counts["plain"])))
    same = (
        "the same in every arm, round by round" if len(set(map(tuple, counts.values()))) == 1 else "NOT equal"
    )
    work = f"Each poll sent {requests} requests ({same})."

    def minus_plain(arm: str) -> list[float]:
        return [round(f - p, 4) for p, f in zip(plain, measured[arm], strict=True)]

    median_plain = float(statistics.median(plain))
    figures = [
        Figure(
            key="prefect_overhead.plain_poll",
            what="poll as a plain call",
            size=size,
            unit="s",
            runs=plain,
            note="Wall time of run_poll(settings) in a warm process (its database had one poll "
            "before): plan, fetch, land, normalize, load. " + work,
        ),
        Figure(
            key="prefect_overhead.flow_poll",
            what="poll as a flow run",
            size=size,
            unit="s",
            runs=measured["flow"],
            note="Wall time of snapshot(return_state=True) in the same warm process, PREFECT_API_URL set to "
            "a running `prefect server start` on 127.0.0.1, Prefect's default settings: the flow run "
            "created and its states set through the API, 7 task runs (their states sent as events), "
            "logs sent to the API, the table artifact, the heartbeat thread joined at the end, and the "
            "same poll steps on its own warm database. " + work,
        ),
        Figure(
            key="prefect_overhead.extra",
            what="Prefect overhead per poll (flow run minus plain)",
            size=size,
            unit="s",
            runs=minus_plain("flow"),
            target=TARGET_SECONDS,
            note="Per round (the same simulator time), flow-run seconds minus plain seconds. Excludes the "
            "first-ever costs (imports and the first flow run of a process), reported apart. A flow "
            "run's end waits for its heartbeat thread, which sleeps in whole seconds: the wall time ends "
            "on a whole second after the heartbeat thread started (0-1 s more than the work).",
        ),
        Figure(
            key="prefect_overhead.extra_without_heartbeats",
            what="the same overhead with flow-run heartbeats off",
            size=size,
            unit="s",
            runs=minus_plain("flow_quiet"),
            note="Information: not how streamledger runs. Flow runs of the same process on a third "
            "database with PREFECT_FLOWS_HEARTBEAT_FREQUENCY unset (temporary_settings), minus the plain "
            "poll of the same round: what the overhead is without the heartbeat thread's join.",
        ),
        Figure(
            key="prefect_overhead.first_flow_run",
            what="first flow run of a process (imports excluded)",
            size=f"{LIVESTREAMS} livestreams, first poll",
            unit="s",
            runs=[round(measured["first_flow"], 4)],
            note="The first snapshot flow run of the process, on a new database (migrations, a sweep of "
            "every livestream), with the client's API version check; the first plain poll, with the "
            f"same work, took {measured['first_plain']:.2f} s.",
        ),
        Figure(
            key="prefect_overhead.import_flows",
            what="import of prefect and flows.snapshot",
            size="once per process",
            unit="s",
            runs=[round(measured["import_flow"], 4)],
            note="In a fresh process that had already imported streamledger.poll (that import took "
            f"{measured['import_plain']:.2f} s: polars, duckdb, httpx).",
        ),
    ]
    serve_size = f"`streamledger serve`, every {SERVE_INTERVAL_SECONDS:g} s"
    figures += [
        Figure(
            key="prefect_overhead.serve.scheduled_to_poll",
            what="scheduled deployment run: scheduled time to its poll's start",
            size=serve_size,
            unit="s",
            runs=[round(r["scheduled_to_poll"], 3) for r in serve_runs if r["scheduled_to_poll"] is not None],
            note="Information, no target. From the flow run's scheduled time to its poll's started_at (the "
            "fetch, after recovery and plan). The runner asks the API every 10 s for runs due within 10 s "
            "and starts each in a new spawned process (imports of prefect and the flow) at once; the "
            "flow run then waits for its scheduled time. A run found less than the process start before "
            "its time is late by the difference. The first scheduled run is left out.",
        ),
        Figure(
            key="prefect_overhead.serve.extra",
            what="scheduled deployment run: scheduled to completed, minus a plain poll",
            size=serve_size,
            unit="s",
            runs=[
                round(r["scheduled_to_completed"] - median_plain, 3)
                for r in serve_runs
                if r["scheduled_to_poll"] is not None
            ],
            note="Information, no target. From the scheduled time to the flow run's end time in the API "
            "(set before the heartbeat join and the process exit), minus the median plain poll above; "
            "its database is warm after the first scheduled run. A run that skipped its poll (late) is "
            "left out.",
        ),
    ]
    return figures
