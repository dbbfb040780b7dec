"""Run the benchmark suite: `python -m benchmarks [--suite NAME ...] [--quick]` (`make bench`).

Each suite measures, prints its figures and writes benchmarks/results/<suite>.json; then every suite's latest
figures are printed as one table, the charts are drawn into benchmarks/results/ and the table in
BENCHMARKS.md is replaced. Figures only: a missed target is printed, never raised.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from benchmarks import charts
from benchmarks.common import (
    ROOT,
    Figure,
    machine,
    read_results,
    table_lines,
    use_quick_output,
    write_results,
)

# In the order they run; the long ones last.
SUITES = (
    "poll_overhead",
    "poll_wall",
    "client_overhead",
    "prefect_overhead",
    "storage",
    "hostile",
    "budget_use",
    "history_scale",
    "session_age",
    "dashboard",  # on history_scale's warehouse, so after it
    "discovery",
    "peer_dlt",  # dlt in its own environment (data/bench/dlt-env), made on first run
)
TABLE_START, TABLE_END = "<!-- figures:start -->", "<!-- figures:end -->"


def figures_of(document: dict[str, object]) -> list[Figure]:
    """The figures of one suite's JSON document."""
    names = set(Figure.__dataclass_fields__)
    return [Figure(**{k: v for k, v in fig.items() if k in names}) for fig in document["figures"]]  # type: ignore[attr-defined]


def update_benchmarks_md(lines: list[str]) -> None:
    """Replace the figures table of BENCHMARKS.md (between its markers) with `lines`."""
    path = ROOT / "BENCHMARKS.md"
    if not path.exists():
        return
    text = path.read_text()
    if TABLE_START not in text or TABLE_END not in text:
        return
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    path.write_text(head + TABLE_START + "\n" + "\n".join(lines) + "\n" + TABLE_END + tail)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", action="append", choices=SUITES, help="run only these (repeatable)")
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and fewer runs, for a smoke check"
    )
    parser.add_argument("--report-only", action="store_true", help="only print the table and draw charts")
    args = parser.parse_args()
    if args.quick:
        use_quick_output()
    info = machine()
    print(
        f"machine: {info['cores']} cores ({info['cpu']}), {info['memory_gb']} GB, python {info['python']}, "
        f"duckdb {info['duckdb']}, polars {info['polars']}",
        flush=True,
    )
    if not args.report_only:
        for name in args.suite or SUITES:
            print(f"\n== {name} ==", flush=True)
            started = time.perf_counter()
            module = importlib.import_module(f"benchmarks.{name}")
            figures, context = module.run(quick=args.quick)
            context = {
                **context,
                "quick": args.quick,
                "suite_seconds": round(time.perf_counter() - started, 1),
            }
            path = write_results(name, figures, context)
            print("\n".join(table_lines(figures)))
            print(f"wrote {path} ({context['suite_seconds']} s)", flush=True)
    results = read_results()
    every = [fig for name in SUITES if name in results for fig in figures_of(results[name])]
    lines = table_lines(every)
    print("\n== all figures (latest run of each suite) ==")
    print("\n".join(lines))
    for path in charts.draw(results):
        print(f"chart {path}")
    if not args.quick:
        update_benchmarks_md(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
