"""Whole polls against hostile servers on 127.0.0.1 (tests/hostile_servers.py): each ends within its bounds
and says which bound it met.

A trickled body meets the request's deadline, a poll that cannot finish meets the poll's deadline, a body
too large (on the wire, decompressed, or by its Content-Length) meets the body cap, a redirect is a failed
read, and endless paging meets the poll's allowance. Each poll runs the flow's steps (tests.helpers.run_poll)
into a real DuckDB file, and the recorded rows are the evidence: raw_responses and poll_runs. How long each
took and how much memory it used are figures of benchmarks/hostile.py, not assertions.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamledger import warehouse
from streamledger.poll import PollRun
from streamledger.settings import DEFAULT_MAX_BODY_BYTES, Secret, Settings
from tests.helpers import run_poll
from tests.hostile_servers import (
    MIB,
    NO_SESSIONS,
    Behaviour,
    HostileServer,
    Request,
    Route,
    Writer,
    answer,
    endless_api,
    endless_chunked,
    endless_page,
    everything,
    gzip_bomb,
    huge_length,
    listing_then,
    livestream,
    redirect,
    serving,
    trickle,
)

CAP = f"STREAMLEDGER_MAX_BODY_BYTES={DEFAULT_MAX_BODY_BYTES}"
LIVE_LISTING = "list_livestreams on app app, status LIVE page 1"


def hostile_settings(server: HostileServer, tmp_path: Path, **changes: Any) -> Settings:
    """Settings for one app on a hostile server, the defaults otherwise (the bounds under test included)."""
    settings = Settings(
        api_token=Secret("hostile-token"),
        account_id="acc",
        app_ids=("app",),
        base_url=server.base_url,
        database=tmp_path / "history.duckdb",
        landing_dir=tmp_path / "landing",
    )
    return settings.with_overrides(**changes)


def polled(route: Route, tmp_path: Path, **changes: Any) -> tuple[PollRun, list[dict[str, Any]], list[str]]:
    """One whole poll of a hostile server: its ledger row, its raw_responses rows in order, and the request
    targets the server was sent."""
    with serving(route) as server:
        settings = hostile_settings(server, tmp_path, **changes)
        row = run_poll(settings)
    return row, raw_responses(settings.database), server.requests


def raw_responses(database: Path) -> list[dict[str, Any]]:
    """Its raw_responses rows, in the order they were received."""
    columns = "endpoint, attempt, http_status, outcome, body, error"
    with warehouse.opened(database, read_only=True) as con:
        rows: list[dict[str, Any]] = (
            con.sql(f"select {columns} from raw_responses order by seq").pl().to_dicts()
        )
    return rows


# --- time ----------------------------------------------------------------------------------------------


def test_a_trickled_body_meets_the_request_deadline_and_is_retried_then_recorded(tmp_path: Path) -> None:
    """One byte every 0.1 s resets a 5 s read timeout forever; the request's deadline (0.5 s) does not."""
    row, rows, _ = polled(
        listing_then(trickle(0.1)),
        tmp_path,
        timeout_seconds=5.0,
        request_deadline_seconds=0.5,
        max_attempts=2,
    )
    trickled = [r for r in rows if r["endpoint"] != "list_livestreams"]
    # Three live livestreams, each read (active session, then its sessions), twice each, then given up.
    assert sorted((r["endpoint"], r["attempt"], r["outcome"]) for r in trickled) == sorted(
        [(endpoint, 1, "retry") for endpoint in ("active_session", "livestream_sessions")] * 3
        + [(endpoint, 2, "error") for endpoint in ("active_session", "livestream_sessions")] * 3
    )
    assert {(r["http_status"], r["body"]) for r in trickled} == {(None, None)}
    cause = re.compile(
        r"no response: RequestDeadline: no whole answer within 0\.5 s "
        r"\(STREAMLEDGER_REQUEST_DEADLINE_SECONDS\), cut off after \d+ bytes of the body$"
    )
    assert [r["error"] for r in trickled if not cause.search(r["error"])] == []
    assert (row.outcome, row.livestreams, row.transport_errors) == ("partial", 3, 12)
    assert row.message is not None
    assert cause.search(row.message.splitlines()[0])


