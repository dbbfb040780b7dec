"""Hostile input: arbitrary JSON in every field, broken envelopes, huge and deep bodies, metacharacter ids.

The property tests state the normalization's contract for each field kind (the oracles `seconds`, `timestamp`,
`boolean` and `text`): a valid value is typed exactly and raises no issue; any other present value is null in
its typed column and has a parse_issues row naming the field, the raw value and the reason. Null, absent and
(for timestamps) empty or blank values mean "not set": null, and no issue; except the figures (ingest_seconds,
viewer_seconds) of a session with a started_time, which the API always sends, so a null one is an issue.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamledger import landing, load, warehouse
from streamledger.client import RealtimeKitClient
from streamledger.errors import ApiError
from streamledger.fetch import fetch_poll
from streamledger.poll import EMPTY_PLAN
from streamledger.ratelimit import RequestBudget
from streamledger.settings import Secret, Settings
from streamledger.transforms.normalize import (
    DAYWISE_SCHEMA,
    ISSUE_SCHEMA,
    LIVESTREAM_SCHEMA,
    MISSING_FIGURE,
    OVERALL_SCHEMA,
    SESSION_FIGURES,
    SESSION_SCHEMA,
    NormalizedPoll,
    normalize_responses,
)
from streamledger.transforms.redact import WITHHELD, fingerprint, redact_body, stream_key_fingerprint

FETCHED = datetime(2026, 10, 31, 23, 59, 30, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1)
RAW_CHARS = 200  # issues on text fields keep this much of a JSON object or array
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# polars strips Unicode White_Space, which (unlike str.isspace) does not include U+001C..U+001F.
WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace() and c not in "\x1c\x1d\x1e\x1f")
DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
NON_FINITE = re.compile(r"[+-]?(inf|infinity|nan)", re.IGNORECASE)
ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(?P<fraction>\d{1,9}))?"
    r"(?:Z|(?P<sign>[+-])(?P<hours>\d{2})(?::?(?P<minutes>\d{2}))?)",
    re.IGNORECASE,
)

NOT_A_NUMBER = "not a number"
NOT_FINITE = "not a finite number"
NEGATIVE = "negative seconds"
NOT_ISO = "not an ISO 8601 timestamp with a UTC offset"
NOT_BOOLEAN = "not a boolean"
EXPECTED_TEXT = "expected text"

METACHARACTER_IDS = [
    "../../etc/passwd",
    "x'; drop table sessions; --",
    "a%2Fb",
    "a/b",
    "a?page_no=9",
    "a#top",
    "two words",
    "..",
    ".",
    'q"uote\\',
]


# --- records shaped like the ones the client keeps ---------------------------------------------------


def response(
    body: str,
    endpoint: str = "active_session",
    *,
    seq: int = 1,
    outcome: str = "data",
    livestream_id: str | None = "ls1",
    session_id: str | None = None,
) -> dict[str, Any]:
    """One raw response as RealtimeKitClient records it (body redacted, every RESPONSE_SCHEMA column)."""
    return {
        "poll_id": "p1",
        "seq": seq,
        "fetched_at": FETCHED,
        "endpoint": endpoint,
        "app_id": "app",
        "livestream_id": livestream_id,
        "session_id": session_id,
        "request_path": f"http://api.test/{endpoint}",
        "attempt": 1,
        "http_status": 200,
        "elapsed_ms": 1.0,
        "ratelimit": None,
        "server_date": FETCHED,
        "outcome": outcome,
        "body": redact_body(body),
        "error": None,
    }


def active_body(livestream: Any, session: Any) -> dict[str, Any]:
    return {"success": True, "data": {"livestream": livestream, "session": session}}


def assert_declared_schemas(result: NormalizedPoll) -> None:
    assert result.livestreams.schema == pl.Schema(LIVESTREAM_SCHEMA)
    assert result.sessions.schema == pl.Schema(SESSION_SCHEMA)
    assert result.issues.schema == pl.Schema(ISSUE_SCHEMA)
    assert result.daywise.schema == pl.Schema(DAYWISE_SCHEMA)
    assert result.overall.schema == pl.Schema(OVERALL_SCHEMA)


def issue_rows(result: NormalizedPoll) -> list[tuple[Any, ...]]:
    return result.issues.select("seq", "field", "raw_value", "reason").rows()


# --- the contract, per field kind ----------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What normalizing one raw value must give: a typed value (None: null) or the reason it failed."""

    value: Any = None
    reason: str | None = None


def strip(text: str) -> str:
    return text.strip(WHITESPACE)


def seconds(value: Any) -> Expected:
    if value is None:
        return Expected()
    if isinstance(value, bool | dict | list):
        return Expected(reason=NOT_A_NUMBER)
    text = value if isinstance(value, str) else None
    if text is not None:
        text = strip(text)
        if NON_FINITE.fullmatch(text):
            return Expected(reason=NOT_FINITE)
        if not DECIMAL.fullmatch(text):
            return Expected(reason=NOT_A_NUMBER)
    number = float(text if text is not None else value)
    if not math.isfinite(number):
        return Expected(reason=NOT_FINITE)
    return Expected(reason=NEGATIVE) if number < 0 else Expected(number)


