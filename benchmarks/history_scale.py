"""History scale: reports, the monthly export and one poll's load on a synthetic history of N snapshot rows.

For each N (1M, 10M and 100M snapshot rows; quick: 100k and 1M) a synthetic warehouse is built once into
data/bench/history-<N>.duckdb and reused while its build version, snapshot count and migrations still match:
400 livestreams across 2 apps, each alternating sessions of 10-180 minutes with gaps of 10-180 minutes, so
about 200 are live at any one-minute poll. A live session is read every poll; a stopped one is read twice
more by id (the two equal reads that make it final), as the poller does. The polls end at 2026-11-01 00:00
UTC and reach back as far as N rows need (10M: about 35 days; 100M: about a year). Poll ids have the
poller's shape. Every value is drawn from md5 of a fixed seed, so a build is reproducible.

Each measurement runs in a fresh process (median/min/max of several runs, with its peak RSS):
- the finance-statement and daily-usage reports and the monthly export (CSV, Parquet, PNG and manifest) of
  2026-10;
- one new poll, a minute after the last: its ~200 sessions (the last poll's, still live or not yet final)
  are staged as the load stages them; `session_usage` is refreshed for them (sql/load/11_usage_stale.sql and
  12_session_usage.sql), and separately the whole load of the poll (every sql/load file) runs; both roll
  back. The refresh's rows scanned per table come from DuckDB's profiler: flat in N means incremental.

`python -m benchmarks --suite history_scale` runs it in the suite; on its own:
`python -m benchmarks.history_scale --rows 10000000 [--rows ...] [--runs 5] [--rebuild]`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import duckdb
import polars as pl

from benchmarks.charts import new_chart, save
from benchmarks.common import DATA_DIR, Figure, in_fresh_process, table_lines
from streamledger import warehouse
from streamledger.errors import WarehouseError
from streamledger.export import export_month
from streamledger.load import LOAD_FILES
from streamledger.poll import POLL_RUN_SCHEMA
from streamledger.reports import run_report
from streamledger.transforms.normalize import (
    APP_SCHEMA,
    DAYWISE_SCHEMA,
    ISSUE_SCHEMA,
    LIVESTREAM_SCHEMA,
    OVERALL_SCHEMA,
    RESPONSE_SCHEMA,
    SESSION_SCHEMA,
)

BENCH_DIR = DATA_DIR
RESULTS = (
    BENCH_DIR / "history_scale.json"
)  # the command line's results (the suite's go to benchmarks/results/)
BUILD_VERSION = 3  # bump when the build changes what it writes: older files are rebuilt
SEED = "streamledger-history-scale-1"
LIVESTREAMS = 400
APPS = 2
END_AT = datetime(2026, 11, 1, tzinfo=UTC)  # the last poll
WARMUP_MINUTES = 400  # sessions are laid out from this long before the first poll, so it starts steady
MEAN_LIVE = LIVESTREAMS / 2  # sessions and gaps have the same length distribution
ALLOWANCE = 216  # planned requests per poll: 1,200 per 300 s, one poll a minute, 90 %
CHUNK_ROWS = 2_000_000
USAGE_CHUNK_DAYS = 31  # session_usage is computed a month of sessions at a time, as polls would have
MONTH = "2026-10"
PERIOD = {"from_date": date(2026, 10, 1), "to_date": date(2026, 10, 31)}
FULL_SIZES = (1_000_000, 10_000_000, 100_000_000)
QUICK_SIZES = (100_000, 1_000_000)
# The issue's limits: each report and the export within 1 s up to 10M rows and 5 s at 100M; the export's
# peak RSS at 100M within 2 GB.
TARGET_SECONDS = {10_000_000: 1.0, 100_000_000: 5.0}
TARGET_EXPORT_RSS_MB = {100_000_000: 2048.0}

# Draws: md5 of a key gives 4 uniform numbers in [0, 1) (slots 0-3) and ids shaped like uuid4.
DRAW_MACROS = (
    "create or replace temp macro unit(h, slot) as"
    " ('0x' || substr(h, 8 * slot + 1, 8))::ubigint / 4294967296.0",
    r"create or replace temp macro uid(key) as"
    r" regexp_replace(md5(key), '^(.{8})(.{4}).(.{3}).(.{3})(.{12})$', '\1-\2-4\3-8\4-\5')",
)
# Poll minute m: its time, and its poll_id in the poller's shape (20261031T235900.000000Z-1a2b3c).
POLL_MACROS = (
    "create or replace temp macro poll_at(m) as '{origin}'::timestamptz + to_minutes(m::bigint)",
    "create or replace temp macro poll_name(m) as"
    " strftime(poll_at(m), '%Y%m%dT%H%M%S.%fZ-') || substr(md5(concat_ws(':', '{seed}', 'poll', m)), 1, 6)",
)
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")

# Every livestream's sessions as (start, duration) in ms after the first poll at minute 0. A session is seen
# live by the polls p0..p1 (started_time <= poll < stop) and read by id at p1 + 1 and p1 + 2.
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

# Snapshot rows per poll minute over the whole horizon: live reads and the two reads by id after a stop.
ROWS_PER_MINUTE = """
with spans as (
    select greatest(p0, 0) as a, least(p1 + 2, $last) as b
    from bench_candidates
    where p0 <= $last and p1 + 2 >= 0
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

# The sessions kept: read by at least one poll from the cut (where only `need` of them are kept, by id).
# Minutes first_m..last_m hold the session's rows: live up to p1, then its reads by id.
SESSIONS = """
create or replace temp table bench_sessions as
with at_cut as (
    select l, k, row_number() over (order by l, k) as cut_rank
    from bench_candidates
    where p0 <= $cut and p1 + 2 >= $cut
),

kept as (
    select
        c.l, c.k, c.start_ms, c.dur_ms, c.p0, c.p1,
        case when c.p0 > $cut then c.p0 when a.cut_rank <= $need then $cut else $cut + 1 end as first_m,
        least(c.p1 + 2, $last) as last_m
    from bench_candidates as c
    left join at_cut as a on a.l = c.l and a.k = c.k
    where c.p0 <= $last and c.p1 + 2 >= $cut
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

# The poll minutes kept, with their ids (joined by the snapshots rather than drawn per row).
POLLS = """
create or replace temp table bench_polls as
select m, poll_name(m) as poll_id, poll_at(m) as polled_at
from range($cut, $last + 1) as r(m)
"""

INSERT_SESSIONS = """
insert into sessions (
    session_id, livestream_id, app_id, status, created_at, updated_at, invoked_time, started_time,
    stopped_time, err_message, ingest_seconds, viewer_seconds, first_seen_at, last_seen_at, last_poll_id,
    is_final, finalized_at, last_observed_at
)
with shaped as (
    select *, least(last_m * 60000 - start_ms, dur_ms) / dur_ms as seen_share
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
    poll_at(last_m) as last_seen_at,
    poll_name(last_m) as last_poll_id,
    state = 'final' as is_final,
    case when state = 'final' then poll_at(p1 + 2) end as finalized_at,
    poll_at(last_m) as last_observed_at
from shaped
order by started_time, session_id
"""

# One row per session per poll minute in [$lo, $hi): live reads whose figures grow linearly to the final
# ones, then (after the stop) two reads by id with the final figures.
INSERT_SNAPSHOTS = """
insert into session_snapshots (
    poll_id, fetched_at, observed_at, session_id, livestream_id, app_id, endpoint, status, started_time,
    stopped_time, ingest_seconds, viewer_seconds
)
with minutes as (
    select
        session_id, livestream_id, app_id, started_time, stop_at, start_ms, dur_ms, p1, errored,
        final_ingest, final_viewer,
        unnest(range(greatest(first_m, $lo), least(last_m + 1, $hi))) as m
    from bench_sessions
    where first_m < $hi and last_m >= $lo
),

shaped as (
    select
        p.poll_id,
        p.polled_at,
        s.*,
        s.m > s.p1 as stopped
    from minutes as s
    inner join bench_polls as p on p.m = s.m
)

select
    poll_id,
    polled_at as fetched_at,
    polled_at as observed_at,
    session_id,
    livestream_id,
    app_id,
    case when stopped then 'session_by_id' else 'active_session' end as endpoint,
    case when not stopped then 'LIVE' when errored then 'ERRORED' else 'IDLE' end as status,
    started_time,
    case when stopped then stop_at end as stopped_time,
    case when stopped then final_ingest else round(final_ingest * (m * 60000 - start_ms) / dur_ms, 3) end
        as ingest_seconds,
    case when stopped then final_viewer else round(final_viewer * (m * 60000 - start_ms) / dur_ms, 3) end
        as viewer_seconds
from shaped
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
    from (select unnest(range(first_m, least(p1, last_m) + 1)) as m from bench_sessions)
    group by m
),

finals as (
    select m, count(*) as final_reads
    from (select unnest([p1 + 1, p1 + 2]) as m, first_m, last_m from bench_sessions)
    where m between first_m and last_m
    group by m
),

shaped as (
    select
        p.m,
        p.poll_id,
        p.polled_at,
        coalesce(live.live, 0) as live,
        coalesce(finals.final_reads, 0) as final_reads,
        least($livestreams, $allowance - $discovery - coalesce(finals.final_reads, 0)) as planned_live,
        md5(concat_ws(':', $seed, 'poll-run', p.m)) as h
    from bench_polls as p
    left join live on live.m = p.m
    left join finals on finals.m = p.m
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
    poll_id, polled_at,
    polled_at + to_milliseconds(round((network_seconds + normalize_seconds + load_seconds) * 1000)::bigint),
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
    cut: int  # the first kept poll minute (only `need` of its rows are kept)
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


def run(quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """Build (or reuse) each size's warehouse, measure it; return the figures and the context."""
    sizes = QUICK_SIZES if quick else FULL_SIZES
    return measure_sizes(sizes, runs=3 if quick else 5)


def execute(con: duckdb.DuckDBPyConnection, statement: str, params: dict[str, Any]) -> None:
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
    execute(con, CANDIDATES, params | {"cycles": cycles})
    (covered,) = cast(
        tuple[int],
        con.execute(
            "select min(last_start) from (select l, max(p0) as last_start from bench_candidates group by l)"
        ).fetchall()[0],
    )
    if covered <= draft.last:
        raise RuntimeError(f"candidate sessions end at minute {covered}, before the last poll {draft.last}")
    per_minute = [
        count
        for _, count in con.execute(ROWS_PER_MINUTE, {"last": draft.last, "horizon": horizon}).fetchall()
    ]
    total = 0
    for minute in range(draft.last, -1, -1):
        if total + per_minute[minute] >= rows:
            return Plan(rows, horizon, cut=minute, need=rows - total)
        total += per_minute[minute]
    raise RuntimeError(f"only {total} snapshot rows in {horizon} minutes, {rows} asked for")


def build(path: Path, rows: int) -> dict[str, Any]:
    """Write the synthetic warehouse to `path` (via a temporary file); return what the build took."""
    started = time.perf_counter()
    building = path.with_name(path.name + ".building")
    facts_path(path).unlink(missing_ok=True)
    for stale in (building, building.with_name(building.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = warehouse.connect(building)
    laps: dict[str, float] = {}
    try:
        warehouse.migrate(con, building)
        bench_plan = plan(con, rows)
        params = bench_plan.params()
        for statement in POLL_MACROS:
            con.execute(statement.format(origin=bench_plan.origin.isoformat(), seed=SEED))
        first_poll = bench_plan.origin + timedelta(minutes=bench_plan.cut)
        print(
            f"  polls {first_poll:%Y-%m-%d %H:%M} .. {END_AT:%Y-%m-%d %H:%M} UTC "
            f"({bench_plan.last - bench_plan.cut + 1:,} polls), {LIVESTREAMS} livestreams, {APPS} apps",
            flush=True,
        )
        execute(con, SESSIONS, params)
        execute(con, POLLS, params)
        execute(con, INSERT_SESSIONS, params)
        laps["plan_and_sessions"] = time.perf_counter() - started
        chunk = max(1, int(CHUNK_ROWS / MEAN_LIVE))
        for lo in range(bench_plan.cut, bench_plan.last + 1, chunk):
            execute(con, INSERT_SNAPSHOTS, params | {"lo": lo, "hi": lo + chunk})
            done = min(lo + chunk, bench_plan.last + 1) - bench_plan.cut
            if done // chunk % 10 == 0 or lo + chunk > bench_plan.last:
                print(
                    f"  snapshots: {done:,} polls written, {time.perf_counter() - started:.0f} s", flush=True
                )
        laps["snapshots"] = time.perf_counter() - started - sum(laps.values())
        app_ids = [
            row[0] for row in con.execute("select distinct app_id from bench_sessions order by 1").fetchall()
        ]
        execute(con, INSERT_POLL_RUNS, params | {"app_ids": app_ids})
        execute(con, INSERT_LIVESTREAMS, params)
        execute(con, INSERT_APPS, params)
        execute(con, INSERT_ANALYTICS, params)
        con.execute("drop table bench_candidates")
        con.execute("drop table bench_sessions")
        con.execute("drop table bench_polls")
        con.execute("checkpoint")
        laps["other_tables"] = time.perf_counter() - started - sum(laps.values())
        fill_session_usage(con)
        laps["session_usage"] = time.perf_counter() - started - sum(laps.values())
        (written,) = cast(tuple[int], con.execute("select count(*) from session_snapshots").fetchall()[0])
        if written != rows:
            raise RuntimeError(f"wrote {written} snapshot rows, {rows} asked for")
        facts = {
            "version": BUILD_VERSION,
            "rows": rows,
            "build_seconds": round(time.perf_counter() - started, 1),
            "build_laps_seconds": {name: round(value, 1) for name, value in laps.items()},
            "first_poll_at": first_poll.isoformat(),
            "last_poll_at": END_AT.isoformat(),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    finally:
        con.close()
    building.replace(path)
    facts_path(path).write_text(json.dumps(facts, indent=2) + "\n")
    return facts


def fill_session_usage(con: duckdb.DuckDBPyConnection) -> None:
    """Compute session_usage for every session by the poll's own file, a month of sessions at a time.

    One statement over the whole history would hold every snapshot in its windows at once; a month at a
    time is what the polls did (each with the snapshots from a day before its sessions' start on) and
    appends the rows in time order, as the polls do.
    """
    first, last = cast(
        tuple[datetime, datetime],
        con.execute("select min(started_time), max(started_time) from sessions").fetchall()[0],
    )
    since = first
    while since <= last:
        until = since + timedelta(days=USAGE_CHUNK_DAYS)
        con.execute(
            # Marked as warehouse/usage_month.sql marks a month of starts: in the refresh's temporary table.
            "create or replace temp table usage_marks as select session_id, 'full' as path,"
            " null::timestamptz as batch_since, null::varchar[] as batch_polls from sessions"
            " where started_time >= $since and started_time < $until order by started_time",
            {"since": since, "until": until},
        )
        warehouse.run_file(con, "load/12_session_usage.sql")
        since = until


def facts_path(path: Path) -> Path:
    """Where a build writes its facts: beside the database, so that a reused warehouse still reports them."""
    return path.with_name(path.name + ".build.json")


def build_facts(path: Path) -> dict[str, Any] | None:
    """The facts a build left beside the file (None: not a build of this version of the benchmark)."""
    try:
        facts = json.loads(facts_path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return facts if isinstance(facts, dict) and facts.get("version") == BUILD_VERSION else None


def is_bench_warehouse(path: Path) -> bool:
    """Whether `path` was written by this benchmark (so it may be rebuilt over)."""
    con = warehouse.connect(path, read_only=True)
    try:
        (apps,) = cast(
            tuple[int], con.execute("select count(*) from apps where name like 'Bench app %'").fetchall()[0]
        )
    except duckdb.Error:
        return False
    finally:
        con.close()
    return apps > 0


def reusable(path: Path, rows: int) -> dict[str, Any] | None:
    """The build facts of `path` if it holds this build of `rows` rows under the current migrations."""
    if not path.exists():
        return None
    facts = build_facts(path)
    if facts is None or facts.get("rows") != rows:
        print(f"  rebuilding {path}: written by another version of this benchmark")
        return None
    con = warehouse.connect(path)
    try:
        applied = warehouse.migrate(con, path)  # new migrations are applied, as on a real warehouse
        if applied:
            print(f"  applied {', '.join(applied)} to {path}")
        (count,) = cast(tuple[int], con.execute("select count(*) from session_snapshots").fetchall()[0])
    except (WarehouseError, duckdb.Error) as exc:
        print(f"  rebuilding {path}: {exc}")
        return None
    finally:
        con.close()
    return facts if count == rows else None


def warehouse_for(
    rows: int, *, database: Path | None = None, rebuild: bool = False
) -> tuple[Path, dict[str, Any]]:
    """Return the warehouse of `rows` snapshot rows, built if needed, and its build facts."""
    path = database or BENCH_DIR / f"history-{rows}.duckdb"
    if path.exists() and not is_bench_warehouse(path):
        raise RuntimeError(f"{path} is not a warehouse this benchmark built; refusing to touch it")
    facts = None if rebuild else reusable(path, rows)
    if facts is not None:
        print(f"  reusing {path} (built in {facts['build_seconds']} s)", flush=True)
        return path, facts | {"built_now": False}
    print(f"  building {path} with {rows:,} snapshot rows", flush=True)
    # In its own process, so that the measurements' peak RSS does not inherit the build's.
    _, rss, facts = in_fresh_process(build, path, rows, timeout=6 * 3600)
    return path, facts | {"built_now": True, "build_peak_rss_mb": round(rss, 1)}


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
            name: cast(tuple[int], con.execute(f'select count(*) from "{name}"').fetchall()[0])[0]
            for name in tables
        }
    finally:
        con.close()


def report(database: Path, name: str) -> int:
    """Run one report for 2026-10 on its own read-only connection; return its row count."""
    return run_report(database, name, PERIOD).height


def finance_statement(database: Path) -> int:
    """The finance-statement report for 2026-10."""
    return report(database, "finance-statement")


def daily_usage(database: Path) -> int:
    """The daily-usage report for 2026-10."""
    return report(database, "daily-usage")


def monthly_export(database: Path) -> dict[str, Any]:
    """Export 2026-10 (CSV, Parquet, PNG and manifest) into a temporary folder; return its seconds and files.

    Besides the wall-clock seconds, the CPU seconds of the process (every thread), which a busy shared
    machine inflates far less.
    """
    with tempfile.TemporaryDirectory(prefix="history-scale-export-") as out_dir:
        started, cpu = time.perf_counter(), time.process_time()
        result = export_month(database, MONTH, Path(out_dir), formats=("csv", "parquet"))
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "files": len(result.files)}


# A poll one minute after the last, as the load stages it: the frames the sql/load files read.
NEXT_SESSIONS = """
with last_poll as (
    select poll_id from poll_runs where kind = 'snapshot' order by started_at desc limit 1
),

observed as (
    select ss.*
    from session_snapshots as ss
    where ss.poll_id = (select poll_id from last_poll)
)

select
    $poll_id as poll_id,
    ($first_seq + row_number() over (order by o.session_id))::integer as seq,
    $at::timestamptz as fetched_at,
    o.endpoint,
    o.app_id,
    $at::timestamptz as observed_at,
    o.session_id,
    o.livestream_id,
    s.status,
    s.created_at,
    case when o.stopped_time is null then $at::timestamptz else s.updated_at end as updated_at,
    s.invoked_time,
    s.started_time,
    s.stopped_time,
    s.err_message,
    case when o.stopped_time is null then o.ingest_seconds + 60 else o.ingest_seconds end as ingest_seconds,
    case
        when o.stopped_time is null
            then round(o.viewer_seconds + 60 * coalesce(o.viewer_seconds / nullif(o.ingest_seconds, 0), 1), 3)
        else o.viewer_seconds
    end as viewer_seconds
from observed as o
inner join sessions as s on s.session_id = o.session_id
where not s.is_final
order by o.session_id
"""

NEXT_LIVESTREAMS = """
select
    $poll_id as poll_id,
    (1 + (row_number() over (order by app_id, livestream_id) - 1) // 100)::integer as seq,
    $at::timestamptz as fetched_at,
    'list_livestreams' as endpoint,
    app_id,
    livestream_id, name, meeting_id, status, disabled, ingest_server, playback_url, stream_key_fingerprint,
    created_at, updated_at
from livestreams
order by app_id, livestream_id
"""


def next_poll(con: duckdb.DuckDBPyConnection) -> tuple[str, dict[str, pl.DataFrame]]:
    """Stage a poll a minute after the last one; return its id and the frames the load files read.

    It reads every session the last poll read that is not final yet (the live ones a minute further on,
    the stopped ones by id again) and lists every livestream, as the poller does.
    """
    (last_at,) = cast(
        tuple[datetime],
        con.execute("select max(started_at) from poll_runs where kind = 'snapshot'").fetchall()[0],
    )
    at = last_at + timedelta(minutes=1)
    poll_id = f"{at:%Y%m%dT%H%M%S.%fZ}-0b0b0b"
    discovery = APPS * -(-LIVESTREAMS // APPS // 100)
    params = {"poll_id": poll_id, "at": at}
    livestreams = con.sql(NEXT_LIVESTREAMS, params=params).pl().cast(pl.Schema(LIVESTREAM_SCHEMA))
    sessions = (
        con.sql(NEXT_SESSIONS, params=params | {"first_seq": discovery}).pl().cast(pl.Schema(SESSION_SCHEMA))
    )
    pages = livestreams.group_by("seq", "app_id", maintain_order=True).agg(
        pl.struct(pl.exclude("poll_id", "seq", "fetched_at", "endpoint", "app_id")).alias("data")
    )
    listed = pages.select(
        "seq",
        "app_id",
        pl.lit(None, pl.String()).alias("livestream_id"),
        pl.lit(None, pl.String()).alias("session_id"),
        pl.lit("list_livestreams").alias("endpoint"),
        pl.format("/accounts/bench/realtime/kit/{}/livestreams?page_no={}", "app_id", "seq").alias(
            "request_path"
        ),
        pl.struct("data").struct.json_encode().alias("body"),
    )
    read = sessions.select(
        "seq",
        "app_id",
        "livestream_id",
        "session_id",
        "endpoint",
        pl.when(pl.col("endpoint") == "active_session")
        .then(
            pl.format(
                "/accounts/bench/realtime/kit/{}/livestreams/{}/active-livestream-session",
                "app_id",
                "livestream_id",
            )
        )
        .otherwise(
            pl.format("/accounts/bench/realtime/kit/{}/livestreams/sessions/{}", "app_id", "session_id")
        )
        .alias("request_path"),
        pl.struct(pl.exclude("poll_id", "seq", "fetched_at", "endpoint", "app_id", "observed_at"))
        .struct.json_encode()
        .alias("body"),
    )
    responses = (
        pl.concat([listed, read])
        .with_columns(
            pl.lit(poll_id).alias("poll_id"),
            pl.lit(at).alias("fetched_at"),
            pl.lit(1).alias("attempt"),
            pl.lit(200).alias("http_status"),
            pl.lit(85.0).alias("elapsed_ms"),
            pl.lit('"default";r=1000;t=60').alias("ratelimit"),
            pl.lit(at).alias("server_date"),
            pl.lit("data").alias("outcome"),
            pl.lit(None, pl.String()).alias("error"),
        )
        .select(list(RESPONSE_SCHEMA))
        .cast(pl.Schema(RESPONSE_SCHEMA))
    )
    reads = sessions.height
    finals = sessions.filter(pl.col("endpoint") == "session_by_id").height
    run_row = {
        "poll_id": poll_id,
        "kind": "snapshot",
        "started_at": at,
        "finished_at": at + timedelta(seconds=1),
        "app_ids": sorted(livestreams["app_id"].unique().to_list()),
        "livestreams": livestreams.height,
        "active_reads": reads - finals,
        "sessions": reads,
        "requests": responses.height,
        "responses": responses.height,
        **dict.fromkeys(
            (
                "retries",
                "rate_limited",
                "transport_errors",
                "failed_calls",
                "parse_issues",
                "unknown_statuses",
            ),
            0,
        ),
        "outcome": "ok",
        "message": None,
        "network_seconds": 1.0,
        "normalize_seconds": 0.04,
        "load_seconds": 0.1,
        "recovered": False,
        "allowance": ALLOWANCE,
        "discovery_requests": discovery,
        "planned_final": finals,
        "planned_live": reads - finals,
        "planned_sweep": 0,
        "deferred_final": 0,
        "deferred_live": LIVESTREAMS - (reads - finals),
        "deferred_sweep": 0,
    }
    frames = {
        "staged_responses": responses,
        "staged_livestreams": livestreams,
        "staged_sessions": sessions,
        "staged_issues": pl.DataFrame(schema=ISSUE_SCHEMA),
        "staged_apps": pl.DataFrame(schema=APP_SCHEMA),
        "staged_daywise": pl.DataFrame(schema=DAYWISE_SCHEMA),
        "staged_overall": pl.DataFrame(schema=OVERALL_SCHEMA),
        "staged_poll_run": pl.DataFrame([run_row], schema=POLL_RUN_SCHEMA),
    }
    return poll_id, frames


def staged(con: duckdb.DuckDBPyConnection, frames: dict[str, pl.DataFrame]) -> None:
    """Register the staged frames, as the load does."""
    for name, frame in frames.items():
        con.register(name, frame)


REFRESH_FILES = ("load/11_usage_stale.sql", "load/12_session_usage.sql")


def session_usage_refresh(database: Path) -> dict[str, Any]:
    """Load a new poll up to its session_usage refresh, time the refresh (11 and 12), roll back.

    Then the same again under DuckDB's profiler, for the rows the refresh scanned in each table.
    """
    con = warehouse.connect(database)
    try:
        poll_id, frames = next_poll(con)
        staged(con, frames)
        before = LOAD_FILES[: LOAD_FILES.index(REFRESH_FILES[0])]
        con.execute("begin transaction")
        for name in before:
            warehouse.run_file(con, name, {"poll_id": poll_id})
        started = time.perf_counter()
        for name in REFRESH_FILES:
            warehouse.run_file(con, name)
        seconds = time.perf_counter() - started
        con.execute("rollback")

        con.execute("begin transaction")
        for name in before:
            warehouse.run_file(con, name, {"poll_id": poll_id})
        warehouse.run_file(con, REFRESH_FILES[0])
        (stale,) = cast(tuple[int], con.execute("select count(*) from usage_marks").fetchall()[0])
        by_file, cpu_seconds = profiled(con, REFRESH_FILES[1:])
        con.execute("rollback")
    finally:
        con.close()
    return {"seconds": seconds, "sessions": stale, "scanned": by_table(by_file), "cpu_seconds": cpu_seconds}


def poll_load(database: Path) -> dict[str, Any]:
    """Load a new poll with every sql/load file in one transaction, timing each file; roll back.

    Then the same again under DuckDB's profiler, for the session_snapshots rows each file scanned.
    """
    con = warehouse.connect(database)
    try:
        poll_id, frames = next_poll(con)
        staged(con, frames)
        files: dict[str, float] = {}
        con.execute("begin transaction")
        for name in LOAD_FILES:
            started = time.perf_counter()
            warehouse.run_file(con, name, {"poll_id": poll_id})
            files[name.removeprefix("load/").removesuffix(".sql")] = time.perf_counter() - started
        con.execute("rollback")
        # The same again under DuckDB's profiler: the history each file reads.
        con.execute("begin transaction")
        scanned, cpu_seconds = profiled(con, LOAD_FILES, {"poll_id": poll_id})
        con.execute("rollback")
    finally:
        con.close()
    return {
        "seconds": sum(files.values()),
        "files": files,
        "sessions": frames["staged_sessions"].height,
        "snapshot_rows_scanned": {
            name: tables.get("session_snapshots", 0) for name, tables in scanned.items()
        },
        "cpu_seconds": cpu_seconds,
    }


def profiled(
    con: duckdb.DuckDBPyConnection, names: Sequence[str], params: dict[str, Any] | None = None
) -> tuple[dict[str, dict[str, int]], float]:
    """Run the files' statements under DuckDB's profiler; return the rows scanned per file and table, and
    DuckDB's CPU seconds (every thread's), which a busy shared machine inflates far less than wall time."""
    scanned: dict[str, dict[str, int]] = {}
    cpu_seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="history-scale-profile-") as tmp:
        output = Path(tmp) / "profile.json"
        con.execute("pragma enable_profiling = 'json'")
        con.execute(f"set profiling_output = '{output}'")
        try:
            warehouse.bind_variables(con, params or {})  # the files read them with getvariable()
            for name in names:
                tables = scanned.setdefault(name.removeprefix("load/").removesuffix(".sql"), {})
                for statement in warehouse.statements(warehouse.sql_text(name)):
                    output.unlink(missing_ok=True)
                    con.execute(statement)
                    if not output.exists():
                        continue
                    profile = json.loads(output.read_text())
                    cpu_seconds += float(profile.get("query", {}).get("cpu_time", 0.0))
                    for node in operators(profile):
                        if node.get("type") == "TABLE_SCAN":
                            table = str(node.get("extra_info", {}).get("Table", "?")).rsplit(".", 1)[-1]
                            tables[table] = tables.get(table, 0) + int(node.get("rows_scanned", 0))
        finally:
            con.execute("pragma disable_profiling")
    return scanned, cpu_seconds


def by_table(scanned: dict[str, dict[str, int]]) -> dict[str, int]:
    """Rows scanned per table, over every file."""
    total: dict[str, int] = {}
    for tables in scanned.values():
        for table, rows in tables.items():
            total[table] = total.get(table, 0) + rows
    return total


def operators(node: Any) -> Iterator[dict[str, Any]]:
    """Every operator of a DuckDB JSON profile, depth first."""
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for key in ("operator", "children"):
            for child in node.get(key, []):
                yield from operators(child)


@dataclass(frozen=True)
class Measurement:
    """One thing timed at each size: its function (run in a fresh process) and how it is described."""

    name: str
    what: str
    fn: Callable[[Path], Any]
    targeted: bool  # whether the issue's time limit applies


MEASUREMENTS = (
    Measurement("finance_statement", "finance-statement report, 2026-10", finance_statement, True),
    Measurement("daily_usage", "daily-usage report, 2026-10", daily_usage, True),
    Measurement("export", "monthly export 2026-10 (CSV, Parquet, PNG, manifest)", monthly_export, True),
    Measurement(
        "session_usage_refresh", "session_usage refresh for one new poll", session_usage_refresh, False
    ),
    Measurement("poll_load", "whole load of one new poll (every sql/load file)", poll_load, False),
)


def target_seconds(rows: int) -> float | None:
    """The issue's time limit at this size: 1 s up to 10M snapshot rows, 5 s at 100M."""
    for limit, seconds in sorted(TARGET_SECONDS.items()):
        if rows <= limit:
            return seconds
    return None


def repeat(
    measurement: Measurement, database: Path, runs: int, timeout: float
) -> tuple[list[float], list[float], list[Any], str]:
    """Run one measurement `runs` times, each in a fresh process; return seconds, peak RSS, values, error."""
    seconds: list[float] = []
    rss: list[float] = []
    values: list[Any] = []
    for _ in range(runs):
        try:
            took, peak, value = in_fresh_process(measurement.fn, database, timeout=timeout)
        except (RuntimeError, TimeoutError) as exc:
            return seconds, rss, values, str(exc)
        # The poll measurements time their own SQL, not the connect and the staging around it.
        seconds.append(float(value["seconds"]) if isinstance(value, dict) else took)
        rss.append(peak)
        values.append(value)
    return seconds, rss, values, ""


def measure_size(
    rows: int, runs: int, timeout: float, *, database: Path | None = None, rebuild: bool = False
) -> tuple[list[Figure], dict[str, Any]]:
    """Build (or reuse) the warehouse of `rows` snapshot rows and measure it."""
    path, facts = warehouse_for(rows, database=database, rebuild=rebuild)
    file_mb = path.stat().st_size / 2**20
    counts = table_counts(path)
    size = f"{rows:,} snapshot rows"
    key = f"rows{rows}"
    print(
        f"  {path.name}: {file_mb:,.0f} MB; " + ", ".join(f"{t} {n:,}" for t, n in counts.items()), flush=True
    )
    figures = [
        Figure(
            f"history_scale.build.seconds.{key}",
            "synthetic warehouse build",
            size,
            "s",
            [facts["build_seconds"]],
            note="built now" if facts["built_now"] else "built earlier, reused",
            extra={k: v for k, v in facts.items() if k != "version"},
        ),
        Figure(f"history_scale.build.file_mb.{key}", "warehouse file size", size, "MB", [round(file_mb, 1)]),
    ]
    context: dict[str, Any] = {
        "database": str(path),
        "file_mb": round(file_mb, 1),
        "build": facts,
        "table_counts": counts,
        "measurements": {},
    }
    limit = target_seconds(rows)
    # The machine is shared: its load while measuring says how far the figures can be trusted.
    context["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    for m in MEASUREMENTS:
        seconds, rss, values, error = repeat(m, path, runs, timeout)
        print(
            f"  {m.name}: {' '.join(f'{s:.3f}' for s in seconds)} s, peak RSS {max(rss, default=0):.0f} MB"
            + (f"; {error}" if error else ""),
            flush=True,
        )
        last = values[-1] if values else None
        extra: dict[str, Any] = {"value": last} if last is not None else {}
        figures.append(
            Figure(
                f"history_scale.{m.name}.seconds.{key}",
                m.what,
                size,
                "s",
                seconds,
                target=limit if m.targeted else None,
                note=error,
                extra=extra,
            )
        )
        rss_target = TARGET_EXPORT_RSS_MB.get(rows) if m.name == "export" else None
        figures.append(
            Figure(
                f"history_scale.{m.name}.peak_rss.{key}",
                f"peak RSS: {m.what}",
                size,
                "MB",
                [round(r, 1) for r in rss],
                target=rss_target,
                note="whole process, imports included",
            )
        )
        context["measurements"][m.name] = {
            "seconds": seconds,
            "peak_rss_mb": rss,
            "value": last,
            "error": error,
        }
        cpu = [float(v["cpu_seconds"]) for v in values if isinstance(v, dict) and "cpu_seconds" in v]
        if cpu:
            how = (
                "process CPU, every thread"
                if m.name == "export"
                else "DuckDB profiler cpu_time, every thread"
            )
            figures.append(
                Figure(
                    f"history_scale.{m.name}.cpu_seconds.{key}",
                    f"CPU seconds: {m.what}",
                    size,
                    "s",
                    cpu,
                    note=f"{how}; a busy shared machine inflates it far less than wall time",
                )
            )
        if m.name == "session_usage_refresh" and isinstance(last, dict):
            scanned = int(last["scanned"].get("session_snapshots", 0))
            figures.append(
                Figure(
                    f"history_scale.session_usage_refresh.snapshot_rows_scanned.{key}",
                    f"session_snapshots rows scanned by the refresh ({last['sessions']} sessions)",
                    size,
                    "rows",
                    [scanned],
                    note=f"of {counts['session_snapshots']:,}; DuckDB profiler rows_scanned",
                    extra={"scanned_by_table": last["scanned"]},
                )
            )
    context["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return figures, context


def measure_sizes(
    sizes: Sequence[int],
    runs: int,
    timeout: float = 900.0,
    *,
    rebuild: bool = False,
    database: Path | None = None,
) -> tuple[list[Figure], dict[str, Any]]:
    """Measure every size; return the figures and the context."""
    figures: list[Figure] = []
    context: dict[str, Any] = {
        "sizes": list(sizes),
        "runs": runs,
        "month": MONTH,
        "livestreams": LIVESTREAMS,
        "apps": APPS,
        "build_version": BUILD_VERSION,
        "by_size": {},
    }
    for rows in sizes:
        print(f"{rows:,} snapshot rows", flush=True)
        found, facts = measure_size(rows, runs, timeout, database=database, rebuild=rebuild)
        figures += found
        context["by_size"][str(rows)] = facts
    return figures, context


def _series(
    document: dict[str, Any], name: str, metric: str
) -> tuple[list[int], list[float], list[float], list[float]]:
    """Sizes and median, min and max of one measurement's metric, from a results document."""
    found = []
    for fig in document["figures"]:
        match = re.fullmatch(rf"history_scale\.{name}\.{metric}\.rows(\d+)", fig["key"])
        if match and fig["median"] is not None:
            found.append((int(match.group(1)), fig["median"], fig["min"], fig["max"]))
    found.sort()
    return [f[0] for f in found], [f[1] for f in found], [f[2] for f in found], [f[3] for f in found]


def charts(document: dict[str, Any]) -> list[Path]:
    """Seconds against snapshot rows per measurement, the refresh on its own, and peak RSS (log x)."""
    paths = []
    figure, axes = new_chart(
        "History scale: reports, export and one poll's load",
        "session_snapshots rows",
        "seconds (median, min-max)",
    )
    axes.set_xscale("log")
    axes.set_yscale("log")
    for m in MEASUREMENTS:
        sizes, median, low, high = _series(document, m.name, "seconds")
        if sizes:
            axes.errorbar(
                sizes,
                median,
                yerr=[
                    [a - b for a, b in zip(median, low, strict=True)],
                    [b - a for a, b in zip(median, high, strict=True)],
                ],
                fmt="o-",
                capsize=3,
                label=m.name.replace("_", " "),
            )
    every = sorted({int(n) for n in document["context"].get("by_size", {})})
    if every:
        steps = [target_seconds(n) for n in every]
        axes.plot(
            [n for n, s in zip(every, steps, strict=True) if s],
            [s for s in steps if s],
            "s--",
            color="red",
            alpha=0.5,
            label="target (reports, export)",
        )
    axes.legend(fontsize=8)
    paths.append(save(figure, "history_scale"))

    figure, axes = new_chart(
        "session_usage refresh for one new poll (flat = incremental)",
        "session_snapshots rows",
        "seconds (median, min-max)",
    )
    axes.set_xscale("log")
    sizes, median, low, high = _series(document, "session_usage_refresh", "seconds")
    if sizes:
        axes.errorbar(
            sizes,
            median,
            yerr=[
                [a - b for a, b in zip(median, low, strict=True)],
                [b - a for a, b in zip(median, high, strict=True)],
            ],
            fmt="o-",
            capsize=3,
            color="black",
            label="refresh (11 + 12), seconds",
        )
        axes.set_ylim(0, max(high) * 1.6)
    cpu_sizes, cpu, _, _ = _series(document, "session_usage_refresh", "cpu_seconds")
    if cpu_sizes:
        axes.plot(cpu_sizes, cpu, "s--", color="gray", label="refresh, DuckDB CPU seconds")
    scanned_sizes, scanned, _, _ = _series(document, "session_usage_refresh", "snapshot_rows_scanned")
    if scanned_sizes:
        rows_axes = axes.twinx()
        rows_axes.plot(scanned_sizes, scanned, "^:", color="tab:blue", label="snapshot rows scanned")
        rows_axes.set_ylabel("session_snapshots rows scanned")
        rows_axes.set_ylim(0, max(scanned) * 1.6)
        rows_axes.legend(fontsize=8, loc="upper right")
    axes.legend(fontsize=8, loc="upper left")
    paths.append(save(figure, "history_scale_refresh"))

    figure, axes = new_chart("History scale: peak resident memory", "session_snapshots rows", "MB (peak RSS)")
    axes.set_xscale("log")
    for m in MEASUREMENTS:
        sizes, median, _, _ = _series(document, m.name, "peak_rss")
        if sizes:
            axes.plot(sizes, median, "o-", label=m.name.replace("_", " "))
    axes.axhline(2048, color="red", alpha=0.5, linestyle="--", label="target: export at 100M")
    axes.legend(fontsize=8)
    paths.append(save(figure, "history_scale_memory"))
    return paths


def main() -> None:
    """Measure the given sizes, print the figures and write data/bench/history_scale.json."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, action="append", help="session_snapshots rows (repeatable; default: 10,000,000)"
    )
    parser.add_argument(
        "--database", type=Path, help="default: data/bench/history-<rows>.duckdb (one --rows)"
    )
    parser.add_argument("--rebuild", action="store_true", help="build even if the database can be reused")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one run may take")
    args = parser.parse_args()
    sizes = args.rows or [10_000_000]
    if args.database and len(sizes) > 1:
        parser.error("--database needs exactly one --rows")
    multiprocessing.set_start_method("spawn", force=True)
    figures, context = measure_sizes(
        sizes, args.runs, args.timeout, rebuild=args.rebuild, database=args.database
    )
    print("\n".join(table_lines(figures)))
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"context": context, "figures": [f.summary() for f in figures]}, indent=2, default=str)
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
