"""The nouns of one poll, in the order its stages pass them on: plan, fetched poll, ledger row (PollRun).

The stages are modules of their own: plan (what to read), fetch (the network), landing (the durable copy),
transforms.normalize (typed frames) and load (the warehouse). The snapshot flow strings them together.
"""

from __future__ import annotations

import secrets
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import polars as pl

# What a poll's allowance went to (planned) and what it had to leave for the next poll (deferred).
PLAN_COUNTS = (
    "planned_final",
    "planned_live",
    "planned_sweep",
    "planned_list",
    "deferred_final",
    "deferred_live",
    "deferred_sweep",
    "deferred_list",
)


@dataclass(frozen=True)
class LivestreamState:
    """What the warehouse knows about one livestream when a poll is planned."""

    app_id: str
    last_active_read_at: datetime | None
    last_swept_at: datetime | None
    swept_updated_at: datetime | None
    recently_active: bool
    open_since_swept: bool = False
    newest_session_at: datetime | None = None  # its newest known session's start, on the API's clock


@dataclass(frozen=True)
class ListingRound:
    """Where one app's full listing round stands when a poll is planned (the latest listing_rounds row)."""

    round_started_at: datetime
    last_page: int
    total_count: int | None
    complete: bool
    polls_since_start: int  # snapshot polls since the round started, the one that started it included


@dataclass(frozen=True)
class PollPlan:
    """What the warehouse tells a new poll before it sends anything."""

    livestreams: Mapping[str, LivestreamState]
    open_sessions: Mapping[str, tuple[str, str]]  # livestream_id -> (app_id, session_id) seen running
    to_finalize: tuple[tuple[str, str, str], ...]  # (app_id, livestream_id, session_id), oldest first
    recent_sends: tuple[float, ...]  # epoch seconds of the requests sent in the last budget window
    rounds: Mapping[str, ListingRound] = field(default_factory=dict)  # app_id -> its full listing round
    # The fingerprints of the stream keys earlier polls saw: a key shown again only outside its own field
    # (an error message of a session read by id) is recognized by its fingerprint.
    stream_key_fingerprints: tuple[str, ...] = ()


EMPTY_PLAN = PollPlan({}, {}, (), ())


@dataclass
class FetchedPoll:
    """Everything one poll received from the API, and how the fetching went."""

    poll_id: str
    started_at: datetime
    finished_at: datetime
    app_ids: tuple[str, ...]
    responses: list[dict[str, Any]]
    kind: str = "snapshot"  # snapshot | reconcile
    listing: str | None = None  # filtered | fallback (the API ignored the status filter) | None: no listing
    budget: str | None = None  # the request budget it drew on (Settings.budget)
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
    rounds: list[dict[str, Any]] = field(default_factory=list)  # its listing_rounds rows, one per app

    def release_bodies(self) -> None:
        """Forget the responses' bodies once they are normalized: the frames (raw_responses) and the landing
        file hold them, and the load of a 10,000-session poll then holds each body once, not twice. Only after
        landing and normalizing: the poll cannot be landed or normalized again."""
        for response in self.responses:
            response["body"] = None

    def rounds_frame(self) -> pl.DataFrame:
        """Return its listing_rounds rows as a frame with the table's column types."""
        return pl.DataFrame(self.rounds, schema=LISTING_ROUND_SCHEMA)

    @property
    def outcome(self) -> str:
        """ok (it read all it planned), partial (some reads failed, each named in `errors`; the rest is kept)
        or failed (it could not read what it was asked to: no app, no listing, a refused token)."""
        if self.fatal is not None:
            return "failed"
        return "partial" if self.errors else "ok"


def clock_skew_seconds(responses: Iterable[Mapping[str, Any]]) -> float | None:
    """How far the API's clock is ahead of ours (negative: behind): the median over the answers with a Date
    header of that Date minus when we received them; None when none had one."""
    skews = [(r["server_date"] - r["fetched_at"]).total_seconds() for r in responses if r.get("server_date")]
    return statistics.median(skews) if skews else None


