"""The network half of a poll: discover, then read by priority within the poll's request allowance."""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from streamledger.client import Listing, NotSent, RealtimeKitClient
from streamledger.errors import ApiError
from streamledger.ratelimit import RequestBudget, shared_budget
from streamledger.settings import Settings
from streamledger.transforms.shapes import active_session_parts, parse_instant, session_items

# Livestreams in these states may have a running session; others are read only if we saw one running.
READ_STATUSES = frozenset({"LIVE", "INVOKED"})
# Retries come out of the same budget: this share of a poll's share is kept free in the budget window for
# them. Kept once in the window, not once per poll: each poll plans up to the same few free slots, so unused
# they cost a few slots per window, not per poll; the retries of one poll take them, and the next poll, which
# sees those retries in the window, plans that many fewer reads.
RETRY_RESERVE_SHARE = 0.1
# Send slots that free up within this share of the poll interval count as free: a poll starting as the sends
# of the poll one window earlier are about to leave the window waits a moment for them, not a whole poll.
SLOT_HORIZON_SHARE = 0.1
PLAN_COUNTS = (
    "planned_final",
    "planned_live",
    "planned_sweep",
    "deferred_final",
    "deferred_live",
    "deferred_sweep",
)
_NEVER = datetime.min.replace(tzinfo=UTC)
T = TypeVar("T")


@dataclass(frozen=True)
class LivestreamState:
    """What the warehouse knows about one livestream when a poll is planned."""

    app_id: str
    last_active_read_at: datetime | None
    last_swept_at: datetime | None
    swept_updated_at: datetime | None
    recently_active: bool


@dataclass(frozen=True)
class PollPlan:
    """What the warehouse tells a new poll before it sends anything."""

    livestreams: Mapping[str, LivestreamState]
    open_sessions: Mapping[str, tuple[str, str]]  # livestream_id -> (app_id, session_id) seen running
    to_finalize: tuple[tuple[str, str, str], ...]  # (app_id, livestream_id, session_id), oldest first
    recent_sends: tuple[float, ...]


EMPTY_PLAN = PollPlan({}, {}, (), ())


@dataclass
class FetchedPoll:
    """Everything one poll received from the API, and how the fetching went."""

    poll_id: str
    started_at: datetime
    finished_at: datetime
    app_ids: tuple[str, ...]
    responses: list[dict[str, Any]]
    kind: str = "snapshot"
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    transport_errors: int = 0
    active_reads: int = 0
    failed_calls: int = 0
    allowance: int = 0
    discovery_requests: int = 0
    plan: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PLAN_COUNTS, 0))
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


def fetch_poll(
    settings: Settings, plan: PollPlan, *, transport: httpx.AsyncBaseTransport | None = None
) -> FetchedPoll:
    """Discover, then read by priority within the poll's allowance: finalization, live, sweep."""
    return asyncio.run(_fetch(settings, plan, transport))


