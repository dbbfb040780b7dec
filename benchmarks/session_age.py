"""Session age: the load of one poll of 200 live sessions whose histories are 1 hour, 1 day, 7 days and
30 days of one-minute readings (synthetic, built in SQL; quick: 1 hour and 1 day).

For each age a warehouse is built once into data/bench/age-<minutes>.duckdb: 200 livestreams, each with one
session started that long before the last poll and read every minute since (200 x 43,200 = 8.6 M snapshot
rows at 30 days), its session_usage computed by the load's own file. Then one new poll a minute later is
staged as history_scale stages it and every sql/load file runs in one transaction, timed, and rolled back;
each run in a fresh process. Target (issue 15): the load at 30 days at most 1.2 times the load at 1 hour.

`python -m benchmarks --suite session_age`; on its own `python -m benchmarks.session_age [--runs 7]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.charts import new_chart, save
from benchmarks.common import DATA_DIR, Figure, in_fresh_process, table_lines, write_results
from benchmarks.history_scale import poll_load
from streamledger import warehouse

AGES = {"1 hour": 60, "1 day": 1_440, "7 days": 10_080, "30 days": 43_200}
QUICK_AGES = {"1 hour": 60, "1 day": 1_440}
SESSIONS = 200
END_AT = datetime(2026, 11, 1, tzinfo=UTC)
BUILD_VERSION = 1
TARGET_RATIO = 1.2

BUILD = """
create temp table bench_sessions as
select
    'app-' || (i % 2) as app_id,
    'ls-' || lpad(i::varchar, 4, '0') as livestream_id,
    'session-' || lpad(i::varchar, 4, '0') as session_id,
    $end_at::timestamptz - to_minutes($minutes) - to_seconds(i % 60) as started_time,
    1 + (i % 7) as viewers
from range($sessions) as t(i);

create temp table bench_polls as
select
    m,
    $end_at::timestamptz - to_minutes($minutes - m) as polled_at,
    strftime($end_at::timestamptz - to_minutes($minutes - m), '%Y%m%dT%H%M%S.%fZ') || '-a9e000' as poll_id
from range(1, $minutes + 1) as t(m);

insert into livestreams (
    livestream_id, app_id, name, status, disabled, created_at, updated_at, first_seen_at, last_seen_at,
    last_poll_id
)
select
    livestream_id, app_id, 'stream ' || livestream_id, 'LIVE', false, started_time, started_time,
    started_time, $end_at::timestamptz, (select max(poll_id) from bench_polls)
from bench_sessions;

insert into sessions (
    session_id, livestream_id, app_id, status, created_at, updated_at, started_time, ingest_seconds,
    viewer_seconds, first_seen_at, last_seen_at, last_poll_id, last_observed_at
)
select
    session_id, livestream_id, app_id, 'LIVE', started_time, $end_at::timestamptz, started_time,
    round(epoch($end_at::timestamptz - started_time), 3),
    round(epoch($end_at::timestamptz - started_time) * viewers, 3),
    started_time, $end_at::timestamptz, (select max(poll_id) from bench_polls), $end_at::timestamptz
from bench_sessions;

insert into session_snapshots (
    poll_id, fetched_at, observed_at, session_id, livestream_id, app_id, endpoint, status, started_time,
    ingest_seconds, viewer_seconds
)
select
    p.poll_id, p.polled_at, p.polled_at, s.session_id, s.livestream_id, s.app_id, 'active_session', 'LIVE',
    s.started_time,
    round(epoch(p.polled_at - s.started_time), 3),
    round(epoch(p.polled_at - s.started_time) * s.viewers, 3)
from bench_polls as p
cross join bench_sessions as s
order by p.m, s.session_id;

