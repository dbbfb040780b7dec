"""Benchmark: reporting queries on a synthetic warehouse of N session snapshots (one-minute polls).

Builds once (reused while its snapshot count and migrations still match) data/bench/history-<N>.duckdb:
400 livestreams across 2 apps, each alternating sessions of 10-180 minutes with gaps of 10-180 minutes, so
about 200 are live at any poll; the polls end at 2026-11-01 00:00 UTC and reach back as far as N snapshot
rows need (10M rows: about 35 days, all of 2026-10). Every value is drawn from md5 of a fixed seed, so a
build is reproducible. Then times each measurement (median/min/max of --runs, each run in a fresh process
with a --timeout) and writes data/bench/history_scale.json.
Run with `python -m benchmarks.history_scale --rows 10000000 [--database PATH] [--rebuild]`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import duckdb

from streamledger import warehouse
from streamledger.errors import WarehouseError
from streamledger.export import export_month
from streamledger.reports import run_report

BENCH_DIR = Path(__file__).resolve().parent.parent / "data" / "bench"
RESULTS = BENCH_DIR / "history_scale.json"
SEED = "streamledger-history-scale-1"
LIVESTREAMS = 400
APPS = 2
END_AT = datetime(2026, 11, 1, tzinfo=UTC)  # the last poll
WARMUP_MINUTES = 400  # sessions are laid out from this long before the first poll, so it starts steady
MEAN_LIVE = LIVESTREAMS / 2  # sessions and gaps have the same length distribution
ALLOWANCE = 216  # planned requests per poll: 1,200 per 300 s, one poll a minute, 90 %
CHUNK_ROWS = 1_000_000
PERIOD = {"from_date": date(2026, 10, 1), "to_date": date(2026, 10, 31)}

# Draws: md5 of a key gives 4 uniform numbers in [0, 1) (slots 0-3) and ids shaped like uuid4.
DRAW_MACROS = (
    "create or replace temp macro unit(h, slot) as"
    " ('0x' || substr(h, 8 * slot + 1, 8))::ubigint / 4294967296.0",
    r"create or replace temp macro uid(key) as"
    r" regexp_replace(md5(key), '^(.{8})(.{4}).(.{3}).(.{3})(.{12})$', '\1-\2-4\3-8\4-\5')",
)
# Poll minute m: its time and its poll_id (numbered from the first kept poll).
POLL_MACROS = (
    "create or replace temp macro poll_at(m) as '{origin}'::timestamptz + to_minutes(m::bigint)",
    "create or replace temp macro poll_name(m) as printf('p%06d', m - {cut} + 1)",
)
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")

# Every livestream's sessions as (start, duration) in ms after the first poll at minute 0; a session is seen
# by the polls p0..p1 (started_time <= poll < stop).
CANDIDATES = """
create or replace temp table bench_candidates as
with draws as (
    select l, k, md5(concat_ws(':', $seed, 'cycle', l, k)) as a
    from range($livestreams) as ls(l), range($cycles) as cs(k)
),

cycles as (
    select
        l, k,
        (case when k = 0 then floor(unit(a, 0) * 360) else 10 + floor(unit(a, 0) * 171) end)::bigint
            as gap_min,
        (10 + floor(unit(a, 1) * 171))::bigint as dur_min,
        floor(unit(a, 2) * 60000)::bigint as start_extra_ms,
        floor(unit(a, 3) * 60000)::bigint as dur_extra_ms
    from draws
),

placed as (
    select
        l, k,
        (sum(gap_min + dur_min) over (partition by l order by k rows unbounded preceding) - dur_min
            - $warmup) * 60000 + start_extra_ms as start_ms,
        dur_min * 60000 + dur_extra_ms as dur_ms
    from cycles
)

select
    l, k, start_ms, dur_ms,
    ceil(start_ms / 60000)::bigint as p0,
    floor((start_ms + dur_ms - 1) / 60000)::bigint as p1
from placed
"""

# Sessions live per poll minute over the whole horizon.
LIVE_PER_MINUTE = """
with spans as (
    select greatest(p0, 0) as a, least(p1, $last) as b
    from bench_candidates
    where p0 <= $last and p1 >= 0
),

