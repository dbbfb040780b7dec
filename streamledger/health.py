"""Health: is polling fresh, what the warehouse says about the last hour, do its checks hold (`status`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streamledger import landing
from streamledger.errors import DatabaseBusy, DatabaseUnusable
from streamledger.settings import Settings
from streamledger.warehouse import (
    Check,
    CheckFailure,
    checks,
    opened,
    query,
    read_whole,
    run_check,
    schema_problem,
)

# A health check never holds up the poller for long.
STATUS_WAIT_SECONDS = 5.0


def read_status(
    database: Path, *, window_seconds: float, wait_seconds: float = STATUS_WAIT_SECONDS
) -> dict[str, Any]:
    """Return the one row of sql/queries/status.sql, read on a read-only connection."""
    with opened(database, read_only=True, wait_seconds=wait_seconds) as con:
        return query(con, "queries/status.sql", {"window_seconds": window_seconds}).row(0, named=True)


def read_checks(
    database: Path, *, wait_seconds: float = STATUS_WAIT_SECONDS
) -> list[tuple[Check, CheckFailure | None]]:
    """Return every check of sql/checks with its failure (None: it holds), run on a read-only connection."""
    with opened(database, read_only=True, wait_seconds=wait_seconds) as con:
        return [(check, run_check(con, check)) for check in checks()]


@dataclass(frozen=True)
class Soundness:
    """Whether the database file can be trusted at all, before its invariants (sql/checks) are asked."""

    schema: str | None  # why this version cannot use its schema (written by a newer one), or None
    damage: str | None  # what reading every table whole found (a block whose checksum fails), or None
    rows: int  # the rows read

    @property
    def sound(self) -> bool:
        """True when its schema is this version's and every table reads whole."""
        return self.schema is None and self.damage is None


def read_soundness(database: Path, *, wait_seconds: float = STATUS_WAIT_SECONDS) -> Soundness:
    """Check the database's schema is one this version knows and read every table whole (read-only)."""
    with opened(database, read_only=True, wait_seconds=wait_seconds) as con:
        schema = schema_problem(con, database)
        try:
            rows, damage = read_whole(con, database), None
        except DatabaseUnusable as exc:
            rows, damage = 0, str(exc)
    return Soundness(None if schema is None else str(schema), damage, rows)


def stale_problem(settings: Settings, now: datetime | None = None) -> str | None:
    """Return why polling is stale (no successful poll within stale_after_seconds), or None if it is fresh.

    A poll that is landed but waits for a busy database counts as successful: its data is captured.
    """
    now = now or datetime.now(UTC)
    last = landing.newest_success(settings.landing_dir)
    if settings.database.exists():
        try:
            loaded = read_status(settings.database, window_seconds=settings.budget_window_seconds)
        except DatabaseBusy:
            loaded = {"last_success_at": None}
            if last is None:
                return None  # cannot tell while another process holds the database; the next run will
        success = loaded["last_success_at"]
        if success is not None:
            last = success if last is None else max(last, success)
    if last is None:
        if not settings.database.exists():
            return None  # nothing has been polled yet: the first on-time run will
        return f"stale: no successful poll is recorded in {settings.database}"
    age = (now - last).total_seconds()
    if age > settings.stale_after_seconds:
        return (
            f"stale: the last successful poll finished at {last.isoformat(timespec='seconds')}, "
            f"{age:.0f} s ago (more than STREAMLEDGER_STALE_AFTER_SECONDS = {settings.stale_after_seconds:g})"
        )
    return None
