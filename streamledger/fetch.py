"""The network stage of a poll: discover apps and livestreams, then read what the plan chooses."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from streamledger.client import NotSent, RealtimeKitClient
from streamledger.errors import ApiError
from streamledger.plan import (
    LISTED_STATUSES,
    NEVER,
    Allowance,
    Listed,
    listed_status,
    live_reads,
    poll_allowance,
    round_share,
    stopped_unseen,
    sweeps_due,
)
from streamledger.poll import FetchedPoll, PollPlan, new_poll_id
from streamledger.ratelimit import RequestBudget, shared_budget
from streamledger.settings import Settings
from streamledger.transforms.shapes import active_session_parts, list_items, parse_instant, session_items


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
    # Discovery draws on the allowance too, page by page: endless apps or listings end where it does.
    allowance = Allowance(poll.allowance)
    async with _client(settings, poll, budget, transport, plan.stream_key_fingerprints) as client:
        poll.app_ids = await _discover_apps(client, poll, settings, allowance)
        listed, answered = await _list_livestreams(client, poll, allowance)
        poll.discovery_requests = client.requests
        # A poll whose listings all failed has failed, but still reads the sessions it knows to be open or
        # to finalize (unless the client halted): an outage of the list endpoint alone costs no reading.
        if client.halted is None:
            # Finalization reads first; then the round's share, so that a poll short of budget still lists
            # every livestream over time; then the live reads.
            finals = allowance.take("final", list(plan.to_finalize))
            before = client.requests
            await _continue_rounds(client, poll, plan, allowance, listed, answered, settings)
            poll.discovery_requests += client.requests - before
            if client.halted is None:
                await _read_by_priority(client, poll, plan, allowance, listed, finals)
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
    budget = _shared_budget(settings)
    poll.allowance = poll_allowance(settings, budget)
    allowance = Allowance(poll.allowance)
    async with _client(settings, poll, budget, transport) as client:
        poll.app_ids = await _discover_apps(client, poll, settings, allowance)
        # A month's whole window, also while it runs: the export's cross-check asks for exactly that window.
        windows = [(first_day, end, client.daywise)] + [
            (start, following, client.overall) for start, following in month_windows(end, months)
        ]
        wanted = [(app_id, *window) for app_id in poll.app_ids for window in windows]
        granted = allowance.share(wanted)
        if len(granted) < len(wanted):
            poll.errors.append(
                f"analytics: the poll's allowance of {poll.allowance} requests covers {len(granted)} of "
                f"{len(wanted)} reads; the others wait for the next reconcile"
            )
        reads = [read(app_id, start, stop) for app_id, start, stop, read in granted]
        results = await asyncio.gather(*reads, return_exceptions=True)
        _collect(poll, results)
        if wanted and all(isinstance(result, BaseException) for result in results) and poll.fatal is None:
            poll.fatal = f"no analytics could be read: {poll.errors[0]}"
        poll.discovery_requests = client.requests
        _finish(poll, client)
    return poll


def _client(
    settings: Settings,
    poll: FetchedPoll,
    budget: RequestBudget,
    transport: httpx.AsyncBaseTransport | None,
    stream_key_fingerprints: tuple[str, ...] = (),
) -> RealtimeKitClient:
    """The poll's client: its budget, its deadline counted from now, the keys earlier polls saw."""
    return RealtimeKitClient(
        settings,
        poll_id=poll.poll_id,
        budget=budget,
        transport=transport,
        deadline_seconds=settings.poll_deadline,
        stream_key_fingerprints=stream_key_fingerprints,
    )


def _new_poll(settings: Settings, kind: str) -> FetchedPoll:
    started_at = datetime.now(UTC)
    return FetchedPoll(
        new_poll_id(started_at),
        started_at,
        started_at,
        settings.app_ids,
        [],
        kind=kind,
        budget=settings.budget,
    )


