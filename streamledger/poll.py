"""One poll, step by step: plan, fetch, land, normalize, load. The flow in flows/ strings these together."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import polars as pl

from streamledger.client import RealtimeKitClient
from streamledger.errors import ApiError, WarehouseError
from streamledger.ratelimit import shared_budget
from streamledger.settings import Settings
from streamledger.warehouse import opened, query, run_file
from transforms.normalize import NormalizedPoll, normalize_responses, responses_frame

# Livestreams in these states may have a running session; others are read only if we saw one open.
READ_STATUSES = frozenset({"LIVE", "INVOKED"})
MESSAGE_LINES = 20
LOAD_FILES = (
    "load/01_clear_poll.sql",
    "load/02_raw_responses.sql",
    "load/03_parse_issues.sql",
    "load/04_session_snapshots.sql",
    "load/05_livestreams.sql",
    "load/06_sessions.sql",
    "load/07_poll_runs.sql",
)
POLL_RUN_SCHEMA: dict[str, pl.DataType] = {
    "poll_id": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "app_ids": pl.List(pl.String()),
    "livestreams": pl.Int32(),
    "active_reads": pl.Int32(),
    "sessions": pl.Int32(),
    "requests": pl.Int32(),
    "responses": pl.Int32(),
    "retries": pl.Int32(),
    "rate_limited": pl.Int32(),
    "transport_errors": pl.Int32(),
    "failed_calls": pl.Int32(),
    "parse_issues": pl.Int32(),
    "unknown_statuses": pl.Int32(),
    "outcome": pl.String(),
    "message": pl.String(),
    "network_seconds": pl.Float64(),
    "normalize_seconds": pl.Float64(),
    "load_seconds": pl.Float64(),
    "recovered": pl.Boolean(),
}


@dataclass(frozen=True)
class PollPlan:
    """What the warehouse tells a new poll: livestreams with a session seen open, and recent sends."""

    open_livestreams: Mapping[str, frozenset[str]]
    recent_sends: tuple[float, ...]


@dataclass
class FetchedPoll:
    """Everything one poll received from the API, and how the fetching went."""

    poll_id: str
    started_at: datetime
    finished_at: datetime
    app_ids: tuple[str, ...]
    responses: list[dict[str, Any]]
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    transport_errors: int = 0
    active_reads: int = 0
    failed_calls: int = 0
    errors: list[str] = field(default_factory=list)
    fatal: str | None = None
    network_seconds: float = 0.0

    @property
    def outcome(self) -> str:
        """ok, partial (some calls failed; the rest is kept) or failed (nothing could be read)."""
        if self.fatal is not None:
            return "failed"
        return "partial" if self.errors else "ok"


def new_poll_id(started_at: datetime) -> str:
    """Return a poll id that sorts by start time: 20261127T183200.123456Z-1a2b3c."""
    return f"{started_at:%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(3)}"


def plan_poll(settings: Settings) -> PollPlan:
    """Read from the warehouse what this poll must know before it sends anything."""
    with opened(settings.database) as con:
        open_rows = query(con, "queries/open_sessions.sql").rows()
        sends = query(con, "queries/recent_requests.sql", {"window_seconds": settings.budget_window_seconds})
    grouped: dict[str, set[str]] = {}
    for app_id, livestream_id in open_rows:
        grouped.setdefault(app_id, set()).add(livestream_id)
    return PollPlan(
        open_livestreams={app: frozenset(ids) for app, ids in grouped.items()},
        recent_sends=tuple(sends["sent_at"].to_list()),
    )


def fetch_poll(
    settings: Settings, plan: PollPlan, *, transport: httpx.AsyncBaseTransport | None = None
) -> FetchedPoll:
    """Discover each app's livestreams and read the active session of those that may be live."""
    return asyncio.run(_fetch(settings, plan, transport))


async def _fetch(
    settings: Settings, plan: PollPlan, transport: httpx.AsyncBaseTransport | None
) -> FetchedPoll:
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    poll = FetchedPoll(new_poll_id(started_at), started_at, started_at, settings.app_ids, [])
    budget = shared_budget(
        settings.base_url,
        settings.api_token.reveal(),
        settings.budget_requests,
        settings.budget_window_seconds,
    )
    budget.seed(plan.recent_sends)
    async with RealtimeKitClient(
        settings, poll_id=poll.poll_id, budget=budget, transport=transport
    ) as client:
        listings = await asyncio.gather(
            *(client.list_livestreams(app_id) for app_id in settings.app_ids), return_exceptions=True
        )
        targets: list[tuple[str, str]] = []
        for app_id, listing in zip(settings.app_ids, listings, strict=True):
            candidates = set(plan.open_livestreams.get(app_id, ()))
            if isinstance(listing, ApiError):
                _fail(poll, listing)
            elif isinstance(listing, BaseException):
                raise listing
            else:
                if not listing.complete:
                    poll.errors.append(f"list_livestreams on app {app_id}: {listing.problem}")
                candidates |= _may_be_live(listing.items)
            targets.extend((app_id, livestream_id) for livestream_id in sorted(candidates))
        if poll.fatal is None:
            reads = await asyncio.gather(
                *(client.active_session(a, ls) for a, ls in targets), return_exceptions=True
            )
            for read in reads:
                if isinstance(read, ApiError):
                    _fail(poll, read)
                elif isinstance(read, BaseException):
                    raise read
        poll.active_reads = len(targets)
        poll.responses = client.responses
        poll.requests = client.requests
        poll.retries = client.retries
        poll.rate_limited = client.rate_limited
        poll.transport_errors = client.transport_errors
    poll.finished_at = datetime.now(UTC)
    poll.network_seconds = time.perf_counter() - clock
    return poll


