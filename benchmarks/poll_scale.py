"""Benchmark: one poll of 1,000 live livestreams against the simulator in its own process, budget lifted.

Prints the poll's wall time split into network (discovery + active-session reads), normalize and load.
Run with `make bench`; figures only, no assertions.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from streamledger import poll, verify
from streamledger.settings import Secret, Settings
from streamledger.simulator import SimulatorConfig, serve_forever

UNLIMITED = 1_000_000


def all_live_config(livestreams: int) -> SimulatorConfig:
    """Every livestream starts within seconds and stays live for an hour."""
    return SimulatorConfig(
        livestreams=livestreams,
        gap_seconds=(0.0, 2.0),
        invoked_seconds=(0.5, 1.0),
        live_seconds=(3600.0, 7200.0),
        budget_requests=UNLIMITED,
        start_at=datetime.now(UTC) - timedelta(seconds=60),
        default_per_page=100,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--livestreams", type=int, default=1000)
    parser.add_argument("--polls", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    config = all_live_config(args.livestreams)
    port = free_port()
    server = multiprocessing.Process(target=serve_forever, args=(config, port), daemon=True)
    server.start()
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{root}/_simulator/stats", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    workdir = Path(tempfile.mkdtemp(prefix="streamledger-bench-"))
    settings = Settings(
        api_token=Secret(config.token),
        account_id=config.account_id,
        app_ids=config.app_ids,
        base_url=f"{root}/client/v4",
        database=workdir / "bench.duckdb",
        landing_dir=workdir / "landing",
        budget_requests=UNLIMITED,
        concurrency=args.concurrency,
    )
    print(f"{args.livestreams} livestreams, concurrency {args.concurrency}, simulator in its own process")
    print(
        f"{'poll':>4} {'requests':>8} {'sessions':>8} {'network s':>9} {'normalize s':>11} "
        f"{'load s':>7} {'total s':>8}"
    )
    try:
        for n in range(1, args.polls + 1):
            started = time.perf_counter()
            row = poll.run_poll(settings)
            total = time.perf_counter() - started
            print(
                f"{n:>4} {row['requests']:>8} {row['sessions']:>8} {row['network_seconds']:>9.3f} "
                f"{row['normalize_seconds']:>11.3f} {row['load_seconds']:>7.3f} {total:>8.3f}"
            )
        comparison = verify.compare(settings.database, verify.fetch_truth(root))
        print(
            f"ground truth: {comparison.matched}/{comparison.seen} sessions match, "
            f"{len(comparison.mismatches)} differ"
        )
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