CLOCK_LINE = "clock: "


def clock_warning(skew: float, limit: float) -> str:
    """The line a poll's message and summary carry when the API's clock is too far from ours."""
    direction = "ahead of" if skew > 0 else "behind"
    return (
        f"{CLOCK_LINE}the API's Date header is {abs(skew):,.0f} s {direction} our clock (more than "
        f"STREAMLEDGER_MAX_CLOCK_SKEW_SECONDS={limit:g}); readings are placed no later than we received "
        "them; check this machine's time (NTP)"
    )


def new_poll_id(started_at: datetime) -> str:
    """Return a poll id that sorts by start time: 20261127T183200.123456Z-1a2b3c."""
    return f"{started_at:%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(3)}"


_COUNT = pl.Int32()


@dataclass(frozen=True)
class PollRun:
    """One poll's ledger row: one row of poll_runs, loaded in the poll's own transaction."""

    poll_id: str
    kind: str
    started_at: datetime
    finished_at: datetime
    app_ids: tuple[str, ...]
    livestreams: int
    active_reads: int
    sessions: int
    requests: int
    responses: int
    retries: int
    rate_limited: int
    transport_errors: int
    failed_calls: int
    parse_issues: int
    unknown_statuses: int
    outcome: str
    message: str | None
    network_seconds: float
    normalize_seconds: float
    load_seconds: float
    recovered: bool
    allowance: int
    discovery_requests: int
    planned_final: int
    planned_live: int
    planned_sweep: int
    planned_list: int
    deferred_final: int
    deferred_live: int
    deferred_sweep: int
    deferred_list: int
    listing: str | None
    budget: str | None
    clock_skew_seconds: float | None = None
    clock_skewed: bool | None = None

    def frame(self) -> pl.DataFrame:
        """Return the row as a one-row frame with the poll_runs column types."""
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        return pl.DataFrame([row | {"app_ids": list(self.app_ids)}], schema=POLL_RUN_SCHEMA)

    def summary(self) -> str:
        """Return the one line a person reads about the poll."""
        return (
            f"poll {self.poll_id}: {self.outcome}, {self.livestreams} livestreams, {self.sessions} sessions, "
            f"{self.requests} requests ({self.retries} retried, {self.rate_limited} rate-limited), "
            f"{self.parse_issues} parse issues"
            + (
                "; the API ignored the status filter, so every page was listed"
                if self.listing == "fallback"
                else ""
            )
            + "".join(
                f"; {line}" for line in (self.message or "").splitlines() if line.startswith(CLOCK_LINE)
            )
        )


POLL_RUN_SCHEMA: dict[str, pl.DataType] = {
    "poll_id": pl.String(),
    "kind": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "app_ids": pl.List(pl.String()),
    **dict.fromkeys(
        (
            "livestreams",
            "active_reads",
            "sessions",
            "requests",
            "responses",
            "retries",
            "rate_limited",
            "transport_errors",
            "failed_calls",
            "parse_issues",
            "unknown_statuses",
        ),
        _COUNT,
    ),
    "outcome": pl.String(),
    "message": pl.String(),
    "network_seconds": pl.Float64(),
    "normalize_seconds": pl.Float64(),
    "load_seconds": pl.Float64(),
    "recovered": pl.Boolean(),
    "allowance": _COUNT,
    "discovery_requests": _COUNT,
    **dict.fromkeys(PLAN_COUNTS, _COUNT),
    "listing": pl.String(),
    "budget": pl.String(),
    "clock_skew_seconds": pl.Float64(),
    "clock_skewed": pl.Boolean(),
}

LISTING_ROUND_SCHEMA: dict[str, pl.DataType] = {
    "poll_id": pl.String(),
    "app_id": pl.String(),
    "fetched_at": pl.Datetime("us", "UTC"),
    "round_started_at": pl.Datetime("us", "UTC"),
    "first_page": _COUNT,
    "last_page": _COUNT,
    "total_count": _COUNT,
    "complete": pl.Boolean(),
    "filter_ignored": pl.Boolean(),
}
