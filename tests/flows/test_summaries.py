"""The text the Prefect UI shows: what to do about each kind of failure, and the markdown summaries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest

from streamledger.errors import (
    ApiError,
    ConfigError,
    DatabaseBusy,
    DatabaseUnusable,
    StorageError,
    WarehouseError,
)
from streamledger.poll import POLL_RUN_SCHEMA, FetchedPoll, PollRun
from streamledger.summaries import MAX_DIFFERENCES, hint, poll_facts, poll_markdown, reconcile_markdown

STARTED = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def api_error(status: int | None, code: int | None = None) -> ApiError:
    return ApiError(
        endpoint="list_livestreams", app_id="app-1", subject=None, status=status, code=code, message="no"
    )


@pytest.mark.parametrize(
    ("cause", "names"),
    [
        (api_error(403, 10000), "`CLOUDFLARE_API_TOKEN`"),
        (api_error(400, 6003), "`CLOUDFLARE_API_TOKEN`"),
        (api_error(404), "`CLOUDFLARE_BASE_URL`"),
        (api_error(None), "the network"),
        ("list_livestreams on app a: HTTP 401, code 10000: Authentication error", "`CLOUDFLARE_API_TOKEN`"),
        ("get_app on app a: HTTP 404: not found", "`REALTIMEKIT_APP_ID`"),
        ("list_apps: no response: connection refused", "`CLOUDFLARE_BASE_URL`"),
        (DatabaseBusy("database x is held"), "`STREAMLEDGER_LOCK_WAIT_SECONDS`"),
        (WarehouseError("database x: cannot open it"), "`streamledger status --check`"),
        (DatabaseUnusable("database x is on a full disk"), "polls wait landed"),
        (StorageError("landing folder x is on a full disk (STREAMLEDGER_LANDING_DIR)"), "free space"),
        (ConfigError("STREAMLEDGER_PER_PAGE must be a int"), "docs/settings.md"),
        ("stale: the last successful poll finished at ...", "`streamledger status`"),
    ],
)
def test_each_failure_says_what_to_do(cause: BaseException | str, names: str) -> None:
    assert names in hint(cause)


def ledger_row(**changes: Any) -> PollRun:
    counts: dict[str, Any] = {
        name: 0 for name, kind in POLL_RUN_SCHEMA.items() if kind == pl.Int32() and name != "allowance"
    }
    row = PollRun(
        poll_id="20261102T100000.000000Z-abcdef",
        kind="snapshot",
        started_at=STARTED,
        finished_at=STARTED,
        app_ids=("app-1",),
        outcome="ok",
        message=None,
        network_seconds=0.1,
        normalize_seconds=0.01,
        load_seconds=0.1,
        recovered=False,
        allowance=240,
        listing="filtered",
        budget="token 0123456789abcdef",
        **counts,
    )
    return replace(row, **changes)


def test_a_cause_with_markdown_in_it_cannot_break_the_summary() -> None:
    cause = "get_livestream on app a: HTTP 500: <b>bad</b> | **loud** `tick` # heading\nsecond line"
    summary = poll_markdown(poll_facts(ledger_row(outcome="failed", message=cause, requests=1)))
    assert (
        "**Cause:** get\\_livestream on app a: HTTP 500: \\<b\\>bad\\</b\\> \\| \\*\\*loud\\*\\* \\`tick\\`"
        in summary
    )
    table = [line for line in summary.splitlines() if line.startswith("| ") and line.count("|") == 3]
    assert len(table) == 10  # every row of the facts table still has its two cells


def test_reads_the_allowance_left_for_later_polls_are_counted() -> None:
    row = ledger_row(requests=240, planned_live=200, planned_final=40, deferred_live=12, deferred_sweep=3)
    summary = poll_markdown(poll_facts(row))
    assert "| live sessions | 200 | 12 |" in summary
    assert "| livestream sweeps | 0 | 3 |" in summary
    assert "15 reads did not fit in this poll's allowance; the next polls make them." in summary


def test_a_poll_that_was_not_loaded_is_summed_up_from_its_fetch() -> None:
    fetched = FetchedPoll(
        poll_id="20261102T100000.000000Z-abcdef",
        started_at=STARTED,
        finished_at=STARTED,
        app_ids=("app-1",),
        responses=[],
        requests=7,
        allowance=240,
        errors=["get_livestream on app app-1, livestream ls-1: HTTP 500: oops"],
    )
    summary = poll_markdown(poll_facts(fetched), cause="database x: disk full", note="It stays landed.")
    assert summary.startswith("## Snapshot poll `20261102T100000.000000Z-abcdef`: **not loaded**\n")
    assert "**Cause:** database x: disk full" in summary
    assert "livestreams seen" not in summary  # counted by the load, which did not happen
    assert "| requests | 7 of an allowance of 240 |" in summary
    assert "- get\\_livestream on app app-1, livestream ls-1: HTTP 500: oops" in summary


def test_the_reconcile_summary_lists_differences_first_and_says_how_many_it_left_out() -> None:
    def day(n: int, verdict: str, reason: str | None) -> dict[str, Any]:
        return {
            "app_id": "app-1",
            "day": date(2026, 10, 1 + n % 28),
            "cloudflare_sessions": 3,
            "warehouse_sessions": 2,
            "ingest_difference_seconds": -61.5,
            "viewer_difference_seconds": 0.25,
            "tolerance_seconds": 4,
            "verdict": verdict,
            "verdict_reason": reason,
        }

    days = [day(0, "agrees", None), day(1, "not final", "a session of the day is not final")]
    days += [day(n, "differs", "session counts differ") for n in range(MAX_DIFFERENCES + 2)]
    facts = poll_facts(ledger_row(kind="reconcile", allowance=0, requests=3, discovery_requests=3))
    summary = reconcile_markdown(facts, days, first_day=date(2026, 10, 1), last_day=date(2026, 10, 31))
    assert "App-days: 42 differ, 1 not final, 1 agree" in summary
    assert "| requests | 3 |" in summary
    rows = [line for line in summary.splitlines() if line.startswith("| app-1 |")]
    assert len(rows) == MAX_DIFFERENCES
    assert all("| differs | session counts differ |" in row for row in rows)
    assert "| 3 / 2 | -61.5 | 0.25 | 4 |" in rows[0]
    assert "... and 3 more: `streamledger report reconciliation`" in summary  # 42 + 1 not final