def test_the_poll_deadline_cuts_the_reads_in_flight_sends_nothing_more_and_keeps_what_was_read(
    tmp_path: Path,
) -> None:
    row, rows, sent = polled(listing_then(trickle(0.1)), tmp_path, poll_deadline_seconds=1.5)
    cut = [r for r in rows if r["endpoint"] == "active_session"]
    assert [(r["attempt"], r["http_status"], r["outcome"]) for r in cut] == [(1, None, "error")] * 3
    deadline = (
        "the poll reached its deadline of 1.5 s (STREAMLEDGER_POLL_DEADLINE_SECONDS); "
        "the next poll reads the rest"
    )
    assert [r["error"] for r in cut if not r["error"].endswith(f"of the body: {deadline}")] == []
    # Nothing after the deadline: the sweeps the listing asked for were not sent.
    assert [r["endpoint"] for r in rows if r["endpoint"] not in ("active_session", "list_livestreams")] == []
    assert len(sent) == len(rows) == row.requests
    assert [r["outcome"] for r in rows if r["endpoint"] == "list_livestreams"] == ["data"] * 3
    assert (row.outcome, row.livestreams) == ("partial", 3)
    assert row.message is not None
    assert row.message.splitlines()[0].endswith(deadline)


def test_a_poll_that_read_nothing_before_its_deadline_failed_and_says_why(tmp_path: Path) -> None:
    row, rows, sent = polled(everything(trickle(0.1)), tmp_path, poll_deadline_seconds=1.0)
    assert [(r["endpoint"], r["http_status"], r["outcome"]) for r in rows] == [
        ("list_livestreams", None, "error")
    ]
    assert len(sent) == row.requests == 1  # the INVOKED listing and the rest: not sent
    assert row.outcome == "failed"
    assert row.message is not None
    assert re.fullmatch(
        rf"no livestream listing could be read: {LIVE_LISTING}: no response: cut off after \d+ bytes of the "
        r"body: the poll reached its deadline of 1 s \(STREAMLEDGER_POLL_DEADLINE_SECONDS\); the next poll "
        "reads the rest",
        row.message.splitlines()[0],
    )


# --- memory --------------------------------------------------------------------------------------------


def capped_reads(
    route: Route, tmp_path: Path, status: int = 200, kept: str | None = None
) -> tuple[PollRun, list[dict[str, Any]]]:
    """A poll whose listing is fine and whose every other read is `route`'s: its row and the failed reads.

    Each was one attempt (a body over the cap is over it again), a response whose body was not kept (or,
    a redirect, kept as it came: `kept`). The poll's own cap is lifted, so that each read meets the body's:
    bodies read at once may meet the poll's first (test_bombs_on_the_defaults_each_meet...).
    """
    row, rows, _ = polled(route, tmp_path, max_poll_bytes=2**30)
    failed = [r for r in rows if r["endpoint"] != "list_livestreams"]
    assert sorted(r["endpoint"] for r in failed) == ["active_session"] * 3 + ["livestream_sessions"] * 3
    assert {(r["attempt"], r["http_status"], r["outcome"], r["body"]) for r in failed} == {
        (1, status, "error", kept)
    }
    assert (row.outcome, row.livestreams, row.retries, row.transport_errors) == ("partial", 3, 0, 0)
    return row, failed


def causes(rows: list[dict[str, Any]]) -> set[str]:
    """What each failed read says after its endpoint and status."""
    return {row["error"].split(": ", 2)[2] for row in rows}


