"""Poll overhead: the time one poll of N live sessions spends outside the network, by stage.

For each N (100, 1,000, 10,000), a simulator in its own process serves N livestreams, all live, budget lifted.
Two real polls bring the warehouse to steady state (the first one also sweeps every livestream); a third
poll's fetched responses are captured. Each run then replays that poll, as the next minute's poll (new
poll_id, times 60 s later), through every stage streamledger runs itself:

- plan: the warehouse queries a poll starts with (open sessions, read times, recent sends): timed and
  reported, but not in the total, which holds the stages the issue names;
- decode: redact every body and parse it (what the client does with each HTTP answer);
- land: write the landing file (one JSON line per response, fsync, atomic rename);
- normalize: polars typing and auditing of every field;
- load: the one DuckDB transaction (raw responses, snapshots, sessions, session_usage, the ledger row);
- summarize: the ledger row and the flow's summary table, and the landing file's removal.

The peak resident memory of five whole polls of the largest N (network included) is measured, each in a
new process that imports only the poll (benchmarks.whole_poll).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson

from benchmarks.charts import new_chart, save
from benchmarks.common import SEED, Figure, in_clean_process, simulator_process, table_lines, timed
from benchmarks.whole_poll import one_poll
from simulator import SimulatorConfig
from streamledger import landing, load, timing
from streamledger.client import _classify, _Where  # what the client runs on each answer
from streamledger.fetch import fetch_poll
from streamledger.plan import read_plan
from streamledger.poll import FetchedPoll, new_poll_id
from streamledger.settings import Secret, Settings
from streamledger.transforms.normalize import normalize_responses, responses_frame
from streamledger.transforms.redact import redact_body
from tests.helpers import run_poll

UNLIMITED = 1_000_000
# The stages the issue names; plan (the warehouse queries a poll starts with) is timed too, apart.
STAGES = ("decode", "land", "normalize", "load", "summarize")
TIMED = ("plan", *STAGES)
TARGET_MS_PER_1000 = 25.0
# The load's parts, as load_poll times them: the fixed steps, and the statements (every sql/load file).
LOAD_FIXED = ("open", "migrations check", "commit", "checkpoint", "close")


def all_live_config(livestreams: int) -> SimulatorConfig:
    """Every livestream starts within seconds and stays live for 2-3 hours; the budget is lifted."""
    return SimulatorConfig(
        livestreams=livestreams,
        seed=SEED,
        gap_seconds=(0.0, 2.0),
        invoked_seconds=(0.5, 1.0),
        live_seconds=(2 * 3600.0, 3 * 3600.0),
        budget_requests=UNLIMITED,
        start_at=datetime.now(UTC) - timedelta(seconds=60),
        default_per_page=100,
    )


def settings_for(root: str, config: SimulatorConfig, workdir: Path) -> Settings:
    """Settings polling the simulator at `root` into a warehouse in `workdir`, budget lifted."""
    return Settings(
        api_token=Secret(config.token),
        account_id=config.account_id,
        app_ids=config.app_ids,
        base_url=f"{root}/client/v4",
        database=workdir / "bench.duckdb",
        landing_dir=workdir / "landing",
        budget_requests=UNLIMITED,
        burst_requests=UNLIMITED,  # a benchmark of the poll's own cost, not of the API's burst limit
    )


def next_poll(captured: FetchedPoll, minutes: int) -> FetchedPoll:
    """The captured poll as if it were fetched `minutes` later, under a new poll id."""
    shift = timedelta(minutes=minutes)
    started = captured.started_at + shift
    poll_id = new_poll_id(started)
    responses = [
        r
        | {
            "poll_id": poll_id,
            "fetched_at": r["fetched_at"] + shift,
            "server_date": r["server_date"] + shift if r["server_date"] is not None else None,
        }
        for r in captured.responses
    ]
    return replace(
        captured,
        poll_id=poll_id,
        started_at=started,
        finished_at=captured.finished_at + shift,
        responses=responses,
    )


def decode(settings: Settings, fetched: FetchedPoll) -> int:
    """Redact and parse every body as the client does on receipt; return the bodies decoded."""
    secrets = (settings.api_token.reveal(),)
    for response in fetched.responses:
        if response["http_status"] is None:
            continue  # a transport error (a loaded machine's timeout): no answer to decode
        text = redact_body(response["body"] or "", secrets)
        where = _Where(response["endpoint"], response["app_id"], response["livestream_id"])
        _classify(response["endpoint"], response["http_status"], text, where)
    return len(fetched.responses)


def replay(settings: Settings, fetched: FetchedPoll) -> dict[str, float]:
    """Run every non-network stage of one poll; return the seconds of each."""
    from streamledger.flows.tasks import SUMMARY_COLUMNS

    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    read_plan(settings)
    lap("plan")
    decode(settings, fetched)
    lap("decode")
    path = landing.land(settings.landing_dir, fetched)
    lap("land")
    normalized, normalize_seconds = timing.timed(normalize_responses, fetched.responses)
    lap("normalize")
    parts = timing.Laps()
    row = load.load_poll(settings, fetched, normalized, normalize_seconds=normalize_seconds, laps=parts)
    lap("load")
    seconds |= {f"load.{part}": value for part, value in parts.seconds.items()}
    summary = {column: getattr(row, column) for column in SUMMARY_COLUMNS}  # what the flow publishes
    assert len(summary) == len(SUMMARY_COLUMNS)
    path.unlink(missing_ok=True)
    lap("summarize")
    return seconds


def floors(captured: FetchedPoll, runs: int, workdir: Path) -> dict[str, list[float]]:
    """What the poll cannot do without, timed alone: parsing each body once, and storing the raw responses
    durably (insert, commit, checkpoint into a fresh table of their own) — milliseconds per run."""
    bodies = [r["body"] or "null" for r in captured.responses]
    parse = [s * 1000 for s in timed(lambda: [orjson.loads(body) for body in bodies], runs)]
    frame = responses_frame(captured.responses)
    workdir.mkdir(parents=True, exist_ok=True)
    store = []
    for i in range(runs):
        con = duckdb.connect(str(workdir / f"floor-{i}.duckdb"))
        con.register("frame", frame)
        con.execute("create table raw as select * from frame limit 0")
        con.execute("checkpoint")
        started = time.perf_counter()
        con.execute("begin transaction")
        con.execute("insert into raw select * from frame")
        con.execute("commit")
        con.close()  # the checkpoint
        store.append((time.perf_counter() - started) * 1000)
    return {"parse": parse, "store": store}


def floor_figures(floor: dict[str, list[float]], size: str) -> list[Figure]:
    """The floors as figures (no target: they show what no implementation of this design can go below)."""
    return [
        Figure(
            key="poll_overhead.floor.parse",
            what="floor: parse every body once (orjson), nothing else",
            size=size,
            unit="ms",
            runs=floor["parse"],
        ),
        Figure(
            key="poll_overhead.floor.store",
            what="floor: store the raw responses alone (DuckDB insert, commit, checkpoint)",
            size=size,
            unit="ms",
            runs=floor["store"],
        ),
    ]


def measure(n: int, runs: int, workdir: Path, memory: int) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """Replay a captured steady-state poll of n live sessions `runs` times; return stage seconds and facts.

    Before the capture, `memory` whole polls each run in a clean process for their peak RSS."""
    config = all_live_config(n)
    with simulator_process(config) as root:
        settings = settings_for(root, config, workdir / f"n{n}")
        first = run_poll(settings, check=False)  # sweeps every livestream
        second = run_poll(settings, check=False)
        facts: dict[str, Any] = {}
        if memory:  # before the replays, whose readings lie in the future
            polls = [in_clean_process(one_poll, settings) for _ in range(memory)]
            facts |= {
                "poll_peak_rss_mb": [round(rss, 1) for _, rss, _ in polls],
                "poll_sessions": min(row["sessions"] for _, _, row in polls),
                "poll_responses": [row["responses"] for _, _, row in polls],
                "poll_load_average_1m": os.getloadavg()[0],
            }
        captured = fetch_poll(settings, read_plan(settings))
        facts |= {
            "sessions": sum(1 for r in captured.responses if r["endpoint"] == "active_session"),
            "responses": len(captured.responses),
            "body_bytes": sum(len(r["body"] or "") for r in captured.responses),
            "network_seconds": round(captured.network_seconds, 3),
            "warmup_requests": [first.requests, second.requests],
        }
        laps = [replay(settings, next_poll(captured, minutes=i + 1)) for i in range(runs)]
        if memory:
            facts["floors"] = floors(captured, runs, workdir / f"n{n}-floor")
    return laps, facts


def run(quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """Measure every size; return the figures and the context."""
    sizes = (100, 1_000) if quick else (100, 1_000, 10_000)
    runs = 3 if quick else 7
    figures: list[Figure] = []
    context: dict[str, Any] = {"sizes": list(sizes), "runs": runs, "stages": list(STAGES), "by_size": {}}
    with tempfile.TemporaryDirectory(prefix="streamledger-overhead-") as tmp:
        for n in sizes:
            laps, facts = measure(n, runs, Path(tmp), memory=(3 if quick else 5) if n == sizes[-1] else 0)
            sessions = facts["sessions"]
            totals = [sum(lap[stage] for stage in STAGES) * 1000 for lap in laps]
            size = f"{sessions:,} live sessions ({facts['responses']:,} responses)"
            figures.append(
                Figure(
                    key=f"poll_overhead.total.n{n}",
                    what="poll overhead outside the network",
                    size=size,
                    unit="ms",
                    runs=totals,
                    note=" + ".join(STAGES),
                    extra={"stages_ms": {s: [lap[s] * 1000 for lap in laps] for s in laps[0]}} | facts,
                )
            )
            figures.append(
                Figure(
                    key=f"poll_overhead.plan.n{n}",
                    what="  plan: the warehouse queries before the first request (not in the total)",
                    size=size,
                    unit="ms",
                    runs=[lap["plan"] * 1000 for lap in laps],
                )
            )
            figures.append(
                Figure(
                    key=f"poll_overhead.per_1000.n{n}",
                    what="poll overhead per 1,000 sessions",
                    size=size,
                    unit="ms",
                    runs=[total * 1000 / sessions for total in totals],
                    target=TARGET_MS_PER_1000,
                )
            )
            context["by_size"][str(n)] = facts | {
                "stage_median_ms": {s: statistics.median(lap[s] for lap in laps) * 1000 for s in TIMED}
            }
            if n == sizes[-1]:
                figures += floor_figures(facts.pop("floors"), size)
            if "poll_peak_rss_mb" in facts:
                figures.append(
                    Figure(
                        key=f"poll_memory.n{n}",
                        what="peak RSS of one whole poll (clean process, network included)",
                        size=f"{facts['poll_sessions']:,} live sessions",
                        unit="MB",
                        runs=facts["poll_peak_rss_mb"],
                        note="each poll in a new process importing only the poll (tests.helpers.run_poll)",
                        target=400.0 if n == 10_000 else None,
                    )
                )
    if len(sizes) >= 2:
        figures += scaling_figures(figures, sizes[-2], sizes[-1])
    figures += load_figures(figures, sizes)
    return figures, context


def load_parts(lap: dict[str, float]) -> dict[str, float]:
    """One run's load in milliseconds: its fixed steps, and the statements (staging, files, ledger) as one."""
    parts = {step: lap.get(f"load.{step}", 0.0) * 1000 for step in LOAD_FIXED}
    parts["statements"] = lap["load"] * 1000 - sum(parts.values())
    return parts


