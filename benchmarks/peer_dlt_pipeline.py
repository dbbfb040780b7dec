"""The dlt side of benchmarks/peer_dlt.py: dlt's rest_api source into DuckDB, run by the dlt env alone.

Never imported by the project (dlt is no project dependency): benchmarks/peer_dlt.py runs it with
data/bench/dlt-env/bin/python. The configuration is what a user would write to get what streamledger gets:
the live livestreams of the app (paginated as the API paginates: page_no from 1, per_page up to 100) and, for
each, its active-livestream-session as a dependent resource, with the token as a bearer header. dlt's
defaults otherwise, plus three obvious settings, named in BENCHMARKS.md: the dependent resource is
`parallelized` (dlt's thread pool, 5 workers by default, as streamledger sends 8 requests at once), a
single_page paginator for the one-object answer and a 404 (no active session) ignored rather than fatal.

`serve`: read a line per poll on stdin, run the pipeline once, answer one JSON line on stdout (the seconds
inside pipeline.run and the rows loaded). `once`: one run in this fresh process, the same line.
Where and what comes from the environment (PEER_DLT_*), the token too, so that it is in no command line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import dlt
from dlt.sources.rest_api import rest_api_source

MARK = "PEER_DLT "  # the answer's prefix, apart from anything a library prints


def config() -> dict[str, Any]:
    """The rest_api configuration: live livestreams, then each one's active session."""
    return {
        "client": {
            "base_url": os.environ["PEER_DLT_BASE_URL"],
            "auth": {"type": "bearer", "token": os.environ["PEER_DLT_TOKEN"]},
        },
        "resources": [
            {
                "name": "livestreams",
                "endpoint": {
                    "path": "livestreams",
                    "params": {"status": "LIVE", "per_page": 100},
                    "data_selector": "data",
                    # The API pages by page_no from 1 and states the total of items, not of pages: without
                    # total_path, dlt stops at the first empty page (one request more than the pages).
                    "paginator": {
                        "type": "page_number",
                        "base_page": 1,
                        "page_param": "page_no",
                        "total_path": None,
                    },
                },
            },
            {
                "name": "active_sessions",
                "parallelized": True,
                "endpoint": {
                    "path": "livestreams/{resources.livestreams.id}/active-livestream-session",
                    "data_selector": "data.session",
                    "paginator": "single_page",
                    "response_actions": [{"status_code": 404, "action": "ignore"}],
                },
            },
        ],
    }


def pipeline() -> Any:
    """The pipeline, its state in PEER_DLT_DIR, loading into PEER_DLT_DIR/dlt.duckdb."""
    folder = Path(os.environ["PEER_DLT_DIR"])
    return dlt.pipeline(
        pipeline_name="realtimekit",
        pipelines_dir=str(folder / "pipelines"),
        destination=dlt.destinations.duckdb(str(folder / "dlt.duckdb")),
        dataset_name="realtimekit",
    )


def run_once(target: Any) -> dict[str, Any]:
    """Build the source and run the pipeline once; the seconds inside pipeline.run and the rows normalized."""
    started = time.perf_counter()
    source = rest_api_source(config())
    built, cpu = time.perf_counter(), time.process_time()
    target.run(source)
    finished, cpu = time.perf_counter(), time.process_time() - cpu
    trace = target.last_trace
    rows = trace.last_normalize_info.row_counts
    return {
        "build_seconds": built - started,
        "run_seconds": finished - built,
        "cpu_seconds": cpu,  # every thread of this process
        "steps": {s.step: (s.finished_at - s.started_at).total_seconds() for s in trace.steps},
        "rows": {name: count for name, count in rows.items() if not name.startswith("_dlt")},
    }


def answer(result: dict[str, Any]) -> None:
    """One JSON line on stdout."""
    print(MARK + json.dumps(result), flush=True)


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "once"
    target = pipeline()
    if mode == "once":
        answer(run_once(target) | {"dlt": dlt.__version__})
        return 0
    for line in sys.stdin:
        if line.strip() != "run":
            break
        answer(run_once(target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
