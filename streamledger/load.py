"""The load stage: one poll into the warehouse in one transaction, with its ledger row; then its landing file
is forgotten. Loading a poll again replaces it: a rerun never duplicates.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import duckdb
import polars as pl

from streamledger import landing
from streamledger.errors import DatabaseBusy, DatabaseUnusable, StorageError, WarehouseError
from streamledger.plan import remember_sends
from streamledger.poll import PLAN_COUNTS, FetchedPoll, PollRun, clock_skew_seconds, clock_warning
from streamledger.settings import Settings
from streamledger.timing import Laps, timed
from streamledger.transforms.normalize import NormalizedPoll, normalize_responses
from streamledger.warehouse import opened, register, rollback_quietly, run_file, unusable

MESSAGE_LINES = 20
# What a poll's observations change, in order; a rebuild replays them over the raw responses.
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
    "load/14_analytics_overall.sql",
)
# Run in this order inside the poll's transaction; the ledger row is written last.
LOAD_FILES = ("load/01_clear_poll.sql", "load/02_raw_responses.sql", *DERIVED_FILES)
# Then the poll's bookkeeping, after the data it describes: its ledger row and its listing rounds.
LEDGER_FILES = ("load/13_poll_runs.sql", "load/15_listing_rounds.sql")


def load_poll(
    settings: Settings,
    poll: FetchedPoll,
    normalized: NormalizedPoll,
    *,
    normalize_seconds: float = 0.0,
    recovered: bool = False,
    laps: Laps | None = None,
) -> PollRun:
    """Load raw responses, typed rows, issues and the ledger row in one transaction; return the ledger row.

    Then the poll's landing file is deleted and its requests join the cached plan. While another process
    holds the database past the wait, DatabaseBusy is raised and the poll stays landed. `laps`, if given,
    times each step (for benchmarks).
    """
    clock = time.perf_counter()
    laps = laps or Laps()
    with opened(settings.database, wait_seconds=settings.lock_wait_seconds, laps=laps) as con:
        con.execute("begin transaction")
        step = "staging"
        try:
            stage(con, normalized)
            laps.lap(step)
            for step in LOAD_FILES:
                run_file(con, step, {"poll_id": poll.poll_id, "settle_seconds": settings.settle_seconds})
                laps.lap(step)
            run = ledger_row(
                poll,
                normalized,
                normalize_seconds,
                time.perf_counter() - clock,
                recovered,
                max_clock_skew_seconds=settings.max_clock_skew_seconds,
            )
            register(con, "staged_poll_run", run.frame())
            register(con, "staged_listing_rounds", poll.rounds_frame())
            for step in LEDGER_FILES:
                run_file(con, step)
            laps.lap("ledger")
            step = "commit"
            con.execute("commit")
            laps.lap(step)
        except duckdb.Error as exc:
            rollback_quietly(con)  # a failed commit has rolled back already
            raise unusable(settings.database, exc) or WarehouseError(
                f"database {settings.database}: loading poll {poll.poll_id} failed at {step}: "
                f"{' '.join(str(exc).split())[:300]}"
            ) from None
        # Committed, hence durable (the WAL). The checkpoint the close would run, run here to be timed apart.
        try:
            run_file(con, "warehouse/checkpoint.sql")
        except duckdb.Error as exc:
            raise unusable(settings.database, exc) or WarehouseError(
                f"database {settings.database}: poll {poll.poll_id} is committed, but the checkpoint after "
                f"it failed: {' '.join(str(exc).split())[:300]}"
            ) from None
        laps.lap("checkpoint")
    landing.forget(settings.landing_dir, poll.poll_id)
    remember_sends(settings, poll)
    return run


def stage(con: duckdb.DuckDBPyConnection, normalized: NormalizedPoll) -> None:
    """Register the frames the load files read."""
    register(con, "staged_responses", normalized.responses)
    register(con, "staged_livestreams", normalized.livestreams)
    register(con, "staged_sessions", normalized.sessions)
    register(con, "staged_issues", normalized.issues)
    register(con, "staged_apps", normalized.apps)
    register(con, "staged_daywise", normalized.daywise)
    register(con, "staged_overall", normalized.overall)


def ledger_row(
    poll: FetchedPoll,
    normalized: NormalizedPoll,
    normalize_seconds: float,
    load_seconds: float,
    recovered: bool,
    *,
    max_clock_skew_seconds: float = math.inf,
) -> PollRun:
    """Return the poll's ledger row (one row of poll_runs); a skewed clock adds a warning line."""
    mine = normalized.counts().filter(pl.col("poll_id") == poll.poll_id)
    counts = mine.row(0, named=True) if mine.height else dict.fromkeys(mine.columns, 0)
    problems: list[str] = [poll.fatal] if poll.fatal else []
    # The fatal line names its cause, often one of the errors: that one is not said twice.
    problems += [e for e in poll.errors if poll.fatal is None or e not in poll.fatal]
    if len(problems) > MESSAGE_LINES:
        problems = [*problems[:MESSAGE_LINES], f"... and {len(problems) - MESSAGE_LINES} more"]
    # A skewed clock is a warning, not a failure: every read succeeded and is kept, the readings are placed
    # by the rule (never after their receipt), and staleness is about reading, not clocks.
    skew = clock_skew_seconds(poll.responses)
    skewed = skew is not None and abs(skew) > max_clock_skew_seconds
    if skewed and skew is not None:
        problems.append(clock_warning(skew, max_clock_skew_seconds))
    return PollRun(
        poll_id=poll.poll_id,
        kind=poll.kind,
        started_at=poll.started_at,
        finished_at=poll.finished_at,
        app_ids=poll.app_ids,
        livestreams=counts["livestreams"],
        active_reads=poll.active_reads,
        sessions=counts["sessions"],
        requests=poll.requests,
        responses=sum(1 for r in poll.responses if r["http_status"] is not None),
        retries=poll.retries,
        rate_limited=poll.rate_limited,
        transport_errors=poll.transport_errors,
        failed_calls=poll.failed_calls,
        parse_issues=counts["parse_issues"],
        unknown_statuses=counts["unknown_statuses"],
        outcome=poll.outcome,
        message="\n".join(problems) or None,
        network_seconds=round(poll.network_seconds, 4),
        normalize_seconds=round(normalize_seconds, 4),
        load_seconds=round(load_seconds, 4),
        recovered=recovered,
        allowance=poll.allowance,
        discovery_requests=poll.discovery_requests,
        **{name: poll.plan.get(name, 0) for name in PLAN_COUNTS},
        listing=poll.listing,
        budget=poll.budget,
        clock_skew_seconds=None if skew is None else round(skew, 3),
        clock_skewed=skewed,
    )