def timestamp(value: Any) -> Expected:
    """The typed value of a valid timestamp is its UTC instant in epoch microseconds (fraction truncated)."""
    if value is None or (isinstance(value, str) and strip(value) == ""):
        return Expected()  # the API's "not set", e.g. stopped_time of a running session
    if not isinstance(value, str):
        return Expected(reason=NOT_ISO)
    match = ISO.fullmatch(strip(value))
    if match is None:
        return Expected(reason=NOT_ISO)  # or leniently parsed: see check_field
    hours, minutes = int(match["hours"] or 0), int(match["minutes"] or 0)
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
        local = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return Expected(reason=NOT_ISO)
    if hours > 23 or minutes > 59:
        return Expected(reason=NOT_ISO)
    offset = timedelta(hours=hours, minutes=minutes) * (-1 if match["sign"] == "-" else 1)
    micros = int(((match["fraction"] or "") + "000000")[:6])
    # (local - EPOCH) - offset: the UTC instant may lie before year 1, where datetime cannot go.
    return Expected(((local - EPOCH) - offset) // timedelta(microseconds=1) + micros)


def boolean(value: Any) -> Expected:
    if value is None:
        return Expected()
    if isinstance(value, bool):
        return Expected(value)
    flag = strip(value).lower() if isinstance(value, str) else None
    return Expected(flag == "true") if flag in ("true", "false") else Expected(reason=NOT_BOOLEAN)


def text(value: Any) -> Expected:
    """Strings are kept exactly; other JSON scalars in their JSON spelling; objects and arrays fail."""
    if isinstance(value, dict | list):
        return Expected(reason=EXPECTED_TEXT)
    if isinstance(value, bool):
        return Expected("true" if value else "false")
    return Expected(value)


Oracle = Callable[[Any], Expected]
# API field -> (column, oracle). `id` and `stream_key` have their own rules (see the property tests).
LIVESTREAM_API_FIELDS: dict[str, tuple[str, Oracle]] = {
    "name": ("name", text),
    "meeting_id": ("meeting_id", text),
    "status": ("status", text),
    "disabled": ("disabled", boolean),
    "ingest_server": ("ingest_server", text),
    "playback_url": ("playback_url", text),
    "created_at": ("created_at", timestamp),
    "updated_at": ("updated_at", timestamp),
}
SESSION_API_FIELDS: dict[str, tuple[str, Oracle]] = {
    "created_at": ("created_at", timestamp),
    "invoked_time": ("invoked_time", timestamp),
    "started_time": ("started_time", timestamp),
    "stopped_time": ("stopped_time", timestamp),
    "updated_at": ("updated_at", timestamp),
    "err_message": ("err_message", text),
    "ingest_seconds": ("ingest_seconds", seconds),
    "viewer_seconds": ("viewer_seconds", seconds),
}
TIMESTAMP_COLUMNS = ("created_at", "updated_at", "invoked_time", "started_time", "stopped_time")


def id_text(value: Any) -> str | None:
    """The text an id is taken as: a JSON scalar's text; nothing for "", null, objects and arrays."""
    if isinstance(value, dict | list) or value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def raw_text(value: Any, oracle: Oracle) -> str:
    """The raw value an issue records: a string as sent, anything else as JSON (objects cut for text)."""
    if isinstance(value, str):
        return value
    written = orjson.dumps(value).decode()
    return written[:RAW_CHARS] if oracle is text else written


def typed_row(frame: pl.DataFrame) -> dict[str, Any]:
    """The single row of a frame, timestamps as epoch microseconds (Python datetimes stop at year 1)."""
    assert frame.height == 1
    return frame.with_columns(pl.col(c).dt.epoch("us") for c in TIMESTAMP_COLUMNS if c in frame.columns).row(
        0, named=True
    )


def check_field(
    entity: str,
    column: str,
    oracle: Oracle,
    raw: Any,
    row: Mapping[str, Any],
    issues: dict[str, tuple[Any, str]],
) -> None:
    """Assert one field met its contract; `issues` maps field name to (raw value, reason)."""
    expected = oracle(raw)
    field = f"{entity}.{column}"
    got = row[column]
    if expected.reason is None:
        assert field not in issues, (raw, issues.get(field))
        if oracle is text and isinstance(raw, int | float) and not isinstance(raw, bool):
            assert got is not None
            assert float(got) == float(raw)
        else:
            assert got == expected.value, (raw, got, expected.value)
    elif oracle is timestamp and got is not None:
        # chrono is more lenient than ISO (e.g. one-digit hours): a value it reads is typed, with no issue.
        assert field not in issues, (raw, got)
    else:
        assert got is None, (raw, got)
        assert issues.get(field) == (raw_text(raw, oracle), expected.reason), (raw, issues.get(field))


# --- strategies ----------------------------------------------------------------------------------------

ABSENT = object()
padding = st.text(alphabet=st.sampled_from(" \t\n\r\u00a0\u3000"), max_size=3)
unicode_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)  # control characters included
numeric_text = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: f"{f:.3f}"),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(lambda f: f"{f:E}"),
)
tricky_strings = st.sampled_from(
    [
        "", " ", "\t\n", "nan", "NaN", "-inf", "Infinity", "1e400", "-0", "0x10", "1_000", "1,5", "١٢",
        "45.5", " 45 ", "true", " FALSE ", "yes", "0", "null", "2026-10-31T23:59:59.123Z",
        "2026-10-31T23:59:59", "2026-02-30T00:00:00Z", "2026-10-31T24:00:00Z", "10/31/2026",
        "2026-10-31T23:59:59.123+25:00", "\x00", "\u202e", "\ud7ff", "../", "'; --", "%2F",
    ]
)  # fmt: skip
strings = st.one_of(
    unicode_text, tricky_strings, st.builds(lambda a, s, b: a + s + b, padding, numeric_text, padding)
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**100), 2**100),
    st.floats(allow_nan=False, allow_infinity=False),
    strings,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def iso_instants(draw: st.DrawFn) -> str:
    """Valid ISO 8601 instants in the spellings the normalization accepts, padded with whitespace."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
    fraction = draw(st.text(alphabet="0123456789", min_size=1, max_size=9) | st.just(""))
    minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    sign, hours, mins = "+" if minutes >= 0 else "-", abs(minutes) // 60, abs(minutes) % 60
    zone = draw(
        (st.sampled_from(["Z", "z"]) if minutes == 0 else st.nothing())
        | st.sampled_from([f"{sign}{hours:02}:{mins:02}", f"{sign}{hours:02}{mins:02}"])
        | (st.just(f"{sign}{hours:02}") if mins == 0 else st.nothing())
    )
    separator = draw(st.sampled_from("Tt "))
    body = f"{moment:%Y-%m-%d}{separator}{moment:%H:%M:%S}" + (f".{fraction}" if fraction else "") + zone
    return draw(padding) + body + draw(padding)


valid_seconds = st.one_of(
    st.integers(0, 2**100),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    st.builds(
        lambda a, s, b: a + s + b, padding, numeric_text.filter(lambda s: not s.startswith("-")), padding
    ),
)
valid_booleans = st.booleans() | st.builds(
    lambda word, upper, a, b: a + (word.upper() if upper else word) + b,
    st.sampled_from(["true", "false"]),
    st.booleans(),
    padding,
    padding,
)


def field_values(oracle: Oracle) -> st.SearchStrategy[Any]:
    """Absent, a valid value of the field's kind, or any JSON value at all."""
    valid: dict[Oracle, st.SearchStrategy[Any]] = {
        text: strings,
        timestamp: iso_instants(),
        seconds: valid_seconds,
        boolean: valid_booleans,
    }
    return st.one_of(st.just(ABSENT), valid[oracle], json_values)


