"""One poll against each hostile server: how long it took, its peak memory, and how it ended (issue 13).

Each case serves one hostile API (tests/hostile_servers.py) on 127.0.0.1 from this process and runs one whole
poll (tests.helpers.run_poll: recover, plan, fetch, land, normalize, load) in a fresh child process against
it, on the default settings unless the case says otherwise. The peak RSS is the child's VmHWM (read by the
child at its end, or from here when it has to be killed). A child past MEMORY_LIMIT_MB resident or
WALL_LIMIT_SECONDS is killed: the code before the bounds needs both.

`python -m benchmarks.hostile --code DIR --commit C --label before` polls with the code of another checkout
(DIR, e.g. `git archive C | tar -x -C DIR`) and keeps its figures in benchmarks/results/before/hostile.json;
as a suite of `python -m benchmarks` it measures this checkout and prints both side by side.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, ROOT, Figure, python_child
from tests.hostile_servers import (
    MIB,
    Behaviour,
    Request,
    Route,
    endless_api,
    endless_chunked,
    endless_page,
    everything,
    gzip_bomb,
    huge_length,
    livestream,
    redirect,
    serving,
    trickle,
)

MEMORY_LIMIT_MB = 2048.0
WALL_LIMIT_SECONDS = 120.0
TARGET_MB = 500.0  # the bound on a hostile poll's peak memory
BEFORE = RESULTS_DIR / "before" / "hostile.json"


@dataclass(frozen=True)
class Case:
    """A hostile server, the settings its poll runs with beyond the defaults, and what it does."""

    name: str
    what: str
    route: Callable[[], Route]
    settings: dict[str, Any] = field(default_factory=dict)
    app_ids: tuple[str, ...] = ("app",)


def large_pages(request: Request) -> Behaviour:
    """Endless list pages of 100 livestreams with 120 KB names, 12 MB: two fit in the poll's 24 MiB."""
    if request.path.endswith("/livestreams"):
        return endless_page(request, "ls", **(livestream() | {"name": "n" * 120_000}))
    return endless_api(request)


CASES = (
    Case(
        "trickle",
        "every body trickled one byte every 2 s, STREAMLEDGER_TIMEOUT_SECONDS=5",
        lambda: everything(trickle(2.0)),
        {"timeout_seconds": 5.0},
    ),
    Case(
        "gzip bomb", "4.2 MB of gzip on the wire, 4 GiB inflated", lambda: everything(gzip_bomb(4096 * MIB))
    ),
    Case("endless chunked", "a chunked body that never ends", lambda: everything(endless_chunked)),
    Case("huge Content-Length", "Content-Length: 6,000,000,000", lambda: everything(huge_length)),
    Case(
        "redirect elsewhere",
        "every answer a 302 to another host",
        lambda: everything(redirect("http://127.0.0.1:9/elsewhere")),
    ),
    Case("redirect loop", "every answer a 301 to itself", lambda: everything(redirect("", status=301))),
    Case("endless paging", "endless apps, each with endless livestreams", lambda: endless_api, app_ids=()),
    Case("large pages", "endless list pages of 12 MB each (under the body cap)", lambda: large_pages),
)

CHILD = """
import json, sys, time
from dataclasses import fields
from pathlib import Path
from streamledger.settings import Secret, Settings
from tests.helpers import run_poll

args = json.loads(sys.argv[1])
known = {f.name for f in fields(Settings)}
folder = Path(args["folder"])
settings = Settings(
    api_token=Secret("hostile-token"),
    account_id="acc",
    app_ids=tuple(args["app_ids"]),
    base_url=args["base_url"],
    database=folder / "history.duckdb",
    landing_dir=folder / "landing",
    **{name: value for name, value in args["settings"].items() if name in known},
)
started = time.perf_counter()
row = run_poll(settings, check=False)
seconds = time.perf_counter() - started
hwm = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
print(json.dumps({
    "seconds": seconds,
    "peak_rss_mb": int(hwm.split()[1]) / 1024,
    "outcome": row.outcome,
    "requests": row.requests,
    "message": (row.message or "").splitlines()[:1],
}))
"""


