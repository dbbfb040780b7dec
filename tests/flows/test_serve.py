"""`streamledger serve` on a local Prefect server: polls on schedule, stops cleanly, keeps its schedules."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.prefect]


def start_serving(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """Start `streamledger serve` polling a simulator every 5 s; return it and its Prefect API URL."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "CLOUDFLARE_", "STREAMLEDGER_"))
    }
    env |= {
        "STREAMLEDGER_DATABASE": str(tmp_path / "serve.duckdb"),
        "STREAMLEDGER_PREFECT_HOME": str(tmp_path / "prefect"),
        "STREAMLEDGER_POLL_INTERVAL": "5",
    }
    serving = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve-product"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert serving.stdout is not None
    deadline = time.monotonic() + 150
    for line in serving.stdout:
        match = re.match(r"Prefect UI: (http://127\.0\.0\.1:\d+) ", line)
        if match:
            return serving, f"{match.group(1)}/api"
        assert time.monotonic() < deadline, "serve did not start its Prefect server in time"
    raise AssertionError(f"serve exited with status {serving.wait()} before its Prefect server was up")


def snapshot_polls(database: Path) -> int:
    try:
        con = duckdb.connect(str(database), read_only=True)
    except duckdb.Error:
        return 0  # not created yet, or held by the poll that is loading right now
    try:
        return int(con.execute("select count(*) from poll_runs where kind = 'snapshot'").fetchall()[0][0])
    except duckdb.Error:
        return 0
    finally:
        con.close()


def wait_for_polls(database: Path, at_least: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while (count := snapshot_polls(database)) < at_least:
        assert time.monotonic() < deadline, f"only {count} scheduled polls within {seconds} s"
        time.sleep(1)
    return count


def processes_using(home: Path) -> list[int]:
    """The processes whose command line or environment names this test's Prefect home."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            seen = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if str(home).encode() in seen:
            found.append(int(proc.name))
    return found


def stop(serving: subprocess.Popen[str]) -> None:
    serving.send_signal(signal.SIGTERM)
    serving.wait(60)
    if serving.stdout is not None:
        serving.stdout.close()


def test_serve_polls_on_schedule_stops_cleanly_and_keeps_its_schedules_across_a_restart(
    tmp_path: Path,
) -> None:
    database, home = tmp_path / "serve.duckdb", tmp_path / "prefect"
    serving, api_url = start_serving(tmp_path)
    try:
        first = wait_for_polls(database, 2, 120)
    finally:
        stop(serving)
    time.sleep(2)
    assert processes_using(home) == []
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{api_url}/health", timeout=2)

    serving, api_url = start_serving(tmp_path)
    try:
        deployments = httpx.post(f"{api_url}/deployments/filter", json={}, timeout=10).json()
        by_name = {d["name"]: d for d in deployments}
        assert set(by_name) == {"poll-every-5s", "daily-00-15-utc", "monthly-1st-to-7th-03-00-utc"}
        assert not any(d["paused"] for d in deployments)
        assert by_name["poll-every-5s"]["concurrency_limit"] == 1 or by_name["poll-every-5s"].get(
            "global_concurrency_limit"
        )
        wait_for_polls(database, first + 1, 120)
    finally:
        stop(serving)
    time.sleep(2)
    assert processes_using(home) == []
