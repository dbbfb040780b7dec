"""Storage: bytes on disk per snapshot row and per raw response, per poll and per day, and in the archive.

A simulator in its own process serves 200 livestreams on a manual clock (sessions of 10-60 minutes with 1-5
minute gaps, so most are live), budget lifted on both sides. One real poll runs per simulated minute for a
day (quick: 2 hours). Then, from the checkpointed DuckDB file:

- bytes per session_snapshots row and per raw_responses row, from `pragma storage_info` (method below);
- the whole file per poll and per day;
- the day archived with a retention of 0 days (into a temporary folder) as zstd Parquet: bytes per raw
  response, and the seconds a rebuild from that archive takes.

Run with `python -m benchmarks --suite storage` or `python -m benchmarks.storage [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx

from benchmarks.charts import new_chart, save
from benchmarks.common import (
    DATA_DIR,
    RESULTS_DIR,
    SEED,
    Figure,
    simulator_process,
    table_lines,
    write_results,
)
from simulator import SimulatorConfig
from streamledger import warehouse
from streamledger.archive import archive_raw_responses
from streamledger.rebuild import rebuild
from streamledger.settings import Secret, Settings
from tests.helpers import run_poll

UNLIMITED = 1_000_000
LIVESTREAMS = 200
POLL_SECONDS = 60
DAY_POLLS = 24 * 60
QUICK_POLLS = 2 * 60
SIM_START = datetime(2026, 11, 2, tzinfo=UTC)
METHOD = (
    "pragma storage_info lists every persistent column segment with its block and offset. Segments share "
    "blocks (256 KiB), so each segment is given the bytes from its offset to the next segment's offset in "
    "the same block (the last one: to the block's end, its slack included); overflow blocks of long strings "
    "(additional_block_ids) count whole. Summed per table, divided by the table's rows. The rest of the "
    "used blocks (indexes, catalog, row-group metadata) is 'other'. Measured after a checkpoint."
)


def day_config() -> SimulatorConfig:
    """200 livestreams, mostly live, on a manual clock starting at a UTC midnight; budget lifted."""
    return SimulatorConfig(
        livestreams=LIVESTREAMS,
        seed=SEED,
        clock="manual",
        start_at=SIM_START,
        gap_seconds=(60.0, 300.0),
        live_seconds=(600.0, 3600.0),
        budget_requests=UNLIMITED,
        default_per_page=100,
    )


def run_polls(root: str, settings: Settings, polls: int) -> dict[str, Any]:
    """Advance the simulator a minute and poll, `polls` times; return what the polls did."""
    requests = sessions = 0
    outcomes: dict[str, int] = defaultdict(int)
    started = time.perf_counter()
    with httpx.Client(timeout=30) as control:
        for number in range(1, polls + 1):
            control.post(
                f"{root}/_simulator/clock", json={"advance_seconds": POLL_SECONDS}
            ).raise_for_status()
            row = run_poll(settings, check=False)
            requests += row.requests
            sessions += row.sessions
            outcomes[row.outcome] += 1
            if number % 60 == 0:
                elapsed = time.perf_counter() - started
                print(f"  {number:>5} polls, {elapsed:6.0f} s, {requests:,} requests", flush=True)
    return {
        "polls": polls,
        "poll_seconds": round(time.perf_counter() - started, 1),
        # The machine is shared: the 1-, 5- and 15-minute load averages when the polls ended.
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "requests": requests,
        "mean_sessions_per_poll": round(sessions / polls, 1),
        "outcomes": dict(outcomes),
    }


def storage_by_table(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Bytes on disk per table (see METHOD), the used and free blocks, and each table's rows."""
    (_, _, block_size, total_blocks, used_blocks, free_blocks, *_) = con.execute(
        "pragma database_size"
    ).fetchall()[0]
    tables = [
        row[0]
        for row in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() order by 1"
        ).fetchall()
    ]
    placed: dict[int, list[tuple[int, str]]] = defaultdict(list)  # block -> (offset, table)
    overflow: dict[str, set[int]] = defaultdict(set)
    for table in tables:
        segments = con.execute(
            "select block_id, block_offset, additional_block_ids from pragma_storage_info($table)"
            " where persistent and block_id >= 0",
            {"table": table},
        ).fetchall()
        for block, offset, extra in segments:
            placed[block].append((offset, table))
            overflow[table].update(extra or [])
    sizes: dict[str, int] = defaultdict(int)
    for segments_of_block in placed.values():
        ordered = sorted(segments_of_block)
        for (offset, table), following in zip(ordered, [*ordered[1:], (block_size, "")], strict=True):
            sizes[table] += following[0] - offset
    for table, blocks in overflow.items():
        sizes[table] += len(blocks) * block_size
    rows = {
        table: int(con.execute(f'select count(*) from "{table}"').fetchall()[0][0])  # names from the catalog
        for table in tables
    }
    used = used_blocks * block_size
    return {
        "block_size": block_size,
        "total_blocks": total_blocks,
        "used_blocks": used_blocks,
        "free_blocks": free_blocks,
        "used_bytes": used,
        "tables": {table: {"bytes": sizes.get(table, 0), "rows": rows[table]} for table in tables},
        "other_bytes": used - sum(sizes.values()),
    }