@dataclass(frozen=True)
class Recovery:
    """What loading the polls that earlier runs landed did."""

    runs: list[PollRun]  # the ledger rows of the polls loaded
    quarantined: list[str]  # one line per landing file that could not be loaded, moved to quarantine
    waiting: str | None  # why the others wait for the next run (the database is held), if they do


def load_landed(settings: Settings) -> Recovery:
    """Load the polls earlier runs landed but did not load, oldest first, if the database is free now.

    Each is read back, normalized and loaded as a new poll is. A file that fails to load moves to quarantine
    (kept) so that it cannot block every later poll. Recovery does not wait for a busy database: the files
    wait for the next run, and this run's own load waits instead, so that a held database costs a poll one
    wait, not two. A database that cannot be used (a full disk, damage) is no fault of the files either:
    they wait, never quarantined, for the first run after it is fixed.
    """
    runs: list[PollRun] = []
    quarantined: list[str] = []
    landing.tidy(settings.landing_dir)
    without_waiting = settings.with_overrides(lock_wait_seconds=0.0)
    for path in landing.pending(settings.landing_dir):
        try:
            poll = landing.read_landed(path)
            normalized, seconds = timed(normalize_responses, poll.responses)
            poll.release_bodies()
            runs.append(
                load_poll(without_waiting, poll, normalized, normalize_seconds=seconds, recovered=True)
            )
        except FileNotFoundError:
            continue  # another run (snapshot or reconcile) loaded it meanwhile
        except (DatabaseBusy, DatabaseUnusable, StorageError) as exc:
            # Not the file's fault: the database is held, or cannot be used until someone fixes it (a full
            # disk, damage). The files stay landed, in order, for the first run that can load them.
            waiting = len(landing.pending(settings.landing_dir))
            return Recovery(runs, quarantined, f"{waiting} landed poll(s) wait for the next run: {exc}")
        except (WarehouseError, ValueError, KeyError, TypeError, IndexError) as exc:
            folder = landing.quarantine(path)
            quarantined.append(f"landing file {path.name} could not be loaded, moved to {folder}: {exc}")
    return Recovery(runs, quarantined, None)
