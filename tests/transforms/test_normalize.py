"""Normalization on the recorded bodies of tests/fixtures/api, one field changed at a time."""

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from streamledger.transforms.normalize import (
    ISSUE_SCHEMA,
    LIVESTREAM_SCHEMA,
    OVERALL_WITHOUT_WINDOW,
    SESSION_SCHEMA,
    normalize_responses,
    responses_frame,
)
from streamledger.transforms.redact import fingerprint, redact_body
from tests.helpers import fixture

FETCHED = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
# The ids of the published active session (tests/fixtures/api/active_session.live.json).
LIVESTREAM_ID = "b60ef3da-fbbb-441b-9168-8235b0035248"
SESSION_ID = "cf55a850-c3fd-46b5-b5d2-25b3b9aa1686"


def response(
    body: Any, endpoint: str = "active_session", seq: int = 1, outcome: str = "data"
) -> dict[str, Any]:
    text = body if isinstance(body, str) else orjson.dumps(body).decode()
    return {
        "poll_id": "p1",
        "seq": seq,
        "fetched_at": FETCHED,
        "endpoint": endpoint,
        "app_id": "app",
        "livestream_id": "ls1",
        "session_id": None,
        "outcome": outcome,
        "body": redact_body(text),
    }


def active(session: dict[str, Any], livestream: dict[str, Any] | None = None) -> dict[str, Any]:
    """The published active session with some fields of its session (and livestream) changed."""
    body = fixture("active_session.live.json")
    body["data"]["livestream"].update(livestream or {})
    body["data"]["session"].update(session)
    return dict(body)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("118", 118.0), (" 45 ", 45.0), ("116.11599994199997", 116.11599994199997), (118, 118.0), (0.5, 0.5)],
)
def test_seconds_become_numbers_that_keep_the_fraction(raw: Any, expected: float) -> None:
    poll = normalize_responses([response(active({"ingest_seconds": raw, "viewer_seconds": raw}))])
    assert poll.sessions["ingest_seconds"].to_list() == [expected]
    assert poll.sessions["viewer_seconds"].to_list() == [expected]
    assert poll.issues.is_empty()


@pytest.mark.parametrize(
    "raw",
    [
        "2026-11-27T11:48:34.753Z",
        "2026-11-27T13:48:34.753+02:00",
        "2026-11-27T06:48:34.753-05:00",
        "2026-11-27 11:48:34.753Z",
        "2026-11-27T11:48:34.753000Z",
    ],
)
def test_iso_timestamps_become_utc_instants(raw: str) -> None:
    poll = normalize_responses([response(active({"started_time": raw}))])
    assert poll.sessions["started_time"].to_list() == [datetime(2026, 11, 27, 11, 48, 34, 753000, tzinfo=UTC)]


def test_timestamp_without_fraction_or_with_empty_string_is_accepted() -> None:
    poll = normalize_responses(
        [
            response(
                active(
                    {
                        "started_time": "2026-11-27T11:48:34Z",
                        "stopped_time": "",
                        "ingest_seconds": 60,
                        "viewer_seconds": 60,
                    }
                )
            )
        ]
    )
    assert poll.sessions["started_time"].to_list() == [datetime(2026, 11, 27, 11, 48, 34, tzinfo=UTC)]
    assert poll.sessions["stopped_time"].to_list() == [None]
    assert poll.issues.is_empty()


@pytest.mark.parametrize(
    ("raw", "expected"), [(False, False), (True, True), ("false", False), (" TRUE ", True)]
)
def test_disabled_becomes_a_boolean_from_bool_or_string(raw: Any, expected: bool) -> None:
    poll = normalize_responses([response(active({}, {"disabled": raw}))])
    assert poll.livestreams["disabled"].to_list() == [expected]


@pytest.mark.parametrize(
    ("field", "raw", "reason"),
    [
        ("viewer_seconds", "abc", "not a number"),
        ("viewer_seconds", "", "not a number"),
        ("ingest_seconds", "NaN", "not a finite number"),
        ("ingest_seconds", "-3", "negative seconds"),
        ("started_time", "yesterday", "not an ISO 8601 timestamp with a UTC offset"),
        ("started_time", "2026-11-27T11:48:34", "not an ISO 8601 timestamp with a UTC offset"),
    ],
)
def test_unparseable_value_is_null_and_recorded_with_field_and_reason(
    field: str, raw: str, reason: str
) -> None:
    poll = normalize_responses([response(active({field: raw}))])
    assert poll.sessions[field].to_list() == [None]
    assert poll.issues.select("session_id", "field", "raw_value", "reason").rows() == [
        (SESSION_ID, f"session.{field}", raw, reason)
    ]


