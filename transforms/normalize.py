"""Raw API responses in, typed and audited polars frames out.

Pure: no network, no database, no clock. Every value that cannot be parsed becomes null in its typed
column *and* a row in the issues frame naming the response, the field, the raw value and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import polars as pl

from streamledger.transforms.redact import fingerprint, is_key_name, stream_key_fingerprint
from streamledger.transforms.shapes import active_session_parts, list_items, session_items

UTC_INSTANT = pl.Datetime("us", "UTC")
DOCUMENTED_STATUSES = ("LIVE", "IDLE", "ERRORED", "INVOKED")
# Accepts Z, offsets and 0-9 fraction digits; yields UTC instants (pitfalls: a literal Z gives naive).
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%#z"
RAW_VALUE_CHARS = 200  # how much of a body, object or array an issue keeps (the raw response has it all)
# The API sends a placeholder (60) until it knows a figure, so a started session never lacks one.
SESSION_FIGURES = ("ingest_seconds", "viewer_seconds")
MISSING_FIGURE = "missing from a started session"
DAYWISE_WITHOUT_DATE = "daywise item without a date: not loaded"
OVERALL_WITHOUT_WINDOW = "overall totals without a start_time and end_time in the request: not loaded"


class Kind(Enum):
    """How a raw field is typed."""

    TEXT = "text"
    TIMESTAMP = "timestamp"
    SECONDS = "seconds"
    BOOLEAN = "boolean"
    DATE = "date"
    COUNT = "count"
    UNIX_SECONDS = "unix_seconds"


RESPONSE_SCHEMA: dict[str, pl.DataType] = {
    "poll_id": pl.String(),
    "seq": pl.Int32(),
    "fetched_at": UTC_INSTANT,
    "endpoint": pl.String(),
    "app_id": pl.String(),
    "livestream_id": pl.String(),
    "session_id": pl.String(),
    "request_path": pl.String(),
    "attempt": pl.Int16(),
    "http_status": pl.Int16(),
    "elapsed_ms": pl.Float64(),
    "ratelimit": pl.String(),
    "server_date": UTC_INSTANT,
    "outcome": pl.String(),
    "body": pl.String(),
    "error": pl.String(),
}
_CONTEXT: dict[str, pl.DataType] = {
    "poll_id": pl.String(),
    "seq": pl.Int32(),
    "fetched_at": UTC_INSTANT,
    "endpoint": pl.String(),
    "app_id": pl.String(),
}
LIVESTREAM_FIELDS: dict[str, Kind] = {
    "livestream_id": Kind.TEXT,
    "name": Kind.TEXT,
    "meeting_id": Kind.TEXT,
    "status": Kind.TEXT,
    "disabled": Kind.BOOLEAN,
    "ingest_server": Kind.TEXT,
    "playback_url": Kind.TEXT,
    "stream_key_fingerprint": Kind.TEXT,
    "created_at": Kind.TIMESTAMP,
    "updated_at": Kind.TIMESTAMP,
}
SESSION_FIELDS: dict[str, Kind] = {
    "session_id": Kind.TEXT,
    "livestream_id": Kind.TEXT,
    "status": Kind.TEXT,
    "created_at": Kind.TIMESTAMP,
    "updated_at": Kind.TIMESTAMP,
    "invoked_time": Kind.TIMESTAMP,
    "started_time": Kind.TIMESTAMP,
    "stopped_time": Kind.TIMESTAMP,
    "err_message": Kind.TEXT,
    "ingest_seconds": Kind.SECONDS,
    "viewer_seconds": Kind.SECONDS,
}
# An app's own id is `id`: `app_id` is the context column (null for account-level responses).
APP_FIELDS: dict[str, Kind] = {"id": Kind.TEXT, "name": Kind.TEXT, "created_at": Kind.TIMESTAMP}
DAYWISE_FIELDS: dict[str, Kind] = {
    "date": Kind.DATE,
    "count": Kind.COUNT,
    "total_ingest_seconds": Kind.SECONDS,
    "total_viewer_seconds": Kind.SECONDS,
}
# The window is the request's (start_time, end_time query parameters, Unix seconds): the answer has none.
OVERALL_FIELDS: dict[str, Kind] = {
    "start_time": Kind.UNIX_SECONDS,
    "end_time": Kind.UNIX_SECONDS,
    "count": Kind.COUNT,
    "total_ingest_seconds": Kind.SECONDS,
    "total_viewer_seconds": Kind.SECONDS,
}
_DTYPES = {
    Kind.TEXT: pl.String(),
    Kind.TIMESTAMP: UTC_INSTANT,
    Kind.SECONDS: pl.Float64(),
    Kind.BOOLEAN: pl.Boolean(),
    Kind.DATE: pl.Date(),
    Kind.COUNT: pl.Int64(),
    Kind.UNIX_SECONDS: UTC_INSTANT,
}
# Session observations also carry when they were read on the API's clock (its Date header).
_SESSION_EXTRA: dict[str, pl.DataType] = {"observed_at": UTC_INSTANT}
LIVESTREAM_SCHEMA: dict[str, pl.DataType] = _CONTEXT | {k: _DTYPES[v] for k, v in LIVESTREAM_FIELDS.items()}
SESSION_SCHEMA: dict[str, pl.DataType] = (
    _CONTEXT | _SESSION_EXTRA | {k: _DTYPES[v] for k, v in SESSION_FIELDS.items()}
)
APP_SCHEMA: dict[str, pl.DataType] = _CONTEXT | {k: _DTYPES[v] for k, v in APP_FIELDS.items()}
DAYWISE_SCHEMA: dict[str, pl.DataType] = _CONTEXT | {k: _DTYPES[v] for k, v in DAYWISE_FIELDS.items()}
OVERALL_SCHEMA: dict[str, pl.DataType] = _CONTEXT | {k: _DTYPES[v] for k, v in OVERALL_FIELDS.items()}
ISSUE_SCHEMA: dict[str, pl.DataType] = _CONTEXT | {
    "livestream_id": pl.String(),
    "session_id": pl.String(),
    "field": pl.String(),
    "raw_value": pl.String(),
    "reason": pl.String(),
}
# (column, API field it is read from, whether it is text) for each column of an entity. A column is read
# from its own API field only: an unknown field named like a column ("session_id") must not shadow "id".
Sources = tuple[tuple[str, str, bool], ...]


def _sources(fields: Mapping[str, Kind], renames: Mapping[str, str]) -> Sources:
    source = {column: key for key, column in renames.items()}
    return tuple((column, source.get(column, column), kind is Kind.TEXT) for column, kind in fields.items())


_LIVESTREAM_SOURCES = _sources(LIVESTREAM_FIELDS, {"id": "livestream_id"})
_SESSION_SOURCES = _sources(SESSION_FIELDS, {"id": "session_id"})
_APP_SOURCES = _sources(APP_FIELDS, {})
_DAYWISE_SOURCES = _sources(DAYWISE_FIELDS, {})
_OVERALL_SOURCES = _sources(OVERALL_FIELDS, {})


@dataclass(frozen=True)
class NormalizedPoll:
    """The frames of one poll: its raw responses, the typed observations, and the parse issues."""

    responses: pl.DataFrame  # one row per response, as received (raw_responses)
    livestreams: pl.DataFrame
    sessions: pl.DataFrame
    issues: pl.DataFrame
    apps: pl.DataFrame
    daywise: pl.DataFrame
    overall: pl.DataFrame

    @property
    def unknown_statuses(self) -> int:
        """Count the observations whose status is outside the documented enum."""
        return int(self.counts()["unknown_statuses"].sum())

    def counts(self) -> pl.DataFrame:
        """Per poll of these frames (one row per poll with a response), what its ledger row counts: the
        livestreams and sessions observed (distinct ids), the parse issues, and the observations whose status
        is outside the documented enum. The load writes them; a rebuild recounts them from its replay."""
        unknown = pl.col("status").is_not_null() & ~pl.col("status").is_in(DOCUMENTED_STATUSES)
        per_poll = [
            self.livestreams.group_by("poll_id").agg(
                livestreams=pl.col("livestream_id").n_unique(), unknown_livestreams=unknown.sum()
            ),
            self.sessions.group_by("poll_id").agg(
                sessions=pl.col("session_id").n_unique(), unknown_sessions=unknown.sum()
            ),
            self.issues.group_by("poll_id").agg(parse_issues=pl.len()),
        ]
        counts = self.responses.select("poll_id").unique()
        for frame in per_poll:
            counts = counts.join(frame, on="poll_id", how="left")
        return (
            counts.fill_null(0)
            .select(
                "poll_id",
                pl.col("livestreams").cast(pl.Int64),
                pl.col("sessions").cast(pl.Int64),
                pl.col("parse_issues").cast(pl.Int64),
                (pl.col("unknown_livestreams") + pl.col("unknown_sessions"))
                .cast(pl.Int64)
                .alias("unknown_statuses"),
            )
            .sort("poll_id")
        )


def responses_frame(responses: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Return the landed responses as a frame with the raw_responses schema (one row per response)."""
    return _frame(responses, RESPONSE_SCHEMA)


