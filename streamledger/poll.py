"""One poll, step by step: plan, fetch, land, normalize, load. The flows in flows/ string these together."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import polars as pl

from streamledger.errors import DatabaseBusy, WarehouseError
from streamledger.fetch import EMPTY_PLAN, PLAN_COUNTS, FetchedPoll, LivestreamState, PollPlan, fetch_poll
from streamledger.files import remove_leftovers
from streamledger.settings import Settings
from streamledger.transforms.normalize import NormalizedPoll, normalize_responses, responses_frame
from streamledger.warehouse import opened, query, register, run_file

# Livestreams with a session seen in this many hours are swept now and then even without a sign of change.
ACTIVE_HOURS = 24
MESSAGE_LINES = 20
DERIVED_FILES = (
    "load/03_parse_issues.sql",
    "load/04_session_snapshots.sql",
    "load/05_livestreams.sql",
    "load/06_sessions.sql",
    "load/07_apps.sql",
    "load/08_analytics_daily.sql",
    "load/09_read_state.sql",
    "load/10_finalize.sql",
    "load/11_usage_stale.sql",
    "load/12_session_usage.sql",
)
# The columns of queries/plan_livestreams.sql that make a LivestreamState, in its order.
STATE_COLUMNS = ("app_id", "last_active_read_at", "last_swept_at", "swept_updated_at", "recently_active")
LOAD_FILES = ("load/01_clear_poll.sql", "load/02_raw_responses.sql", *DERIVED_FILES, "load/13_poll_runs.sql")
_COUNT = pl.Int32()
POLL_RUN_SCHEMA: dict[str, pl.DataType] = {
    "poll_id": pl.String(),
    "kind": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "app_ids": pl.List(pl.String()),
    "livestreams": _COUNT,
    "active_reads": _COUNT,
    "sessions": _COUNT,
    "requests": _COUNT,
    "responses": _COUNT,
    "retries": _COUNT,
    "rate_limited": _COUNT,
    "transport_errors": _COUNT,
    "failed_calls": _COUNT,
    "parse_issues": _COUNT,
    "unknown_statuses": _COUNT,
    "outcome": pl.String(),
    "message": pl.String(),
    "network_seconds": pl.Float64(),
    "normalize_seconds": pl.Float64(),
    "load_seconds": pl.Float64(),
    "recovered": pl.Boolean(),
    "allowance": _COUNT,
    "discovery_requests": _COUNT,
    **dict.fromkeys(PLAN_COUNTS, _COUNT),
}


def plan_poll(settings: Settings, *, wait_seconds: float | None = None) -> PollPlan:
    """Read from the warehouse what this poll must know before it sends anything.

    While another process (a report, an analyst's duckdb) holds the file past the wait, the poll is planned
    from the plan cached by the previous one instead, so that it is not lost; its budget then counts the
    sends that plan knew and those of the polls landed since.
    """
    wait = settings.lock_wait_seconds if wait_seconds is None else wait_seconds
    try:
        with opened(settings.database, wait_seconds=wait) as con:
            states = query(con, "queries/plan_livestreams.sql", {"active_hours": ACTIVE_HOURS})
            open_rows = query(con, "queries/open_sessions.sql").rows()
            finalize = query(con, "queries/finalization_candidates.sql").rows()
            window = {"window_seconds": settings.budget_window_seconds}
            sends = query(con, "queries/recent_requests.sql", window)
    except DatabaseBusy:
        return cached_plan(settings)
    plan = PollPlan(
        livestreams={
            livestream_id: LivestreamState(*state)
            for livestream_id, *state in zip(
                *(states[column].to_list() for column in ("livestream_id", *STATE_COLUMNS)), strict=True
            )
        },
        open_sessions={
            livestream_id: (app_id, session_id) for app_id, livestream_id, session_id in open_rows
        },
        to_finalize=tuple((app_id, ls, session_id) for app_id, ls, session_id in finalize),
        recent_sends=tuple(sends["sent_at"].to_list()),
    )
    _write_plan_cache(settings.landing_dir / PLAN_CACHE, plan)
    return plan


PLAN_CACHE = "plan-cache.json"


def _write_plan_cache(path: Path, plan: PollPlan) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_file(path, orjson.dumps(plan))


def _replace_file(path: Path, data: bytes) -> None:
    # A temporary name per process: a snapshot and a reconcile run may write the cache at once.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)


def cached_plan(settings: Settings) -> PollPlan:
    """Return the previous poll's plan, with the sends of polls landed since (EMPTY_PLAN if there is none)."""
    path = settings.landing_dir / PLAN_CACHE
    plan = EMPTY_PLAN
    if path.exists():
        try:
            raw = orjson.loads(path.read_bytes())
            plan = PollPlan(
                livestreams={
                    ls: LivestreamState(
                        state["app_id"],
                        _instant(state["last_active_read_at"]),
                        _instant(state["last_swept_at"]),
                        _instant(state["swept_updated_at"]),
                        state["recently_active"],
                    )
                    for ls, state in raw["livestreams"].items()
                },
                open_sessions={ls: (pair[0], pair[1]) for ls, pair in raw["open_sessions"].items()},
                to_finalize=tuple((a, ls, s) for a, ls, s in raw["to_finalize"]),
                recent_sends=tuple(raw["recent_sends"]),
            )
        except (ValueError, KeyError, TypeError):
            plan = EMPTY_PLAN  # a damaged cache only costs the poll its priorities, never its budget
    # Every raw response is one request sent. Loaded polls add theirs to the cache (remember_sends);
    # polls still landed are not in it yet.
    landed = []
    for file in sorted(settings.landing_dir.glob("*.jsonl")):
        try:
            landed += [response["fetched_at"].timestamp() for response in read_landed(file).responses]
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            continue  # loaded and removed meanwhile, or damaged (recovery quarantines it)
    return replace(plan, recent_sends=tuple(sorted([*plan.recent_sends, *landed])))


def remember_sends(settings: Settings, poll: FetchedPoll) -> None:
    """Add a loaded poll's requests to the cached plan, so a plan made from the cache counts them."""
    path = settings.landing_dir / PLAN_CACHE
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, ValueError):
        return  # no cache yet: the next plan reads every request from the database
    horizon = time.time() - settings.budget_window_seconds
    sends = [*raw.get("recent_sends", []), *(r["fetched_at"].timestamp() for r in poll.responses)]
    raw["recent_sends"] = sorted(sent for sent in sends if sent > horizon)
    _replace_file(path, orjson.dumps(raw))


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def land(landing_dir: Path, poll: FetchedPoll) -> Path:
    """Write the poll to a landing file atomically (header line, then one line per response)."""
    landing_dir.mkdir(parents=True, exist_ok=True)
    path = landing_dir / f"{poll.poll_id}.jsonl"
    # Named by the writing process, so that a leftover of a killed writer can be told from a live one.
    tmp = landing_dir / f".{path.name}.tmp-{os.getpid()}"
    # Not dataclasses.asdict: it deep-copies every response only for them to be dropped here.
    header = {f.name: getattr(poll, f.name) for f in fields(poll) if f.name != "responses"}
    try:
        with tmp.open("wb") as out:
            out.write(orjson.dumps(header) + b"\n")
            for response in poll.responses:
                out.write(orjson.dumps(response, option=orjson.OPT_APPEND_NEWLINE))
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_landed(path: Path) -> FetchedPoll:
    """Read a landing file back into the poll it was written from."""
    lines = path.read_bytes().splitlines()
    header = orjson.loads(lines[0])
    responses = [orjson.loads(line) for line in lines[1:]]
    for response in responses:
        for name in ("fetched_at", "server_date"):
            if response.get(name) is not None:
                response[name] = datetime.fromisoformat(response[name])
    return FetchedPoll(
        **header
        | {
            "started_at": datetime.fromisoformat(header["started_at"]),
            "finished_at": datetime.fromisoformat(header["finished_at"]),
            "app_ids": tuple(header["app_ids"]),
            "responses": responses,
        }
    )