def test_bad_disabled_is_recorded_against_the_livestream() -> None:
    poll = normalize_responses([response(active({}, {"disabled": "maybe"}))])
    assert poll.livestreams["disabled"].to_list() == [None]
    assert poll.issues.select("livestream_id", "field", "raw_value", "reason").rows() == [
        (LIVESTREAM_ID, "livestream.disabled", "maybe", "not a boolean")
    ]


def test_status_outside_the_enum_is_kept_as_text_and_counted() -> None:
    poll = normalize_responses([response(active({}, {"status": "OFFLINE"}))])
    assert poll.livestreams["status"].to_list() == ["OFFLINE"]
    assert poll.sessions["status"].to_list() == ["OFFLINE"]
    assert poll.unknown_statuses == 2


def test_stream_key_becomes_a_fingerprint_and_the_key_is_dropped() -> None:
    poll = normalize_responses([response(active({}, {"stream_key": "sk_live_abc"}))])
    assert poll.livestreams["stream_key_fingerprint"].to_list() == [fingerprint("sk_live_abc")]
    assert "sk_live_abc" not in str(poll.livestreams.rows())


def test_frames_have_the_declared_schemas_even_when_empty() -> None:
    poll = normalize_responses([])
    assert poll.livestreams.schema == pl.Schema(LIVESTREAM_SCHEMA)
    assert poll.sessions.schema == pl.Schema(SESSION_SCHEMA)
    assert poll.issues.schema == pl.Schema(ISSUE_SCHEMA)


def test_list_pages_in_both_shapes_give_livestream_rows() -> None:
    array = fixture("livestreams.page1.json")
    # The object form no published body uses, with the items of the second recorded page.
    last = fixture("livestreams.page2.json")
    obj = {"success": True, "data": {"livestreams": last["data"], "paging": last["paging"]}}
    poll = normalize_responses([response(array, "list_livestreams", 1), response(obj, "list_livestreams", 2)])
    assert poll.livestreams.select("livestream_id", "status").rows() == [
        ("3fd739f4-3c41-456e-bfba-6ebd51e16d2c", "IDLE"),
        (LIVESTREAM_ID, "LIVE"),
        ("61e03cb4-d4da-42ad-9169-f53360f4f4b4", "LIVE"),
    ]


def test_session_by_id_numbers_are_typed_like_strings() -> None:
    numbers = fixture("session_by_id.stopped.json")
    strings = fixture("session_by_id.seconds_string.json")
    assert (numbers["data"]["viewer_seconds"], strings["data"]["viewer_seconds"]) == (
        116.11599994199997,
        "116.11599994199997",
    )
    poll = normalize_responses([response(numbers, "session_by_id"), response(strings, "session_by_id", 2)])
    assert (
        poll.sessions.select("session_id", "ingest_seconds", "viewer_seconds", "status").rows()
        == [(SESSION_ID, 118.0, 116.11599994199997, None)] * 2
    )


def test_malformed_body_and_non_object_records_are_issues_not_silence() -> None:
    bad_list = {"success": True, "data": ["not-a-livestream"]}
    poll = normalize_responses(
        [response('{"success": tr', seq=1), response(bad_list, "list_livestreams", seq=2)]
    )
    assert poll.livestreams.is_empty()
    assert poll.issues.select("seq", "field").rows() == [(1, "body"), (2, "livestream")]


def test_none_outcome_still_yields_the_livestream_but_no_session() -> None:
    body = fixture("active_session.no_session.session_null.json")
    poll = normalize_responses([response(body, outcome="none")])
    assert poll.livestreams["status"].to_list() == ["IDLE"]
    assert poll.sessions.is_empty()


def test_retried_and_error_responses_are_not_normalized() -> None:
    poll = normalize_responses([response(active({}), outcome="retry"), response(active({}), outcome="error")])
    assert poll.sessions.is_empty()
    assert poll.livestreams.is_empty()


def test_normalizing_is_deterministic() -> None:
    responses = [response(active({"viewer_seconds": "1.5", "started_time": "x"}), seq=i) for i in range(3)]
    first, second = normalize_responses(responses), normalize_responses(responses)
    assert_frame_equal(first.sessions, second.sessions)
    assert_frame_equal(first.issues, second.issues)


def test_responses_frame_keeps_the_body_text_exactly() -> None:
    text = '{"success":true,  "data" : {"x": 1.50}}'
    frame = responses_frame([response(text) | {"http_status": 200}])
    assert frame["body"].to_list() == [text]
    assert frame["http_status"].to_list() == [200]