def _frame(rows: Sequence[Mapping[str, Any]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Build a frame from row mappings column by column (several times faster than from the rows)."""
    return pl.DataFrame(
        [_series(name, [row.get(name) for row in rows], dtype) for name, dtype in schema.items()]
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _series(name: str, values: list[Any], dtype: pl.DataType) -> pl.Series:
    """A column of values; aware datetimes go through exact epoch microseconds (6 times faster)."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        try:
            micros = [None if v is None else (v - _EPOCH) // _MICROSECOND for v in values]
            return pl.Series(name, micros, dtype=pl.Int64()).cast(dtype)
        except TypeError:  # a naive datetime among them: polars reads those as UTC
            pass
    return pl.Series(name, values, dtype=dtype)


def normalize_responses(responses: Sequence[Mapping[str, Any]]) -> NormalizedPoll:
    """Return the poll's frames: its responses as received, and every field typed, auditing what fails."""
    flat = _Flattener()
    for response in responses:
        # "none" answers of the active-session endpoint may still describe the livestream.
        if response["outcome"] in ("data", "none") and response["body"]:
            flat.add(response)
    livestreams, livestream_issues = _typed(flat.livestreams, LIVESTREAM_FIELDS, "livestream")
    sessions, session_issues = _typed(flat.sessions, SESSION_FIELDS, "session", _SESSION_EXTRA)
    missing_figures = _missing_figures(flat.sessions, sessions)
    apps, app_issues = _typed(flat.apps, APP_FIELDS, "app")
    daywise, daywise_issues = _typed(flat.daywise, DAYWISE_FIELDS, "daywise")
    overall, overall_issues = _typed(flat.overall, OVERALL_FIELDS, "overall")
    issues = pl.concat(
        [
            pl.DataFrame(flat.issues, schema=ISSUE_SCHEMA),
            livestream_issues,
            session_issues,
            missing_figures,
            app_issues,
            daywise_issues,
            overall_issues,
        ],
        how="vertical",
    ).sort("seq", "field")
    return NormalizedPoll(
        responses=responses_frame(responses),
        livestreams=livestreams,
        sessions=sessions,
        issues=issues,
        apps=apps,
        daywise=daywise,
        overall=overall,
    )


class _Flattener:
    """Collects raw text values per field (in Python, where the shapes vary) before typing in polars."""

    def __init__(self) -> None:
        self.livestreams: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self.apps: list[dict[str, Any]] = []
        self.daywise: list[dict[str, Any]] = []
        self.overall: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []

    def add(self, response: Mapping[str, Any]) -> None:
        context = {name: response[name] for name in _CONTEXT}
        try:
            body = orjson.loads(response["body"])
        except orjson.JSONDecodeError as exc:
            self._issue(
                context, response, None, "body", response["body"][:RAW_VALUE_CHARS], f"invalid JSON: {exc}"
            )
            return
        endpoint = response["endpoint"]
        if endpoint == "list_livestreams":
            items, _ = list_items(body)
            for item in items:
                self._livestream(context, response, item)
        elif endpoint == "active_session":
            livestream, session = active_session_parts(body)
            if livestream is not None:
                self._livestream(context, response, livestream)
            if session is not None:
                status = livestream.get("status") if livestream is not None else None
                self._session(context, response, session, status)
        elif endpoint == "session_by_id":
            data = body.get("data") if isinstance(body, dict) else None
            self._session(context, response, data, None)
        elif endpoint == "livestream_sessions":
            livestream, sessions, _ = session_items(body)
            if livestream is not None:
                self._livestream(context, response, livestream)
            for session in sessions:
                self._session(context, response, session, None)
        elif endpoint == "list_apps":
            for item in list_items(body)[0]:
                if self._is_record(context, response, item, "app"):
                    self.apps.append(self._raw_fields(context, response, item, _APP_SOURCES, "app"))
        elif endpoint == "analytics_daywise":
            days = body.get("data") if isinstance(body, dict) else None
            records: list[Any] = days if isinstance(days, list) else [days]
            for item in records:
                if self._is_record(context, response, item, "daywise"):
                    self.daywise.append(
                        self._raw_fields(context, response, item, _DAYWISE_SOURCES, "daywise")
                    )
                    if item.get("date") is None:  # nullable in the spec; the load has no day to put it on
                        self._issue(context, response, None, "daywise.date", None, DAYWISE_WITHOUT_DATE)
        elif endpoint == "analytics_overall":
            totals = body.get("data") if isinstance(body, dict) else None
            if not isinstance(totals, dict):
                raw = None if totals is None else _json_text(totals)[:RAW_VALUE_CHARS]
                self._issue(context, response, None, "overall", raw, "expected an object of totals")
            else:
                query = parse_qs(urlsplit(response["request_path"]).query)
                window = {key: query.get(key, [None])[-1] for key in ("start_time", "end_time")}
                self.overall.append(
                    self._raw_fields(context, response, totals | window, _OVERALL_SOURCES, "overall")
                )
                if None in window.values():  # we always send both; the load has no window to key it on
                    self._issue(context, response, None, "overall.window", None, OVERALL_WITHOUT_WINDOW)

    def _livestream(self, context: dict[str, Any], response: Mapping[str, Any], item: Any) -> None:
        if not self._is_record(context, response, item, "livestream"):
            return
        row = self._raw_fields(context, response, item, _LIVESTREAM_SOURCES, "livestream")
        key = item.get("stream_key")
        if key is None:  # under another spelling (streamKey, stream-key): its fingerprint all the same
            key = next((v for name, v in item.items() if v is not None and is_key_name(name)), None)
        if isinstance(key, dict | list):
            # A credential, even when misshapen: the issue keeps only a fingerprint of what was sent.
            raw = f"[redacted {fingerprint(_json_text(key))}]"
            self._issue(context, response, item, "livestream.stream_key", raw, "expected text")
        key = _scalar_text(key)
        row["stream_key_fingerprint"] = stream_key_fingerprint(key) if key else None
        row["livestream_id"] = row["livestream_id"] or response["livestream_id"]
        if row["livestream_id"] is None:
            self._issue(
                context, response, None, "livestream.id", None, "livestream without an id: row dropped"
            )
            return
        self.livestreams.append(row)

    def _session(self, context: dict[str, Any], response: Mapping[str, Any], item: Any, status: Any) -> None:
        if not self._is_record(context, response, item, "session"):
            return
        row = self._raw_fields(context, response, item, _SESSION_SOURCES, "session")
        row["status"] = _scalar_text(status)
        row["observed_at"] = observed_at(response)
        row["livestream_id"] = row["livestream_id"] or response["livestream_id"]
        row["session_id"] = row["session_id"] or response["session_id"]
        if row["session_id"] is None:
            self._issue(context, response, None, "session.id", None, "session without an id: row dropped")
            return
        if item.get("id") in (None, ""):  # read by id; an id of the wrong type has its own issue already
            reason = "session record without an id: the id it was read by is used"
            self._issue(context, response, item, "session.id", item.get("id"), reason)
        if row["livestream_id"] is None:
            reason = "session without a livestream id: row dropped"
            self._issue(context, response, item, "session.livestream_id", None, reason)
            return
        self.sessions.append(row)

    def _is_record(
        self, context: dict[str, Any], response: Mapping[str, Any], item: Any, entity: str
    ) -> bool:
        if isinstance(item, dict):
            return True
        raw = None if item is None else _json_text(item)[:RAW_VALUE_CHARS]
        self._issue(context, response, None, entity, raw, f"expected a {entity} object")
        return False

    def _raw_fields(
        self,
        context: dict[str, Any],
        response: Mapping[str, Any],
        item: dict[str, Any],
        sources: Sources,
        entity: str,
    ) -> dict[str, Any]:
        row = dict(context)
        for column, source, is_text in sources:
            value = item.get(source)
            if value is None or type(value) is str:  # the common case, first
                row[column] = value
                continue
            if is_text and isinstance(value, dict | list):
                raw = _json_text(value)[:RAW_VALUE_CHARS]
                self._issue(context, response, item, f"{entity}.{column}", raw, "expected text")
                value = None
            row[column] = _raw_text(value)
        return row

    def _issue(
        self,
        context: dict[str, Any],
        response: Mapping[str, Any],
        item: Mapping[str, Any] | None,
        field: str,
        raw_value: str | None,
        reason: str,
    ) -> None:
        livestream_id = response["livestream_id"]
        session_id = response["session_id"]
        # Name the row the way _livestream and _session do: the item's own ids, else the response's.
        if item is not None and field.startswith("session"):
            session_id = _scalar_text(item.get("id")) or session_id
            livestream_id = _scalar_text(item.get("livestream_id")) or livestream_id
        elif item is not None and field.startswith("livestream"):
            livestream_id = _scalar_text(item.get("id")) or livestream_id
        self.issues.append(
            context
            | {
                "livestream_id": livestream_id,
                "session_id": session_id,
                "field": field,
                "raw_value": _shorten(raw_value),
                "reason": reason,
            }
        )


# An issue keeps the start of a huge raw value; the whole value stays in raw_responses.body.
MAX_ISSUE_VALUE_CHARS = 1000
_CUT, _CUT_END = " ... (", " characters; the whole value is in raw_responses.body)"


def _shorten(value: str | None) -> str | None:
    if value is None or len(value) <= MAX_ISSUE_VALUE_CHARS:
        return value
    return f"{value[:MAX_ISSUE_VALUE_CHARS]}{_CUT}{len(value)}{_CUT_END}"


def _shortened(value: pl.Expr) -> pl.Expr:
    length = value.str.len_chars()
    return (
        pl.when(length > MAX_ISSUE_VALUE_CHARS)
        .then(
            value.str.slice(0, MAX_ISSUE_VALUE_CHARS)
            + pl.lit(_CUT)
            + length.cast(pl.String)
            + pl.lit(_CUT_END)
        )
        .otherwise(value)
    )


def _raw_text(value: Any) -> str | None:
    """Return a JSON scalar as the text it was sent as (numbers and booleans in JSON spelling)."""
    if value is None or isinstance(value, str):
        return value
    return _json_text(value)


def _scalar_text(value: Any) -> str | None:
    """Return a JSON scalar as text, and None for an object or an array (an id or a status is a scalar)."""
    return None if isinstance(value, dict | list) else _raw_text(value)


def observed_at(response: Mapping[str, Any]) -> datetime:
    """When a response's readings were taken: its Date header (the API's clock), else our receive time;
    never later than our receive time, so that a Date ahead of our clock puts no usage in hours to come."""
    received: datetime = response["fetched_at"]
    date: datetime | None = response.get("server_date")
    return received if date is None or date > received else date


def _json_text(value: Any) -> str:
    """Return a decoded JSON value as JSON text (a prefix of it past the depth orjson writes)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        # orjson reads 1024 levels of nesting but writes only 254.
        return _json_prefix(value, RAW_VALUE_CHARS)


def _json_prefix(value: Any, limit: int) -> str:
    """Return the first `limit` characters of a decoded JSON value's text, at any depth, without recursion."""
    pieces: list[str] = []
    size = 0
    todo: list[Any] = [value]  # values still to write; a tuple holds text already written as JSON
    while todo and size < limit:
        item = todo.pop()
        if isinstance(item, tuple):
            piece = item[0]
        elif isinstance(item, list):
            piece = "["
            todo.append(("]",))
            for index in reversed(range(len(item))):
                todo.append(item[index])
                if index:
                    todo.append((",",))
        elif isinstance(item, dict):
            piece = "{"
            todo.append(("}",))
            for index, (key, member) in reversed(list(enumerate(item.items()))):
                todo.append(member)
                todo.append((("," if index else "") + orjson.dumps(key).decode() + ":",))
        else:
            piece = orjson.dumps(item).decode()
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces)[:limit]


def _missing_figures(rows: list[dict[str, Any]], sessions: pl.DataFrame) -> pl.DataFrame:
    """Return one issue per null or absent figure of a session that has a started_time (typed sessions)."""
    absent = pl.DataFrame(
        {f"absent_{name}": [row[name] is None for row in rows] for name in SESSION_FIGURES},
        schema={f"absent_{name}": pl.Boolean() for name in SESSION_FIGURES},
    )
    found = pl.concat([sessions, absent], how="horizontal")
    return pl.concat(
        [
            found.filter(pl.col("started_time").is_not_null() & pl.col(f"absent_{name}")).select(
                *_CONTEXT,
                "livestream_id",
                "session_id",
                field=pl.lit(f"session.{name}"),
                raw_value=pl.lit(None, pl.String()),
                reason=pl.lit(MISSING_FIGURE),
            )
            for name in SESSION_FIGURES
        ],
        how="vertical",
    ).cast(pl.Schema(ISSUE_SCHEMA))


def _typed(
    rows: list[dict[str, Any]],
    fields: Mapping[str, Kind],
    entity: str,
    extra: Mapping[str, pl.DataType] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Type the raw text columns; return (typed frame, issues frame with one row per failed value)."""
    extra = extra or {}
    raw = _frame(rows, _CONTEXT | dict(extra) | dict.fromkeys(fields, pl.String())).with_row_index("_row")
    parsed = {column: _parse(pl.col(column), kind) for column, kind in fields.items()}
    audited = [column for column, (_, reason) in parsed.items() if reason is not None]
    schema = _CONTEXT | dict(extra) | {column: _DTYPES[kind] for column, kind in fields.items()}
    # One pass types every column and finds every failure (the parse is shared: common subexpressions).
    both = (
        raw.lazy()
        .select(
            "_row",
            *_CONTEXT,
            *extra,
            *[value.alias(column) for column, (value, _) in parsed.items()],
            *[
                reason.alias(f"{column}{_REASON}")
                for column, (_, reason) in parsed.items()
                if reason is not None
            ],
        )
        .collect()
    )
    typed = both.select(*_CONTEXT, *extra, *fields).cast(pl.Schema(schema))
    reason_columns = [f"{column}{_REASON}" for column in audited]
    failed = both.filter(pl.any_horizontal(pl.col(reason_columns).is_not_null())) if audited else both.clear()
    if failed.height == 0:  # the usual poll: nothing failed, no issue to assemble
        return typed, pl.DataFrame(schema=ISSUE_SCHEMA)
    reasons = failed.select("_row", *[pl.col(f"{c}{_REASON}").alias(c) for c in audited]).unpivot(
        index="_row", on=audited, variable_name="field", value_name="reason"
    )
    failed_raw = raw.join(failed.select("_row"), on="_row")
    raw_values = failed_raw.unpivot(index="_row", on=audited, variable_name="field", value_name="raw_value")
    livestream_id = pl.col("livestream_id") if "livestream_id" in fields else pl.lit(None, pl.String())
    session_id = pl.col("session_id") if "session_id" in fields else pl.lit(None, pl.String())
    issues = (
        reasons.filter(pl.col("reason").is_not_null())
        .join(raw_values, on=["_row", "field"])
        .join(
            failed_raw.select(
                "_row", *_CONTEXT, livestream_id.alias("livestream_id"), session_id.alias("session_id")
            ),
            on="_row",
        )
        .sort("_row", "field")
        .select(
            *_CONTEXT,
            "livestream_id",
            "session_id",
            (pl.lit(f"{entity}.") + pl.col("field")).alias("field"),
            _shortened(pl.col("raw_value")).alias("raw_value"),
            "reason",
        )
    )
    return typed, issues.cast(pl.Schema(ISSUE_SCHEMA))


_REASON = "\x00reason"  # suffix of the failure-reason columns (no API field name holds a NUL)


def _parse(raw: pl.Expr, kind: Kind) -> tuple[pl.Expr, pl.Expr | None]:
    """Return (typed value, reason it failed or null) for one raw text column."""
    if kind is Kind.TEXT:
        return raw, None
    text = raw.str.strip_chars()
    if kind is Kind.SECONDS:
        number = text.cast(pl.Float64, strict=False)
        reason = (
            pl.when(raw.is_null())
            .then(None)
            .when(number.is_null())
            .then(pl.lit("not a number"))
            .when(~number.is_finite())
            .then(pl.lit("not a finite number"))
            .when(number < 0)
            .then(pl.lit("negative seconds"))
        )
        return pl.when(reason.is_null()).then(number), reason
    if kind is Kind.TIMESTAMP:
        # An empty string is the API saying "not set" (e.g. stopped_time of a running session), not a value.
        iso = text.str.to_uppercase().str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
        instant = iso.str.to_datetime(ISO_FORMAT, time_unit="us", strict=False)
        reason = (
            pl.when(raw.is_null() | (text == ""))
            .then(None)
            .when(instant.is_null())
            .then(pl.lit("not an ISO 8601 timestamp with a UTC offset"))
        )
        return instant, reason
    if kind is Kind.DATE:
        # "2026-11-01" or an ISO instant at midnight ("2026-11-01T00:00:00.000Z"): the day is the first 10.
        day = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        return day, pl.when(raw.is_not_null() & day.is_null()).then(pl.lit("not a date (YYYY-MM-DD)"))
    if kind is Kind.UNIX_SECONDS:
        number = text.cast(pl.Int64, strict=False)
        instant = pl.from_epoch(number, time_unit="s").dt.replace_time_zone("UTC").cast(UTC_INSTANT)
        return instant, pl.when(raw.is_not_null() & number.is_null()).then(pl.lit("not whole Unix seconds"))
    if kind is Kind.COUNT:
        number = text.cast(pl.Float64, strict=False)
        valid = number.is_finite() & (number >= 0) & (number == number.floor())
        invalid = pl.when(raw.is_not_null() & ~valid.fill_null(False)).then(
            pl.lit("not a non-negative integer")
        )
        return pl.when(valid).then(number.cast(pl.Int64, strict=False)), invalid
    flag = text.str.to_lowercase()
    boolean = pl.when(flag == "true").then(True).when(flag == "false").then(False)
    return boolean, pl.when(raw.is_not_null() & boolean.is_null()).then(pl.lit("not a boolean"))