def load_figures(figures: list[Figure], sizes: tuple[int, ...]) -> list[Figure]:
    """The load's parts per size, its fixed cost (the intercept at no sessions) and its marginal cost."""
    total = {fig.key: fig for fig in figures}
    out: list[Figure] = []
    loads: dict[int, list[float]] = {}
    sessions: dict[int, int] = {}
    for n in sizes:
        fig = total[f"poll_overhead.total.n{n}"]
        sessions[n] = fig.extra["sessions"]
        stages = fig.extra["stages_ms"]
        runs = len(stages["load"])
        laps = [{key: values[i] / 1000 for key, values in stages.items()} for i in range(runs)]
        loads[n] = [lap["load"] * 1000 for lap in laps]
        parts = [load_parts(lap) for lap in laps]
        out.append(
            Figure(
                key=f"poll_overhead.load.n{n}",
                what="load (one transaction, open to close)",
                size=fig.size,
                unit="ms",
                runs=loads[n],
            )
        )
        for part in (*LOAD_FIXED, "statements"):
            out.append(
                Figure(
                    key=f"poll_overhead.load.{part.replace(' ', '_')}.n{n}",
                    what=f"  load: {part}",
                    size=fig.size,
                    unit="ms",
                    runs=[p[part] for p in parts],
                )
            )
    for small, large in itertools.pairwise(sizes):
        pairs = list(zip(sorted(loads[small]), sorted(loads[large]), strict=False))
        added = sessions[large] - sessions[small]
        slopes = [(y - x) * 1000 / added for x, y in pairs]
        span = f"{sessions[small]:,} to {sessions[large]:,} live sessions"
        out.append(
            Figure(
                key=f"poll_overhead.load.marginal.n{small}-n{large}",
                what="load: marginal cost per 1,000 more sessions",
                size=span,
                unit="ms",
                runs=slopes,
                target=TARGET_MS_PER_1000,
                note="runs paired by rank",
            )
        )
        if small == sizes[0]:
            out.append(
                Figure(
                    key="poll_overhead.load.fixed",
                    what="load: fixed cost (intercept at 0 sessions)",
                    size=span,
                    unit="ms",
                    runs=[
                        x - slope * sessions[small] / 1000
                        for (x, _), slope in zip(pairs, slopes, strict=True)
                    ],
                    note="smaller load - marginal cost x its sessions / 1,000",
                )
            )
    return out