def normalize_poll(poll: FetchedPoll) -> tuple[NormalizedPoll, float]:
    """Type the poll's responses; return the frames and the seconds it took."""
    clock = time.perf_counter()
    normalized = normalize_responses(poll.responses)
    return normalized, time.perf_counter() - clock


def load_poll(
    settings: Settings,
    poll: FetchedPoll,
    normalized: NormalizedPoll,
    *,
    normalize_seconds: float = 0.0,
    recovered: bool = False,
) -> dict[str, Any]:
    """Load raw responses, typed rows, issues and the ledger row in one transaction; return the ledger row."""
    clock = time.perf_counter()
    with opened(settings.database, wait_seconds=settings.lock_wait_seconds) as con:
        con.execute("begin transaction")
        step = "staging"
        try:
            stage(con, responses_frame(poll.responses), normalized)
            for step in LOAD_FILES[:-1]:
                run_file(con, step, {"poll_id": poll.poll_id})
            row = poll_run_row(poll, normalized, normalize_seconds, time.perf_counter() - clock, recovered)
            register(con, "staged_poll_run", pl.DataFrame([row], schema=POLL_RUN_SCHEMA))
            step = LOAD_FILES[-1]
            run_file(con, step)
            con.execute("commit")
        except duckdb.Error as exc:
            con.execute("rollback")
            raise WarehouseError(
                f"database {settings.database}: loading poll {poll.poll_id} failed at {step}: "
                f"{' '.join(str(exc).split())[:300]}"
            ) from None
    remember_sends(settings, poll)
    return row