def test_a_gzip_bomb_is_cut_off_once_it_inflates_past_the_cap(tmp_path: Path) -> None:
    """64 MiB of zeros in 66 KB of gzip: inflated in pieces, it stops just past the cap (16 MiB)."""
    _, capped = capped_reads(listing_then(gzip_bomb(64 * MIB)), tmp_path)
    cause = re.compile(
        rf"^body over {CAP}: cut off past 16,777,216 bytes decompressed \(from ([\d,]+) on the wire\); "
        "not kept$"
    )
    said = [cause.match(text) for text in causes(capped)]
    assert None not in said
    # About 17 KB of the bomb were read (its first 16 MiB inflated, and the socket's last read ahead).
    assert all(int(match.group(1).replace(",", "")) < 200_000 for match in said if match)


def test_bombs_on_the_defaults_each_meet_the_body_cap_or_the_poll_cap(tmp_path: Path) -> None:
    """On the defaults, bombs read at once may together hold more than the poll's 24 MiB before any meets
    its own 16 MiB: whichever comes first, each is cut off, and past the poll's nothing more is sent."""
    row, rows, sent = polled(listing_then(gzip_bomb(64 * MIB)), tmp_path)
    reads = [r for r in rows if r["endpoint"] != "list_livestreams"]
    poll_cap = "cut off, not kept: the poll holds 25,165,824 bytes of answers (STREAMLEDGER_MAX_POLL_BYTES)"
    assert {(r["http_status"], r["outcome"], r["body"]) for r in reads} == {(200, "error", None)}
    assert [r["error"] for r in reads if CAP not in r["error"] and not r["error"].endswith(poll_cap)] == []
    assert 3 + 3 <= len(sent) == row.requests <= 3 + 6
    if any(r["error"].endswith(poll_cap) for r in reads):
        assert [r["endpoint"] for r in reads] == ["active_session"] * 3  # then the sweeps were not sent
    assert (row.outcome, row.livestreams, row.retries) == ("partial", 3, 0)


def test_an_endless_chunked_body_is_cut_off_at_the_cap_on_the_wire(tmp_path: Path) -> None:
    _, capped = capped_reads(listing_then(endless_chunked), tmp_path)
    assert causes(capped) == {f"body over {CAP}: cut off past 16,777,216 bytes on the wire; not kept"}


def test_a_content_length_past_the_cap_is_refused_before_any_of_the_body_is_read(tmp_path: Path) -> None:
    row, capped = capped_reads(listing_then(huge_length), tmp_path)
    assert causes(capped) == {f"body over {CAP}: its Content-Length is 6,000,000,000 bytes; refused unread"}
    assert row.message is not None
    assert CAP in row.message.splitlines()[0]


def raw_deflate(data: bytes) -> bytes:
    """Deflate without the zlib header, as some servers send "deflate"."""
    deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return deflate.compress(data) + deflate.flush()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", raw_deflate)],
    ids=["gzip", "deflate", "raw-deflate"],
)
def test_a_compressed_answer_within_the_cap_reads_as_the_same_answer_plain(
    encoding: str, encode: Callable[[bytes], bytes], tmp_path: Path
) -> None:
    async def compressed(request: Request, writer: Writer) -> None:
        items = [{"id": f"ls-{n}", **livestream()} for n in range(3)]
        page = {
            "success": True,
            "data": items,
            "paging": {"start_offset": 1, "end_offset": 3, "total_count": 3},
        }
        await answer(writer, encode(orjson.dumps(page)), headers={"Content-Encoding": encoding})

    def route(request: Request) -> Behaviour:
        return compressed if request.path.endswith("/livestreams") else endless_api(request)

    row, rows, _ = polled(route, tmp_path)
    assert (row.outcome, row.livestreams) == ("ok", 3)
    listing = next(r for r in rows if r["endpoint"] == "list_livestreams")
    assert orjson.loads(listing["body"])["paging"]["total_count"] == 3


def test_an_encoding_not_asked_for_is_a_failed_read_not_a_guess(tmp_path: Path) -> None:
    async def brotli(request: Request, writer: Writer) -> None:
        await answer(writer, b"\x8b\x02\x80{}\x03", headers={"Content-Encoding": "br"})

    _, capped = capped_reads(listing_then(brotli), tmp_path)
    assert causes(capped) == {"Content-Encoding 'br' is not one asked for (gzip, deflate): not read"}


