"""Dashboard: the page load time of `streamledger dashboard` on the synthetic history of history_scale.

The warehouse of N snapshot rows (10M; quick: 1M) is history_scale's, built or reused in data/bench/. The
real command serves it on 127.0.0.1 (a subprocess, `--port 0`), and the page of 2026-10 (UTC), the history's
last whole month, is loaded:
- over HTTP (httpx): the time to the last byte of the page, the first request of the server apart (its
  templates are compiled then) from the next ones;
- in Debian's headless Chromium (playwright, when /usr/bin/chromium exists): navigation to the load event,
  the page drawn;
- and, in a fresh process, the time the page's reading holds the database (the bounded read-only
  connection, opened and closed per request: what the poller may wait for).

`python -m benchmarks --suite dashboard` runs it in the suite; on its own (results written to
benchmarks/results/dashboard.json, the charts and the BENCHMARKS.md table untouched):
`python -m benchmarks.dashboard [--rows 10000000] [--runs 7]`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import Figure, in_fresh_process, table_lines, write_results
from benchmarks.history_scale import MONTH, warehouse_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FULL_ROWS = 10_000_000
QUICK_ROWS = 1_000_000
START_SECONDS = 120.0


def run(quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """Measure the dashboard on history_scale's warehouse of 10M rows (quick: 1M); figures and context."""
    return measure(QUICK_ROWS if quick else FULL_ROWS, runs=3 if quick else 7)


def measure(rows: int, runs: int) -> tuple[list[Figure], dict[str, Any]]:
    """Serve the warehouse of `rows` snapshot rows and time its page `runs` times each way."""
    database, facts = warehouse_for(rows)
    size = f"{rows:,} snapshot rows, month {MONTH} (UTC)"
    held = [in_fresh_process(reading_seconds, database)[2] for _ in range(runs)]
    with serving(database) as url:
        page = f"{url}?month={MONTH}&tz=UTC"
        first, size_bytes = http_load(page)
        http = [http_load(page)[0] for _ in range(runs)]
        browser = browser_loads(page, runs) if CHROMIUM.exists() else []
    figures = [
        Figure(
            f"dashboard.http_first.n{rows}",
            "dashboard page load over HTTP, first request of the server (templates compiled)",
            size,
            "s",
            [first],
        ),
        Figure(
            f"dashboard.http.n{rows}",
            "dashboard page load over HTTP (request to last byte)",
            size,
            "s",
            http,
            extra={"page_bytes": size_bytes},
        ),
        Figure(
            f"dashboard.held.n{rows}",
            "  of which the database is held (bounded read-only reading, fresh process)",
            size,
            "s",
            held,
        ),
    ]
    if browser:
        figures.append(
            Figure(
                f"dashboard.chromium.n{rows}",
                "dashboard page load in headless Chromium (navigation to the load event)",
                size,
                "s",
                browser,
            )
        )
    else:
        print(f"  {CHROMIUM} is absent: no browser figure", flush=True)
    return figures, {"rows": rows, "runs": runs, "build": facts, "page_bytes": size_bytes}


def reading_seconds(database: Path) -> float:
    """Seconds the dashboard's reading of 2026-10 holds the database (opened, read, closed)."""
    from streamledger.dashboard import period, read
    from streamledger.settings import Settings

    settings = Settings.from_env({"STREAMLEDGER_DATABASE": str(database)})
    chosen = period(MONTH, "UTC")
    started = time.perf_counter()
    read(settings, chosen, wait_seconds=60.0)
    return time.perf_counter() - started


@contextmanager
def serving(database: Path) -> Iterator[str]:
    """Run `streamledger dashboard` on the database and yield its URL; stop it with SIGTERM after."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("STREAMLEDGER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamledger.cli", "dashboard", "--port", "0", "--database", str(database)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        deadline = time.monotonic() + START_SECONDS
        line = ""
        while not line.startswith("dashboard: http://"):
            line = process.stderr.readline()
            if (not line and process.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not start: {line!r}")
        yield line.split()[1]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        process.stderr.close()


def http_load(url: str) -> tuple[float, int]:
    """Seconds from the request to the page's last byte, and its size in bytes (the page must be 200)."""
    started = time.perf_counter()
    response = httpx.get(url, timeout=120)
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: HTTP {response.status_code}: {response.text[:300]}")
    return seconds, len(response.content)


def browser_loads(url: str, runs: int) -> list[float]:
    """Seconds of each of `runs` navigations of Chromium to the page, to its load event."""
    from playwright.sync_api import sync_playwright

    seconds = []
    with tempfile.TemporaryDirectory(prefix="bench-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = context.new_page()
            for _ in range(runs):
                started = time.perf_counter()
                response = page.goto(url, wait_until="load", timeout=120_000)
                seconds.append(time.perf_counter() - started)
                if response is None or response.status != 200:
                    raise RuntimeError(f"Chromium: {url} answered {response and response.status}")
        finally:
            context.close()
    return seconds


def main() -> None:
    """Measure one size, print the figures and write benchmarks/results/dashboard.json."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=FULL_ROWS, help="session_snapshots rows (default 10M)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    multiprocessing.set_start_method("spawn", force=True)
    started = time.perf_counter()
    figures, context = measure(args.rows, args.runs)
    print("\n".join(table_lines(figures)))
    context |= {"quick": False, "suite_seconds": round(time.perf_counter() - started, 1)}
    print(f"wrote {write_results('dashboard', figures, context)}")


if __name__ == "__main__":
    main()
