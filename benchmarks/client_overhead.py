"""Client overhead: streamledger's fetch phase against a bare httpx client doing the same GETs (issue 15).

A fast fake of the API (benchmarks/fake_api.py: the simulator's answers of 1,000 live livestreams, served
from memory on a raw asyncio protocol, so that the server is not the bottleneck) runs in its own process.
A worker process per checkout of the code polls it into its own warehouse: two polls bring it to the steady
state (the first also sweeps every livestream), then each round, in turn:

- bare: an httpx.AsyncClient GETs the targets of that worker's last fetch, with the client's headers and
  STREAMLEDGER_CONCURRENCY in flight (the listing pages one after another, as the paging needs, then every
  other read), each body read whole;
- fetch: streamledger.fetch.fetch_poll, what run_poll calls for the network (on the plan read_plan gives,
  read before the clock starts);
- bare_transport: the bare client again, on streamledger's transport (streamledger/transport.py, when the
  code has one): what is left of fetch / bare once the pool costs the same on both sides;
- poll: the whole tests.helpers.run_poll (recover, plan, fetch, land, normalize, load).

The figure is fetch / bare, round by round (target 1.30); wall seconds, and the worker's CPU seconds beside.
`python -m benchmarks.client_overhead --before DIR` also runs a worker on the code in DIR (e.g. `git archive
main | tar -x -C DIR`), alternating with this checkout's round by round, and keeps both in the results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from benchmarks.charts import new_chart, save
from benchmarks.common import ROOT, Figure, python_child, table_lines, write_results
from benchmarks.fake_api import fake_api
from benchmarks.poll_overhead import all_live_config

TARGET_RATIO = 1.30
STEPS = ("bare", "fetch", "bare_transport", "poll")
NAMES = {
    "bare": "bare httpx",
    "fetch": "fetch_poll",
    "bare_transport": "bare, our\ntransport",
    "poll": "run_poll",
}
COLOURS = {"bare": "tab:gray", "fetch": "tab:blue", "bare_transport": "tab:green", "poll": "tab:orange"}
LIVESTREAMS = 1_000

# The worker: run with the code under test first on sys.path; reads one command a line, answers JSON lines.
WORKER = r"""
import asyncio, json, sys, time
from pathlib import Path
import httpx
from streamledger import fetch, plan
from streamledger.settings import Secret, Settings
from tests.helpers import run_poll

args = json.loads(sys.argv[1])
folder = Path(args["folder"])
settings = Settings(
    api_token=Secret(args["token"]),
    account_id=args["account_id"],
    app_ids=tuple(args["app_ids"]),
    base_url=args["base_url"],
    database=folder / "history.duckdb",
    landing_dir=folder / "landing",
    budget_requests=1_000_000,
    burst_requests=1_000_000,
)
HEADERS = {
    "Authorization": f"Bearer {args['token']}",
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
}
targets = {"listings": [], "reads": []}


try:  # the code before issue 15 has no transport of its own
    from streamledger.transport import transport as our_transport
except ImportError:
    our_transport = None


async def bare(transport=None):
    slots = asyncio.Semaphore(settings.concurrency)
    limits = httpx.Limits(max_connections=settings.concurrency)
    async with httpx.AsyncClient(headers=HEADERS, limits=limits, transport=transport) as client:
        async def get(url):
            async with slots:
                response = await client.get(url)
                response.content
        for url in targets["listings"]:
            await get(url)
        await asyncio.gather(*(get(url) for url in targets["reads"]))


def do_fetch():
    poll_plan = plan.read_plan(settings)  # the warehouse's part of the poll, not timed
    wall, cpu = time.perf_counter(), time.process_time()
    fetched = fetch.fetch_poll(settings, poll_plan)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    responses = fetched.responses
    targets["listings"] = [r["request_path"] for r in responses if r["endpoint"].startswith("list_")]
    targets["reads"] = [r["request_path"] for r in responses if not r["endpoint"].startswith("list_")]
    return {"requests": len(responses), "outcome": fetched.outcome, "wall": wall, "cpu": cpu}


def do_poll():
    row = run_poll(settings, check=False)
    return {
        "requests": row.requests,
        "outcome": row.outcome,
        "network_seconds": row.network_seconds,
        "normalize_seconds": row.normalize_seconds,
        "load_seconds": row.load_seconds,
    }


def do_bare():
    asyncio.run(bare())
    return {"requests": len(targets["listings"]) + len(targets["reads"]), "outcome": "ok"}


