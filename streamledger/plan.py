"""The plan of a poll: what the warehouse knows before anything is sent, and how the allowance is spent.

A poll first lists each app's LIVE and INVOKED livestreams (the list's status filter), then reads in this
order, within its allowance: finalization reads of stopped sessions, its share of the full listing round
(every livestream, whatever its status, spread over the polls of a full-listing interval), active-session
reads of live livestreams (least recently read first), finalization reads of sessions that stopped unseen,
then sweeps of session lists. This module decides what to read; fetch.py reads it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from streamledger import landing
from streamledger.errors import DatabaseBusy
from streamledger.files import storage_problem
from streamledger.poll import EMPTY_PLAN, PLAN_COUNTS, FetchedPoll, ListingRound, LivestreamState, PollPlan
from streamledger.ratelimit import RequestBudget
from streamledger.settings import Settings
from streamledger.transforms.shapes import parse_instant
from streamledger.warehouse import opened, query

logger = logging.getLogger("streamledger.plan")

# Livestreams in these states may have a running session; others are read only if we saw one running.
READ_STATUSES = frozenset({"LIVE", "INVOKED"})
# The statuses every poll lists by the list's status filter, in this order.
LISTED_STATUSES = ("LIVE", "INVOKED")
# Livestreams with a session seen in this many hours are swept now and then even without a sign of change.
ACTIVE_HOURS = 24
# Retries come out of the same budget: this share of a poll's share is kept free in the budget window for
# them. Kept once in the window, not once per poll: each poll plans up to the same few free slots, so unused
# they cost a few slots per window, not per poll; the retries of one poll take them, and the next poll, which
# sees those retries in the window, plans that many fewer reads.
RETRY_RESERVE_SHARE = 0.1
# Send slots that free up within this share of the poll interval count as free: a poll starting as the sends
# of the poll one window earlier are about to leave the window waits a moment for them, not a whole poll.
SLOT_HORIZON_SHARE = 0.1
# The columns of queries/plan_livestreams.sql that make a LivestreamState, in its order.
STATE_COLUMNS = (
    "app_id",
    "last_active_read_at",
    "last_swept_at",
    "swept_updated_at",
    "recently_active",
    "open_since_swept",
    "newest_session_at",
)
NEVER = datetime.min.replace(tzinfo=UTC)
T = TypeVar("T")


def read_plan(settings: Settings) -> PollPlan:
    """Return what this poll must know before it sends anything, from the warehouse.

    While another process (a report, an analyst's duckdb) holds the file past the wait, the poll is planned
    from the plan cached by the previous one instead, so that it is not lost. Either way the plan's budget
    also counts the requests of polls still landed, which the warehouse does not hold yet.
    """
    try:
        with opened(settings.database, wait_seconds=settings.lock_wait_seconds) as con:
            states = query(con, "queries/plan_livestreams.sql", {"active_hours": ACTIVE_HOURS})
            open_rows = query(con, "queries/open_sessions.sql").rows()
            finalize = query(con, "queries/finalization_candidates.sql").rows()
            window = {"window_seconds": settings.budget_window_seconds, "budget": settings.budget}
            sends = query(con, "queries/recent_requests.sql", window)
            rounds = query(con, "queries/listing_rounds.sql").rows()
            fingerprints = query(con, "queries/stream_key_fingerprints.sql")["stream_key_fingerprint"]
    except DatabaseBusy:
        plan = cached_plan(settings.plan_cache)
    else:
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
            rounds={app_id: ListingRound(*state) for app_id, *state in rounds},
            stream_key_fingerprints=tuple(fingerprints.to_list()),
        )
        _replace_file(settings.plan_cache, orjson.dumps(plan))
    landed = landing.sent_times(settings.landing_dir, settings.budget)
    if not landed:
        return plan
    return replace(plan, recent_sends=tuple(sorted([*plan.recent_sends, *landed])))


def cached_plan(path: Path) -> PollPlan:
    """Return the plan cached by the last poll that read the warehouse (EMPTY_PLAN if there is none)."""
    if not path.exists():
        return EMPTY_PLAN
    try:
        raw = orjson.loads(path.read_bytes())
        return PollPlan(
            livestreams={
                ls: LivestreamState(
                    state["app_id"],
                    _instant(state["last_active_read_at"]),
                    _instant(state["last_swept_at"]),
                    _instant(state["swept_updated_at"]),
                    state["recently_active"],
                    state.get("open_since_swept", False),
                    _instant(state.get("newest_session_at")),
                )
                for ls, state in raw["livestreams"].items()
            },
            open_sessions={ls: (pair[0], pair[1]) for ls, pair in raw["open_sessions"].items()},
            to_finalize=tuple((a, ls, s) for a, ls, s in raw["to_finalize"]),
            recent_sends=tuple(raw["recent_sends"]),
            rounds={
                app_id: ListingRound(
                    datetime.fromisoformat(state["round_started_at"]),
                    state["last_page"],
                    state["total_count"],
                    state["complete"],
                    state["polls_since_start"],
                )
                for app_id, state in raw.get("rounds", {}).items()
            },
            stream_key_fingerprints=tuple(raw.get("stream_key_fingerprints", ())),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return EMPTY_PLAN  # a damaged cache only costs the poll its priorities, never its budget


def remember_sends(settings: Settings, poll: FetchedPoll) -> None:
    """Add a loaded poll's requests to the cached plan, so that a plan made from the cache counts them."""
    path = settings.plan_cache
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, ValueError):
        return  # no cache yet: the next plan reads every request from the database
    horizon = time.time() - settings.budget_window_seconds
    sends = [*raw.get("recent_sends", []), *(r["fetched_at"].timestamp() for r in poll.responses)]
    raw["recent_sends"] = sorted(sent for sent in sends if sent > horizon)
    _replace_file(path, orjson.dumps(raw))


