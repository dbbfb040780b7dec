"""Files the pipeline writes: atomically (a reader never sees half a file) and private to their owner."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

FILE_MODE = 0o600


def write_atomically(path: Path, data: bytes) -> str:
    """Write `data` to `path` through a fsynced temporary file renamed into place, then fsync the folder so
    that the name survives a power loss too; return its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
    return hashlib.sha256(data).hexdigest()


def fsync_folder(folder: Path) -> None:
    """Make the names in `folder` durable: a file renamed into it survives a power loss only after this."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_leftovers(folder: Path) -> list[str]:
    """Delete the temporary files (`.NAME.tmp-PID`) of writers that died mid-write; return their names.

    Such a file never got its name, so nothing it held was ever landed or archived: nothing is lost with it.
    A file of a process still alive (this one included) is left to its writer.
    """
    removed = []
    for tmp in folder.glob(".*.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's process
    return True


def private_files() -> None:
    """Make every file and folder this process creates from now on private to its owner (umask 077).

    The database, landing files, exports and logs hold usage data and fingerprints; nobody else on the
    machine needs to read them. Called by the command line and at the start of each flow run, since a
    work pool may start flows without the command line.
    """
    os.umask(0o077)