def objects(
    fields: Mapping[str, tuple[str, Oracle]], extra_keys: list[str]
) -> st.SearchStrategy[dict[str, Any]]:
    """API objects with any value in every field, plus unknown fields (some named like our own columns)."""
    known = st.fixed_dictionaries({name: field_values(oracle) for name, (_, oracle) in fields.items()})
    unknown = st.dictionaries(
        st.sampled_from(extra_keys) | st.text(min_size=1, max_size=4), json_values, max_size=3
    )
    return st.builds(
        lambda extra, values: extra | {k: v for k, v in values.items() if v is not ABSENT}, unknown, known
    )


ids = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20),
    st.sampled_from(METACHARACTER_IDS),
)
livestream_objects = st.builds(
    lambda obj, ident, key: obj | {k: v for k, v in (("id", ident), ("stream_key", key)) if v is not ABSENT},
    objects(LIVESTREAM_API_FIELDS, ["livestream_id", "org_id", "paging", "session"]),
    st.one_of(st.just(ABSENT), ids, json_values),
    st.one_of(st.just(ABSENT), st.text(max_size=30), json_values),
)
session_objects = st.builds(
    lambda obj, ident, livestream: (
        obj | {k: v for k, v in (("id", ident), ("livestream_id", livestream)) if v is not ABSENT}
    ),
    objects(SESSION_API_FIELDS, ["session_id", "meeting_id", "paging", "data"]),
    st.one_of(ids, ids, json_values, st.just(ABSENT)),
    st.one_of(ids, json_values, st.just(ABSENT)),
)


def json_text(value: Any, ensure_ascii: bool) -> str:
    """JSON text of a value, as the API might send it (stdlib: orjson cannot write ints past 64 bits)."""
    return json.dumps(value, ensure_ascii=ensure_ascii)


