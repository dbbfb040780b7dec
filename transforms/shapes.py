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


def error_detail(body: Any) -> tuple[int | str | None, str | None]:
    """Return (code, message) from the v4 `errors[]` or the RealtimeKit `error{}` envelope."""
    if not isinstance(body, dict):
        return None, None
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
        messages = [str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")]
        return first.get("code"), "; ".join(messages) or None
    error = body.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        return error.get("code"), str(message) if message is not None else None
    if isinstance(error, str):
        return None, error
    message = body.get("message")
    return None, str(message) if message is not None else None


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