edges as (
    select a as m, 1 as d from spans
    union all
    select b + 1 as m, -1 as d from spans
),

deltas as (
    select m, sum(d) as d from edges group by m
)

select r.m, sum(coalesce(deltas.d, 0)) over (order by r.m rows unbounded preceding)::bigint as live
from range($horizon) as r(m)
left join deltas on deltas.m = r.m
order by r.m
"""

# The sessions kept: seen by at least one poll from the cut (where only `need` of them are kept, by id).
SESSIONS = """
create or replace temp table bench_sessions as
with at_cut as (
    select l, k, row_number() over (order by l, k) as cut_rank
    from bench_candidates
    where p0 <= $cut and p1 >= $cut
),

kept as (
    select
        c.l, c.k, c.start_ms, c.dur_ms, c.p0, c.p1,
        case when c.p0 > $cut then c.p0 when a.cut_rank <= $need then $cut else $cut + 1 end as first_m,
        least(c.p1, $last) as last_m
    from bench_candidates as c
    left join at_cut as a on a.l = c.l and a.k = c.k
    where c.p0 <= $last and c.p1 >= $cut
),

drawn as (
    select
        *,
        md5(concat_ws(':', $seed, 'figures', l, k)) as b,
        case when p1 >= $last then 'open' when p1 = $last - 1 then 'stopping' else 'final' end as state
    from kept
    where first_m <= last_m
),

figured as (
    select
        *,
        round(dur_ms / 1000 - unit(b, 0) * 2, 3) as final_ingest,
        (1 + floor(pow(unit(b, 1), 3) * 300))::bigint as viewers,
        unit(b, 2) as viewer_factor,
        state <> 'open' and unit(b, 3) < 0.01 as errored
    from drawn
)

select
    uid(concat_ws(':', $seed, 'session', l, k)) as session_id,
    uid(concat_ws(':', $seed, 'livestream', l)) as livestream_id,
    uid(concat_ws(':', $seed, 'app', l % $apps)) as app_id,
    l, k, start_ms, dur_ms, p0, p1, first_m, last_m, state, errored,
    $origin::timestamptz + to_milliseconds(start_ms) as started_time,
    $origin::timestamptz + to_milliseconds(start_ms + dur_ms) as stop_at,
    final_ingest,
    round(final_ingest * viewers * (0.6 + 0.4 * viewer_factor), 3) as final_viewer,
    (2000 + floor(viewer_factor * 10000))::bigint as invoke_lead_ms
from figured
"""

INSERT_SESSIONS = """
insert into sessions (
    session_id, livestream_id, app_id, status, created_at, updated_at, invoked_time, started_time,
    stopped_time, err_message, ingest_seconds, viewer_seconds, first_seen_at, last_seen_at, last_poll_id,
    is_final, finalized_at
)
with shaped as (
    select
        *,
        (last_m * 60000 - start_ms) / dur_ms as seen_share,
        case state when 'open' then last_m when 'stopping' then $last else p1 + 2 end as last_seen_m
    from bench_sessions
)

select
    session_id,
    livestream_id,
    app_id,
    case when state = 'open' then 'LIVE' when errored then 'ERRORED' else 'IDLE' end as status,
    started_time - to_milliseconds(invoke_lead_ms + 1500) as created_at,
    case when state = 'open' then started_time else stop_at end as updated_at,
    started_time - to_milliseconds(invoke_lead_ms) as invoked_time,
    started_time,
    case when state = 'open' then null else stop_at end as stopped_time,
    case when errored then 'Ingest disconnected: no media received for 30 seconds' end as err_message,
    case when state = 'open' then round(final_ingest * seen_share, 3) else final_ingest end as ingest_seconds,
    case when state = 'open' then round(final_viewer * seen_share, 3) else final_viewer end as viewer_seconds,
    poll_at(first_m) as first_seen_at,
    poll_at(last_seen_m) as last_seen_at,
    poll_name(last_seen_m) as last_poll_id,
    state = 'final' as is_final,
    case when state = 'final' then poll_at(p1 + 2) end as finalized_at