def issues_by_field(result: NormalizedPoll, prefix: str) -> dict[str, tuple[Any, str]]:
    rows = result.issues.filter(pl.col("field").str.starts_with(prefix)).select(
        "field", "raw_value", "reason"
    )
    found = {field: (raw, reason) for field, raw, reason in rows.rows()}
    assert len(found) == rows.height, f"one issue per field expected, got {rows.rows()}"
    return found


# --- property tests ------------------------------------------------------------------------------------


@PROPERTY
@given(livestream=livestream_objects, session=session_objects, ensure_ascii=st.booleans())
def test_every_field_of_an_active_session_is_parsed_exactly_or_recorded_as_an_issue(
    livestream: dict[str, Any], session: dict[str, Any], ensure_ascii: bool
) -> None:
    body = json_text(active_body(livestream, session), ensure_ascii)
    seen = orjson.loads(redact_body(body))["data"]  # what the normalization reads (big ints are floats)
    seen_livestream, seen_session = seen["livestream"], seen["session"]

    result = normalize_responses([response(body)])

    assert_declared_schemas(result)
    assert result.issues["reason"].null_count() == 0
    livestream_issues = issues_by_field(result, "livestream.")
    row = typed_row(result.livestreams)
    # The livestream's id: its own, else the id the request was for (that of the response record).
    assert row["livestream_id"] == (id_text(seen_livestream.get("id")) or "ls1")
    if isinstance(seen_livestream.get("id"), dict | list):
        assert livestream_issues.pop("livestream.livestream_id")[1] == EXPECTED_TEXT
    for name, (column, oracle) in LIVESTREAM_API_FIELDS.items():
        check_field("livestream", column, oracle, seen_livestream.get(name), row, livestream_issues)
        livestream_issues.pop(f"livestream.{column}", None)
    # The stream key is a credential: only its fingerprint is kept, never the key (nor in an issue).
    # Whatever its JSON type, a key reaches the body only as its fingerprint's marker.
    key = livestream.get("stream_key")
    if key is None or key == "" or key is ABSENT:
        assert row["stream_key_fingerprint"] is None
    else:
        marker = seen_livestream["stream_key"]
        assert isinstance(marker, str)
        assert marker.startswith("[redacted sha256:")
        assert row["stream_key_fingerprint"] == stream_key_fingerprint(marker)
        if isinstance(key, str):
            assert row["stream_key_fingerprint"] == fingerprint(key)
    assert livestream_issues == {}, "an issue for a field that is not in the API's livestream object"
    attributed = result.issues.filter(pl.col("field").str.starts_with("livestream."))
    assert set(attributed["livestream_id"]) <= {row["livestream_id"]}

    session_id = id_text(seen_session.get("id"))
    session_issues = issues_by_field(result, "session.")
    if session_id is None:
        assert result.sessions.is_empty()
        assert session_issues.pop("session.id") == (None, "session without an id: row dropped")
        if isinstance(seen_session.get("id"), dict | list):
            assert session_issues.pop("session.session_id")[1] == EXPECTED_TEXT
        if isinstance(seen_session.get("livestream_id"), dict | list):
            assert session_issues.pop("session.livestream_id")[1] == EXPECTED_TEXT
        expected_text_issues = {
            f"session.{column}"
            for name, (column, oracle) in SESSION_API_FIELDS.items()
            if oracle is text and isinstance(seen_session.get(name), dict | list)
        }
        assert set(session_issues) == expected_text_issues
        return
    srow = typed_row(result.sessions)
    assert srow["session_id"] == session_id
    assert srow["livestream_id"] == (id_text(seen_session.get("livestream_id")) or "ls1")
    assert srow["status"] == (
        row["status"] if not isinstance(seen_livestream.get("status"), dict | list) else None
    )
    assert srow["observed_at"] is not None
    for name in ("id", "livestream_id"):
        column = "session_id" if name == "id" else name
        if isinstance(seen_session.get(name), dict | list):
            assert session_issues.pop(f"session.{column}")[1] == EXPECTED_TEXT
    for name, (column, oracle) in SESSION_API_FIELDS.items():
        if column in SESSION_FIGURES and seen_session.get(name) is None and srow["started_time"] is not None:
            # The one intended exception to "null is not set": a started session always has its figures.
            assert session_issues.pop(f"session.{column}") == (None, MISSING_FIGURE)
            continue
        check_field("session", column, oracle, seen_session.get(name), srow, session_issues)
        session_issues.pop(f"session.{column}", None)
    assert session_issues == {}, "an issue for a field that is not in the API's session object"
    attributed = result.issues.filter(pl.col("field").str.starts_with("session."))
    assert set(attributed.select("livestream_id", "session_id").rows()) <= {
        (srow["livestream_id"], session_id)
    }