def fetch_daywise(
    settings: Settings,
    days: int,
    *,
    until: datetime | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FetchedPoll:
    """Read Cloudflare's daywise livestream totals of every app for the `days` UTC days up to `until`."""
    return asyncio.run(_fetch_daywise(settings, days, until, transport))


def poll_allowance(settings: Settings, budget: RequestBudget) -> int:
    """Requests one poll may send: its share of the budget window, and never more than the window has free.

    Free means free by a tenth of the interval from now (the poll's sends wait that long at most), less the
    slots kept free for retries.
    """
    share = settings.budget_requests * settings.poll_interval_seconds / settings.budget_window_seconds
    reserve = math.ceil(round(share * RETRY_RESERVE_SHARE, 6))  # a whole product may float a hair above it
    horizon = min(settings.poll_interval_seconds * SLOT_HORIZON_SHARE, settings.max_retry_wait_seconds)
    return max(0, min(math.ceil(share), budget.available(within=horizon) - reserve))


async def _fetch(
    settings: Settings, plan: PollPlan, transport: httpx.AsyncBaseTransport | None
) -> FetchedPoll:
    poll = _new_poll(settings, "snapshot")
    budget = _budget(settings, plan.recent_sends)
    poll.allowance = poll_allowance(settings, budget)
    async with RealtimeKitClient(
        settings, poll_id=poll.poll_id, budget=budget, transport=transport
    ) as client:
        poll.app_ids = await _discover_apps(client, poll, settings)
        listed = await _list_livestreams(client, poll)
        poll.discovery_requests = client.requests
        if client.halted is None:
            planner = _Planner(poll.allowance - poll.discovery_requests)
            await _read_by_priority(client, poll, plan, planner, listed)
            if client.halted is None:
                await _sweep(client, poll, plan, planner, listed, settings)
            poll.plan = planner.counts
        _finish(poll, client)
    return poll


async def _fetch_daywise(
    settings: Settings, days: int, until: datetime | None, transport: httpx.AsyncBaseTransport | None
) -> FetchedPoll:
    poll = _new_poll(settings, "reconcile")
    end = until or poll.started_at
    first_day = end.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    async with RealtimeKitClient(settings, poll_id=poll.poll_id, transport=transport) as client:
        poll.app_ids = await _discover_apps(client, poll, settings)
        reads = [client.daywise(app_id, first_day, end) for app_id in poll.app_ids]
        _collect(poll, await asyncio.gather(*reads, return_exceptions=True))
        poll.discovery_requests = client.requests
        _finish(poll, client)
    return poll


def _new_poll(settings: Settings, kind: str) -> FetchedPoll:
    started_at = datetime.now(UTC)
    return FetchedPoll(new_poll_id(started_at), started_at, started_at, settings.app_ids, [], kind=kind)


def _finish(poll: FetchedPoll, client: RealtimeKitClient) -> None:
    poll.responses = client.responses
    poll.requests = client.requests
    poll.retries = client.retries
    poll.rate_limited = client.rate_limited
    poll.transport_errors = client.transport_errors
    poll.finished_at = datetime.now(UTC)
    poll.network_seconds = (poll.finished_at - poll.started_at).total_seconds()


def _budget(settings: Settings, earlier_sends: Iterable[float]) -> RequestBudget:
    budget = shared_budget(
        settings.base_url,
        settings.api_token.reveal(),
        settings.budget_requests,
        settings.budget_window_seconds,
    )
    budget.seed(earlier_sends)
    return budget


async def _discover_apps(client: RealtimeKitClient, poll: FetchedPoll, settings: Settings) -> tuple[str, ...]:
    """Return the configured app ids, or every app of the account when none is configured."""
    if settings.app_ids:
        return settings.app_ids
    try:
        listing = await client.list_apps()
    except ApiError as error:
        _collect(poll, [error])
        return ()
    if not listing.complete:
        poll.errors.append(f"list_apps: {listing.problem}")
    ids = (item["id"] for item in listing.items if isinstance(item, dict) and isinstance(item.get("id"), str))
    return tuple(dict.fromkeys(ids))


async def _list_livestreams(
    client: RealtimeKitClient, poll: FetchedPoll
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Return every listed livestream by id, with its app id and listed attributes."""
    listings = await asyncio.gather(
        *(client.list_livestreams(app) for app in poll.app_ids), return_exceptions=True
    )
    _collect(poll, listings)
    listed: dict[str, tuple[str, dict[str, Any]]] = {}
    for app_id, listing in zip(poll.app_ids, listings, strict=True):
        if isinstance(listing, Listing):
            if not listing.complete:
                poll.errors.append(f"list_livestreams on app {app_id}: {listing.problem}")
            for item in listing.items:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    listed[item["id"]] = (app_id, item)
    return listed


class _Planner:
    """Hands out the poll's remaining requests by priority and counts what it sends and defers."""

    def __init__(self, remaining: int) -> None:
        self.remaining = max(0, remaining)
        self.counts = dict.fromkeys(PLAN_COUNTS, 0)

    def take(self, kind: str, candidates: list[T]) -> list[T]:
        granted = candidates[: self.remaining]
        self.remaining -= len(granted)
        self.counts[f"planned_{kind}"] += len(granted)
        self.counts[f"deferred_{kind}"] += len(candidates) - len(granted)
        return granted

    def take_one(self, kind: str) -> bool:
        return bool(self.take(kind, [None]))


async def _read_by_priority(
    client: RealtimeKitClient,
    poll: FetchedPoll,
    plan: PollPlan,
    planner: _Planner,
    listed: Mapping[str, tuple[str, dict[str, Any]]],
) -> None:
    """Finalization reads first, then active-session reads, least recently read first."""
    finals = planner.take("final", list(plan.to_finalize))
    app_of = {ls: app for ls, (app, _) in plan.open_sessions.items()} | {
        ls: app for ls, (app, _) in listed.items()
    }
    live_ids = {ls for ls, (_, item) in listed.items() if _status(item) in READ_STATUSES} | set(
        plan.open_sessions
    )

    def last_read(livestream_id: str) -> tuple[datetime, str]:
        state = plan.livestreams.get(livestream_id)
        return (state.last_active_read_at if state and state.last_active_read_at else _NEVER), livestream_id

    live = planner.take("live", sorted(live_ids, key=last_read))
    poll.active_reads = len(live)

    # Each read keeps only what the plan needs of its answer (the raw responses keep the body): a poll of
    # 10,000 reads would otherwise hold every parsed body at once.
    async def read_final(app_id: str, livestream_id: str, session_id: str) -> None:
        await client.session_by_id(app_id, session_id, livestream_id)

    async def read_active(app_id: str, livestream_id: str) -> str | None:
        return _shown_session_id(await client.active_session(app_id, livestream_id))

    results = await asyncio.gather(
        *(read_final(app, ls, session_id) for app, ls, session_id in finals),
        *(read_active(app_of[ls], ls) for ls in live),
        return_exceptions=True,
    )
    _collect(poll, results)
    if client.halted is not None:
        return
    # A session seen running last time whose livestream now shows no session, or another one, has stopped
    # unseen: read it by id now. One still shown (running, or stopped and lingering) needs no extra read.
    answers = dict(zip(live, results[len(finals) :], strict=True))
    planned = {session_id for _, _, session_id in plan.to_finalize}  # read or already counted as deferred
    vanished = [
        (app, ls, session_id)
        for ls, (app, session_id) in sorted(plan.open_sessions.items())
        if ls in answers
        and session_id not in planned
        and not isinstance(answers[ls], BaseException)  # a failed read proves nothing: not taken as stopped
        and answers[ls] != session_id
    ]
    reads = [client.session_by_id(app, sid, ls) for app, ls, sid in planner.take("final", vanished)]
    _collect(poll, await asyncio.gather(*reads, return_exceptions=True))


async def _sweep(
    client: RealtimeKitClient,
    poll: FetchedPoll,
    plan: PollPlan,
    planner: _Planner,
    listed: Mapping[str, tuple[str, dict[str, Any]]],
    settings: Settings,
) -> None:
    """Read the session lists of livestreams that changed since their last sweep, or are due one."""
    now = datetime.now(UTC)
    due: list[tuple[datetime, str]] = []
    for livestream_id, (_, item) in listed.items():
        state = plan.livestreams.get(livestream_id)
        if state is None or _changed(state, item) or _sweep_due(state, now, settings.sweep_interval_seconds):
            due.append(((state.last_swept_at if state else None) or _NEVER, livestream_id))

    async def sweep(livestream_id: str) -> None:
        state = plan.livestreams.get(livestream_id)
        since = state.last_swept_at if state else None
        for page in range(1, settings.max_sweep_pages + 1):
            if page > 1 and not planner.take_one("sweep"):
                return
            body = await client.livestream_sessions(
                listed[livestream_id][0], livestream_id, page, settings.per_page
            )
            _, sessions, paging = session_items(body)
            more = not paging.is_last_page() if paging else len(sessions) >= settings.per_page
            created = [parse_instant(s.get("created_at")) or _NEVER for s in sessions if isinstance(s, dict)]
            # Pages are newest first: stop once a page reaches back past the previous sweep.
            if not more or not created or (since is not None and min(created) <= since):
                return

    chosen = planner.take("sweep", [ls for _, ls in sorted(due)])
    _collect(poll, await asyncio.gather(*(sweep(ls) for ls in chosen), return_exceptions=True))


def _changed(state: LivestreamState, item: Mapping[str, Any]) -> bool:
    """True when the listed updated_at moved since the last sweep (a session started or stopped)."""
    updated = parse_instant(item.get("updated_at"))
    return state.swept_updated_at is None or updated is None or updated > state.swept_updated_at


def _sweep_due(state: LivestreamState, now: datetime, interval_seconds: float) -> bool:
    """True for a recently active livestream not swept for a sweep interval (a safety net for the API)."""
    if not state.recently_active:
        return False
    return state.last_swept_at is None or (now - state.last_swept_at).total_seconds() >= interval_seconds


def _collect(poll: FetchedPoll, results: Iterable[Any]) -> None:
    """Record the failed calls among results: one line each, and one line for those not sent at all."""
    not_sent: list[NotSent] = []
    for result in results:
        if isinstance(result, NotSent):
            not_sent.append(result)
        elif isinstance(result, ApiError):
            _fail(poll, result)
        elif isinstance(result, BaseException):
            raise result
    if not_sent:
        # They share one cause (a refused token, a long rate-limit block), named in the first of them.
        poll.failed_calls += len(not_sent)
        more = f" (and {len(not_sent) - 1} more calls not sent)" if len(not_sent) > 1 else ""
        poll.errors.append(f"{not_sent[0]}{more}")


def _fail(poll: FetchedPoll, error: ApiError) -> None:
    poll.failed_calls += 1
    poll.errors.append(str(error))
    if error.is_auth_error and poll.fatal is None:
        poll.fatal = str(error)


def _status(item: Mapping[str, Any]) -> str:
    return str(item.get("status") or "").strip().upper()


def _shown_session_id(answer: Any) -> str | None:
    """The id of the session an active-session answer shows (None: no session)."""
    _, session = active_session_parts(answer)
    if session is None:
        return None
    session_id = session.get("id")
    return session_id if isinstance(session_id, str) else None
