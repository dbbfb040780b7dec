"""Requests per steady-state poll against the size of the fleet: N livestreams of which 50 are live.

Livestreams accumulate (one per event, rarely deleted) while the live ones stay few. The simulator, in its
own process on a manual clock moved 60 s before each poll, serves N = 1,000, 10,000 and 100,000
livestreams per app, of which the first 50 stream for hours and the rest never stream. The first poll
sweeps every livestream once (the budget is lifted for it, so that the steady state starts at poll 2);
then `polls` one-minute polls are counted. The warm-up poll read the whole list (the first round), so the
steady polls hold one whole round of the default cadence in their last ROUND polls: the figure is the mean
over those (what a poll costs in the long run), with the most any poll sent and what went to listing.
Each poll is `tests.helpers.run_poll`.

`--before` figures come from the same run of the code before the status filter (every poll listed every
page), kept in benchmarks/results/before/discovery.json.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.charts import new_chart, save
from benchmarks.common import RESULTS_DIR, SEED, Figure, simulator_process
from simulator import SimulatorConfig
from streamledger.settings import Secret, Settings
from tests.helpers import run_poll

LIVE = 50
TARGET_AT_10000 = 60  # requests per steady poll (issue 12)
POLL_SHARE = 240  # a one-minute poll's share of the default budget (1,200 per 300 s)
ROUND = 15  # polls of one full-listing round on the default cadence (900 s / 60 s)
UNLIMITED = 10_000_000
BEFORE = RESULTS_DIR / "before" / "discovery.json"


def fleet(livestreams: int) -> SimulatorConfig:
    """N livestreams of one app, the first LIVE of them live for hours, the rest never streaming."""
    return SimulatorConfig(
        livestreams=livestreams,
        active_livestreams=LIVE,
        seed=SEED,
        clock="manual",
        start_at=datetime(2026, 11, 2, tzinfo=UTC),
        gap_seconds=(0.0, 2.0),
        invoked_seconds=(0.5, 1.0),
        live_seconds=(6 * 3600.0, 8 * 3600.0),
        budget_requests=UNLIMITED,
        default_per_page=100,
        max_per_page=100,
    )


def measure(livestreams: int, polls: int) -> dict[str, Any]:
    """Poll a fleet of `livestreams` once to warm up, then `polls` times a minute apart; return each row."""
    config = fleet(livestreams)
    with (
        tempfile.TemporaryDirectory(prefix="streamledger-discovery-") as tmp,
        simulator_process(config) as root,
    ):
        settings = Settings(
            api_token=Secret(config.token),
            account_id=config.account_id,
            app_ids=config.app_ids,
            base_url=f"{root}/client/v4",
            database=Path(tmp) / "bench.duckdb",
            landing_dir=Path(tmp) / "landing",
            budget_requests=UNLIMITED,
            burst_requests=UNLIMITED,  # the first poll's sweeps of every livestream
            max_poll_bytes=2**40,  # and their answers, about 100 MB for 100,000 livestreams
            max_pages=2_000,
        )
        rows = []
        for _ in range(polls + 1):
            httpx.post(f"{root}/_simulator/clock", json={"advance_seconds": 60}, timeout=10)
            rows.append(asdict(run_poll(settings, check=False)))
    steady = rows[1:]
    return {
        "livestreams": livestreams,
        "first_poll_requests": rows[0]["requests"],
        "requests": [row["requests"] for row in steady],
        "discovery": [row["discovery_requests"] for row in steady],
        "live": [row["planned_live"] for row in steady],
        "sweep": [row["planned_sweep"] for row in steady],
        "final": [row["planned_final"] for row in steady],
        "outcomes": sorted({row["outcome"] for row in steady}),
    }


def run(quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """Requests per steady poll at each fleet size; the before figures beside them when recorded."""
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    polls = ROUND + 1 if quick else 2 * ROUND
    curve = [measure(size, polls) for size in sizes]
    context: dict[str, Any] = {"curve": curve, "live": LIVE, "polls": polls}
    if BEFORE.exists():
        context["before"] = json.loads(BEFORE.read_text())
    return figures(curve, polls), context


def figures(curve: list[dict[str, Any]], polls: int) -> list[Figure]:
    """The figures of a measured curve (one whole round of polls at each size)."""
    out = []
    for point in curve:
        size = (
            f"{point['livestreams']:,} livestreams, {LIVE} live, one round of {ROUND} of {polls} steady polls"
        )
        target = TARGET_AT_10000 if point["livestreams"] == 10_000 else None
        out += [
            Figure(
                key=f"discovery.requests.n{point['livestreams']}",
                what="requests per steady-state one-minute poll (mean over one full-listing round)",
                size=size,
                unit="requests",
                runs=[round_mean(point["requests"])],
                target=target,
                extra={"per_poll": point["requests"]},
            ),
            Figure(
                key=f"discovery.max.n{point['livestreams']}",
                what="  the most any one poll sent",
                size=size,
                unit="requests",
                runs=[float(max(point["requests"]))],
                target=POLL_SHARE,
            ),
            Figure(
                key=f"discovery.listing.n{point['livestreams']}",
                what="  of which listing (LIVE, INVOKED and the full listing's share)",
                size=size,
                unit="requests",
                runs=[round_mean(point["discovery"])],
            ),
        ]
    return out


def round_mean(values: list[int]) -> float:
    """The mean over the last whole round of polls."""
    return float(statistics.mean(values[-ROUND:]))


def charts(document: dict[str, Any]) -> list[Path]:
    """Requests per steady poll against livestreams, after and (when recorded) before."""
    figure, axes = new_chart(
        f"Requests per one-minute poll, {LIVE} live livestreams", "livestreams (log)", "requests per poll"
    )
    context = document["context"]
    for label, curve, style in (
        ("before: every page every poll", context.get("before", {}).get("curve", []), "s--"),
        ("after: status filter + full listing rounds", context["curve"], "o-"),
    ):
        if curve:
            sizes = [point["livestreams"] for point in curve]
            axes.plot(sizes, [round_mean(point["requests"]) for point in curve], style, label=label)
    axes.axhline(POLL_SHARE, color="grey", linestyle=":", label="a poll's share of 1,200 per 300 s")
    axes.set_xscale("log")
    axes.legend()
    return [save(figure, "discovery")]
