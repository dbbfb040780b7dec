"""What every benchmark shares: figures with their runs and targets, the machine, the table and the JSON.

A suite module exposes `run(quick: bool) -> list[Figure]`; `python -m benchmarks` runs the suites, prints one
table, writes benchmarks/results/<suite>.json (and results.json with all of them) and draws the charts.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import pickle
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data" / "bench"  # not committed: generated warehouses and simulator files
# Committed: the latest full run's JSON figures and PNG charts. A --quick run writes to data/bench/quick.
RESULTS_DIR = ROOT / "benchmarks" / "results"
QUICK_RESULTS_DIR = DATA_DIR / "quick"
_output = [RESULTS_DIR]


def output_dir() -> Path:
    """Where results and charts of this run go."""
    return _output[0]


def use_quick_output() -> None:
    """Send this run's results and charts to data/bench/quick, away from the committed ones."""
    _output[0] = QUICK_RESULTS_DIR


SEED = 20261127  # every generator of the suite draws from this seed


@dataclass
class Figure:
    """One measured quantity: its runs, its size and, where the issue sets one, its target."""

    key: str  # stable id, e.g. "poll_overhead.per_1000.n10000"
    what: str  # what was measured, in words
    size: str  # on what input, e.g. "10,000 live sessions"
    unit: str  # "ms", "s", "MB", "bytes", "%", "requests"
    runs: list[float]
    target: float | None = None  # the limit, in `unit`
    better: str = "lower"  # "lower": the figure must be at most target; "higher": at least
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return float(statistics.median(self.runs)) if self.runs else float("nan")

    @property
    def met(self) -> bool | None:
        """Whether the median meets the target (None: no target, or no runs)."""
        if self.target is None or not self.runs:
            return None
        worst = self.median
        return worst <= self.target if self.better == "lower" else worst >= self.target

    def summary(self) -> dict[str, Any]:
        """The figure as a JSON-ready mapping."""
        data = asdict(self)
        data |= {
            "median": self.median if self.runs else None,
            "min": min(self.runs) if self.runs else None,
            "max": max(self.runs) if self.runs else None,
            "met": self.met,
        }
        return data