from shaped
order by started_time, session_id
"""

# One row per session per poll minute in [$lo, $hi) while it runs; figures grow linearly to the final ones.
INSERT_SNAPSHOTS = """
insert into session_snapshots (
    poll_id, fetched_at, observed_at, session_id, livestream_id, app_id, endpoint, status, started_time,
    stopped_time, ingest_seconds, viewer_seconds
)
with minutes as (
    select
        session_id, livestream_id, app_id, started_time, start_ms, dur_ms, final_ingest, final_viewer,
        unnest(range(greatest(first_m, $lo), least(last_m + 1, $hi))) as m
    from bench_sessions
    where first_m < $hi and last_m >= $lo
)

select
    poll_name(m) as poll_id,
    poll_at(m) as fetched_at,
    poll_at(m) as observed_at,
    session_id,
    livestream_id,
    app_id,
    'active_session' as endpoint,
    'LIVE' as status,
    started_time,
    null as stopped_time,
    round(final_ingest * (m * 60000 - start_ms) / dur_ms, 3) as ingest_seconds,
    round(final_viewer * (m * 60000 - start_ms) / dur_ms, 3) as viewer_seconds
from minutes
order by m, session_id
"""

INSERT_POLL_RUNS = """
insert into poll_runs (
    poll_id, started_at, finished_at, app_ids, livestreams, active_reads, sessions, requests, responses,
    retries, rate_limited, transport_errors, failed_calls, parse_issues, unknown_statuses, outcome, message,
    network_seconds, normalize_seconds, load_seconds, recovered, kind, allowance, discovery_requests,
    planned_final, planned_live, planned_sweep, deferred_final, deferred_live, deferred_sweep
)
with live as (
    select m, count(*) as live
    from (select unnest(range(first_m, last_m + 1)) as m from bench_sessions)
    group by m
),

finals as (
    select m, count(*) as final_reads
    from (select unnest([p1 + 1, p1 + 2]) as m from bench_sessions where state <> 'open')
    where m <= $last
    group by m
),

shaped as (
    select
        r.m,
        coalesce(live.live, 0) as live,
        coalesce(finals.final_reads, 0) as final_reads,
        least($livestreams, $allowance - $discovery - coalesce(finals.final_reads, 0)) as planned_live,
        md5(concat_ws(':', $seed, 'poll', r.m)) as h
    from range($cut, $last + 1) as r(m)
    left join live on live.m = r.m
    left join finals on finals.m = r.m
),

timed as (
    select
        *,
        round(0.6 + 0.8 * unit(h, 0), 3) as network_seconds,
        round(0.02 + 0.04 * unit(h, 1), 3) as normalize_seconds,
        round(0.05 + 0.1 * unit(h, 2), 3) as load_seconds
    from shaped
)

select
    poll_name(m), poll_at(m),
    poll_at(m) + to_milliseconds(round((network_seconds + normalize_seconds + load_seconds) * 1000)::bigint),
    $app_ids, $livestreams, planned_live, live + final_reads, $discovery + planned_live + final_reads,
    $discovery + planned_live + final_reads, 0, 0, 0, 0, 0, 0, 'ok', null,
    network_seconds, normalize_seconds, load_seconds, false, 'snapshot', $allowance, $discovery,
    final_reads, planned_live, 0, 0, $livestreams - planned_live, 0
from timed
order by m
"""

INSERT_LIVESTREAMS = """
insert into livestreams (
    livestream_id, app_id, name, meeting_id, status, disabled, ingest_server, playback_url,
    stream_key_fingerprint, created_at, updated_at, first_seen_at, last_seen_at, last_poll_id,
    last_active_read_at, last_swept_at, swept_updated_at
)
with activity as (
    select
        l,
        bool_or(state = 'open') as live,
        max(case when state = 'open' then started_time else stop_at end) as updated_at
    from bench_sessions
    group by l
),

shaped as (
    select
        s.l,
        md5(concat_ws(':', $seed, 'livestream-attributes', s.l)) as h,
        coalesce(a.live, false) as live,
        least(a.updated_at, poll_at($last)) as updated_at
    from range($livestreams) as s(l)
    left join activity as a on a.l = s.l
)