def _finish(poll: FetchedPoll, client: RealtimeKitClient) -> None:
    cut = client.deadline_reached
    if cut is not None:
        if not any(cut in error for error in poll.errors):
            poll.errors.append(cut)
        if poll.fatal is None and not any(r["outcome"] in ("data", "none") for r in client.responses):
            poll.fatal = f"nothing was read before {cut}"
    # A stream key learnt late in the poll leaves the earlier responses and error lines too.
    client.redact_recorded()
    poll.errors = [client.redacted(line) for line in poll.errors]
    poll.fatal = client.redacted(poll.fatal) if poll.fatal else poll.fatal
    poll.responses = client.responses
    poll.requests = client.requests
    poll.retries = client.retries
    poll.rate_limited = client.rate_limited
    poll.transport_errors = client.transport_errors
    poll.finished_at = datetime.now(UTC)
    poll.network_seconds = (poll.finished_at - poll.started_at).total_seconds()


def _budget(settings: Settings, earlier_sends: Iterable[float]) -> RequestBudget:
    budget = _shared_budget(settings)
    budget.seed(earlier_sends)
    return budget


def _shared_budget(settings: Settings) -> RequestBudget:
    return shared_budget(
        settings.base_url,
        settings.budget,
        settings.budget_requests,
        settings.budget_window_seconds,
        (settings.burst_requests, settings.burst_window_seconds),
    )


async def _discover_apps(
    client: RealtimeKitClient, poll: FetchedPoll, settings: Settings, allowance: Allowance
) -> tuple[str, ...]:
    """Return the configured app ids, or every app of the account when none is configured.

    No app to read fails the poll: the apps list could not be read, or it lists none.
    """
    if settings.app_ids:
        return settings.app_ids
    try:
        listing = await client.list_apps(allowance.take_listing)
    except ApiError as error:
        _collect(poll, [error])
        poll.fatal = poll.fatal or f"no app to poll: {error}"
        return ()
    ids = (item["id"] for item in listing.items if isinstance(item, dict) and isinstance(item.get("id"), str))
    apps = tuple(dict.fromkeys(ids))
    if listing.deferred:
        poll.errors.append(
            f"list_apps: cut short by the poll's allowance of {poll.allowance} requests after "
            f"{listing.pages} pages ({len(apps)} apps); REALTIMEKIT_APP_ID names the apps to poll"
        )
    elif not listing.complete:
        poll.errors.append(f"list_apps: {listing.problem}")
    if not apps:
        poll.fatal = poll.fatal or (
            f"no app to poll: the account's apps list holds none ({len(listing.items)} items); "
            "create an app, or set REALTIMEKIT_APP_ID"
        )
    return apps


async def _list_livestreams(
    client: RealtimeKitClient, poll: FetchedPoll, allowance: Allowance
) -> tuple[dict[str, tuple[str, dict[str, Any]]], set[str]]:
    """Return the LIVE and INVOKED livestreams of every app by id, with their app id and listed attributes,
    and the apps whose listing answered.

    An app whose list answers status=LIVE with other statuses ignores the filter: that listing already holds
    every livestream, so it stands as the app's full listing (a round of its own) and the poll says so.
    When no app's listing could be read at all (an unreachable API, a wrong base URL, wrong app ids), the
    poll failed: it could not tell what is live.
    """
    poll.listing = "filtered"
    listed: dict[str, tuple[str, dict[str, Any]]] = {}
    answered: set[str] = set()  # the apps whose LIVE listing was read
    cut: set[str] = set()  # apps whose listings the allowance cut short: one line for all of them

    async def list_app(app_id: str) -> None:
        for status in LISTED_STATUSES:
            listing = await client.list_livestreams(app_id, status, allowance.take_listing)
            if listing.pages:
                answered.add(app_id)
            if listing.deferred:
                cut.add(app_id)
            elif not listing.complete:
                poll.errors.append(f"list_livestreams on app {app_id}: {listing.problem}")
            items = [
                item for item in listing.items if isinstance(item, dict) and isinstance(item.get("id"), str)
            ]
            listed.update((item["id"], (app_id, item)) for item in items)
            if any(listed_status(item) != status for item in items):
                poll.listing = "fallback"
                total = len(listing.items) if listing.complete else None
                whole = _Pages(
                    app_id, 1, client.per_page, listing.items, listing.pages, total, listing.complete
                )
                poll.rounds.append(whole.row(poll, poll.started_at, filter_ignored=True))
                return

    errors_before = len(poll.errors)
    _collect(poll, await asyncio.gather(*(list_app(app) for app in poll.app_ids), return_exceptions=True))
    if cut:
        poll.errors.append(
            f"list_livestreams: cut short by the poll's allowance of {poll.allowance} requests on "
            f"{len(cut)} of {len(poll.app_ids)} apps ({allowance.counts['deferred_list']} listing pages "
            "deferred); their live livestreams wait for a later poll"
        )
    if poll.app_ids and not answered and poll.fatal is None:
        first = poll.errors[errors_before] if len(poll.errors) > errors_before else "no answer"
        poll.fatal = f"no livestream listing could be read: {first}"
    return listed, answered


