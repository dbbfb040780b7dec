"""The recorded bodies, served over real HTTP on 127.0.0.1, through the real client and the normalization:
typed, UTC columns with the exact figures, and a parse issue for every value that does not parse."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from streamledger.client import RealtimeKitClient
from streamledger.errors import ApiError
from streamledger.ratelimit import RequestBudget
from streamledger.settings import Secret, Settings
from streamledger.transforms.normalize import (
    DAYWISE_SCHEMA,
    DAYWISE_WITHOUT_DATE,
    LIVESTREAM_SCHEMA,
    MISSING_FIGURE,
    SESSION_SCHEMA,
    NormalizedPoll,
    normalize_responses,
)
from streamledger.transforms.redact import fingerprint
from tests.helpers import Answer, FixtureServer, fixture, fixture_bytes, fixture_redacted, serving_fixtures

SETTINGS = Settings(
    api_token=Secret("tok-replay"),
    account_id="acc",
    app_ids=("app",),
    base_url="http://unused.test/client/v4",
    database=Path("unused.duckdb"),
    per_page=2,
    max_pages=5,
    max_attempts=2,
    max_retry_wait_seconds=60,
)
# The ids of the published examples.
LS_LIVE = "b60ef3da-fbbb-441b-9168-8235b0035248"
LS_IDLE = "3fd739f4-3c41-456e-bfba-6ebd51e16d2c"
LS_MEETING = "61e03cb4-d4da-42ad-9169-f53360f4f4b4"
SESSION = "cf55a850-c3fd-46b5-b5d2-25b3b9aa1686"
KEY_LIVE, KEY_IDLE = fingerprint("sk_fixture_b60ef3da"), fingerprint("sk_fixture_3fd739f4")
ACTIVE_PATH = f"/app/livestreams/{LS_LIVE}/active-livestream-session"
NOT_ISO = "not an ISO 8601 timestamp with a UTC offset"
Call = Callable[[RealtimeKitClient], Coroutine[Any, Any, Any]]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


@pytest.fixture(scope="module")
def running() -> Iterator[FixtureServer]:
    with serving_fixtures() as server:
        yield server


@pytest.fixture
def server(running: FixtureServer) -> FixtureServer:
    running.answers.clear()
    running.requests.clear()
    return running


def replay(server: FixtureServer, call: Call, **changes: Any) -> tuple[Any, RealtimeKitClient]:
    """Run a client call against the fixture server; return (its result or ApiError, the client)."""

    async def no_sleep(_: float) -> None:
        return None

    async def main() -> tuple[Any, RealtimeKitClient]:
        settings = SETTINGS.with_overrides(base_url=server.base_url, **changes)
        budget = RequestBudget(1000, 300)
        async with RealtimeKitClient(settings, budget=budget, sleep=no_sleep) as client:
            try:
                return await call(client), client
            except ApiError as error:
                return error, client

    return asyncio.run(main())


def active(server: FixtureServer, name: str, status: int = 200) -> tuple[Any, NormalizedPoll]:
    """Serve one active-session body, read it, normalize what the client recorded."""
    server.answer(ACTIVE_PATH, Answer(status, name))
    body, client = replay(server, lambda c: c.active_session("app", LS_LIVE))
    return body, normalize_responses(client.responses)


def issues(poll: NormalizedPoll) -> list[tuple[Any, ...]]:
    return poll.issues.select("session_id", "field", "raw_value", "reason").rows()


# --- active session ----------------------------------------------------------------------------------


def test_the_published_active_session_gives_typed_utc_rows_and_no_issue(server: FixtureServer) -> None:
    body, poll = active(server, "active_session.live.json")

    assert body == fixture_redacted("active_session.live.json")
    assert body["data"]["livestream"]["stream_key"] == f"[redacted {KEY_LIVE}]"
    assert poll.livestreams.schema == pl.Schema(LIVESTREAM_SCHEMA)
    assert poll.sessions.schema == pl.Schema(SESSION_SCHEMA)
    assert poll.sessions.schema["started_time"] == pl.Datetime("us", "UTC")
    assert poll.livestreams.drop("poll_id", "seq", "fetched_at").rows(named=True) == [
        {
            "endpoint": "active_session",
            "app_id": "app",
            "livestream_id": LS_LIVE,
            "name": None,
            "meeting_id": "bbb87945-df1c-49d9-8159-262a7ae6cfde",
            "status": "LIVE",
            "disabled": False,
            "ingest_server": "rtmps://2ec802dd47b0.global-contribute.live-video.net:443/app/",
            "playback_url": "https://2ec802dd47b0.ap-south-1.playback.live-video.net/api/video/v1/"
            "ap-south-1.944908621410.channel.ob5KQUrP5Zaf.m3u8",
            "stream_key_fingerprint": KEY_LIVE,
            "created_at": utc(2023, 7, 15, 7, 8, 26, 634000),
            "updated_at": utc(2023, 7, 15, 7, 8, 40, 726000),
        }
    ]
    assert poll.sessions.drop("poll_id", "seq", "fetched_at").rows(named=True) == [
        {
            "endpoint": "active_session",
            "app_id": "app",
            "observed_at": utc(2023, 7, 15, 7, 9, 0),  # the server's Date header
            "session_id": SESSION,
            "livestream_id": LS_LIVE,
            "status": "LIVE",
            "created_at": utc(2023, 7, 15, 7, 8, 40, 742000),
            "updated_at": utc(2023, 7, 15, 7, 8, 40, 742000),
            "invoked_time": None,
            "started_time": utc(2023, 7, 15, 7, 8, 39),
            "stopped_time": None,
            "err_message": None,
            "ingest_seconds": 60.0,
            "viewer_seconds": 60.0,
        }
    ]
    assert poll.issues.is_empty()
    assert poll.unknown_statuses == 0


def test_the_recorded_body_is_the_served_text_with_only_the_stream_key_fingerprinted(
    server: FixtureServer,
) -> None:
    server.answer(ACTIVE_PATH, Answer(200, "active_session.live.json"))
    _, client = replay(server, lambda c: c.active_session("app", LS_LIVE))

    (row,) = client.responses
    served = fixture_bytes("active_session.live.json").decode()
    marker = f'"[redacted {KEY_LIVE}]"'
    assert row["body"] == served.replace('"sk_fixture_b60ef3da"', marker)
    assert (row["http_status"], row["outcome"], row["attempt"]) == (200, "data", 1)
    assert row["server_date"] == utc(2023, 7, 15, 7, 9, 0)
    assert server.requests == [f"/client/v4/accounts/acc/realtime/kit{ACTIVE_PATH}"]


@pytest.mark.parametrize(
    ("name", "ingest", "viewer", "expected_issues"),
    [
        ("active_session.live.json", 60.0, 60.0, []),
        ("active_session.seconds_string.json", 118.0, 116.0, []),
        ("active_session.seconds_decimal_string.json", 118.5, 116.11599994199997, []),
        ("active_session.seconds_number.json", 118.0, 116.11599994199997, []),
        ("active_session.err_message.json", 118.0, 116.11599994199997, []),
        (
            "active_session.seconds_null.json",
            None,
            None,
            [
                (SESSION, "session.ingest_seconds", None, MISSING_FIGURE),
                (SESSION, "session.viewer_seconds", None, MISSING_FIGURE),
            ],
        ),
        (
            "active_session.seconds_garbage.json",
            None,
            None,
            [
                (SESSION, "session.ingest_seconds", "sixty", "not a number"),
                (SESSION, "session.viewer_seconds", "NaN", "not a finite number"),
            ],
        ),
    ],
)
def test_every_recorded_spelling_of_the_figures_is_a_double_or_a_parse_issue_never_a_quiet_null(
    server: FixtureServer,
    name: str,
    ingest: float | None,
    viewer: float | None,
    expected_issues: list[tuple[Any, ...]],
) -> None:
    _, poll = active(server, name)

    assert poll.sessions.select("session_id", "ingest_seconds", "viewer_seconds").rows() == [
        (SESSION, ingest, viewer)
    ]
    assert poll.sessions.schema["ingest_seconds"] == pl.Float64()
    assert issues(poll) == expected_issues


def test_an_errored_livestreams_session_keeps_its_error_text_and_stop(server: FixtureServer) -> None:
    _, poll = active(server, "active_session.err_message.json")

    text = fixture("active_session.err_message.json")["data"]["session"]["err_message"]
    assert poll.sessions.select("status", "err_message", "stopped_time", "updated_at").rows() == [
        ("ERRORED", text, utc(2023, 7, 15, 7, 10, 45), utc(2023, 7, 15, 7, 11, 47, 274000))
    ]
    assert poll.livestreams["status"].to_list() == ["ERRORED"]


TIMESTAMPS = ["created_at", "updated_at", "started_time", "stopped_time", "invoked_time"]


def test_offsets_give_the_same_utc_instants_as_z(server: FixtureServer) -> None:
    _, zulu = active(server, "active_session.live.json")
    _, offset = active(server, "active_session.time_offset.json")

    assert fixture("active_session.time_offset.json")["data"]["session"]["started_time"].endswith("+05:30")
    assert_frame_equal(offset.sessions.select(TIMESTAMPS), zulu.sessions.select(TIMESTAMPS))
    columns = ["created_at", "updated_at"]
    assert_frame_equal(offset.livestreams.select(columns), zulu.livestreams.select(columns))
    assert offset.issues.is_empty()


def test_fractions_of_any_length_are_kept_to_the_microsecond(server: FixtureServer) -> None:
    _, poll = active(server, "active_session.time_fraction.json")

    assert poll.sessions.select("started_time", "created_at", "updated_at").rows() == [
        (utc(2023, 7, 15, 7, 8, 39, 123456), utc(2023, 7, 15, 7, 8, 40), utc(2023, 7, 15, 7, 8, 40, 700000))
    ]
    assert poll.issues.is_empty()


def test_a_timestamp_without_a_zone_is_a_parse_issue_not_a_guess(server: FixtureServer) -> None:
    _, poll = active(server, "active_session.time_no_zone.json")

    assert poll.sessions.select("started_time", "created_at").rows() == [(None, None)]
    assert issues(poll) == [
        (SESSION, "session.created_at", "2023-07-15T07:08:40.742", NOT_ISO),
        (SESSION, "session.started_time", "2023-07-15T07:08:39.000", NOT_ISO),
    ]


@pytest.mark.parametrize(
    ("name", "status", "livestreams"),
    [
        ("active_session.no_session.json", 404, []),
        ("active_session.no_session.json", 200, []),
        ("active_session.no_session.data_null.json", 200, []),
        ("active_session.no_session.data_absent.json", 200, []),
        ("active_session.no_session.session_null.json", 200, [(LS_LIVE, "IDLE")]),
        ("active_session.no_session.session_absent.json", 200, [(LS_LIVE, "IDLE")]),
    ],
)
def test_every_recorded_no_active_session_answer_is_a_normal_none(
    server: FixtureServer, name: str, status: int, livestreams: list[tuple[str, str]]
) -> None:
    server.answer(ACTIVE_PATH, Answer(status, name))
    body, client = replay(server, lambda c: c.active_session("app", LS_LIVE))

    assert body is None
    recorded = [(r["http_status"], r["outcome"], r["error"]) for r in client.responses]
    assert recorded == [(status, "none", None)]
    poll = normalize_responses(client.responses)
    assert poll.sessions.is_empty()
    assert poll.livestreams.select("livestream_id", "status").rows() == livestreams
    assert poll.issues.is_empty()


# --- the list ----------------------------------------------------------------------------------------


def test_the_two_recorded_pages_are_read_by_their_paging_into_three_typed_livestreams(
    server: FixtureServer,
) -> None:
    server.answer("/app/livestreams", Answer(200, "livestreams.page1.json"), page=1)
    server.answer("/app/livestreams", Answer(200, "livestreams.page2.json"), page=2)
    listing, client = replay(server, lambda c: c.list_livestreams("app"))

    pages = [fixture_redacted(f"livestreams.page{n}.json")["data"] for n in (1, 2)]
    assert listing.items == pages[0] + pages[1]
    assert (listing.complete, listing.pages, listing.problem) == (True, 2, None)
    assert [r.split("?")[1] for r in server.requests] == ["page_no=1&per_page=2", "page_no=2&per_page=2"]
    poll = normalize_responses(client.responses)
    assert poll.livestreams.select(
        "seq", "livestream_id", "status", "disabled", "meeting_id", "stream_key_fingerprint", "created_at"
    ).rows() == [
        (1, LS_IDLE, "IDLE", False, None, KEY_IDLE, utc(2023, 7, 15, 11, 48, 34, 753000)),
        (
            1,
            LS_LIVE,
            "LIVE",
            False,
            "bbb87945-df1c-49d9-8159-262a7ae6cfde",
            KEY_LIVE,
            utc(2023, 7, 15, 7, 8, 26, 634000),
        ),
        (
            2,
            LS_MEETING,
            "LIVE",
            False,
            "bbb03399-24e3-4b0c-90ec-172e97e636be",
            None,
            utc(2023, 7, 15, 11, 58, 8, 404000),
        ),
    ]
    assert poll.issues.is_empty()


@pytest.mark.parametrize(
    ("name", "row"),
    [
        (
            "livestreams.spec_object.json",
            (
                "3fd739f4-3c41-456e-bfba-6ebd51e16d2d",
                "test",
                "IDLE",
                False,
                fingerprint("sk_fixture_3fd739f4_d"),
            ),
        ),
        (
            "livestreams.status_offline.json",
            (
                "58dd0b50-4147-4bb8-88d3-2ccc2e98baa0",
                "Livestreaming-Demo",
                "OFFLINE",
                None,
                fingerprint("sk_fixture_58dd0b50"),
            ),
        ),
        (
            "livestreams.disabled_string.json",
            (LS_IDLE, None, "IDLE", True, KEY_IDLE),
        ),
    ],
)
def test_the_recorded_list_variants_give_one_typed_livestream_each(
    server: FixtureServer, name: str, row: tuple[Any, ...]
) -> None:
    server.answer("/app/livestreams", Answer(200, name))
    listing, client = replay(server, lambda c: c.list_livestreams("app"))

    assert (listing.complete, len(listing.items), len(server.requests)) == (True, 1, 1)
    assert "paging" not in listing.items[0]
    poll = normalize_responses(client.responses)
    columns = ("livestream_id", "name", "status", "disabled", "stream_key_fingerprint")
    assert poll.livestreams.select(columns).rows() == [row]
    assert poll.unknown_statuses == (1 if row[2] == "OFFLINE" else 0)
    assert poll.issues.is_empty()


def test_the_object_form_of_the_list_no_api_sends_is_still_read_into_typed_livestreams(
    server: FixtureServer,
) -> None:
    server.answer("/app/livestreams", Answer(200, "livestreams.object_form.json"))
    listing, client = replay(server, lambda c: c.list_livestreams("app"))

    assert listing.items == fixture_redacted("livestreams.object_form.json")["data"]["livestreams"]
    assert (listing.complete, listing.pages, len(server.requests)) == (True, 1, 1)
    poll = normalize_responses(client.responses)
    assert poll.livestreams.select("livestream_id", "status").rows() == [(LS_IDLE, "IDLE"), (LS_LIVE, "LIVE")]
    assert poll.issues.is_empty()


# --- details, session by id, daywise, apps -------------------------------------------------------------


def details(server: FixtureServer, name: str, livestream_id: str = LS_LIVE) -> NormalizedPoll:
    server.answer(f"/app/livestreams/{livestream_id}", Answer(200, name))
    body, client = replay(server, lambda c: c.livestream_sessions("app", livestream_id, 1, 2))
    assert body == fixture_redacted(name)
    return normalize_responses(client.responses)


def test_the_published_details_and_the_schemas_single_session_form_give_the_same_rows(
    server: FixtureServer,
) -> None:
    published = details(server, "livestream_sessions.json")
    spec = details(server, "livestream_sessions.spec_session.json")

    assert published.sessions.select(
        "session_id",
        "livestream_id",
        "status",
        "started_time",
        "stopped_time",
        "ingest_seconds",
        "viewer_seconds",
    ).rows() == [(SESSION, LS_LIVE, None, utc(2023, 7, 15, 7, 8, 39), None, 60.0, 60.0)]
    assert published.livestreams.select("livestream_id", "status").rows() == [(LS_LIVE, "LIVE")]
    assert_frame_equal(spec.sessions.drop("fetched_at"), published.sessions.drop("fetched_at"))
    assert_frame_equal(spec.livestreams.drop("fetched_at"), published.livestreams.drop("fetched_at"))
    assert published.issues.is_empty()


def test_details_without_sessions_give_the_livestream_only(server: FixtureServer) -> None:
    poll = details(server, "livestream_sessions.no_sessions.json", LS_IDLE)

    assert poll.livestreams.select("livestream_id", "status").rows() == [(LS_IDLE, "IDLE")]
    assert poll.sessions.is_empty()
    assert poll.issues.is_empty()


@pytest.mark.parametrize(
    ("name", "row"),
    [
        ("session_by_id.json", (LS_LIVE, None, utc(2023, 7, 15, 7, 8, 40, 742000), 60.0, 60.0)),
        (
            "session_by_id.stopped.json",
            (
                "b60ef3da-fbbb-441b-9168-8235b0035123",  # sic: the published example's livestream id
                utc(2023, 7, 15, 7, 10, 45),
                utc(2023, 7, 15, 7, 11, 47, 274000),
                118.0,
                116.11599994199997,
            ),
        ),
        (
            "session_by_id.seconds_string.json",
            (
                "b60ef3da-fbbb-441b-9168-8235b0035123",
                utc(2023, 7, 15, 7, 10, 45),
                utc(2023, 7, 15, 7, 11, 47, 274000),
                118.0,
                116.11599994199997,
            ),
        ),
    ],
)
def test_a_session_read_by_id_keeps_its_final_figures_exactly(
    server: FixtureServer, name: str, row: tuple[Any, ...]
) -> None:
    server.answer(f"/app/livestreams/sessions/{SESSION}", Answer(200, name))
    body, client = replay(server, lambda c: c.session_by_id("app", SESSION, LS_LIVE))

    assert body == fixture(name)
    poll = normalize_responses(client.responses)
    assert poll.sessions.select(
        "session_id",
        "livestream_id",
        "stopped_time",
        "updated_at",
        "ingest_seconds",
        "viewer_seconds",
        "status",
    ).rows() == [(SESSION, *row, None)]
    assert poll.issues.is_empty()


@pytest.mark.parametrize("name", ["analytics_daywise.json", "analytics_daywise.iso_date.json"])
def test_the_recorded_daywise_totals_are_one_typed_row_per_day(server: FixtureServer, name: str) -> None:
    server.answer("/app/analytics/livestreams/daywise", Answer(200, name))
    start, end = utc(2023, 7, 15), utc(2023, 7, 15, 23, 59, 59)
    body, client = replay(server, lambda c: c.daywise("app", start, end))

    assert body == fixture(name)
    assert server.requests[0].split("?")[1] == "start_time=1689379200&end_time=1689465599"
    poll = normalize_responses(client.responses)
    assert poll.daywise.schema == pl.Schema(DAYWISE_SCHEMA)
    assert poll.daywise.select(
        "app_id", "date", "count", "total_ingest_seconds", "total_viewer_seconds"
    ).rows() == [("app", date(2023, 7, 15), 4, 531.0, 116.0)]
    assert poll.issues.is_empty()


def test_a_daywise_item_without_a_date_is_a_parse_issue_not_a_silent_drop(server: FixtureServer) -> None:
    server.answer("/app/analytics/livestreams/daywise", Answer(200, "analytics_daywise.null_date.json"))
    _, client = replay(server, lambda c: c.daywise("app", utc(2023, 7, 15), utc(2023, 7, 16)))

    poll = normalize_responses(client.responses)
    assert poll.daywise.select("date", "count").rows() == [(None, 4)]  # which the load skips
    assert poll.issues.select("endpoint", "field", "raw_value", "reason").rows() == [
        ("analytics_daywise", "daywise.date", None, DAYWISE_WITHOUT_DATE)
    ]


def test_the_published_apps_list_gives_one_typed_app(server: FixtureServer) -> None:
    server.answer("/apps", Answer(200, "apps.json"))
    listing, client = replay(server, lambda c: c.list_apps())

    assert (listing.complete, [item["id"] for item in listing.items]) == (
        True,
        ["14a396e7-ca44-4937-bf1f-050a69118543"],
    )
    poll = normalize_responses(client.responses)
    assert poll.apps.select("app_id", "id", "name", "created_at").rows() == [
        (None, "14a396e7-ca44-4937-bf1f-050a69118543", "my-first-app", utc(2025, 1, 1, 8, 16, 40, 644000))
    ]


# --- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "message", "auth"),
    [
        (
            "error.400.json",
            400,
            "HTTP 400, code 6003: Invalid request headers"
            " (code 6111: Invalid format for Authorization header)",
            True,  # a refused Authorization header: every other request would fail the same way
        ),
        ("error.400.bad_request.json", 400, 'HTTP 400, code 400: BAD_REQUEST: "name" is required', False),
        ("error.401.json", 401, "HTTP 401, code 10001: Unable to authenticate request", True),
        ("error.401.unauthorized.json", 401, "HTTP 401: Unauthorized", True),
        ("error.403.json", 403, "HTTP 403, code 10000: Authentication error", True),
        ("error.404.json", 404, "HTTP 404, code 7003: No route for the URI", False),
    ],
)
def test_each_recorded_error_body_fails_the_call_once_naming_status_code_and_message(
    server: FixtureServer, name: str, status: int, message: str, auth: bool
) -> None:
    server.answer(f"/app/livestreams/sessions/{SESSION}", Answer(status, name))
    error, client = replay(server, lambda c: c.session_by_id("app", SESSION))

    assert isinstance(error, ApiError)
    assert str(error) == f"session_by_id on app app, session {SESSION}: {message}"
    assert error.is_auth_error is auth
    assert (client.halted is not None) is auth
    assert [(r["http_status"], r["outcome"]) for r in client.responses] == [(status, "error")]
    assert normalize_responses(client.responses).sessions.is_empty()


def test_the_recorded_429_is_waited_out_as_asked_then_the_call_succeeds(server: FixtureServer) -> None:
    server.answer(
        f"/app/livestreams/sessions/{SESSION}",
        Answer(429, "error.429.json", {"Retry-After": "2"}),
        Answer(200, "session_by_id.json"),
    )
    body, client = replay(server, lambda c: c.session_by_id("app", SESSION))

    assert body == fixture("session_by_id.json")
    assert client.rate_limited == 1
    assert [(r["http_status"], r["outcome"]) for r in client.responses] == [(429, "retry"), (200, "data")]
    assert client.responses[0]["error"] == (
        f"session_by_id on app app, session {SESSION}: HTTP 429, code 971: "
        "Please wait and consider throttling your request speed"
    )


def test_a_recorded_429_asking_for_longer_than_allowed_fails_at_once(server: FixtureServer) -> None:
    refusal = Answer(429, "error.429.json", {"Retry-After": "300"})
    server.answer(f"/app/livestreams/sessions/{SESSION}", refusal)
    error, _ = replay(server, lambda c: c.session_by_id("app", SESSION))

    assert isinstance(error, ApiError)
    assert str(error) == (
        f"session_by_id on app app, session {SESSION}: HTTP 429, code 971: Please wait and consider "
        "throttling your request speed (asked to wait 300 s, more than "
        "STREAMLEDGER_MAX_RETRY_WAIT_SECONDS=60)"
    )
    assert len(server.requests) == 1
