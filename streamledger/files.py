"""Files the pipeline writes: atomically (a reader never sees half a file) and private to their owner."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

FILE_MODE = 0o600
# Shared with a group (the export's STREAMLEDGER_EXPORT_GROUP): the group reads the files and enters the
# folders, whose setgid bit gives what is created in them the same group.
GROUP_FILE_MODE = 0o640
GROUP_FOLDER_MODE = 0o2750
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_NOT_A_FOLDER = frozenset({errno.EEXIST, errno.ENOTDIR})


def write_atomically(path: Path, data: bytes, *, group: int | None = None) -> str:
    """Write `data` to `path` through a fsynced temporary file renamed into place, then fsync the folder so
    that the name survives a power loss too; return its SHA-256.

    With `group` (a group id), the file belongs to that group and the group may read it (GROUP_FILE_MODE)
    from the moment it has its name; otherwise it is private to its owner (FILE_MODE).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        if group is not None:
            os.fchown(fd, -1, group)
            os.fchmod(fd, GROUP_FILE_MODE)  # fchmod is not masked by the umask of private_files
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
        if pid.isdigit() and not process_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp.name)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process of that id exists (another user's too): a file it left is still its own."""
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


def storage_problem(what: str, folder: Path, setting: str, exc: OSError, *, noun: str = "a folder") -> str:
    """Return one line: `what` failed under `folder`, what the OSError says is wrong, and the fix, which names
    `setting` (the variable that moves it to `noun` elsewhere). No errno, no traceback: the cause in words."""
    code = exc.errno
    if code in _FULL:
        why = f"the disk is full ({size_text(free_bytes(folder))} free)"
        fix = f"free space on it, or set {setting} to {noun} on a larger disk"
    elif code == errno.EFBIG:
        why = "a file reached this process's file-size limit (ulimit -f)"
        fix = f"raise the limit, or set {setting} to {noun} elsewhere"
    elif code == errno.EROFS:
        why = "it is on a read-only disk"
        fix = f"set {setting} to {noun} on a writable disk"
    elif code in (errno.EACCES, errno.EPERM):
        why = f"this user (uid {os.getuid()}) may not write there"
        fix = f"give it write access, or set {setting} to {noun} it can write"
    elif code in _NOT_A_FOLDER and (blocker := not_a_folder(folder)) is not None:
        why = f"{blocker} is a file, not a folder"
        fix = f"move that file away, or set {setting} to {noun} elsewhere"
    else:
        why = " ".join((exc.strerror or str(exc)).split())
        fix = f"check {folder}, or set {setting} to {noun} elsewhere"
    return f"{what}: {why}: {fix}"


def not_a_folder(folder: Path) -> Path | None:
    """Return the file that stands where `folder` or one of its parents should be a folder, if one does."""
    for candidate in (folder, *folder.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def nearest_existing(folder: Path) -> Path:
    """Return `folder`, or its nearest parent that exists (where the folder would be created)."""
    return next((candidate for candidate in (folder, *folder.parents) if candidate.exists()), Path("/"))


def free_bytes(folder: Path) -> int:
    """Return the bytes free to this user on the disk that holds `folder` (or would hold it)."""
    try:
        return shutil.disk_usage(nearest_existing(folder)).free
    except OSError:
        return 0


def size_text(size: float) -> str:
    """Return a byte count as a person reads it: 0 bytes, 12.0 KB, 3.4 MB, 120 GB (powers of 1000)."""
    units = ("bytes", "KB", "MB", "GB", "TB")
    index = 0
    while size >= 1000 and index < len(units) - 1:
        size /= 1000
        index += 1
    if index == 0:
        return f"{size:.0f} bytes"
    return f"{size:.1f} {units[index]}" if size < 100 else f"{size:.0f} {units[index]}"