def test_a_poll_stops_reading_once_its_answers_reach_the_poll_cap_and_keeps_what_fits(tmp_path: Path) -> None:
    """Endless pages of 1 MB, each under the body cap: the poll holds what it read until it is loaded."""

    def route(request: Request) -> Behaviour:
        return endless_page(request, "ls", **(livestream() | {"name": "n" * 10_000}))

    row, rows, sent = polled(route, tmp_path, max_poll_bytes=2_621_440)
    assert [(r["http_status"], r["outcome"], r["body"] is None) for r in rows] == [
        (200, "data", False),
        (200, "data", False),
        (200, "error", True),
    ]
    assert len(sent) == row.requests == 3  # nothing more was sent
    # What it read is kept; its one listing did not end, so it could not tell what is live: failed.
    assert (row.outcome, row.livestreams) == ("failed", 200)
    cause = (
        f"{LIVE_LISTING.replace('page 1', 'page 3')}: HTTP 200: cut off, not kept: the poll holds "
        "2,621,440 bytes of answers (STREAMLEDGER_MAX_POLL_BYTES)"
    )
    assert row.message == f"no livestream listing could be read: {cause}"


# --- redirects -------------------------------------------------------------------------------------------


def test_a_redirect_elsewhere_is_not_followed_and_is_a_failed_read_naming_the_setting(tmp_path: Path) -> None:
    with serving(everything(NO_SESSIONS)) as elsewhere:
        target = f"{elsewhere.root_url}/elsewhere?token=x"
        _, failed = capped_reads(listing_then(redirect(target)), tmp_path, status=302, kept="")
        assert elsewhere.requests == []
    assert causes(failed) == {
        f"redirect to {elsewhere.root_url}/elsewhere not followed: CLOUDFLARE_BASE_URL must name the API "
        "itself (https://api.cloudflare.com/client/v4)"
    }


def test_a_redirect_loop_costs_one_request_per_read(tmp_path: Path) -> None:
    row, rows, sent = polled(listing_then(redirect("", status=301)), tmp_path)
    looped = [r for r in rows if r["endpoint"] != "list_livestreams"]
    assert {(r["http_status"], r["outcome"], r["attempt"]) for r in looped} == {(301, "error", 1)}
    assert len(sent) == row.requests == len(rows) == 3 + 6  # the listings, then each read once
    assert row.outcome == "partial"


# --- requests --------------------------------------------------------------------------------------------


def test_endless_apps_each_with_endless_livestreams_stay_inside_the_poll_allowance(tmp_path: Path) -> None:
    row, _, sent = polled(endless_api, tmp_path, app_ids=())
    assert row.allowance == 240  # the share of one poll a minute of 1,200 requests per 300 s
    assert len(sent) == row.requests == row.discovery_requests == row.allowance
    assert row.deferred_list > 0
    assert row.message is not None
    lines = row.message.splitlines()
    assert lines[0] == "list_apps: page cap 200 reached"  # 20,000 apps; the 40 requests left list some
    assert re.fullmatch(
        r"list_livestreams: cut short by the poll's allowance of 240 requests on \d+ of 20000 apps "
        r"\(\d+ listing pages deferred\); their live livestreams wait for a later poll",
        lines[1],
    )
    assert row.outcome == "partial"


def test_an_app_with_endless_livestreams_stays_inside_the_poll_allowance(tmp_path: Path) -> None:
    row, _, sent = polled(endless_api, tmp_path)
    assert len(sent) == row.requests == row.allowance == 240
    assert "list_livestreams on app app: page cap 200 reached" in (row.message or "").splitlines()
    assert row.deferred_live == 200 * 100 + 40 * 100  # every LIVE and INVOKED one listed, none read
    assert row.outcome == "partial"