def _replace_file(path: Path, data: bytes) -> None:
    """Replace the plan cache. It is a cache: a disk that cannot take it (full, read-only) must not cost the
    poll, so the failure is a warning, the half-written file is removed and so is the stale cache."""
    # A temporary name per process: a snapshot and a reconcile run may write the cache at once.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        for leftover in (tmp, path):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
        what = f"the plan cache {path} could not be written (a plan made while the database is busy lacks it)"
        logger.warning(storage_problem(what, path.parent, "STREAMLEDGER_DATABASE", exc, noun="a file"))


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def poll_allowance(settings: Settings, budget: RequestBudget) -> int:
    """Requests one poll may send: its share of the budget window, and never more than the window has free.

    Free means free by a tenth of the interval from now (the poll's sends wait that long at most), less the
    slots kept free for retries.
    """
    share = settings.budget_requests * settings.poll_interval_seconds / settings.budget_window_seconds
    reserve = math.ceil(round(share * RETRY_RESERVE_SHARE, 6))  # a whole product may float a hair above it
    horizon = min(settings.poll_interval_seconds * SLOT_HORIZON_SHARE, settings.max_retry_wait_seconds)
    return max(0, min(math.ceil(share), budget.available(within=horizon) - reserve))


class Allowance:
    """Hands out the poll's remaining requests by priority and counts what it sends and defers."""

    def __init__(self, remaining: int) -> None:
        self.remaining = max(0, remaining)
        self.counts = dict.fromkeys(PLAN_COUNTS, 0)

    def take(self, kind: str, candidates: list[T]) -> list[T]:
        """Return the candidates of `kind` (final, live, sweep) the allowance still covers, in order."""
        granted = self.share(candidates)
        self.counts[f"planned_{kind}"] += len(granted)
        self.counts[f"deferred_{kind}"] += len(candidates) - len(granted)
        return granted

    def share(self, candidates: list[T]) -> list[T]:
        """Return the candidates the allowance still covers, in order, counted by no kind."""
        granted = candidates[: self.remaining]
        self.remaining -= len(granted)
        return granted

    def take_listing(self) -> bool:
        """Return whether one more discovery page (apps, LIVE or INVOKED livestreams) is covered.

        Discovery's pages count as discovery_requests, not as planned; one refused counts as deferred_list.
        """
        if self.share([None]):
            return True
        self.counts["deferred_list"] += 1
        return False

    def take_one(self, kind: str) -> bool:
        """Return whether one more request of `kind` is covered (and count it)."""
        return bool(self.take(kind, [None]))