def _may_be_live(items: Iterable[Any]) -> set[str]:
    """Return the ids of listed livestreams whose status says a session may be running."""
    return {
        item["id"]
        for item in items
        if isinstance(item, dict)
        and isinstance(item.get("id"), str)
        and str(item.get("status") or "").strip().upper() in READ_STATUSES
    }


def _fail(poll: FetchedPoll, error: ApiError) -> None:
    poll.failed_calls += 1
    poll.errors.append(str(error))
    if error.is_auth_error and poll.fatal is None:
        poll.fatal = str(error)


def land(landing_dir: Path, poll: FetchedPoll) -> Path:
    """Write the poll to a landing file atomically (header line, then one line per response)."""
    landing_dir.mkdir(parents=True, exist_ok=True)
    path = landing_dir / f"{poll.poll_id}.jsonl"
    tmp = path.with_suffix(".jsonl.tmp")
    header = {k: v for k, v in asdict(poll).items() if k != "responses"}
    with tmp.open("wb") as out:
        out.write(orjson.dumps(header) + b"\n")
        for response in poll.responses:
            out.write(orjson.dumps(response) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    return path


def read_landed(path: Path) -> FetchedPoll:
    """Read a landing file back into the poll it was written from."""
    lines = path.read_bytes().splitlines()
    header = orjson.loads(lines[0])
    responses = [orjson.loads(line) for line in lines[1:]]
    for response in responses:
        response["fetched_at"] = datetime.fromisoformat(response["fetched_at"])
    return FetchedPoll(
        **header
        | {
            "started_at": datetime.fromisoformat(header["started_at"]),
            "finished_at": datetime.fromisoformat(header["finished_at"]),
            "app_ids": tuple(header["app_ids"]),
            "responses": responses,
        }
    )


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
    staged = {
        "staged_responses": responses_frame(poll.responses),
        "staged_livestreams": normalized.livestreams,
        "staged_sessions": normalized.sessions,
        "staged_issues": normalized.issues,
    }
    with opened(settings.database) as con:
        con.execute("begin transaction")
        step = "staging"
        try:
            for name, frame in staged.items():
                con.register(name, frame)
            for step in LOAD_FILES[:-1]:
                run_file(con, step, {"poll_id": poll.poll_id})
            row = poll_run_row(poll, normalized, normalize_seconds, time.perf_counter() - clock, recovered)
            con.register("staged_poll_run", pl.DataFrame([row], schema=POLL_RUN_SCHEMA))
            step = LOAD_FILES[-1]
            run_file(con, step)
            con.execute("commit")
        except duckdb.Error as exc:
            con.execute("rollback")
            raise WarehouseError(
                f"database {settings.database}: loading poll {poll.poll_id} failed at {step}: "
                f"{' '.join(str(exc).split())[:300]}"
            ) from None
    return row


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
    }


def normalize_poll(poll: FetchedPoll) -> tuple[NormalizedPoll, float]:
    """Type the poll's responses; return the frames and the seconds it took."""
    clock = time.perf_counter()
    normalized = normalize_responses(poll.responses)
    return normalized, time.perf_counter() - clock


def recover_landed(settings: Settings) -> list[dict[str, Any]]:
    """Load every landing file an interrupted run left behind (loading is idempotent); return their rows."""
    rows = []
    for path in sorted(settings.landing_dir.glob("*.jsonl")):
        poll = read_landed(path)
        normalized, seconds = normalize_poll(poll)
        rows.append(load_poll(settings, poll, normalized, normalize_seconds=seconds, recovered=True))
        path.unlink()
    return rows


def run_poll(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> dict[str, Any]:
    """Run one whole poll without Prefect (tests, benchmarks); the flow runs the same steps as tasks."""
    fetched = fetch_poll(settings, plan_poll(settings), transport=transport)
    path = land(settings.landing_dir, fetched)
    normalized, seconds = normalize_poll(fetched)
    row = load_poll(settings, fetched, normalized, normalize_seconds=seconds)
    path.unlink()
    return row