select
    uid(concat_ws(':', $seed, 'livestream', l)),
    uid(concat_ws(':', $seed, 'app', l % $apps)),
    'Bench stream ' || lpad((l + 1)::varchar, 3, '0'),
    uid(concat_ws(':', $seed, 'meeting', l)),
    case when live then 'LIVE' else 'IDLE' end,
    false,
    'rtmps://live.cloudflare.com:443/live/',
    'https://customer-bench.cloudflarestream.com/' || md5(h) || '/manifest/video.m3u8',
    'sha256:' || substr(h, 1, 12),
    poll_at(-$warmup) - to_minutes(floor(unit(h, 0) * 525600)::bigint),
    updated_at,
    poll_at($cut),
    poll_at($last),
    poll_name($last),
    poll_at($last),
    poll_at($last - l % 60),
    updated_at
from shaped
order by l
"""

INSERT_APPS = """
insert into apps (app_id, name, created_at, first_seen_at, last_seen_at, last_poll_id)
select
    uid(concat_ws(':', $seed, 'app', a)),
    'Bench app ' || (a + 1),
    poll_at(-$warmup) - interval 800 day + to_days(a * 30),
    poll_at($cut),
    poll_at($last),
    poll_name($last)
from range($apps) as r(a)
"""

# Cloudflare's daywise totals: the sessions started that day, their figures within +-0.1 %, read 5 minutes
# after the day ends (days whose read would come after the last poll are not there yet).
INSERT_ANALYTICS = """
insert into analytics_daily (
    app_id, date, count, total_ingest_seconds, total_viewer_seconds, fetched_at, poll_id
)
with days as (
    select
        app_id,
        started_time::date as day,
        count(*) as sessions,
        sum(final_ingest) as ingest,
        sum(final_viewer) as viewer
    from bench_sessions
    group by all
),

shaped as (
    select
        *,
        md5(concat_ws(':', $seed, 'daywise', app_id, day)) as h,
        datediff('minute', poll_at(0), day + interval 1 day + interval 5 minute) as read_m
    from days
)

select
    app_id, day, sessions,
    round(ingest * (0.999 + 0.002 * unit(h, 0)), 3),
    round(viewer * (0.999 + 0.002 * unit(h, 1)), 3),
    poll_at(read_m),
    poll_name(read_m)
