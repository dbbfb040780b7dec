"""What the dashboard tests share: a polled warehouse, the real `streamledger dashboard` command running
as a subprocess, and Debian's headless Chromium driven by playwright."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from simulator import running_simulator
from streamledger import fetch
from streamledger.transforms.shapes import parse_instant
from tests.helpers import finish, run_poll, settings_for, simulator_config

ROOT = Path(__file__).parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Debian's chromium, never a browser build downloaded by playwright; no network of its own.
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
ARTIFACTS = ROOT / "data" / "test-artifacts"  # git-ignored: screenshots kept after the run
START_SECONDS = 60.0
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium; .ci/run does)",
)


@dataclass(frozen=True)
class Polled:
    """A warehouse polled from the simulator across the UTC midnight that begins 2026-11, and reconciled."""

    database: Path


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Polled:
    """Eight polls 30 s apart from 2026-10-31 23:58 UTC, then a read of Cloudflare's daily totals."""
    root = tmp_path_factory.mktemp("dashboard")
    with running_simulator(simulator_config()) as sim:
        settings = settings_for(sim, root)
        for _ in range(8):
            sim.advance(30)
            run_poll(settings)
        until = parse_instant(sim.now_iso())
        assert finish(settings, fetch.fetch_analytics(settings, 3, 2, until=until)) is not None
    return Polled(settings.database)


def command_environment() -> dict[str, str]:
    """This process's environment without any streamledger, Cloudflare or Prefect setting."""
    ours = ("PREFECT_", "CLOUDFLARE_", "STREAMLEDGER_", "REALTIMEKIT_")
    return {key: value for key, value in os.environ.items() if not key.startswith(ours)}


@dataclass
class Dashboard:
    """A running `streamledger dashboard` process and the URL it printed."""

    process: subprocess.Popen[str]
    url: str
    stderr: list[str]


def _lines(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


@contextmanager
def dashboard_command(*args: str) -> Iterator[Dashboard]:
    """Start `streamledger dashboard --port 0 ARGS` and yield it once it prints its URL; stop it with
    SIGTERM after and check it stopped cleanly (exit status 0, no traceback)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "streamledger.cli", "dashboard", "--port", "0", *args],
        env=command_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(process.stderr, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        while True:
            try:
                line = lines.get(timeout=START_SECONDS)
            except queue.Empty:
                pytest.fail(f"the dashboard printed no URL within {START_SECONDS:g} s: {seen}")
            seen.append(line)
            if line.startswith("dashboard: http://"):
                break
            assert process.poll() is None, seen
        url = line.split()[1]
        yield Dashboard(process, url, seen)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        reader.join(timeout=10)
        assert process.stderr is not None
        process.stderr.close()
        while not lines.empty():
            seen.append(lines.get())
    assert code == 0, seen
    assert not any("Traceback" in line for line in seen), seen


def dashboard_once(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `streamledger dashboard ARGS` to its end (a write, or a refusal)."""
    return subprocess.run(
        [sys.executable, "-m", "streamledger.cli", "dashboard", *args],
        env=command_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def launched_chromium(playwright: Any, user_data: Path) -> Any:
    """A persistent context of Debian's headless Chromium on a new empty profile."""
    return playwright.chromium.launch_persistent_context(
        str(user_data),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900},
    )


@pytest.fixture
def browser() -> Iterator[Any]:
    """A Chromium page (playwright's sync API), closed after the test."""
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="dashboard-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = launched_chromium(playwright, Path(profile))
        try:
            yield context.new_page()
        finally:
            context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as an artifact of the test run; print and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def figures_on(page: Any) -> dict[str, str]:
    """The page's month-to-date figures as its reader sees them: the text of each [data-figure] element."""
    elements = page.query_selector_all("[data-figure]")
    return {element.get_attribute("data-figure"): element.inner_text().strip() for element in elements}


FIGURES = ("viewer_seconds", "ingest_seconds", "viewer_minutes", "ingest_minutes", "estimated_cost_usd")


def expected_figures(statement: Any) -> dict[str, str]:
    """The finance statement's rows summed as a reader would, each shown with thousands separators."""
    sums = {name: sum((Decimal(v) for v in statement[name].to_list()), Decimal(0)) for name in FIGURES}
    hours = {
        f"{what}_hours": (sums[f"{what}_seconds"] / 3600).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        for what in ("viewer", "ingest")
    }
    counts = {
        "sessions": int(statement["sessions"].sum()),
        "sessions_not_final": int(statement["sessions_not_final"].sum()),
        "livestreams": statement.height,
    }
    return {name: f"{value:,}" for name, value in (sums | hours | counts).items()}