def scaling_figures(figures: list[Figure], small: int, large: int) -> list[Figure]:
    """The marginal cost per 1,000 sessions between two sizes, and how much the total grows."""
    total = {fig.key: fig for fig in figures}
    a, b = total[f"poll_overhead.total.n{small}"], total[f"poll_overhead.total.n{large}"]
    sessions_a, sessions_b = a.extra["sessions"], b.extra["sessions"]
    pairs = list(zip(sorted(a.runs), sorted(b.runs), strict=False))
    span = f"{sessions_a:,} to {sessions_b:,} live sessions"
    ratio = sessions_b / sessions_a
    return [
        Figure(
            key="poll_overhead.marginal_per_1000",
            what="marginal overhead per 1,000 more sessions",
            size=span,
            unit="ms",
            runs=[(y - x) * 1000 / (sessions_b - sessions_a) for x, y in pairs],
            target=TARGET_MS_PER_1000,
            note="(larger total - smaller total) / sessions added x 1,000; runs paired by rank",
        ),
        Figure(
            key="poll_overhead.growth",
            what=f"overhead growth for {ratio:.0f}x the sessions (linear = {ratio:.0f})",
            size=span,
            unit="x",
            runs=[y / x for x, y in pairs],
            target=ratio,
        ),
    ]