def poll_once(case: Case, code: Path) -> dict[str, Any]:
    """One poll of the case's server with the code in `code`: seconds, peak RSS, outcome, first message."""
    with serving(case.route()) as server, tempfile.TemporaryDirectory(prefix="streamledger-hostile-") as tmp:
        args = {
            "base_url": server.base_url,
            "folder": tmp,
            "app_ids": list(case.app_ids),
            "settings": case.settings,
        }
        started = time.perf_counter()
        child = python_child(code, CHILD, args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        killed, peak = None, 0.0
        while child.poll() is None:
            rss, hwm = _memory(child.pid)
            peak = max(peak, hwm)
            elapsed = time.perf_counter() - started
            if rss > MEMORY_LIMIT_MB:
                killed = f"killed past {MEMORY_LIMIT_MB:,.0f} MB resident after {elapsed:.1f} s"
            elif elapsed > WALL_LIMIT_SECONDS:
                killed = f"killed: still running after {WALL_LIMIT_SECONDS:.0f} s"
            if killed:
                child.kill()
                break
            time.sleep(0.05)
        out, err = child.communicate()
        seconds = time.perf_counter() - started
        requests = len(server.requests)
    if killed:
        return {
            "seconds": seconds,
            "peak_rss_mb": peak,
            "outcome": "killed",
            "requests": requests,
            "message": killed,
        }
    if child.returncode != 0:
        last = err.strip().splitlines()[-1:] or ["no output"]
        return {
            "seconds": seconds,
            "peak_rss_mb": peak,
            "outcome": "raised",
            "requests": requests,
            "message": last[0],
        }
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result | {"message": (result["message"] or [""])[0], "wall_seconds": seconds}


def _memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB (0 once it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0, 0.0
    values = {line.split(":")[0]: int(line.split()[1]) / 1024 for line in lines if line.startswith("Vm")}
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def measure(code: Path, names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every case (or those named), polled once with the code in `code`, printed as it goes."""
    results = {}
    for case in CASES:
        if names and case.name not in names:
            continue
        results[case.name] = poll_once(case, code)
        print(_line(case.name, results[case.name]), flush=True)
    return results


def _line(name: str, result: dict[str, Any]) -> str:
    return (
        f"{name:<20} {result['seconds']:7.1f} s {result['peak_rss_mb']:8.0f} MB "
        f"{result['requests']:6} requests {result['outcome']:<8} {result['message'][:150]}"
    )


def table(after: dict[str, dict[str, Any]], before: dict[str, dict[str, Any]]) -> list[str]:
    """The before and after figures of each case as a Markdown table."""
    lines = [
        "| case | what | before: s | before: peak MB | before: requests | before: outcome | after: s "
        "| after: peak MB | after: requests | after: outcome | after: message |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for case in CASES:
        if case.name not in after:
            continue
        now, then = after[case.name], before.get(case.name)
        old = "- | - | - | -"
        if then:
            ended = (
                then["message"] if then["outcome"] == "killed" else f"{then['outcome']}: {then['message']}"
            )
            old = f"{then['seconds']:.1f} | {then['peak_rss_mb']:,.0f} | {then['requests']:,} | {ended[:70]}"
        lines.append(
            f"| {case.name} | {case.what} | {old} | {now['seconds']:.1f} | {now['peak_rss_mb']:,.0f} "
            f"| {now['requests']:,} | {now['outcome']} | {now['message'][:160]} |"
        )
    return lines


def run(quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """Each case's duration and peak RSS with this checkout; the before figures beside them if recorded."""
    after = measure(ROOT)
    before = json.loads(BEFORE.read_text())["cases"] if BEFORE.exists() else {}
    print("\n".join(table(after, before)))
    figures = []
    for case in CASES:
        result = after[case.name]
        sent = result["requests"]
        size = f"{case.what} ({result['outcome']}, {sent:,} request{'' if sent == 1 else 's'})"
        key = case.name.replace(" ", "_")
        figures += [
            Figure(
                f"hostile.peak_rss.{key}",
                f"peak RSS of a poll against a hostile server: {case.name}",
                size,
                "MB",
                [round(result["peak_rss_mb"], 1)],
                target=TARGET_MB,
            ),
            Figure(
                f"hostile.seconds.{key}",
                f"  its duration (plan, fetch, land, load): {case.name}",
                size,
                "s",
                [round(result["seconds"], 2)],
                note=result["message"],
            ),
        ]
    return figures, {"cases": after, "before": before}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--code", type=Path, default=ROOT, help="the checkout whose code polls (default: this one)"
    )
    parser.add_argument("--label", default="", help="'before': keep the figures as the before figures")
    parser.add_argument("--case", action="append", help="only these cases (repeatable)")
    parser.add_argument("--commit", default="", help="the commit the code of --code is, for the record")
    parser.add_argument("--table", action="store_true", help="only print the table of the latest results")
    args = parser.parse_args()
    if args.table:
        before = json.loads(BEFORE.read_text())["cases"] if BEFORE.exists() else {}
        print(
            "\n".join(
                table(json.loads((RESULTS_DIR / "hostile.json").read_text())["context"]["cases"], before)
            )
        )
        return 0
    results = measure(args.code.resolve(), args.case)
    if args.label == "before":
        BEFORE.parent.mkdir(parents=True, exist_ok=True)
        BEFORE.write_text(json.dumps({"commit": args.commit, "cases": results}, indent=1) + "\n")
        print(f"wrote {BEFORE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