async def _continue_rounds(
    client: RealtimeKitClient,
    poll: FetchedPoll,
    plan: PollPlan,
    allowance: Allowance,
    listed: dict[str, tuple[str, dict[str, Any]]],
    answered: set[str],
    settings: Settings,
) -> None:
    """Read each app's share of its full listing round, adding what it lists to `listed`; an app whose
    status listing did not answer is left out (its round would fail the same way)."""
    whole = {row["app_id"] for row in poll.rounds}  # their whole list was read already (filter ignored)

    async def read_share(app_id: str) -> None:
        state = plan.rounds.get(app_id)
        share = round_share(state, settings)
        if share is None:
            return
        first, pages = share
        read = await _read_pages(client, poll, app_id, first, pages or settings.max_pages, allowance)
        if read is None:
            return
        for item in read.items:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                listed[item["id"]] = (app_id, item)
        started = poll.started_at if first == 1 or state is None else state.round_started_at
        poll.rounds.append(read.row(poll, started, filter_ignored=False))

    apps = [app for app in poll.app_ids if app in answered and app not in whole]
    _collect(poll, await asyncio.gather(*(read_share(app) for app in apps), return_exceptions=True))


@dataclass
class _Pages:
    """The pages of one app's full list a poll read, in order from `first`."""

    app_id: str
    first: int
    per_page: int
    items: list[Any] = field(default_factory=list)
    last: int = 0  # the last page read in order (0: none yet)
    total_count: int | None = None
    complete: bool = False

    def add(self, number: int, body: Any) -> None:
        """Add page `number` (the next in order) and note whether it ends the list."""
        page_items, paging = list_items(body)
        self.items.extend(page_items)
        self.last = number
        if paging is not None and paging.total_count is not None:
            self.total_count = paging.total_count
        if not page_items:
            self.complete = True
        elif paging is not None and paging.total_count is not None and paging.end_offset is not None:
            self.complete = paging.is_last_page()
        else:
            self.complete = len(page_items) < self.per_page

    def end(self) -> int | None:
        """The list's last page as its size says (None: not known)."""
        return None if self.total_count is None else max(1, math.ceil(self.total_count / self.per_page))

    def row(self, poll: FetchedPoll, started: datetime, *, filter_ignored: bool) -> dict[str, Any]:
        """This read as its listing_rounds row."""
        return {
            "poll_id": poll.poll_id,
            "app_id": self.app_id,
            "fetched_at": poll.started_at,
            "round_started_at": started,
            "first_page": self.first,
            "last_page": self.last,
            "total_count": self.total_count,
            "complete": self.complete,
            "filter_ignored": filter_ignored,
        }