from shaped
where read_m between $cut and $last
order by day, app_id
"""


@dataclass(frozen=True)
class Plan:
    """Where the polls and the cut fall for N snapshot rows."""

    rows: int
    horizon: int  # poll minutes laid out: 0 .. horizon - 1, the last at END_AT
    cut: int  # the first kept poll minute (only `need` of its sessions are kept)
    need: int

    @property
    def last(self) -> int:
        """The last poll minute."""
        return self.horizon - 1

    @property
    def origin(self) -> datetime:
        """The time of poll minute 0."""
        return END_AT - timedelta(minutes=self.last)

    def params(self) -> dict[str, Any]:
        """The named parameters the statements use."""
        return {
            "seed": SEED,
            "livestreams": LIVESTREAMS,
            "apps": APPS,
            "warmup": WARMUP_MINUTES,
            "origin": self.origin,
            "cut": self.cut,
            "need": self.need,
            "last": self.last,
            "allowance": ALLOWANCE,
            "discovery": APPS * -(-LIVESTREAMS // APPS // 100),
        }


@dataclass
class Result:
    """One measurement's runs."""

    name: str
    status: str = "ok"  # ok | not available yet | timeout | error
    detail: str = ""
    seconds: list[float] = field(default_factory=list)
    rows: int | None = None
    peak_rss_mb: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The result as a JSON-ready mapping."""
        timed = bool(self.seconds)
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "runs": self.seconds,
            "median_seconds": statistics.median(self.seconds) if timed else None,
            "min_seconds": min(self.seconds) if timed else None,
            "max_seconds": max(self.seconds) if timed else None,
            "rows": self.rows,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


def run(con: duckdb.DuckDBPyConnection, statement: str, params: dict[str, Any]) -> None:
    """Execute one statement, binding only the parameters it uses."""
    used = set(_PARAM.findall(statement))
    con.execute(statement, {name: value for name, value in params.items() if name in used} or None)


def plan(con: duckdb.DuckDBPyConnection, rows: int) -> Plan:
    """Lay out the candidate sessions and find the cut that leaves exactly `rows` snapshot rows."""
    horizon = int(rows / MEAN_LIVE * 1.15) + 60
    draft = Plan(rows, horizon, cut=0, need=0)
    params = draft.params()
    for statement in DRAW_MACROS:
        con.execute(statement)
    cycles = (horizon + WARMUP_MINUTES + 360) // 150 + 50  # cycles average 190 minutes
    run(con, CANDIDATES, params | {"cycles": cycles})
    (covered,) = cast(
        tuple[int],
        con.execute(
            "select min(last_start) from (select l, max(p0) as last_start from bench_candidates group by l)"
        ).fetchone(),
    )
    if covered <= draft.last:
        raise RuntimeError(f"candidate sessions end at minute {covered}, before the last poll {draft.last}")
    live = [
        count
        for _, count in con.execute(LIVE_PER_MINUTE, {"last": draft.last, "horizon": horizon}).fetchall()
    ]
    total = 0
    for minute in range(draft.last, -1, -1):
        if total + live[minute] >= rows:
            return Plan(rows, horizon, cut=minute, need=rows - total)
        total += live[minute]
    raise RuntimeError(f"only {total} snapshot rows in {horizon} minutes, {rows} asked for")


def build(path: Path, rows: int) -> float:
    """Write the synthetic warehouse to `path` (via a temporary file); return the seconds it took."""
    started = time.perf_counter()
    building = path.with_name(path.name + ".building")
    for stale in (building, building.with_name(building.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = warehouse.connect(building)
    try:
        warehouse.migrate(con, building)
        bench_plan = plan(con, rows)
        params = bench_plan.params()
        for statement in POLL_MACROS:
            con.execute(statement.format(origin=bench_plan.origin.isoformat(), cut=bench_plan.cut))
        print(
            f"polls {bench_plan.origin + timedelta(minutes=bench_plan.cut):%Y-%m-%d %H:%M} .. "
            f"{END_AT:%Y-%m-%d %H:%M} UTC ({bench_plan.last - bench_plan.cut + 1:,} polls), "
            f"{LIVESTREAMS} livestreams, {APPS} apps",
            flush=True,
        )
        run(con, SESSIONS, params)
        run(con, INSERT_SESSIONS, params)
        chunk = max(1, int(CHUNK_ROWS / MEAN_LIVE))
        for lo in range(bench_plan.cut, bench_plan.last + 1, chunk):
            run(con, INSERT_SNAPSHOTS, params | {"lo": lo, "hi": lo + chunk})
            done = min(lo + chunk, bench_plan.last + 1) - bench_plan.cut
            print(f"  snapshots: {done:,} polls written, {time.perf_counter() - started:.1f} s", flush=True)
        app_ids = [
            row[0] for row in con.execute("select distinct app_id from bench_sessions order by 1").fetchall()
        ]
        run(con, INSERT_POLL_RUNS, params | {"app_ids": app_ids})
        run(con, INSERT_LIVESTREAMS, params)
        run(con, INSERT_APPS, params)
        run(con, INSERT_ANALYTICS, params)
        usage_started = time.perf_counter()
        warehouse.refresh_session_usage(con)  # what the migration does for an existing history
        print(f"  session_usage computed for every session: {time.perf_counter() - usage_started:.1f} s")
        (written,) = cast(tuple[int], con.execute("select count(*) from session_snapshots").fetchone())
        if written != rows:
            raise RuntimeError(f"wrote {written} snapshot rows, {rows} asked for")
        con.execute("drop table bench_candidates")
        con.execute("drop table bench_sessions")
        con.execute("checkpoint")
    finally:
        con.close()
    building.replace(path)
    return time.perf_counter() - started


def is_bench_warehouse(path: Path) -> bool:
    """Whether `path` was written by this benchmark (so it may be rebuilt over)."""
    con = warehouse.connect(path, read_only=True)
    try:
        (apps,) = cast(
            tuple[int], con.execute("select count(*) from apps where name like 'Bench app %'").fetchone()
        )
    except duckdb.Error:
        return False
    finally:
        con.close()
    return apps > 0


def reusable(path: Path, rows: int) -> bool:
    """Whether `path` holds `rows` snapshot rows under the current migrations (new ones are applied)."""
    if not path.exists():
        return False
    con = warehouse.connect(path)
    try:
        warehouse.migrate(con, path)
        (count,) = cast(tuple[int], con.execute("select count(*) from session_snapshots").fetchone())
    except (WarehouseError, duckdb.Error) as exc:
        print(f"rebuilding {path}: {exc}")
        return False
    finally:
        con.close()
    return count == rows


def table_counts(path: Path) -> dict[str, int]:
    """Row count of every table of the warehouse."""
    con = warehouse.connect(path, read_only=True)
    try:
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_type = 'BASE TABLE' order by 1"
            ).fetchall()
        ]
        return {
            name: cast(tuple[int], con.execute(f'select count(*) from "{name}"').fetchone())[0]
            for name in tables
        }
    finally:
        con.close()


def october_session_usage(database: Path) -> int:
    """(a) Count October's session-hours from the session_usage view."""
    con = warehouse.connect(database, read_only=True)
    try:
        rows = con.sql(
            "select count(*) from session_usage where hour >= '2026-10-01' and hour < '2026-11-01'"
        ).fetchall()
        return int(rows[0][0])
    finally:
        con.close()