def machine() -> dict[str, Any]:
    """Where the figures come from: cores usable by this process, CPU model, memory, versions."""
    import duckdb
    import polars

    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "cores": len(os.sched_getaffinity(0)),
        "cpu": model or platform.processor(),
        "memory_gb": round(pages / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine when the suite ended
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    """Seconds of each of `runs` calls of fn."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return seconds


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB: VmHWM of /proc/self/status.

    Not getrusage's ru_maxrss: Linux keeps that across fork and exec, so a child spawned by a process of
    450 MB reports at least 450 MB whatever it does itself. VmHWM belongs to the address space, which
    exec replaces.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(fn: Callable[..., Any], args: tuple[Any, ...], conn: Connection) -> None:
    try:
        started = time.perf_counter()
        value = fn(*args)
        conn.send(("ok", time.perf_counter() - started, peak_rss_mb(), value))
    except Exception as exc:
        conn.send(("error", 0.0, peak_rss_mb(), f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"))
    finally:
        conn.close()


def in_fresh_process(fn: Callable[..., Any], *args: Any, timeout: float = 600.0) -> tuple[float, float, Any]:
    """Run fn(*args) in a new spawned process; return (seconds inside fn, peak RSS MB, fn's value).

    The peak RSS is that of the whole child, imports included, so it is what a user's process would need.
    fn must be a module-level function and its value picklable.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(fn, args, sender))
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise TimeoutError(f"{getattr(fn, '__name__', fn)} took longer than {timeout:g} s")
        status, seconds, rss, value = receiver.recv()
    except EOFError:
        raise RuntimeError(f"{getattr(fn, '__name__', fn)}: the process exited without an answer") from None
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        receiver.close()
    if status != "ok":
        raise RuntimeError(value)
    return seconds, rss, value


def in_clean_process(fn: Callable[..., Any], *args: Any, timeout: float = 600.0) -> tuple[float, float, Any]:
    """As in_fresh_process, but the child imports nothing beyond this module and fn's own module.

    A spawned multiprocessing child first imports the parent's main module (`python -m benchmarks` imports
    every suite, and matplotlib: about 50 MB resident), which a memory figure must not charge to fn.
    """
    with tempfile.TemporaryDirectory(prefix="streamledger-clean-") as tmp:
        job, answer = Path(tmp) / "job.pickle", Path(tmp) / "answer.pickle"
        job.write_bytes(pickle.dumps((fn, args)))
        source = "import sys; from benchmarks.common import _clean_child; _clean_child(*sys.argv[1:])"
        subprocess.run(
            [sys.executable, "-c", source, str(job), str(answer)], cwd=ROOT, check=False, timeout=timeout
        )
        if not answer.exists():
            raise RuntimeError(f"{getattr(fn, '__name__', fn)}: the process exited without an answer")
        status, seconds, rss, value = pickle.loads(answer.read_bytes())
    if status != "ok":
        raise RuntimeError(value)
    return seconds, rss, value


def _clean_child(job: str, answer: str) -> None:
    fn, args = pickle.loads(Path(job).read_bytes())
    try:
        started = time.perf_counter()
        value = fn(*args)
        result = ("ok", time.perf_counter() - started, peak_rss_mb(), value)
    except Exception as exc:
        result = ("error", 0.0, peak_rss_mb(), f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
    Path(answer).write_bytes(pickle.dumps(result))


def _number(value: float | None, unit: str) -> str:
    if value is None or value != value:  # NaN
        return "-"
    if unit in {"bytes", "requests", "rows"} or abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) >= 0.01 else f"{value:.2g}"


def table_lines(figures: Sequence[Figure]) -> list[str]:
    """The figures as a Markdown table (also readable as plain text)."""
    lines = [
        "| figure | size | runs | median | min | max | unit | target | met |",
        "|---|---|---:|---:|---:|---:|---|---|---|",
    ]
    for fig in figures:
        target = (
            ""
            if fig.target is None
            else ("≤ " if fig.better == "lower" else "≥ ") + _number(fig.target, fig.unit)
        )
        met = {True: "yes", False: "**no**", None: ""}[fig.met]
        summary = fig.summary()
        lines.append(
            f"| {fig.what} | {fig.size} | {len(fig.runs)} | {_number(summary['median'], fig.unit)} "
            f"| {_number(summary['min'], fig.unit)} | {_number(summary['max'], fig.unit)} | {fig.unit} "
            f"| {target} | {met} |"
        )
    return lines


def write_results(suite: str, figures: Sequence[Figure], context: dict[str, Any] | None = None) -> Path:
    """Write benchmarks/results/<suite>.json with the machine, the suite's context and every figure."""
    output_dir().mkdir(parents=True, exist_ok=True)
    path = output_dir() / f"{suite}.json"
    document = {
        "suite": suite,
        "seed": SEED,
        "machine": machine(),
        "context": context or {},
        "figures": [fig.summary() for fig in figures],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def read_results() -> dict[str, dict[str, Any]]:
    """Every suite's latest results, by suite name."""
    return {
        path.stem: json.loads(path.read_text())
        for path in sorted(output_dir().glob("*.json"))
        if path.stem != "results"
    }


def python_child(code: Path, source: str, args: dict[str, Any], **popen: Any) -> subprocess.Popen[str]:
    """Start Python on `source` with the code of the checkout `code` first on its path, `args` as JSON in
    sys.argv[1]; text pipes as `popen` asks."""
    # No bytecode written into the other checkout: it may be one this process must not touch.
    env = os.environ | {"PYTHONPATH": str(code), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-c", source, json.dumps(args)]
    return subprocess.Popen(command, cwd=code, env=env, text=True, **popen)


@contextlib.contextmanager
def simulator_process(config: Any, startup_seconds: float = 30.0) -> Iterator[str]:
    """Serve a SimulatorConfig from its own process on 127.0.0.1; yield its root URL (no /client/v4).

    In its own process, as the real API is: the simulator's CPU time is not the client's.
    """
    import httpx

    from simulator import serve_forever

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = multiprocessing.get_context("spawn").Process(
        target=serve_forever, args=(config, port), daemon=True
    )
    server.start()
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_seconds
    try:
        while True:
            try:
                httpx.get(f"{root}/_simulator/stats", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or not server.is_alive():
                    raise RuntimeError(f"the simulator did not start on {root}") from None
                time.sleep(0.05)
        yield root
    finally:
        server.terminate()
        server.join()