Listed = Mapping[str, tuple[str, Mapping[str, Any]]]  # livestream_id -> (app_id, listed attributes)


def live_reads(plan: PollPlan, listed: Listed) -> list[str]:
    """Return the livestreams to read the active session of, least recently read first.

    Those listed as LIVE or INVOKED, and those with a session seen running last time, whatever they show.
    """
    live_ids = {ls for ls, (_, item) in listed.items() if listed_status(item) in READ_STATUSES} | set(
        plan.open_sessions
    )

    def last_read(livestream_id: str) -> tuple[datetime, str]:
        state = plan.livestreams.get(livestream_id)
        return (state.last_active_read_at if state and state.last_active_read_at else NEVER), livestream_id

    return sorted(live_ids, key=last_read)


def stopped_unseen(
    plan: PollPlan, shown: Mapping[str, str | BaseException | None]
) -> list[tuple[str, str, str]]:
    """Return (app_id, livestream_id, session_id) of sessions seen running last time that are gone now.

    `shown` is the session id each livestream's active-session read showed. A session whose livestream now
    shows no session, or another one, has stopped unseen: it is read by id. A failed read proves nothing,
    and a session already planned for finalization is not read twice.
    """
    planned = {session_id for _, _, session_id in plan.to_finalize}
    return [
        (app, ls, session_id)
        for ls, (app, session_id) in sorted(plan.open_sessions.items())
        if ls in shown
        and session_id not in planned
        and not isinstance(shown[ls], BaseException)
        and shown[ls] != session_id
    ]


def round_share(state: ListingRound | None, settings: Settings) -> tuple[int, int | None] | None:
    """Return (first page, pages) of an app's full listing for this poll; None while its round is done.

    A round lists every page once, spread evenly over the polls of one full-listing interval, and a new one
    starts when that many polls have run since the last began. Pages None: as many as the allowance covers
    (the first round, whose size is not known yet). Polls are counted rather than seconds, so a round keeps
    its pace per poll even when runs are skipped or come by hand.
    """
    polls = max(1, round(settings.full_listing_interval_seconds / settings.poll_interval_seconds))
    if state is None or (state.complete and state.polls_since_start >= polls):
        first, left = 1, polls
    elif state.complete:
        return None
    else:
        first, left = state.last_page + 1, max(1, polls - state.polls_since_start)
    if state is None or state.total_count is None:
        return first, None
    pages_left = max(1, math.ceil(state.total_count / settings.per_page) - first + 1)
    return first, math.ceil(pages_left / left)


def sweeps_due(
    plan: PollPlan, listed: Listed, now: datetime, interval_seconds: float
) -> list[tuple[str, str]]:
    """Return (app_id, livestream_id) of the session lists to read, least recently swept first.

    Those listed this poll that are new, or whose listed updated_at moved since their last sweep (a session
    started or stopped); and, listed or not, recently active ones not swept for a sweep interval (a safety
    net for the API), unless the session they show was already open at their last sweep.
    """
    due: list[tuple[datetime, str, str]] = []
    for livestream_id, (app_id, item) in listed.items():
        state = plan.livestreams.get(livestream_id)
        if state is None or _changed(state, item) or _sweep_due(state, now, interval_seconds):
            due.append(((state.last_swept_at if state else None) or NEVER, app_id, livestream_id))
    for livestream_id, state in plan.livestreams.items():
        if livestream_id not in listed and _sweep_due(state, now, interval_seconds):
            due.append((state.last_swept_at or NEVER, state.app_id, livestream_id))
    return [(app_id, ls) for _, app_id, ls in sorted(due, key=lambda row: (row[0], row[2]))]


def _changed(state: LivestreamState, item: Mapping[str, Any]) -> bool:
    updated = parse_instant(item.get("updated_at"))
    return state.swept_updated_at is None or updated is None or updated > state.swept_updated_at


def _sweep_due(state: LivestreamState, now: datetime, interval_seconds: float) -> bool:
    if not state.recently_active or state.open_since_swept:
        return False
    return state.last_swept_at is None or (now - state.last_swept_at).total_seconds() >= interval_seconds


def listed_status(item: Mapping[str, Any]) -> str:
    """The status a listed livestream shows, upper case without spaces ("" when it shows none)."""
    return str(item.get("status") or "").strip().upper()
