"""Readers for the API's several documented body shapes; pure functions of a decoded JSON body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Keys under which an object-shaped `data` may hold its list (the spec's object form is sloppy).
_LIST_KEYS = ("livestreams", "sessions", "apps", "data", "items", "results")
NOT_FOUND_CODES = frozenset({404, "404", "NOT_FOUND", "not_found"})


@dataclass(frozen=True)
class Paging:
    """The RealtimeKit paging envelope: 1-based inclusive item offsets and a total."""

    total_count: int | None
    start_offset: int | None
    end_offset: int | None

    def is_last_page(self) -> bool:
        """True when the page ends at or past the total."""
        if self.total_count is None or self.end_offset is None:
            return False
        return self.end_offset >= self.total_count

    def last_page(self, per_page: int) -> int | None:
        """The number of the list's last page at `per_page` items a page (None: the total is not known)."""
        if self.total_count is None or per_page < 1:
            return None
        return max(1, -(-self.total_count // per_page))


def list_items(body: Any) -> tuple[list[Any], Paging | None]:
    """Return (items, paging) from either the array-with-top-level-paging or the object form."""
    if not isinstance(body, dict):
        return [], None
    data = body.get("data")
    paging = body.get("paging")
    items: list[Any] = []
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        paging = data.get("paging", paging)
        for key in _LIST_KEYS:
            if isinstance(data.get(key), list):
                items = data[key]
                break
        else:
            if "id" in data:  # the spec's literal form: one object with paging inside it
                items = [{k: v for k, v in data.items() if k != "paging"}]
    return items, _paging(paging)


def session_items(body: Any) -> tuple[dict[str, Any] | None, list[Any], Paging | None]:
    """Return (livestream, sessions, paging) from 'livestream details with sessions' in either form."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return None, [], None
    data = body["data"]
    livestream = data.get("livestream") if isinstance(data.get("livestream"), dict) else None
    sessions = data.get("sessions")
    if not isinstance(sessions, list):
        single = data.get("session")
        sessions = [single] if isinstance(single, dict) else []
    return livestream, sessions, _paging(data.get("paging", body.get("paging")))


def list_shape_problem(body: Any) -> str | None:
    """Return why a list page's `data` holds no list of items (None: it holds one, maybe empty)."""
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, list):
        return None
    if isinstance(data, dict):
        if "id" in data or any(isinstance(data.get(key), list) for key in _LIST_KEYS):
            return None
        return "unexpected shape: data is an object without a list of items"
    return _unexpected(body, "data")


def session_items_shape_problem(body: Any) -> str | None:
    """Return why a 'livestream details with sessions' body is in no known form (None: it is in one)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return _unexpected(body, "data")
    sessions, single = data.get("sessions"), data.get("session")
    if sessions is not None and not isinstance(sessions, list):
        return f"unexpected shape: data.sessions is {_kind(sessions)}"
    if single is not None and not isinstance(single, dict):
        return f"unexpected shape: data.session is {_kind(single)}"
    return None


def active_session_shape_problem(body: Any) -> str | None:
    """Return why an active-session body is in no known form; a null or absent data or session is one."""
    data = body.get("data") if isinstance(body, dict) else None
    if data is None:
        return None
    if not isinstance(data, dict):
        return f"unexpected shape: data is {_kind(data)}"
    session = data.get("session")
    if session is None or isinstance(session, dict):
        return None
    return f"unexpected shape: data.session is {_kind(session)}"


def overall_shape_problem(body: Any) -> str | None:
    """Return why an analytics-overall body holds no totals object (None: it holds one).

    Read as empty, a missing `data` would pass for totals of zero: the call fails instead.
    """
    data = body.get("data") if isinstance(body, dict) else None
    return None if isinstance(data, dict) else _unexpected(body, "data")


def error_detail(body: Any) -> tuple[int | str | None, str | None]:
    """Return (code, message) from the v4 `errors[]` or the RealtimeKit `error{}` envelope."""
    if not isinstance(body, dict):
        return None, None
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
        messages = [_with_chain(e) for e in errors if isinstance(e, dict) and e.get("message")]
        return first.get("code"), "; ".join(messages) or None
    error = body.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        return error.get("code"), str(message) if message is not None else None
    if isinstance(error, str):
        return None, error
    message = body.get("message")
    return None, str(message) if message is not None else None


def _with_chain(error: dict[str, Any]) -> str:
    """A v4 error's message, with its `error_chain`: Cloudflare puts the actual cause there (6003 "Invalid
    request headers" says which header only in its chained 6111)."""
    message = str(error.get("message"))
    chain = error.get("error_chain")
    causes = [
        f"code {cause['code']}: {cause['message']}"
        if cause.get("code") is not None
        else str(cause["message"])
        for cause in (chain if isinstance(chain, list) else [])
        if isinstance(cause, dict) and cause.get("message")
    ]
    return f"{message} ({'; '.join(causes)})" if causes else message


def is_not_found(body: Any) -> bool:
    """True when a failure envelope says 'not found' (by code, or by message where no code is given)."""
    code, message = error_detail(body)
    if code in NOT_FOUND_CODES:
        return True
    return code is None and message is not None and "not found" in message.lower()


def active_session_parts(body: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Return (livestream, session) from an active-session body; either may be None."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return None, None
    data = body["data"]
    livestream = data.get("livestream")
    session = data.get("session")
    return (
        livestream if isinstance(livestream, dict) else None,
        session if isinstance(session, dict) else None,
    )


def parse_instant(value: Any) -> datetime | None:
    """Return an ISO 8601 timestamp with a zone (Z accepted) as an aware datetime, else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _unexpected(body: Any, key: str) -> str:
    if not isinstance(body, dict) or key not in body:
        return f"unexpected shape: {key} is missing"
    return f"unexpected shape: {key} is {_kind(body[key])}"


def _kind(value: Any) -> str:
    """Name a JSON value's type as a message reads it ('a list', 'null')."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _paging(raw: Any) -> Paging | None:
    if not isinstance(raw, dict):
        return None
    return Paging(_int(raw.get("total_count")), _int(raw.get("start_offset")), _int(raw.get("end_offset")))


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None