async def _read_pages(
    client: RealtimeKitClient, poll: FetchedPoll, app_id: str, first: int, pages: int, allowance: Allowance
) -> _Pages | None:
    """Read up to `pages` pages of an app's full list from page `first`, in order; None: none was read.

    The first page tells the list's size; the rest of the share is then read at once. Reading stops at the
    list's end, the share, the allowance, or the first failed page (what came before it counts).
    """
    read = _Pages(app_id, first, client.per_page)
    stop = first + pages  # the first page not in the share
    numbers = [first]
    while numbers:
        granted = allowance.take("list", numbers)
        bodies = await asyncio.gather(
            *(client.livestreams_page(app_id, number) for number in granted), return_exceptions=True
        )
        for number, body in zip(granted, bodies, strict=True):
            if isinstance(body, BaseException):
                _collect(poll, [body])
                return read if read.last else None
            read.add(number, body)
            if read.complete:
                return read
        if len(granted) < len(numbers):
            break
        end = read.end()
        following = read.last + 1
        numbers = list(range(following, min(stop, end + 1))) if end and end >= following else [following]
        numbers = [number for number in numbers if number < stop]
    return read if read.last else None


async def _read_by_priority(
    client: RealtimeKitClient,
    poll: FetchedPoll,
    plan: PollPlan,
    allowance: Allowance,
    listed: Listed,
    finals: list[tuple[str, str, str]],
) -> None:
    """The finalization reads granted, the active-session reads, then sessions that stopped unseen."""
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

    async def read(app_id: str, livestream_id: str, page: int) -> tuple[list[datetime], bool, int | None]:
        """One page of the session list: its sessions' times, whether more follow, the last page number."""
        body = await client.livestream_sessions(app_id, livestream_id, page, settings.per_page)
        _, sessions, paging = session_items(body)
        more = not paging.is_last_page() if paging else len(sessions) >= settings.per_page
        times = [_session_time(s) for s in sessions if isinstance(s, dict)]
        return times, more, paging.last_page(settings.per_page) if paging else None

    async def sweep(app_id: str, livestream_id: str) -> None:
        # The order of a livestream's sessions is not documented: page 1 tells it, and the walk goes from
        # the newest end back to the newest session already known (both on the API's clock); in no clear
        # order, on to the end or the page cap.
        state = plan.livestreams.get(livestream_id)
        since = state.newest_session_at if state else None
        times, more, last = await read(app_id, livestream_id, 1)
        order = _order(times)
        if not more or not times or (order == NEWEST_FIRST and since is not None and min(times) <= since):
            return
        backwards = order == OLDEST_FIRST and last is not None
        pages = (
            range(last, 1, -1) if backwards and last is not None else range(2, settings.max_sweep_pages + 1)
        )
        for page in list(pages)[: settings.max_sweep_pages - 1]:
            if not allowance.take_one("sweep"):
                return
            times, more, _ = await read(app_id, livestream_id, page)
            if not times or (not backwards and not more):
                return
            if order is not None and since is not None and min(times) <= since:
                return

    due = sweeps_due(plan, listed, datetime.now(UTC), settings.sweep_interval_seconds)
    chosen = allowance.take("sweep", [(app, ls) for app, ls in due if app in poll.app_ids])
    _collect(poll, await asyncio.gather(*(sweep(app, ls) for app, ls in chosen), return_exceptions=True))


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


NEWEST_FIRST, OLDEST_FIRST = "newest first", "oldest first"


def _session_time(session: dict[str, Any]) -> datetime:
    """When a listed session started (or was created, if it shows no start); NEVER if it shows neither."""
    return parse_instant(session.get("started_time")) or parse_instant(session.get("created_at")) or NEVER


def _order(times: list[datetime]) -> str | None:
    """NEWEST_FIRST or OLDEST_FIRST when a page's sessions are sorted by time; None when it cannot tell."""
    pairs = list(itertools.pairwise(times))
    if not pairs or times[0] == times[-1]:
        return None
    if all(a >= b for a, b in pairs):
        return NEWEST_FIRST
    if all(a <= b for a, b in pairs):
        return OLDEST_FIRST
    return None


def _shown_session_id(answer: Any) -> str | None:
    """The id of the session an active-session answer shows (None: no session)."""
    _, session = active_session_parts(answer)
    if session is None:
        return None
    session_id = session.get("id")
    return session_id if isinstance(session_id, str) else None