def run(quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    polls = QUICK_POLLS if quick else DAY_POLLS
    size = f"{'2 hours' if quick else '1 day'}: {polls:,} one-minute polls of {LIVESTREAMS} livestreams"
    workdir = DATA_DIR / "storage"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    config = day_config()
    with simulator_process(config) as root:
        settings = Settings(
            api_token=Secret(config.token),
            account_id=config.account_id,
            app_ids=config.app_ids,
            base_url=f"{root}/client/v4",
            database=workdir / "storage.duckdb",
            landing_dir=workdir / "landing",
            budget_requests=UNLIMITED,
            burst_requests=UNLIMITED,
        )
        print(f"{size}, simulator in its own process", flush=True)
        ran = run_polls(root, settings, polls)
    database = settings.database
    with warehouse.opened(database) as con:
        con.execute("force checkpoint")
        stored = storage_by_table(con)
    wal = database.with_name(database.name + ".wal")
    file_bytes = database.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    snapshots = stored["tables"]["session_snapshots"]
    responses = stored["tables"]["raw_responses"]
    scale = DAY_POLLS / polls

    with tempfile.TemporaryDirectory(dir=DATA_DIR, prefix="storage-archive-") as folder:
        # Retention 0 and a `now` two days on: every poll's day is wholly older than the cutoff.
        clock = time.perf_counter()
        archived = archive_raw_responses(database, Path(folder), 0, now=datetime.now(UTC) + timedelta(days=2))
        archive_seconds = time.perf_counter() - clock
        parquet_bytes = sum(day.bytes for day in archived)
        parquet_rows = sum(day.responses for day in archived)
        clock = time.perf_counter()
        rebuild(database, archive_dir=Path(folder))
        rebuild_seconds = time.perf_counter() - clock
    with warehouse.opened(database) as con:
        con.execute("force checkpoint")
        pruned = storage_by_table(con)

    per_poll_kb = file_bytes / polls / 1000
    figures = [
        Figure(
            key="storage.snapshot_row_bytes",
            what="bytes on disk per session_snapshots row",
            size=f"{size}, {snapshots['rows']:,} rows",
            unit="bytes",
            runs=[snapshots["bytes"] / snapshots["rows"]],
            note=METHOD,
        ),
        Figure(
            key="storage.raw_response_bytes",
            what="bytes on disk per raw_responses row (body included)",
            size=f"{size}, {responses['rows']:,} rows",
            unit="bytes",
            runs=[responses["bytes"] / responses["rows"]],
            note=METHOD,
        ),
        Figure(
            key="storage.file_per_poll",
            what="database file per poll (whole file, checkpointed, / polls)",
            size=size,
            unit="KB",
            runs=[per_poll_kb],
            note="os.stat size of the .duckdb file (and its .wal, empty after the checkpoint) / polls",
        ),
        Figure(
            key="storage.file_per_day",
            what="database file per day of one-minute polls",
            size=size,
            unit="MB",
            runs=[file_bytes * scale / 1e6],
            note=(
                f"{stored['free_blocks'] * stored['block_size'] / file_bytes:.0%} of the file is free blocks"
                + ("" if scale == 1 else f"; extrapolated: the {polls} polls' file x {scale:g}")
            ),
        ),
        Figure(
            key="storage.parquet_per_raw_response",
            what="archived zstd Parquet bytes per raw response",
            size=f"{size}, {parquet_rows:,} raw responses in {len(archived)} file(s)",
            unit="bytes",
            runs=[parquet_bytes / parquet_rows],
            note="streamledger archive with a retention of 0 days into a temporary folder: file bytes / rows",
        ),
        Figure(
            key="storage.poll_day_seconds",
            what="wall time of the polls (network, normalize, load), simulator in its own process",
            size=size,
            unit="s",
            runs=[ran["poll_seconds"]],
        ),
        Figure(
            key="storage.rebuild_from_archive_seconds",
            what="rebuild every table from the archived Parquet (raw_responses empty)",
            size=f"{size}, {parquet_rows:,} raw responses",
            unit="s",
            runs=[rebuild_seconds],
        ),
    ]
    context = {
        "method": METHOD,
        "livestreams": LIVESTREAMS,
        "seed": SEED,
        "simulated_start": SIM_START.isoformat(),
        **ran,
        "file_bytes": file_bytes,
        "storage": stored,
        "after_archive": pruned,
        "archive": {
            "files": len(archived),
            "bytes": parquet_bytes,
            "rows": parquet_rows,
            "seconds": round(archive_seconds, 2),
            "duckdb_to_parquet_ratio": round(responses["bytes"] / parquet_bytes, 2),
        },
        "rebuild_seconds": round(rebuild_seconds, 2),
    }
    return figures, context


def charts(document: dict[str, Any]) -> list[Path]:
    """Bytes on disk per day by table, and the raw responses archived as Parquet."""
    context = document["context"]
    scale = DAY_POLLS / context["polls"]
    tables = context["storage"]["tables"]
    names = sorted((t for t in tables if tables[t]["bytes"]), key=lambda t: -tables[t]["bytes"])
    values = [tables[t]["bytes"] * scale / 1e6 for t in names]
    stored = context["storage"]
    names += ["other (indexes, metadata)", "free blocks in the file", "raw_responses as Parquet"]
    values += [
        stored["other_bytes"] * scale / 1e6,
        stored["free_blocks"] * stored["block_size"] * scale / 1e6,
        context["archive"]["bytes"] * scale / 1e6,
    ]
    figure, axes = new_chart(
        f"Storage per day of one-minute polls of {context['livestreams']} livestreams", "", "MB per day"
    )
    colors = ["tab:green", "lightgray", "tab:gray", *["tab:blue"] * (len(names) - 3)]
    axes.barh(names[::-1], values[::-1], color=colors)
    axes.set_xlabel("MB per day")
    axes.set_ylabel("")
    return [save(figure, "storage")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 hours of polls instead of a day")
    args = parser.parse_args()
    started = time.perf_counter()
    figures, context = run(args.quick)
    context |= {"quick": args.quick, "suite_seconds": round(time.perf_counter() - started, 1)}
    print("\n".join(table_lines(figures)))
    print(f"storage by table: {context['storage']['tables']}")
    print(f"wrote {write_results('storage', figures, context)}")
    print(f"chart {charts(json.loads((RESULTS_DIR / 'storage.json').read_text()))[0]}")


if __name__ == "__main__":
    main()
