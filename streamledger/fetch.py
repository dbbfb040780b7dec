"""The network stage of a poll: discover apps and livestreams, then read what the plan chooses."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from streamledger.client import Listing, NotSent, RealtimeKitClient
from streamledger.errors import ApiError
from streamledger.plan import NEVER, Allowance, Listed, live_reads, poll_allowance, stopped_unseen, sweeps_due
from streamledger.poll import FetchedPoll, PollPlan, new_poll_id
from streamledger.ratelimit import RequestBudget, shared_budget
from streamledger.settings import Settings
from streamledger.transforms.shapes import active_session_parts, parse_instant, session_items


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
    return asyncio.run(_fetch_analytics(settings, days, 0, until, transport))


def fetch_analytics(
    settings: Settings,
    days: int,
    months: int,
    *,
    until: datetime | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FetchedPoll:
    """Read Cloudflare's daywise totals for the `days` UTC days up to `until`, and its overall totals of each
    of the `months` calendar months up to it (the month of `until` and those before), for every app."""
    return asyncio.run(_fetch_analytics(settings, days, months, until, transport))


def month_windows(until: datetime, months: int) -> list[tuple[datetime, datetime]]:
    """[start, start of the next month) of the UTC month of `until` and of the months - 1 before it."""
    first = until.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    windows: list[tuple[datetime, datetime]] = []
    for _ in range(months):
        following = (first + timedelta(days=32)).replace(day=1)
        windows.append((first, following))
        first = (first - timedelta(days=1)).replace(day=1)
    return windows


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
            allowance = Allowance(poll.allowance - poll.discovery_requests)
            await _read_by_priority(client, poll, plan, allowance, listed)
            if client.halted is None:
                await _sweep(client, poll, plan, allowance, listed, settings)
            poll.plan = allowance.counts
        _finish(poll, client)
    return poll


async def _fetch_analytics(
    settings: Settings,
    days: int,
    months: int,
    until: datetime | None,
    transport: httpx.AsyncBaseTransport | None,
) -> FetchedPoll:
    poll = _new_poll(settings, "reconcile")
    end = until or poll.started_at
    first_day = end.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    async with RealtimeKitClient(settings, poll_id=poll.poll_id, transport=transport) as client:
        poll.app_ids = await _discover_apps(client, poll, settings)
        reads = [client.daywise(app_id, first_day, end) for app_id in poll.app_ids]
        # A month's whole window, also while it runs: the export's cross-check asks for exactly that window.
        reads += [
            client.overall(app_id, start, following)
            for app_id in poll.app_ids
            for start, following in month_windows(end, months)
        ]
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


async def _read_by_priority(
    client: RealtimeKitClient, poll: FetchedPoll, plan: PollPlan, allowance: Allowance, listed: Listed
) -> None:
    """Finalization reads first, then active-session reads, then sessions that stopped unseen."""
    finals = allowance.take("final", list(plan.to_finalize))
    app_of = {ls: app for ls, (app, _) in plan.open_sessions.items()} | {
        ls: app for ls, (app, _) in listed.items()
    }
    live = allowance.take("live", live_reads(plan, listed))
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
    shown = dict(zip(live, results[len(finals) :], strict=True))
    vanished = allowance.take("final", stopped_unseen(plan, shown))
    reads = [client.session_by_id(app, sid, ls) for app, ls, sid in vanished]
    _collect(poll, await asyncio.gather(*reads, return_exceptions=True))


async def _sweep(
    client: RealtimeKitClient,
    poll: FetchedPoll,
    plan: PollPlan,
    allowance: Allowance,
    listed: Listed,
    settings: Settings,
) -> None:
    """Read the session lists the plan finds due, page by page back to the previous sweep."""

    async def sweep(livestream_id: str) -> None:
        state = plan.livestreams.get(livestream_id)
        since = state.last_swept_at if state else None
        for page in range(1, settings.max_sweep_pages + 1):
            if page > 1 and not allowance.take_one("sweep"):
                return
            body = await client.livestream_sessions(
                listed[livestream_id][0], livestream_id, page, settings.per_page
            )
            _, sessions, paging = session_items(body)
            more = not paging.is_last_page() if paging else len(sessions) >= settings.per_page
            created = [parse_instant(s.get("created_at")) or NEVER for s in sessions if isinstance(s, dict)]
            # Pages are newest first: stop once a page reaches back past the previous sweep.
            if not more or not created or (since is not None and min(created) <= since):
                return

    due = sweeps_due(plan, listed, datetime.now(UTC), settings.sweep_interval_seconds)
    chosen = allowance.take("sweep", due)
    _collect(poll, await asyncio.gather(*(sweep(ls) for ls in chosen), return_exceptions=True))


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


def _shown_session_id(answer: Any) -> str | None:
    """The id of the session an active-session answer shows (None: no session)."""
    _, session = active_session_parts(answer)
    if session is None:
        return None
    session_id = session.get("id")
    return session_id if isinstance(session_id, str) else None
