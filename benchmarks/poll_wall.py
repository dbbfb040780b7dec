"""Poll wall time: one whole poll of 1,000 live livestreams against the simulator, its budget lifted.

The simulator runs in its own process (as the API would, its CPU is not ours). The first poll also sweeps
every livestream's session list (2 requests per livestream); each later poll, the steady state every minute
brings, reads each live session once. Each run is `tests.helpers.run_poll`: recover, plan, fetch, land,
normalize, load.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.charts import new_chart, save
from benchmarks.common import Figure, simulator_process
from benchmarks.poll_overhead import all_live_config, settings_for
from simulator import verify
from tests.helpers import run_poll

TARGET_SECONDS = 2.0


def run(quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """Time the first poll and `runs` steady-state polls; return the figures and each poll's split."""
    livestreams = 1_000
    runs = 3 if quick else 7
    config = all_live_config(livestreams)
    polls: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="streamledger-wall-") as tmp, simulator_process(config) as root:
        settings = settings_for(root, config, Path(tmp))
        for _ in range(runs + 1):
            started = time.perf_counter()
            row = run_poll(settings, check=False)
            polls.append(asdict(row) | {"wall_seconds": time.perf_counter() - started})
        comparison = verify.compare(settings.database, verify.fetch_truth(root))
    first, steady = polls[0], polls[1:]
    size = f"{livestreams:,} live livestreams"
    figures = [
        Figure(
            key="poll_wall.steady",
            what="poll wall time, steady state (one read per live session)",
            size=f"{size}, {steady[0]['requests']:,} requests",
            unit="s",
            runs=[p["wall_seconds"] for p in steady],
            target=TARGET_SECONDS,
            extra={"requests": [p["requests"] for p in steady]},
        ),
        Figure(
            key="poll_wall.steady_network",
            what="  of which the network (discovery and reads, decoding included)",
            size=size,
            unit="s",
            runs=[p["network_seconds"] for p in steady],
        ),
        Figure(
            key="poll_wall.steady_rate",
            what="  requests per second over the whole poll",
            size=size,
            unit="req/s",
            runs=[p["requests"] / p["wall_seconds"] for p in steady],
            better="higher",
        ),
        Figure(
            key="poll_wall.first",
            what="first poll wall time (also sweeps every livestream's sessions)",
            size=f"{size}, {first['requests']:,} requests",
            unit="s",
            runs=[first["wall_seconds"]],
        ),
    ]
    context = {
        "livestreams": livestreams,
        "concurrency": settings.concurrency,
        "polls": [
            {
                k: p[k]
                for k in (
                    "requests",
                    "sessions",
                    "wall_seconds",
                    "network_seconds",
                    "normalize_seconds",
                    "load_seconds",
                    "outcome",
                )
            }
            for p in polls
        ],
        "truth": {
            "matched": comparison.matched,
            "seen": comparison.seen,
            "mismatches": len(comparison.mismatches),
        },
    }
    return figures, context


def charts(document: dict[str, Any]) -> list[Path]:
    """Each poll's wall time split into network, normalize, load and the rest."""
    polls = document["context"]["polls"]
    figure, axes = new_chart(
        f"One poll of {document['context']['livestreams']:,} live livestreams",
        "poll (1 = first, with the sweep)",
        "seconds",
    )
    xs = range(1, len(polls) + 1)
    bottom = [0.0] * len(polls)
    for part in ("network_seconds", "normalize_seconds", "load_seconds"):
        values = [p[part] for p in polls]
        axes.bar(xs, values, bottom=bottom, label=part.removesuffix("_seconds"))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    rest = [p["wall_seconds"] - b for p, b in zip(polls, bottom, strict=True)]
    axes.bar(xs, rest, bottom=bottom, label="plan, land and the rest")
    axes.axhline(TARGET_SECONDS, color="red", alpha=0.6, label="target: 2 s")
    axes.legend(fontsize=8)
    return [save(figure, "poll_wall")]
