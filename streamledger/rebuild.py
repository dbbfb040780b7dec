"""Re-derive every table from the raw responses: the archive's Parquet files and raw_responses.

Why the archive is replayed too, instead of re-deriving only the retained window and keeping older derived
rows: livestreams, sessions, apps and analytics_daily hold one row per object folded from *every*
observation of it (the newest non-null value of each column, the earliest first_seen_at, finalization by
two agreeing reads after the stop), and session_usage is computed from a session's whole curve. Their state
as of the retention cutoff is stored nowhere, so a replay of the window alone cannot reproduce them: a
session that started before the cutoff would lose its first_seen_at, figures or finality, and a fix to the
normalization (the reason to rebuild) would reach only the recent rows. Replaying the archived days first
and then raw_responses gives exactly the tables that loading every poll gave, pruned or not.

Polls are replayed in the order they ran, in chunks of about CHUNK_RESPONSES raw responses (whole polls),
so memory stays bounded however long the history; the load files are written so that a batch of polls
gives what loading them one by one gives. Everything happens in one transaction: readers see the old
tables until the commit, and a failure leaves them untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import polars as pl

from streamledger.errors import WarehouseError
from streamledger.load import DERIVED_FILES, stage
from streamledger.settings import DEFAULT_SETTLE_SECONDS
from streamledger.transforms.normalize import RESPONSE_SCHEMA, normalize_responses
from streamledger.warehouse import opened, query, register, rollback_quietly, run_file

CHUNK_RESPONSES = 20_000  # about 100 polls of 200 livestreams; tens of MB of bodies at a time
Poll = tuple[str, int, str | None]  # poll_id, raw responses, archive file (None: raw_responses)
_RESPONSES = pl.Schema(RESPONSE_SCHEMA)


def rebuild(
    database: Path,
    *,
    archive_dir: Path | None = None,
    chunk_responses: int = CHUNK_RESPONSES,
    progress: Callable[[str], None] | None = None,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
) -> dict[str, int]:
    """Re-derive every normalized table from the archive and raw_responses in one transaction.

    Returns the row count of each table. `archive_dir` defaults to `archive/` beside the database;
    `settle_seconds` is the finalization rule's (STREAMLEDGER_SETTLE_SECONDS).
    """
    step = progress or (lambda message: None)
    if not database.exists():
        raise WarehouseError(f"database {database} does not exist")
    folder = archive_dir if archive_dir is not None else database.parent / "archive"
    with opened(database) as con:
        files = archive_files(con, folder)
        step(f"listing polls ({len(files)} archived days)")
        run_file(con, "rebuild/polls.sql")
        for file in files:
            run_file(con, "rebuild/archived_polls.sql", {"file": str(file)})
        polls: list[Poll] = query(con, "rebuild/poll_order.sql").rows()
        chunks = list(poll_chunks(polls, chunk_responses))
        total = sum(responses for _, responses, _ in polls)
        step(f"replaying {len(polls):,} polls, {total:,} raw responses, in {len(chunks):,} chunks")
        con.execute("begin transaction")
        try:
            run_file(con, "load/00_clear_derived.sql")
            every = max(1, len(chunks) // 10)
            for number, chunk in enumerate(chunks, start=1):
                normalized = normalize_responses(read_chunk(con, chunk).to_dicts())
                stage(con, normalized)
                for name in DERIVED_FILES:
                    run_file(con, name, {"settle_seconds": settle_seconds})
                # What the ledger counts of each poll follows the normalization it was replayed with.
                register(con, "staged_poll_counts", normalized.counts())
                run_file(con, "rebuild/recount_polls.sql")
                if number % every == 0 or number == len(chunks):
                    step(f"replayed {number:,} of {len(chunks):,} chunks (to poll {chunk[-1][0]})")
            counts = {
                table: int(rows)
                for table, rows in query(con, "rebuild/counts.sql").row(0, named=True).items()
            }
            step("committing")
            con.execute("commit")
        except duckdb.Error as exc:
            rollback_quietly(con)
            raise WarehouseError(
                f"database {database}: rebuild failed: {' '.join(str(exc).split())[:300]}"
            ) from None
        except BaseException:
            rollback_quietly(con)
            raise
    return counts


def archive_files(con: duckdb.DuckDBPyConnection, folder: Path) -> list[Path]:
    """Return the archive file of every day raw_archive records, refusing if one is missing or short."""
    files = []
    for day, name, responses in query(con, "rebuild/archive_files.sql").rows():
        path = folder / name
        if not path.is_file():
            raise WarehouseError(
                f"archive file {path} (raw responses of {day}) is missing: a rebuild without it would lose "
                f"{responses:,} raw responses (set STREAMLEDGER_ARCHIVE_DIR to the folder that holds it)"
            )
        try:
            held = int(query(con, "rebuild/archive_file_rows.sql", {"file": str(path)})["responses"].item())
        except duckdb.Error as exc:
            raise WarehouseError(
                f"archive file {path}: cannot read it: {' '.join(str(exc).split())[:200]}"
            ) from None
        if held < responses:
            raise WarehouseError(
                f"archive file {path} holds {held:,} raw responses, {responses:,} were archived to it"
            )
        files.append(path)
    return files


def poll_chunks(polls: list[Poll], chunk_responses: int) -> Iterator[list[Poll]]:
    """Cut the ordered polls into runs of whole polls of about `chunk_responses` raw responses each."""
    chunk: list[Poll] = []
    size = 0
    for poll in polls:
        chunk.append(poll)
        size += poll[1]
        if size >= chunk_responses:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def read_chunk(con: duckdb.DuckDBPyConnection, chunk: list[Poll]) -> pl.DataFrame:
    """Return the raw responses of a run of consecutive polls, ordered by poll and receipt."""
    bounds = {"first": chunk[0][0], "last": chunk[-1][0]}
    files = sorted({file for _, _, file in chunk if file is not None})
    frames = []
    if any(file is None for _, _, file in chunk):
        frames.append(query(con, "rebuild/retained_chunk.sql", bounds))
    if files:
        frames.append(query(con, "rebuild/archived_chunk.sql", {**bounds, "files": files}))
    return pl.concat([frame.cast(_RESPONSES) for frame in frames]).sort("poll_id", "seq")