def test_a_session_read_by_id_without_its_own_id_is_kept_under_the_requested_id_with_an_issue() -> None:
    body = {"success": True, "data": dict.fromkeys(["id", "livestream_id", "ingest_seconds", "started_time"])}
    poll = normalize_responses([response(body, "session_by_id") | {"session_id": "s9"}])
    assert poll.sessions.select("session_id", "livestream_id", "ingest_seconds").rows() == [
        ("s9", "ls1", None)
    ]
    assert poll.issues.select("session_id", "field", "raw_value", "reason").rows() == [
        ("s9", "session.id", None, "session record without an id: the id it was read by is used")
    ]


def test_a_started_session_without_its_figures_is_an_issue_and_one_not_started_is_not() -> None:
    started = active({"started_time": "2026-11-27T11:48:34Z", "ingest_seconds": None, "viewer_seconds": 5})
    waiting = active({"id": "s2", "started_time": None, "ingest_seconds": None, "viewer_seconds": None})
    poll = normalize_responses([response(started, seq=1), response(waiting, seq=2)])
    assert poll.sessions.select("session_id", "ingest_seconds", "viewer_seconds").rows() == [
        (SESSION_ID, None, 5.0),
        ("s2", None, None),
    ]
    assert poll.issues.select("seq", "session_id", "field", "raw_value", "reason").rows() == [
        (1, SESSION_ID, "session.ingest_seconds", None, "missing from a started session")
    ]


OVERALL_PATH = (
    "https://api.cloudflare.com/client/v4/accounts/acc/realtime/kit/app/analytics/livestreams/overall"
    "?start_time=1793491200&end_time=1796083200"
)
# The published example of GET .../analytics/livestreams/overall (realtimekit-openapi.json, Example 1).
OVERALL_EXAMPLE = {
    "data": {"count": 4, "total_ingest_seconds": 531, "total_viewer_seconds": 116},
    "success": True,
}


def overall(body: Any, path: str = OVERALL_PATH) -> dict[str, Any]:
    return response(body, "analytics_overall") | {"request_path": path}


def test_overall_totals_are_one_typed_row_with_the_window_the_request_asked_for() -> None:
    poll = normalize_responses([overall(OVERALL_EXAMPLE)])
    assert poll.overall.select(
        "app_id", "start_time", "end_time", "count", "total_ingest_seconds", "total_viewer_seconds"
    ).rows() == [
        ("app", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), 4, 531.0, 116.0)
    ]
    assert poll.issues.is_empty()


def test_unreadable_overall_totals_are_parse_issues_with_their_reason_never_zeros() -> None:
    body = {
        "data": {"count": 4.5, "total_ingest_seconds": "lots", "total_viewer_seconds": -3},
        "success": True,
    }
    poll = normalize_responses([overall(body), overall(OVERALL_EXAMPLE, OVERALL_PATH.split("?")[0])])
    assert poll.overall.select("count", "total_ingest_seconds", "total_viewer_seconds").rows() == [
        (None, None, None),
        (4, 531.0, 116.0),
    ]
    assert poll.overall["start_time"].to_list()[1] is None  # the second asked for no window
    assert poll.issues.select("field", "raw_value", "reason").rows() == [
        ("overall.count", "4.5", "not a non-negative integer"),
        ("overall.total_ingest_seconds", "lots", "not a number"),
        ("overall.total_viewer_seconds", "-3", "negative seconds"),
        ("overall.window", None, OVERALL_WITHOUT_WINDOW),
    ]
    not_an_object = normalize_responses([overall({"data": [OVERALL_EXAMPLE["data"]], "success": True})])
    assert not_an_object.overall.is_empty()
    not_an_object_issues = not_an_object.issues.select("field", "reason").rows()
    assert not_an_object_issues == [("overall", "expected an object of totals")]


@pytest.mark.parametrize(
    ("server_date", "expected"),
    [
        (None, FETCHED),  # no Date: our receive time
        (FETCHED - timedelta(hours=3), FETCHED - timedelta(hours=3)),  # behind ours: the API's clock
        (FETCHED, FETCHED),
        (FETCHED + timedelta(seconds=1), FETCHED),  # ahead of ours: never after we received it
        (FETCHED + timedelta(hours=3), FETCHED),
    ],
)
def test_a_reading_is_observed_at_its_date_but_never_after_it_was_received(
    server_date: datetime | None, expected: datetime
) -> None:
    poll = normalize_responses([response(active({})) | {"server_date": server_date}])
    assert poll.sessions["observed_at"].to_list() == [expected]