insert into poll_runs (
    poll_id, started_at, finished_at, app_ids, livestreams, active_reads, sessions, requests, responses,
    retries, rate_limited, transport_errors, failed_calls, parse_issues, unknown_statuses, outcome,
    network_seconds, normalize_seconds, load_seconds, recovered, kind
)
select
    poll_id, polled_at, polled_at + interval 1 second, ['app-0', 'app-1'], $sessions, $sessions, $sessions,
    $sessions + 2, $sessions + 2, 0, 0, 0, 0, 0, 0, 'ok', 1.0, 0.04, 0.1, false, 'snapshot'
from bench_polls;

"""


def run(quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """Time one poll's load at each age; return the figures and each age's per-file times."""
    ages = QUICK_AGES if quick else AGES
    runs = 3 if quick else 7
    loads: dict[str, list[float]] = {}
    files: dict[str, dict[str, float]] = {}
    for label, minutes in ages.items():
        database = warehouse_for(minutes)
        values = [in_fresh_process(poll_load, database, timeout=600)[2] for _ in range(runs)]
        loads[label] = [sum(value["files"].values()) for value in values]
        files[label] = {
            name: statistics.median(value["files"][name] for value in values) for name in values[0]["files"]
        }
    first = next(iter(ages))
    size = f"{SESSIONS} live sessions, one reading a minute"
    figures = [
        Figure(
            f"session_age.load.m{ages[label]}", f"load of one poll, sessions {label} old", size, "ms", runs_ms
        )
        for label, runs_ms in ((label, [s * 1000 for s in seconds]) for label, seconds in loads.items())
    ]
    oldest = list(ages)[-1]
    ratio = statistics.median(loads[oldest]) / statistics.median(loads[first])
    target = TARGET_RATIO if oldest == "30 days" else None
    what = f"load at {oldest} / load at {first}"
    figures.append(Figure("session_age.ratio", what, size, "x", [round(ratio, 3)], target))
    chart(loads)
    return figures, {"files_seconds": files, "minutes": ages}


def warehouse_for(minutes: int) -> Path:
    """The synthetic warehouse of this age: reused while its build version and migrations match."""
    path = DATA_DIR / f"age-{minutes}.duckdb"
    facts = path.with_name(path.name + ".build.json")
    expected = {"version": BUILD_VERSION, "minutes": minutes, "migrations": migration_names()}
    if path.exists() and facts.exists() and json.loads(facts.read_text()) == expected:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = warehouse.connect(path)
    try:
        warehouse.migrate(con)
        con.execute("begin transaction")
        params = {"end_at": END_AT, "minutes": minutes, "sessions": SESSIONS}
        for statement in BUILD.split(";\n"):
            if statement.strip():
                used = {k: v for k, v in params.items() if f"${k}" in statement}
                con.execute(statement, used)
        warehouse.refresh_session_usage(con)  # every session's curve, as after rows written outside a load
        con.execute("commit")
        con.execute("checkpoint")
    finally:
        con.close()
    facts.write_text(json.dumps(expected))
    return path


def migration_names() -> list[str]:
    """The names of this version's migrations: a warehouse built by other code is rebuilt."""
    return sorted(path.name for path in warehouse.MIGRATIONS_DIR.glob("*.sql"))


def chart(loads: dict[str, list[float]]) -> None:
    """Draw the load of one poll against the sessions' age (median, with each run's range)."""
    figure, axes = new_chart(
        "Load of one poll of 200 live sessions, by session age",
        "age of every live session (one reading a minute)",
        "load of one poll (ms)",
    )
    labels = list(loads)
    lows = [min(v) * 1000 for v in loads.values()]
    highs = [max(v) * 1000 for v in loads.values()]
    axes.plot(labels, [statistics.median(v) * 1000 for v in loads.values()], marker="o", label="median")
    axes.fill_between(labels, lows, highs, alpha=0.2, label="min to max")
    axes.set_ylim(bottom=0)
    axes.legend()
    save(figure, "session_age")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    figures, context = run(args.quick)
    if not args.quick:
        print(f"wrote {write_results('session_age', figures, context)}")
    print("\n".join(table_lines(figures)))
    print(json.dumps(context["files_seconds"], indent=1))


if __name__ == "__main__":
    main()