def october_usage_daily(database: Path) -> int:
    """(b) Read October's rows of the usage_daily view."""
    con = warehouse.connect(database, read_only=True)
    try:
        return len(
            con.sql("select * from usage_daily where day between '2026-10-01' and '2026-10-31'").fetchall()
        )
    finally:
        con.close()


def one_poll_session_usage(database: Path) -> int:
    """Recompute session_usage for the sessions one poll observes (the last poll's), then roll back."""
    con = warehouse.connect(database)
    try:
        con.execute("begin transaction")
        con.execute(
            "insert into usage_stale select session_id from session_snapshots"
            " where poll_id = (select max(poll_id) from poll_runs)"
        )
        (stale,) = cast(tuple[int], con.execute("select count(*) from usage_stale").fetchone())
        warehouse.run_file(con, "load/12_session_usage.sql")
        con.execute("rollback")
        return stale
    finally:
        con.close()


def report(database: Path, name: str) -> int:
    """Run one report for October; return its row count."""
    return run_report(database, name, PERIOD).height


def finance_statement(database: Path) -> int:
    """The finance-statement report for October."""
    return report(database, "finance-statement")


def daily_usage(database: Path) -> int:
    """The daily-usage report for October."""
    return report(database, "daily-usage")


def export_october(database: Path) -> int:
    """Export October as CSV and Parquet into a temporary directory; return the files written."""
    with tempfile.TemporaryDirectory(prefix="history-scale-export-") as out_dir:
        export_month(database, "2026-10", Path(out_dir), formats=("csv", "parquet"))
        return sum(1 for path in Path(out_dir).rglob("*") if path.is_file())