@PROPERTY
@given(session=session_objects, response_session=st.none() | ids, response_livestream=st.none() | ids)
def test_session_by_id_falls_back_on_the_ids_it_was_read_for_and_drops_what_has_none(
    session: dict[str, Any], response_session: str | None, response_livestream: str | None
) -> None:
    body = json_text({"success": True, "data": session}, ensure_ascii=False)
    record = response(body, "session_by_id", livestream_id=response_livestream, session_id=response_session)

    result = normalize_responses([record])

    assert_declared_schemas(result)
    seen = orjson.loads(body)["data"]  # what the normalization reads (big ints are floats)
    session_id = id_text(seen.get("id")) or response_session
    livestream_id = id_text(seen.get("livestream_id")) or response_livestream
    fields = set(result.issues["field"])
    if session_id is None:
        assert result.sessions.is_empty()
        assert "session.id" in fields
    elif livestream_id is None:
        assert result.sessions.is_empty()
        assert "session.livestream_id" in fields
    else:
        assert result.sessions.select("session_id", "livestream_id", "status").rows() == [
            (session_id, livestream_id, None)
        ]
        # A record read by id that lacks its own id is odd enough to say so, even though the row is kept.
        without_id = seen.get("id") in (None, "")
        assert (
            "session record without an id: the id it was read by is used" in set(result.issues["reason"])
        ) == without_id
        assert set(result.issues.select("livestream_id", "session_id").rows()) <= {
            (livestream_id, session_id)
        }


@PROPERTY
@given(
    body=json_values | st.builds(active_body, json_values, json_values),
    endpoint=st.sampled_from(
        [
            "active_session",
            "session_by_id",
            "livestream_sessions",
            "list_livestreams",
            "list_apps",
            "analytics_daywise",
            "analytics_overall",
        ]
    ),
    outcome=st.sampled_from(["data", "none"]),
)
def test_any_json_body_on_any_endpoint_is_normalized_without_raising(
    body: Any, endpoint: str, outcome: str
) -> None:
    result = normalize_responses([response(json_text(body, ensure_ascii=True), endpoint, outcome=outcome)])
    assert_declared_schemas(result)
    assert result.issues.select(pl.col("field", "reason").null_count()).row(0) == (0, 0)


@PROPERTY
@given(text_body=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=200))
def test_any_text_body_is_either_json_or_an_invalid_json_issue(text_body: str) -> None:
    result = normalize_responses([response(text_body)])
    assert_declared_schemas(result)
    try:
        orjson.loads(text_body)
    except orjson.JSONDecodeError:
        (row,) = issue_rows(result)
        assert row[1:3] == ("body", redact_body(text_body)[:RAW_CHARS])
        assert row[3].startswith("invalid JSON: ")
    else:
        assert "body" not in result.issues["field"]


# --- envelopes -----------------------------------------------------------------------------------------

LIVESTREAM = {"id": "ls1", "status": "LIVE", "disabled": False}
SESSION = {
    "id": "s1",
    "livestream_id": "ls1",
    "ingest_seconds": 60,
    "viewer_seconds": "45.5",
    "started_time": "2026-10-31T23:59:59.123Z",
}


@pytest.mark.parametrize(
    ("body", "invalid"),
    [
        pytest.param("<html>502 Bad Gateway</html>", True, id="not-json"),
        pytest.param('{"success":true,"data":{"livestream":{"id":"ls1"', True, id="truncated"),
        pytest.param('{"success":true,"data":{"n":' + "9" * 400 + "}}", True, id="number-past-a-double"),
        pytest.param('{"success":true,"data":"\\ud800"}', True, id="lone-surrogate-escape"),
        pytest.param(json.dumps({"success": True, "data": [LIVESTREAM]}), False, id="data-list"),
        pytest.param(json.dumps({"success": True, "data": "livestream ls1"}), False, id="data-string"),
        pytest.param(json.dumps({"success": True}), False, id="data-missing"),
        pytest.param(json.dumps({"success": True, "data": None}), False, id="data-null"),
        pytest.param(
            json.dumps({"data": {"livestream": "ls1", "session": ["s1"]}}), False, id="parts-not-objects"
        ),
        pytest.param("[]", False, id="array"),
        pytest.param('"a string"', False, id="string"),
        pytest.param("null", False, id="null"),
    ],
)
def test_a_broken_envelope_yields_no_rows_and_a_body_that_is_not_json_is_an_issue(
    body: str, invalid: bool
) -> None:
    result = normalize_responses([response(body)])

    assert result.livestreams.is_empty()
    assert result.sessions.is_empty()
    if invalid:
        ((seq, field, raw, reason),) = issue_rows(result)
        assert (seq, field, raw) == (1, "body", body[:RAW_CHARS])
        assert reason.startswith("invalid JSON: ")
    else:
        assert result.issues.is_empty()


def test_a_success_false_body_is_not_normalized_but_a_none_answer_still_describes_its_livestream() -> None:
    failed = {
        "success": False,
        "error": {"code": 404, "message": "No active session"},
        "data": {"livestream": LIVESTREAM, "session": SESSION},
    }
    records = [
        response(json.dumps(failed), outcome="error"),
        response(json.dumps(failed), outcome="none", seq=2),
    ]

    result = normalize_responses(records)

    # Only the client's outcome decides what is data: "error" answers are kept raw, never normalized.
    assert result.livestreams.select("seq", "livestream_id").rows() == [(2, "ls1")]
    assert result.sessions.select("seq", "session_id").rows() == [(2, "s1")]


