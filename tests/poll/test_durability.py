"""A landed poll and every atomically written file survive a power loss: fsynced, renamed, folder fsynced."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streamledger import landing
from streamledger.files import write_atomically
from streamledger.poll import FetchedPoll, new_poll_id


def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every fsync (of a file or a folder, by path) and every rename, in order, as they are called."""
    events: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd: int) -> None:
        kind = "fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file"
        events.append((kind, os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def recording_replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        events.append(("rename", f"{Path(src).name} -> {dst}"))
        replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    return events


def steps(events: list[tuple[str, str]], path: Path) -> list[str]:
    """The events as steps relative to `path`: the file's own fsync, its rename, its folder's fsync."""
    named: list[str] = []
    for kind, what in events:
        if kind == "fsync folder" and what == str(path.parent):
            named.append("fsync folder")
        elif kind == "rename" and what.endswith(f"-> {path}"):
            named.append("rename")
        elif kind == "fsync file" and Path(what).name.startswith(f".{path.name}.tmp-"):
            named.append("fsync file")
    return named


WRITERS: dict[str, Callable[[Path], Path]] = {
    "landing file": lambda folder: landing.land(
        folder,
        FetchedPoll(new_poll_id(datetime.now(UTC)), datetime.now(UTC), datetime.now(UTC), ("app",), []),
    ),
    "atomic file (exports, plan cache)": lambda folder: (
        write_atomically(folder / "statement.csv", b"a,b\n1,2\n"),
        folder / "statement.csv",
    )[1],
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_file_is_fsynced_renamed_into_place_and_its_folder_fsynced_in_that_order(
    writer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = recorded(monkeypatch)
    path = WRITERS[writer](tmp_path / "folder")
    assert path.exists()
    assert steps(events, path) == ["fsync file", "rename", "fsync folder"]