def charts(document: dict[str, Any]) -> list[Path]:
    """Overhead per stage against N (log-log), with the target line."""
    by_size = document["context"]["by_size"]
    sizes = sorted(int(n) for n in by_size)
    figure, axes = new_chart("Poll overhead outside the network", "live sessions per poll", "milliseconds")
    axes.set_xscale("log")
    axes.set_yscale("log")
    stages = document["context"]["stages"]
    totals = [sum(by_size[str(n)]["stage_median_ms"][stage] for stage in stages) for n in sizes]
    axes.plot(sizes, totals, "o-", color="black", linewidth=2, label="total (median)")
    for stage in ["plan", *stages]:
        axes.plot(sizes, [by_size[str(n)]["stage_median_ms"][stage] for n in sizes], ".--", label=stage)
    axes.plot(
        sizes,
        [TARGET_MS_PER_1000 * n / 1000 for n in sizes],
        "-",
        color="red",
        alpha=0.5,
        label="target: 25 ms per 1,000",
    )
    axes.legend(fontsize=8)
    return [save(figure, "poll_overhead")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    figures, context = run(args.quick)
    print("\n".join(table_lines(figures)))
    for n, facts in context["by_size"].items():
        print(n, {s: round(v, 2) for s, v in facts["stage_median_ms"].items()})


if __name__ == "__main__":
    main()