def do_bare_transport():
    if our_transport is None:
        return {"requests": 0, "outcome": "no streamledger.transport"}
    from streamledger.client import _tls_context
    asyncio.run(bare(our_transport(_tls_context(), settings.concurrency)))
    return {"requests": len(targets["listings"]) + len(targets["reads"]), "outcome": "ok"}


def do_warm():
    rows = [run_poll(settings, check=False) for _ in range(2)]
    do_fetch()
    return {"requests": rows[-1].requests, "outcome": rows[-1].outcome, "concurrency": settings.concurrency}


COMMANDS = {
    "warm": do_warm,
    "bare": do_bare,
    "bare_transport": do_bare_transport,
    "fetch": do_fetch,
    "poll": do_poll,
}
for line in sys.stdin:
    command = line.strip()
    if command == "quit":
        break
    wall, cpu = time.perf_counter(), time.process_time()
    facts = COMMANDS[command]()
    facts = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu} | facts
    print(json.dumps(facts), flush=True)
"""


class Worker:
    """One worker process polling the fake with the code of one checkout."""

    def __init__(self, label: str, code: Path, root: str, folder: Path) -> None:
        config = all_live_config(LIVESTREAMS)
        args = {
            "folder": str(folder),
            "token": config.token,
            "account_id": config.account_id,
            "app_ids": list(config.app_ids),
            "base_url": f"{root}/client/v4",
        }
        self.label = label
        self._process = python_child(code, WORKER, args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(self, command: str) -> dict[str, Any]:
        """Run one command in the worker; return its facts (wall and CPU seconds included)."""
        stdin, stdout = self._pipes()
        stdin.write(command + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.label} worker exited during {command!r}")
        facts: dict[str, Any] = json.loads(line)
        return facts

    def close(self) -> None:
        stdin, _ = self._pipes()
        stdin.write("quit\n")
        stdin.flush()
        self._process.wait(timeout=60)

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        return self._process.stdin, self._process.stdout


def measure(codes: dict[str, Path], rounds: int) -> dict[str, Any]:
    """Warm a worker per checkout, then `rounds` rounds of bare, fetch and poll in each, alternating."""
    config = all_live_config(LIVESTREAMS)
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in codes}
    warm: dict[str, dict[str, Any]] = {}
    with fake_api(config) as root, tempfile.TemporaryDirectory(prefix="streamledger-client-") as tmp:
        workers = [Worker(label, code, root, Path(tmp) / label) for label, code in codes.items()]
        try:
            for worker in workers:
                warm[worker.label] = worker.ask("warm")
                print(f"{worker.label}: warm, {warm[worker.label]}", flush=True)
            for number in range(rounds):
                # The checkouts swap places every round, so that neither always runs first.
                order = workers if number % 2 == 0 else workers[::-1]
                for worker in order:
                    row = {step: worker.ask(step) for step in STEPS}
                    runs[worker.label].append(row)
                    print(_line(number + 1, worker.label, row), flush=True)
        finally:
            for worker in workers:
                worker.close()
    return {
        "livestreams": LIVESTREAMS,
        "concurrency": next(iter(warm.values()))["concurrency"],
        "load_average_1m": round(os.getloadavg()[0], 2),
        "codes": {label: str(code) for label, code in codes.items()},
        "warm": warm,
        "runs": runs,
    }


def _line(number: int, label: str, row: dict[str, dict[str, Any]]) -> str:
    bare, fetched, poll = row["bare"], row["fetch"], row["poll"]
    return (
        f"round {number} {label:<6} bare {bare['wall']:.3f} s ({bare['requests']} GETs)  "
        f"fetch {fetched['wall']:.3f} s ({fetched['requests']}, {fetched['outcome']})  "
        f"ratio {fetched['wall'] / bare['wall']:.2f}  cpu ratio {fetched['cpu'] / bare['cpu']:.2f}  "
        f"run_poll {poll['wall']:.3f} s (network {poll['network_seconds']:.3f}, "
        f"load {poll['load_seconds']:.3f}, {poll['outcome']})"
    )


def figures_of(context: dict[str, Any]) -> list[Figure]:
    """The figures of each checkout measured: the ratio first, then the seconds it comes from."""
    figures = []
    size = f"{LIVESTREAMS:,} live livestreams, {context['concurrency']} in flight"
    for label, rows in context["runs"].items():
        if not rows:
            continue
        requests = rows[0]["fetch"]["requests"]
        tag = "" if label == "after" else f" ({label})"
        key = "client_overhead" if label == "after" else f"client_overhead.{label}"

        def series(step: str, field: str = "wall", rows: list[dict[str, Any]] = rows) -> list[float]:
            return [round(row[step][field], 4) for row in rows]

        figures += [
            Figure(
                f"{key}.ratio",
                f"fetch phase / bare httpx, same GETs, same run{tag}",
                f"{size}, {requests:,} GETs",
                "x",
                [round(row["fetch"]["wall"] / row["bare"]["wall"], 3) for row in rows],
                target=TARGET_RATIO if label == "after" else None,  # the code before is a reference
            ),
            Figure(
                f"{key}.cpu_ratio",
                f"  the same in CPU seconds of the client's process{tag}",
                size,
                "x",
                [round(row["fetch"]["cpu"] / row["bare"]["cpu"], 3) for row in rows],
            ),
            Figure(f"{key}.bare", f"  bare httpx.AsyncClient{tag}", size, "s", series("bare")),
            *(
                [
                    Figure(
                        f"{key}.own_ratio",
                        f"  fetch phase / bare httpx on streamledger's transport{tag}",
                        size,
                        "x",
                        [round(row["fetch"]["wall"] / row["bare_transport"]["wall"], 3) for row in rows],
                        extra={
                            "cpu_ratio": [
                                round(row["fetch"]["cpu"] / row["bare_transport"]["cpu"], 3) for row in rows
                            ]
                        },
                    )
                ]
                if rows[0]["bare_transport"]["requests"]
                else []
            ),
            Figure(f"{key}.fetch", f"  streamledger fetch_poll{tag}", size, "s", series("fetch")),
            Figure(f"{key}.poll", f"  whole run_poll{tag}", size, "s", series("poll")),
            Figure(
                f"{key}.poll_network",
                f"    of which network (poll_runs.network_seconds){tag}",
                size,
                "s",
                series("poll", "network_seconds"),
            ),
            Figure(
                f"{key}.poll_load",
                f"    of which load (poll_runs.load_seconds){tag}",
                size,
                "s",
                series("poll", "load_seconds"),
            ),
        ]
    return figures


def run(quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """This checkout's figures (as a suite of `python -m benchmarks`)."""
    context = measure({"after": ROOT}, 3 if quick else 9)
    return figures_of(context), context


