"""Raw responses older than the retention, moved to one zstd Parquet file per UTC day and pruned.

Each day is done in one transaction that holds the database: put back the rows an existing file of the day
holds and the database does not (a rerun after a crash, or polls of the day loaded late), write every row
of the day to a temporary file, fsync it, read it back and compare it with the database (rows, polls,
first and last poll, a checksum of every column of every row), rename it into place, and only then delete
the day's rows and record the file in raw_archive. A crash at any point leaves the database as it was (the
next run writes the same file again, merging what an earlier file held) or the day archived: nothing is
lost or duplicated. Bodies are kept exactly as stored (stream keys are already redacted).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from streamledger.errors import ConfigError, WarehouseError
from streamledger.files import FILE_MODE, fsync_folder, remove_leftovers
from streamledger.warehouse import LOCK_WAIT_SECONDS, connect, opened, query, rollback_quietly, run_file

RAW_FOLDER = "raw_responses"  # under the archive folder: raw_responses/2026-08-01.parquet
FOLDER_MODE = 0o700
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchivedDay:
    """One UTC day moved (or, on a dry run, to be moved) from raw_responses to its Parquet file."""

    day: date
    polls: int
    responses: int  # rows of the day in the database before the run (pruned by it)
    file: Path
    bytes: int = 0  # size of the file written (0 on a dry run)
    sha256: str = ""
    merged: int = 0  # rows that were already in an existing file of the day and kept in the new one


def cutoff_for(now: datetime, retention_days: int) -> datetime:
    """Return the instant before which a whole UTC day of raw responses may be archived."""
    if isinstance(retention_days, bool) or not isinstance(retention_days, int) or retention_days < 0:
        raise ConfigError(f"retention must be a whole number of days, 0 or more, got {retention_days!r}")
    return now.astimezone(UTC) - timedelta(days=retention_days)


def day_file(archive_dir: Path, day: date) -> Path:
    """Return the archive file of one UTC day."""
    return archive_dir / RAW_FOLDER / f"{day.isoformat()}.parquet"


def archive_raw_responses(
    database: Path,
    archive_dir: Path,
    retention_days: int,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    wait_seconds: float = LOCK_WAIT_SECONDS,
    progress: Callable[[str], None] | None = None,
) -> list[ArchivedDay]:
    """Archive and prune every UTC day of raw responses wholly older than `retention_days` before `now`.

    Returns one ArchivedDay per day, oldest first. A dry run opens the database read-only and only says
    what would be archived. The database is held one day at a time, so polls can load in between.
    """
    step = progress or (lambda message: None)
    cutoff = cutoff_for(now or datetime.now(UTC), retention_days)
    if not database.exists():
        raise WarehouseError(f"database {database} does not exist")
    if dry_run:
        con = connect(database, read_only=True, wait_seconds=wait_seconds, on_wait=step)
        try:
            days = query(con, "archive/days.sql", {"cutoff": cutoff}).rows(named=True)
        finally:
            con.close()
        return [
            ArchivedDay(row["day"], row["polls"], int(row["responses"]), day_file(archive_dir, row["day"]))
            for row in days
        ]
    with opened(database, wait_seconds=wait_seconds) as con:
        days = query(con, "archive/days.sql", {"cutoff": cutoff}).rows(named=True)
    if not days:
        return []
    folder = archive_dir / RAW_FOLDER
    _private_folder(folder)
    remove_leftovers(folder)
    archived = []
    for number, row in enumerate(days, start=1):
        step(f"day {row['day']} ({number} of {len(days)}): {int(row['responses']):,} raw responses")
        with opened(database, wait_seconds=wait_seconds) as con:
            archived.append(archive_day(con, archive_dir, row["day"], database=database))
    return archived


def archive_day(
    con: duckdb.DuckDBPyConnection,
    archive_dir: Path,
    day: date,
    *,
    database: Path | str = "database",
) -> ArchivedDay:
    """Write one UTC day's raw responses to its file, verify it on disk, then prune them; one transaction."""
    path = day_file(archive_dir, day)
    _private_folder(path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    con.execute("begin transaction")
    try:
        run_file(con, "archive/day_polls.sql", {"day": day})
        if not query(con, "archive/day_poll_count.sql")["polls"].item():
            con.execute("rollback")  # nothing of the day in the database: another run archived it meanwhile
            return ArchivedDay(day, 0, 0, path)
        merged = 0
        if path.exists():
            before = _count(con)
            run_file(con, "archive/restore_day.sql", {"file": str(path)})
            merged = _count(con) - before
            run_file(con, "archive/day_polls.sql", {"day": day})  # with the polls put back
        expected = _summary(con, "archive/day_summary.sql", {})
        responses = int(expected["responses"]) - merged
        if expected["keys"] != expected["responses"]:
            raise WarehouseError(
                f"database {database}: raw_responses of {day} hold "
                f"{expected['responses'] - expected['keys']} duplicate (poll_id, seq) rows; "
                "nothing was archived"
            )
        run_file(con, "archive/write_day.sql", {"path": str(tmp)})
        _seal(tmp)
        written = _summary(con, "archive/file_summary.sql", {"file": str(tmp)})
        if written != expected:
            raise WarehouseError(
                f"archive {path}: the file read back does not match the database "
                f"(file {_describe(written)}, database {_describe(expected)}); nothing was pruned"
            )
        # Only a verified file replaces an earlier one of the day: until then its rows stay on disk.
        tmp.replace(path)
        fsync_folder(path.parent)
        size, digest = _file_digest(path)
        run_file(
            con,
            "archive/prune_day.sql",
            {
                "day": day,
                "polls": int(expected["polls"]),
                "responses": int(expected["responses"]),
                "bytes": size,
                "sha256": digest,
                "file": path.relative_to(archive_dir).as_posix(),
                "first_poll_id": expected["first_poll_id"],
                "last_poll_id": expected["last_poll_id"],
                "archived_at": datetime.now(UTC),
            },
        )
        con.execute("commit")
    except duckdb.Error as exc:
        rollback_quietly(con)
        raise WarehouseError(
            f"database {database}: archiving {day} failed: {' '.join(str(exc).split())[:300]}"
        ) from None
    except BaseException:
        rollback_quietly(con)
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return ArchivedDay(day, int(expected["polls"]), responses, path, size, digest, merged)


def _count(con: duckdb.DuckDBPyConnection) -> int:
    return int(query(con, "archive/response_count.sql")["responses"].item())


def _summary(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> dict[str, Any]:
    (row,) = query(con, name, params).rows(named=True)
    return row


def _describe(summary: dict[str, Any]) -> str:
    return f"{summary['responses']} rows of {summary['polls']} polls"


def _seal(path: Path) -> None:
    """Make the written file private and durable before it gets its name."""
    os.chmod(path, FILE_MODE)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _private_folder(folder: Path) -> None:
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    os.chmod(folder, FOLDER_MODE)


def _file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as data:
        while chunk := data.read(_READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