def stage(con: duckdb.DuckDBPyConnection, responses: pl.DataFrame, normalized: NormalizedPoll) -> None:
    """Register the frames the load files read."""
    register(con, "staged_responses", responses)
    register(con, "staged_livestreams", normalized.livestreams)
    register(con, "staged_sessions", normalized.sessions)
    register(con, "staged_issues", normalized.issues)
    register(con, "staged_apps", normalized.apps)
    register(con, "staged_daywise", normalized.daywise)


def poll_run_row(
    poll: FetchedPoll,
    normalized: NormalizedPoll,
    normalize_seconds: float,
    load_seconds: float,
    recovered: bool,
) -> dict[str, Any]:
    """Return the poll's ledger row (one row of poll_runs)."""
    problems: list[str] = [poll.fatal] if poll.fatal else []
    problems += [e for e in poll.errors if e != poll.fatal]
    if len(problems) > MESSAGE_LINES:
        problems = [*problems[:MESSAGE_LINES], f"... and {len(problems) - MESSAGE_LINES} more"]
    return {
        "poll_id": poll.poll_id,
        "kind": poll.kind,
        "started_at": poll.started_at,
        "finished_at": poll.finished_at,
        "app_ids": list(poll.app_ids),
        "livestreams": normalized.livestreams["livestream_id"].n_unique(),
        "active_reads": poll.active_reads,
        "sessions": normalized.sessions["session_id"].n_unique(),
        "requests": poll.requests,
        "responses": sum(1 for r in poll.responses if r["http_status"] is not None),
        "retries": poll.retries,
        "rate_limited": poll.rate_limited,
        "transport_errors": poll.transport_errors,
        "failed_calls": poll.failed_calls,
        "parse_issues": normalized.issues.height,
        "unknown_statuses": normalized.unknown_statuses,
        "outcome": poll.outcome,
        "message": "\n".join(problems) or None,
        "network_seconds": round(poll.network_seconds, 4),
        "normalize_seconds": round(normalize_seconds, 4),
        "load_seconds": round(load_seconds, 4),
        "recovered": recovered,
        "allowance": poll.allowance,
        "discovery_requests": poll.discovery_requests,
        **{name: poll.plan.get(name, 0) for name in PLAN_COUNTS},
    }


def recover_landed(settings: Settings) -> tuple[list[dict[str, Any]], list[str], bool]:
    """Load every landing file an interrupted or deferred run left behind (loading is idempotent).

    Returns the loaded polls' rows, one line per problem, and whether the database was busy. A file that
    fails to load moves to landing/quarantine/ (kept, never deleted) so that it cannot block every later
    poll; while another process holds the database the files simply wait for the next run.
    """
    rows, problems = [], []
    if settings.landing_dir.exists():
        remove_leftovers(settings.landing_dir)
    for path in sorted(settings.landing_dir.glob("*.jsonl")):
        try:
            poll = read_landed(path)
            normalized, seconds = normalize_poll(poll)
            rows.append(load_poll(settings, poll, normalized, normalize_seconds=seconds, recovered=True))
        except FileNotFoundError:
            continue  # another run (snapshot or reconcile) loaded it meanwhile
        except DatabaseBusy as exc:
            pending = len(list(settings.landing_dir.glob("*.jsonl")))
            problems.append(f"{pending} landed poll(s) wait for the next run: {exc}")
            return rows, problems, True
        except (WarehouseError, ValueError, KeyError, TypeError, IndexError) as exc:
            quarantine = settings.landing_dir / "quarantine"
            quarantine.mkdir(exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.replace(quarantine / path.name)
            problems.append(f"landing file {path.name} could not be loaded, moved to {quarantine}: {exc}")
            continue
        path.unlink(missing_ok=True)
    return rows, problems, False


def run_poll(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> dict[str, Any]:
    """Run one whole poll without Prefect (tests, benchmarks); the flow runs the same steps as tasks."""
    return finish(settings, fetch_poll(settings, plan_poll(settings), transport=transport))


def finish(settings: Settings, fetched: FetchedPoll) -> dict[str, Any]:
    """Land, normalize and load a fetched poll, then drop its landing file; return the ledger row.

    If the database stays busy, DatabaseBusy is raised and the landing file stays for the next run.
    """
    path = land(settings.landing_dir, fetched)
    normalized, seconds = normalize_poll(fetched)
    row = load_poll(settings, fetched, normalized, normalize_seconds=seconds)
    path.unlink(missing_ok=True)  # a concurrent recovery may have loaded and removed it already
    return row