def charts(document: dict[str, Any]) -> list[Path]:
    """Each round's seconds per step and checkout, wall and CPU, with the target ratio's line."""
    context = document["context"]
    paths = []
    for field, unit, name in (("wall", "wall", "client_overhead"), ("cpu", "CPU", "client_overhead_cpu")):
        figure, axes = new_chart(
            f"Client overhead, {unit} seconds: {context['livestreams']:,} live livestreams, "
            f"{context['concurrency']} in flight",
            "",
            f"{unit} seconds (a dot per round; bar: median)",
        )
        labels: list[str] = []
        ticks: list[int] = []
        position = 0
        for label in ("before", "after"):
            rows = context["runs"].get(label)
            if not rows:
                continue
            steps = [step for step in STEPS if step in rows[0] and rows[0][step]["requests"]]
            first = position
            for step in steps:
                values = [row[step][field] for row in rows]
                axes.bar(position, statistics.median(values), color=COLOURS[step], alpha=0.5)
                axes.plot([position] * len(values), values, ".", color="black", markersize=4)
                labels.append(f"{label}\n{NAMES[step]}")
                ticks.append(position)
                position += 1
            bare_median = statistics.median(row["bare"][field] for row in rows)
            axes.hlines(
                bare_median * TARGET_RATIO,
                first - 0.4,
                position - 0.6,
                colors="red",
                alpha=0.6,
                label="1.30 x the bare client's median" if label == "after" else None,
            )
            position += 1
        axes.set_xticks(ticks, labels, fontsize=7)
        axes.legend(fontsize=8)
        paths.append(save(figure, name))
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", type=Path, help="a checkout of the code before (e.g. main), measured too")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    codes = {"after": ROOT}
    if args.before:
        codes = {"before": args.before.resolve(), "after": ROOT}
    context = measure(codes, args.rounds)
    figures = figures_of(context)
    print("\n".join(table_lines(figures)))
    path = write_results("client_overhead", figures, context)
    print(f"wrote {path}")
    for chart in charts(json.loads(path.read_text())):
        print(f"chart {chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