def test_unknown_fields_everywhere_change_nothing() -> None:
    def noisy(obj: dict[str, Any]) -> dict[str, Any]:
        return {"x_new": {"deep": [1, {"a": None}]}, **obj, "zz": [True, "s"], "org_id": 7}

    plain = normalize_responses([response(json.dumps(active_body(LIVESTREAM, SESSION)))])
    body = {
        "success": True,
        "paging": {"odd": 1},
        "meta": [1],
        "data": {"livestream": noisy(LIVESTREAM), "session": noisy(SESSION), "more": {}},
    }

    result = normalize_responses([response(json.dumps(body))])

    assert result.issues.is_empty()
    assert result.livestreams.equals(plain.livestreams)
    assert result.sessions.equals(plain.sessions)
    assert result.sessions.select("viewer_seconds", "started_time").rows() == [
        (45.5, datetime(2026, 10, 31, 23, 59, 59, 123000, tzinfo=UTC))
    ]


def test_an_unknown_field_named_like_our_id_column_does_not_shadow_the_apis_id() -> None:
    livestream = {"id": "ls1", "livestream_id": "shadow"}
    session = {"id": "s1", "session_id": "shadow"}

    result = normalize_responses([response(json.dumps(active_body(livestream, session)))])

    assert result.livestreams["livestream_id"].to_list() == ["ls1"]
    assert result.sessions["session_id"].to_list() == ["s1"]


def test_nulls_everywhere_are_unset_values_and_a_session_without_an_id_is_dropped_with_an_issue() -> None:
    livestream = dict.fromkeys(["id", "stream_key", *LIVESTREAM_API_FIELDS])
    session = dict.fromkeys(["id", "livestream_id", *SESSION_API_FIELDS])

    result = normalize_responses([response(json.dumps(active_body(livestream, session)))])

    (row,) = result.livestreams.rows(named=True)
    assert row["livestream_id"] == "ls1"  # the id the request was for
    assert [row[column] for column, _ in LIVESTREAM_API_FIELDS.values()] == [None] * len(
        LIVESTREAM_API_FIELDS
    )
    assert row["stream_key_fingerprint"] is None
    assert result.sessions.is_empty()
    assert issue_rows(result) == [(1, "session.id", None, "session without an id: row dropped")]


@pytest.mark.parametrize("depth", [300, 1000])
def test_values_nested_deeper_than_orjson_writes_are_issues_not_crashes(depth: int) -> None:
    deep = "[" * depth + "]" * depth
    livestream = f'{{"id":"ls1","name":{deep}}}'
    session = f'{{"id":"s1","viewer_seconds":{deep},"err_message":{deep}}}'
    body = f'{{"success":true,"data":{{"livestream":{livestream},"session":{session}}}}}'
    listing = f'{{"success":true,"data":[{deep}]}}'

    result = normalize_responses([response(body), response(listing, "list_livestreams", seq=2)])

    issues = {field: (raw, reason) for _, field, raw, reason in issue_rows(result)}
    assert issues["livestream.name"] == ("[" * RAW_CHARS, EXPECTED_TEXT)
    assert issues["session.err_message"] == ("[" * RAW_CHARS, EXPECTED_TEXT)
    assert issues["session.viewer_seconds"] == ("[" * RAW_CHARS if depth > 254 else deep, NOT_A_NUMBER)
    assert issues["livestream"] == ("[" * RAW_CHARS, "expected a livestream object")
    assert result.livestreams.select("livestream_id", "name", "stream_key_fingerprint").rows() == [
        ("ls1", None, None)
    ]
    # A stream key nested that deep cannot be cut out of a body orjson cannot write: the body is withheld.
    keyed = f'{{"success":true,"data":{{"livestream":{{"id":"ls1","name":{deep},"stream_key":[7]}}}}}}'
    assert response(keyed)["body"] == WITHHELD


def test_a_body_nested_ten_thousand_levels_is_an_invalid_json_issue_not_a_recursion_error() -> None:
    body = '{"success":true,"data":' + "[" * 10_000 + "]" * 10_000 + "}"

    result = normalize_responses([response(body)])

    ((seq, field, raw, reason),) = issue_rows(result)
    assert (seq, field, raw) == (1, "body", body[:RAW_CHARS])
    assert "depth" in reason


