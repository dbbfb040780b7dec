"""Benchmark: requests per one-minute poll in steady state, by kind, for N livestreams.

A manual-clock simulator advances 60 s per poll; sessions last 10-60 minutes with 1-5 minute gaps, so most
livestreams are live. Prints the mean requests per poll by kind and the live streams a 1,200-per-300-s
token can keep fresh at one poll a minute. Run with `python -m benchmarks.steady_state`.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from simulator import SimulatorConfig, running_simulator
from streamledger.plan import RETRY_RESERVE_SHARE
from streamledger.settings import Secret, Settings
from tests.helpers import run_poll

KINDS = ("discovery_requests", "planned_final", "planned_live", "planned_sweep", "retries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--livestreams", type=int, default=100)
    parser.add_argument("--polls", type=int, default=40)
    args = parser.parse_args()
    config = SimulatorConfig(
        livestreams=args.livestreams,
        clock="manual",
        start_at=datetime(2026, 11, 1, tzinfo=UTC),
        gap_seconds=(60.0, 300.0),
        live_seconds=(600.0, 3600.0),
        budget_requests=1_000_000,
        default_per_page=100,
    )
    workdir = Path(tempfile.mkdtemp(prefix="streamledger-steady-"))
    with running_simulator(config) as sim:
        settings = Settings(
            api_token=Secret(config.token),
            account_id=config.account_id,
            app_ids=config.app_ids,
            base_url=sim.base_url,
            database=workdir / "steady.duckdb",
            landing_dir=workdir / "landing",
            budget_requests=1_000_000,
        )
        rows = []
        for _ in range(args.polls):
            sim.advance(60)
            rows.append(run_poll(settings, check=False))
    steady = rows[len(rows) // 2 :]  # after the first sweeps of every livestream
    live = statistics.mean(r.planned_live for r in steady)
    total = statistics.mean(r.requests for r in steady)
    print(
        f"{args.livestreams} livestreams, {len(steady)} steady polls of 60 s "
        f"(after {len(rows) - len(steady)} warm-up polls)"
    )
    for kind in KINDS:
        print(f"  {kind:>20}: {statistics.mean(getattr(r, kind) for r in steady):7.1f} per poll")
    print(
        f"  {'requests':>20}: {total:7.1f} per poll for {live:.1f} live streams "
        f"({total / live:.2f} per live stream)"
    )
    share = 1200 * 60 / 300  # a one-minute poll's share of the window
    per_poll = share - math.ceil(share * RETRY_RESERVE_SHARE) / (300 / 60)  # the retry slots, once a window
    print(f"one token, 1,200 per 300 s, one poll a minute: about {per_poll:.0f} planned requests per poll")
    print(f"  -> about {per_poll / (total / live):.0f} live streams kept fresh every minute")


if __name__ == "__main__":
    main()
