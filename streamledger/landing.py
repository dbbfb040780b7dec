"""The landing folder: each fetched poll as one durable file until the warehouse has loaded it.

A landing file is a header line (the poll without its responses) and one JSON line per response. It is
written before anything else can fail and deleted once its poll is loaded, so a poll that could not be
loaded (a crash, a busy database) is loaded by the next run. A file that cannot be loaded at all moves to
quarantine/ and is kept.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import fields
from datetime import datetime
from pathlib import Path

import orjson

from streamledger.errors import StorageError
from streamledger.files import fsync_folder, remove_leftovers, storage_problem
from streamledger.poll import FetchedPoll

QUARANTINE = "quarantine"
SETTING = "STREAMLEDGER_LANDING_DIR"


def land(landing_dir: Path, poll: FetchedPoll) -> Path:
    """Write the poll to its landing file atomically (fsynced, renamed into place, its folder fsynced); return
    its path.

    A folder that cannot take it (a full or read-only disk, a file in its place) is a StorageError in one line
    naming the folder, STREAMLEDGER_LANDING_DIR and the fix; no half-written file is left behind.
    """
    path = landed_path(landing_dir, poll.poll_id)
    # Named by the writing process, so that a leftover of a killed writer can be told from a live one.
    tmp = landing_dir / f".{path.name}.tmp-{os.getpid()}"
    # Not dataclasses.asdict: it deep-copies every response only for them to be dropped here.
    header = {f.name: getattr(poll, f.name) for f in fields(poll) if f.name != "responses"}
    try:
        landing_dir.mkdir(parents=True, exist_ok=True)
        try:
            with tmp.open("wb") as out:
                out.write(orjson.dumps(header) + b"\n")
                for response in poll.responses:
                    out.write(orjson.dumps(response, option=orjson.OPT_APPEND_NEWLINE))
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
        fsync_folder(landing_dir)  # the rename is durable only once the folder is: a power loss would undo it
    except OSError as exc:
        what = f"poll {poll.poll_id} could not be landed in {landing_dir}"
        raise StorageError(storage_problem(what, landing_dir, SETTING, exc)) from None
    return path


def landed_path(landing_dir: Path, poll_id: str) -> Path:
    """Return where the poll `poll_id` is (or would be) landed."""
    return landing_dir / f"{poll_id}.jsonl"


def pending(landing_dir: Path) -> list[Path]:
    """Return the landing files waiting to be loaded, oldest poll first (poll ids sort by start time)."""
    return sorted(landing_dir.glob("*.jsonl"))


def read_landed(path: Path) -> FetchedPoll:
    """Read a landing file back into the poll it was written from."""
    lines = path.read_bytes().splitlines()
    header = orjson.loads(lines[0])
    responses = [orjson.loads(line) for line in lines[1:]]
    for response in responses:
        for name in ("fetched_at", "server_date"):
            if response.get(name) is not None:
                response[name] = datetime.fromisoformat(response[name])
    return FetchedPoll(
        **header
        | {
            "started_at": datetime.fromisoformat(header["started_at"]),
            "finished_at": datetime.fromisoformat(header["finished_at"]),
            "app_ids": tuple(header["app_ids"]),
            "responses": responses,
            "rounds": [
                row | {name: datetime.fromisoformat(row[name]) for name in ("fetched_at", "round_started_at")}
                for row in header.get("rounds", [])
            ],
        }
    )


def forget(landing_dir: Path, poll_id: str) -> None:
    """Delete a loaded poll's landing file (another run may have loaded and deleted it already)."""
    landed_path(landing_dir, poll_id).unlink(missing_ok=True)


def quarantine(path: Path) -> Path:
    """Move a landing file that cannot be loaded out of the way (kept, never deleted); return the folder."""
    folder = path.parent / QUARANTINE
    try:
        folder.mkdir(exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.replace(folder / path.name)
    except OSError as exc:
        what = f"landing file {path.name} could not be loaded nor moved to {folder}"
        raise StorageError(storage_problem(what, folder, SETTING, exc)) from None
    return folder


def tidy(landing_dir: Path) -> None:
    """Remove the half-written files of landing writers that died (they never landed anything)."""
    if landing_dir.is_dir():
        with contextlib.suppress(OSError):  # a folder that cannot be written is reported by land()
            remove_leftovers(landing_dir)


def sent_times(landing_dir: Path, budget: str) -> list[float]:
    """Return when each request on `budget` of the polls still landed (not loaded yet) was sent (epoch s)."""
    times: list[float] = []
    for path in pending(landing_dir):
        try:
            poll = read_landed(path)
            if poll.budget in (None, budget):
                times += [response["fetched_at"].timestamp() for response in poll.responses]
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            continue  # loaded and removed meanwhile, or damaged (recovery quarantines it)
    return times


def headers(landing_dir: Path) -> Iterator[dict[str, object]]:
    """Yield the header of every landing file still waiting (read without the responses)."""
    for path in landing_dir.glob("*.jsonl"):
        try:
            with path.open("rb") as landed:
                yield orjson.loads(landed.readline())
        except (OSError, orjson.JSONDecodeError):
            continue


def newest_success(landing_dir: Path) -> datetime | None:
    """Return when the newest landed, not yet loaded snapshot poll finished, if it read all it planned."""
    finished = [
        datetime.fromisoformat(str(header["finished_at"]))
        for header in headers(landing_dir)
        if header.get("kind", "snapshot") == "snapshot" and not (header.get("fatal") or header.get("errors"))
    ]
    return max(finished, default=None)