def test_a_20_megabyte_field_is_kept_whole_and_a_20_megabyte_stream_key_is_only_fingerprinted() -> None:
    huge = "é" + "x" * 20_000_000
    key = "k" + huge[1:]  # not in the other fields: a key copied into them would be redacted there too
    livestream = {**LIVESTREAM, "name": huge, "stream_key": key}
    session = {**SESSION, "err_message": huge, "ingest_seconds": huge}
    record = response(json.dumps(active_body(livestream, session), ensure_ascii=False))
    assert record["body"].count(huge[:100]) == 3  # name, err_message, ingest_seconds: the key was redacted

    result = normalize_responses([record])

    assert result.livestreams.select(pl.col("name") == huge, "stream_key_fingerprint").row(0) == (
        True,
        fingerprint(key),
    )
    assert result.sessions.select(pl.col("err_message") == huge, "ingest_seconds").row(0) == (True, None)
    ((field, raw, reason),) = result.issues.select("field", "raw_value", "reason").rows()
    assert (field, reason) == ("session.ingest_seconds", NOT_A_NUMBER)
    # The issue keeps the start of the value; the whole value is in the raw body.
    assert raw == f"{huge[:1000]} ... ({len(huge)} characters; the whole value is in raw_responses.body)"


def test_a_body_truncated_inside_an_escape_in_the_stream_key_does_not_leak_its_prefix() -> None:
    assert "sk_live" not in redact_body('{"data":{"livestream":{"stream_key":"sk_live\\')


# --- bytes on the wire, and ids with metacharacters, through the client -------------------------------

CLIENT_SETTINGS = Settings(
    api_token=Secret("tok-hostile"),
    account_id="acc",
    app_ids=("app",),
    base_url="http://api.test/client/v4",
    database=Path("unused.duckdb"),
    max_attempts=2,
)
PREFIX = "/client/v4/accounts/acc/realtime/kit/"


def call_client(
    handler: Callable[[httpx.Request], httpx.Response],
    call: Callable[[RealtimeKitClient], Coroutine[Any, Any, Any]],
) -> tuple[Any, list[dict[str, Any]]]:
    """Run client calls against a scripted transport; return (their result or the ApiError, the responses)."""

    async def no_sleep(_: float) -> None:
        return None

    async def main() -> tuple[Any, list[dict[str, Any]]]:
        transport = httpx.MockTransport(handler)
        budget = RequestBudget(1000, 300)
        async with RealtimeKitClient(
            CLIENT_SETTINGS, budget=budget, transport=transport, sleep=no_sleep
        ) as client:
            try:
                result = await call(client)
            except ApiError as exc:
                result = exc
            return result, client.responses

    return asyncio.run(main())


def test_invalid_utf8_inside_a_string_arrives_as_replacement_characters_and_is_kept() -> None:
    raw = b'{"success":true,"data":{"livestream":{"id":"ls1","name":"caf\xe9 \xff"},"session":{"id":"s1"}}}'

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=raw, headers={"content-type": "application/json"})

    _, responses = call_client(handler, lambda c: c.active_session("app", "ls1"))

    # The client records httpx's text: UTF-8 decoded with errors="replace", each bad byte one U+FFFD.
    assert [(r["outcome"], r["body"]) for r in responses] == [("data", raw.decode("utf-8", errors="replace"))]
    result = normalize_responses(responses)
    assert result.livestreams["name"].to_list() == ["caf\ufffd \ufffd"]
    assert result.issues.is_empty()


def test_invalid_utf8_outside_strings_is_a_recorded_failed_response() -> None:
    raw = b'{"success":true,\xff"data":{}}'

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=raw)

    error, responses = call_client(handler, lambda c: c.active_session("app", "ls1"))

    assert isinstance(error, ApiError)
    assert "malformed JSON body" in str(error)
    text = raw.decode(errors="replace")
    assert [(r["outcome"], r["body"]) for r in responses] == [("retry", text), ("error", text)]
    assert normalize_responses(responses).livestreams.is_empty()


def test_a_body_nested_ten_thousand_levels_is_a_recorded_failed_response_in_the_client() -> None:
    raw = b'{"success":true,"data":' + b"[" * 10_000 + b"]" * 10_000 + b"}"

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=raw)

    error, responses = call_client(handler, lambda c: c.active_session("app", "ls1"))

    assert isinstance(error, ApiError)
    assert [(r["outcome"], len(r["body"])) for r in responses] == [("retry", len(raw)), ("error", len(raw))]