MEASUREMENTS: dict[str, Callable[[Path], int]] = {
    "a: session_usage count, 2026-10": october_session_usage,
    "b: usage_daily rows, 2026-10": october_usage_daily,
    "report finance-statement, 2026-10": finance_statement,
    "report daily-usage, 2026-10": daily_usage,
    "export_month 2026-10 csv+parquet": export_october,
    "session_usage of one poll's sessions": one_poll_session_usage,
}


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MB (Linux reports KB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def measure_in_child(name: str, database: str, conn: Connection) -> None:
    """Run one measurement once in this (fresh) process and send back its outcome."""
    conn.send(("started",))
    try:
        started = time.perf_counter()
        rows = MEASUREMENTS[name](Path(database))
        conn.send(("ok", time.perf_counter() - started, rows, peak_rss_mb(), ""))
    except Exception as exc:
        conn.send(
            ("error", 0.0, None, peak_rss_mb(), f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
        )
    finally:
        conn.close()


def measure(name: str, database: Path, runs: int, timeout: float) -> Result:
    """Time `runs` runs of one measurement, each in a fresh process stopped after `timeout` seconds."""
    result = Result(name)
    context = multiprocessing.get_context("spawn")
    for _ in range(runs):
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=measure_in_child, args=(name, str(database), sender))
        child.start()
        sender.close()
        try:
            if not receiver.poll(60):
                raise EOFError
            receiver.recv()  # started: the imports are done
            if not receiver.poll(timeout):
                child.terminate()
                result.status, result.detail = "timeout", f"stopped after {timeout:g} s"
            else:
                status, seconds, rows, rss, detail = receiver.recv()
                result.status, result.detail, result.rows = status, detail, rows
                result.peak_rss_mb = max(result.peak_rss_mb, rss)
                if status == "ok":
                    result.seconds.append(seconds)
        except EOFError:
            result.status, result.detail = "error", f"the process exited with code {child.exitcode}"
        finally:
            if child.is_alive() and result.status != "ok":
                child.terminate()
            child.join()
            receiver.close()
        if result.status != "ok":
            break
    return result


def print_results(results: list[Result]) -> None:
    """Print the timing table."""
    print(
        f"{'measurement':<36} {'runs':>4} {'median s':>9} {'min s':>8} {'max s':>8} {'rows':>9} "
        f"{'peak RSS MB':>11}"
    )
    for result in results:
        summary = result.summary()
        if result.status != "ok":
            print(f"{result.name:<36} {result.status}: {result.detail}")
            continue
        print(
            f"{result.name:<36} {len(result.seconds):>4} {summary['median_seconds']:>9.3f} "
            f"{summary['min_seconds']:>8.3f} {summary['max_seconds']:>8.3f} {result.rows!s:>9} "
            f"{result.peak_rss_mb:>11.0f}"
        )


def main() -> None:
    """Build (or reuse) the warehouse, time the measurements, print them and write the JSON results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000, help="session_snapshots rows")
    parser.add_argument("--database", type=Path, help="default: data/bench/history-<rows>.duckdb")
    parser.add_argument("--rebuild", action="store_true", help="build even if the database can be reused")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one run may take")
    args = parser.parse_args()
    database: Path = args.database or BENCH_DIR / f"history-{args.rows}.duckdb"

    if database.exists() and not is_bench_warehouse(database):
        parser.error(f"{database} is not a warehouse this benchmark built; refusing to touch it")
    build_seconds: float | None = None
    if not args.rebuild and reusable(database, args.rows):
        print(f"reusing {database}")
    else:
        print(f"building {database} with {args.rows:,} snapshot rows", flush=True)
        # In its own process, so that the measurements' peak RSS does not inherit the build's.
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            build_seconds = float(pool.apply(build, (database, args.rows)))
        print(f"built in {build_seconds:.1f} s")
    size_mb = database.stat().st_size / 2**20
    counts = table_counts(database)
    print(f"{database}: {size_mb:,.0f} MB, {os.cpu_count()} cores, duckdb {duckdb.__version__}")
    print("  " + ", ".join(f"{name} {count:,}" for name, count in counts.items()))
    if counts.get("raw_responses", 0) == 0:
        print("  raw_responses is empty (synthetic history: no HTTP bodies)")

    results = []
    for name in MEASUREMENTS:
        result = measure(name, database, args.runs, args.timeout)
        results.append(result)
        print(f"  {name}: {result.status} {' '.join(f'{s:.3f}' for s in result.seconds)}", flush=True)
    print_results(results)

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "database": str(database),
                "rows": args.rows,
                "file_mb": round(size_mb, 1),
                "build_seconds": build_seconds,
                "cores": os.cpu_count(),
                "duckdb": duckdb.__version__,
                "table_counts": counts,
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "measurements": [result.summary() for result in results],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
