"""Compare the warehouse with the simulator's ground truth (used by the demo and the tests)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from streamledger.transforms.shapes import parse_instant
from streamledger.warehouse import connect

# The simulator's own query: the product never runs it, so it is not under sql/ (nor in the wheel).
SESSIONS_TO_COMPARE = Path(__file__).parent / "sql" / "sessions_to_compare.sql"
PLACEHOLDER_SECONDS = 60.0
_TIMES = ("created_at", "invoked_time", "started_time", "stopped_time")
_LATER_TIMES = ("started_time", "stopped_time")


@dataclass
class Comparison:
    """How the warehouse's sessions compare with the truth; `mismatches` says what differs and where."""

    seen: int = 0
    truth: int = 0
    matched: int = 0
    final_seen: int = 0  # final here, with figures equal to the true final ones
    unfinished: int = 0  # stopped in the truth, not final here yet (finalization's job)
    missing: list[str] = field(default_factory=list)  # in the truth, not in the warehouse
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every session seen matches the truth."""
        return not self.mismatches


def fetch_truth(root_url: str) -> dict[str, dict[str, Any]]:
    """Return the simulator's sessions by id, from GET /_simulator/sessions."""
    body = httpx.get(f"{root_url}/_simulator/sessions", timeout=30).raise_for_status().json()
    return {session["id"]: session for session in body["sessions"]}


def compare(database: Path, truth: dict[str, dict[str, Any]], *, frozen_clock: bool = False) -> Comparison:
    """Check every warehouse session against the truth.

    Timestamps must be equal (started and stopped times may be not yet observed). A final session must
    carry exactly the true final figures. Any other session must carry figures at most the truth (equal
    for a running one when the clock has not moved since the last poll), or the API's placeholder 60.
    Truth sessions absent from the warehouse are listed in `missing`.
    """
    con = connect(database, read_only=True)
    try:
        rows = pl.DataFrame(con.sql(SESSIONS_TO_COMPARE.read_text()))
    finally:
        con.close()
    result = Comparison(seen=rows.height, truth=len(truth))
    for row in rows.iter_rows(named=True):
        problems = _differences(row, truth.get(row["session_id"]), frozen_clock)
        if problems:
            result.mismatches.extend(f"session {row['session_id']}: {p}" for p in problems)
        else:
            result.matched += 1
            result.final_seen += bool(row["is_final"])
            result.unfinished += not row["is_final"] and bool(truth[row["session_id"]]["is_final"])
    result.missing = sorted(set(truth) - set(rows["session_id"]))
    return result


def _differences(row: dict[str, Any], true: dict[str, Any] | None, frozen_clock: bool) -> list[str]:
    if true is None:
        return ["not in the ground truth"]
    problems = [
        f"{name} {row[name]} != {true[name]}"
        for name in ("livestream_id", "app_id")
        if row[name] != true[name]
    ]
    for name in _TIMES:
        seen_at, true_at = row[name], parse_instant(true[name])
        if seen_at is None and name in _LATER_TIMES:
            continue  # not observed yet (still INVOKED, or not seen stopped: finalization's job)
        if seen_at != true_at:
            problems.append(f"{name} {seen_at} != {true_at}")
    for name in ("ingest_seconds", "viewer_seconds"):
        seen, true_value = row[name], float(true[name])
        if seen is None:
            problems.append(f"{name} is null")
        elif row["is_final"] or (frozen_clock and not true["is_final"] and row["stopped_time"] is None):
            if not math.isclose(seen, true_value, rel_tol=0, abs_tol=1e-9) and not _placeholder(row, seen):
                problems.append(f"{name} {seen} != {true_value}")
        elif seen > true_value + 1e-9 and not _placeholder(row, seen):
            problems.append(f"{name} {seen} > true {true_value}")
    return problems


def _placeholder(row: dict[str, Any], value: float) -> bool:
    """The API reports 60 in a running session's first seconds."""
    return not row["is_final"] and value == PLACEHOLDER_SECONDS


def seconds_before(iso: str, sim: Any, now: float) -> float:
    """Seconds between a ground-truth timestamp and the simulator time `now` (seconds since its origin)."""
    at = parse_instant(iso)
    assert at is not None
    origin = parse_instant(sim.model.iso(0))
    assert origin is not None
    return now - (at - origin).total_seconds()