@pytest.mark.parametrize(
    ("hostile", "segment"),
    [
        ("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd"),
        ("x'; drop table sessions; --", "x%27%3B%20drop%20table%20sessions%3B%20--"),
        ("a%2Fb", "a%252Fb"),
        ("a/b", "a%2Fb"),
        ("a?page_no=9", "a%3Fpage_no%3D9"),
        ("a#top", "a%23top"),
        ("two words", "two%20words"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ('q"uote\\', "q%22uote%5C"),
        ("é", "%C3%A9"),
    ],
)
def test_ids_are_sent_as_one_escaped_path_segment_and_the_answer_is_recorded_under_the_id(
    hostile: str, segment: str
) -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        # A server's view: split the raw path on "/", then decode each segment.
        path = request.url.raw_path.decode().split("?")[0]
        paths.append(path)
        ids = [unquote(part) for part in path.removeprefix(PREFIX).split("/")]
        livestream = {"id": ids[2], "status": "LIVE"} if ids[1] == "livestreams" else None
        return httpx.Response(
            200, json={"success": True, "data": {"livestream": livestream, "session": {"id": "s"}}}
        )

    async def calls(client: RealtimeKitClient) -> None:
        await client.active_session(hostile, hostile)
        await client.livestream_sessions(hostile, hostile, 1, 10)
        await client.session_by_id(hostile, hostile, hostile)
        await client.daywise(hostile, FETCHED, FETCHED)

    _, responses = call_client(handler, calls)

    assert paths == [
        f"{PREFIX}{segment}/livestreams/{segment}/active-livestream-session",
        f"{PREFIX}{segment}/livestreams/{segment}",
        f"{PREFIX}{segment}/livestreams/sessions/{segment}",
        f"{PREFIX}{segment}/analytics/livestreams/daywise",
    ]
    assert [(r["app_id"], r["livestream_id"], r["session_id"]) for r in responses] == [
        (hostile, hostile, None),
        (hostile, hostile, None),
        (hostile, hostile, hostile),
        (hostile, None, None),
    ]
    # The server decoded the segment back to the very id the response is recorded under.
    assert normalize_responses(responses[:1]).livestreams["livestream_id"].to_list() == [hostile]


# --- a whole poll with hostile ids, into DuckDB --------------------------------------------------------

HOSTILE_SESSIONS = {"../../etc/passwd": "x'; drop table sessions; --", "a%2Fb?c#d ;'\"\\": "..;'s2"}


def fake_api(request: httpx.Request) -> httpx.Response:
    """One app whose ids are hostile; it answers only paths whose segments decode to its own ids."""
    path = request.url.raw_path.decode().removeprefix(PREFIX).split("?")[0]
    livestreams = {
        ls: {"id": ls, "status": "LIVE", "stream_key": f"sk_{n}"} for n, ls in enumerate(HOSTILE_SESSIONS)
    }

    def session(ls: str) -> dict[str, Any]:
        return {
            "id": HOSTILE_SESSIONS[ls],
            "livestream_id": ls,
            "created_at": "2026-10-31T23:50:00.000Z",
            "started_time": "2026-10-31T23:50:01.000Z",
            "stopped_time": None,
            "ingest_seconds": 60,
            "viewer_seconds": "45.5",
        }

    paging = {"total_count": len(livestreams), "start_offset": 1, "end_offset": len(livestreams)}
    match [unquote(part) for part in path.split("/")]:
        case ["app", "livestreams"]:
            body: dict[str, Any] = {"success": True, "data": list(livestreams.values()), "paging": paging}
        case ["app", "livestreams", ls, "active-livestream-session"] if ls in livestreams:
            body = active_body(livestreams[ls], session(ls))
        case ["app", "livestreams", ls] if ls in livestreams:
            body = {"success": True, "data": {"livestream": livestreams[ls], "sessions": [session(ls)]}}
        case _:
            return httpx.Response(404, json={"success": False, "error": {"code": 404, "message": path}})
    return httpx.Response(200, json=body)


def test_hostile_ids_flow_through_a_whole_poll_into_duckdb_intact_and_never_into_a_file_path(
    tmp_path: Path,
) -> None:
    settings = CLIENT_SETTINGS.with_overrides(
        api_token=Secret("tok-whole-poll"), database=tmp_path / "w.duckdb", landing_dir=tmp_path / "landing"
    )
    fetched = fetch_poll(settings, EMPTY_PLAN, transport=httpx.MockTransport(fake_api))
    assert (fetched.outcome, fetched.errors) == ("ok", [])

    landed_path = landing.land(settings.landing_dir, fetched)
    assert [p.name for p in settings.landing_dir.iterdir()] == [f"{fetched.poll_id}.jsonl"]
    landed = landing.read_landed(landed_path)
    normalized = normalize_responses(landed.responses)
    row = load.load_poll(settings, landed, normalized)
    assert list(settings.landing_dir.iterdir()) == []  # loaded, so forgotten; no id became a path
    assert (row.outcome, row.parse_issues, row.livestreams, row.sessions) == ("ok", 0, 2, 2)
    con = warehouse.connect(settings.database, read_only=True)
    try:
        sessions = con.execute("select livestream_id, session_id, viewer_seconds from sessions").fetchall()
        snapshots = con.execute("select livestream_id, session_id from session_snapshots").fetchall()
        raw = con.execute("select livestream_id, session_id from raw_responses").fetchall()
        tables = con.execute("select table_name from information_schema.tables where table_name = 'sessions'")
        still_there = tables.fetchall()
    finally:
        con.close()
    expected = set(HOSTILE_SESSIONS.items())
    assert {(ls, s) for ls, s, _ in sessions} == expected
    assert {v for *_, v in sessions} == {45.5}
    assert set(snapshots) == expected
    assert {ls for ls, _ in raw if ls is not None} == set(HOSTILE_SESSIONS)
    assert still_there == [("sessions",)]  # the ids were bound as data, never run as SQL
    files = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")]
    for fragment in ("passwd", "drop", "%2F", "'", ";", "#", "?", "\\"):
        assert not any(fragment in name for name in files), (fragment, files)
