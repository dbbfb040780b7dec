"""The JSON bodies the simulated API answers with: envelopes, errors, livestreams, sessions, analytics."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any

import orjson

from simulator.config import (
    AnalyticsRounding,
    ShapeForm,
    SimulatorConfig,
)
from simulator.model import DayTotals, Figures, Livestream, Session, SimulatorModel, Totals
from simulator.state import (
    Json,
)


def v4_error(code: int, message: str) -> Json:
    """Cloudflare v4 error envelope, as the API gateway writes it."""
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


def auth_header_error() -> Json:
    """The gateway's 400 for a malformed Authorization header: 6003, its cause chained as 6111."""
    return {
        "success": False,
        "errors": [
            {
                "code": 6003,
                "message": "Invalid request headers",
                "error_chain": [{"code": 6111, "message": "Invalid format for Authorization header"}],
            }
        ],
        "messages": [],
        "result": None,
    }


# The only 401 body documented under /realtime/kit (the webhook operations), besides the gateway's v4 one.
UNAUTHORIZED_MESSAGE: Json = {"message": "Unauthorized"}


def realtimekit_error(status: int, message: str) -> Json:
    """RealtimeKit (Dyte) error envelope."""
    return {"success": False, "error": {"code": status, "message": message}}


EXTRA_FIELDS: Json = {"x_sim_extra": {"nested": [1, "two", None]}, "x_sim_flag": True}


def _with_extras(value: Any) -> Any:
    """value with unknown fields added to every object in it."""
    if isinstance(value, dict):
        return {key: _with_extras(item) for key, item in value.items()} | EXTRA_FIELDS
    if isinstance(value, list):
        return [_with_extras(item) for item in value]
    return value


def _nulled(value: Any) -> Any:
    """value with every field of every object in it null (paging blocks kept, so lists still page)."""
    if isinstance(value, dict):
        return {key: item if key == "paging" else _nulled(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nulled(item) for item in value]
    return None


def reshape(body: Json, form: ShapeForm) -> Json:
    """A 200 body in an unexpected shape (SimulatorConfig.fault_shape)."""
    data = body.get("data")
    rest = {key: value for key, value in body.items() if key != "data"}
    if form == "missing_data":
        return rest
    if form == "data_list":
        return rest | {"data": [data]}
    if form == "data_string":
        return rest | {"data": orjson.dumps(data).decode()}
    if form == "extra_fields":
        # The v4 envelope's fields on top, and unknown fields in every object below.
        extended: Json = _with_extras(body)
        return extended | {"errors": [], "messages": [], "result": None}
    return rest | {"data": _nulled(data)}


def figure_text(value: float, placeholder: bool = False) -> str:
    """A figure as the active-session endpoint writes it: integral values without a decimal point."""
    if placeholder or float(value).is_integer():
        return str(int(value))
    # Shortest round-trip digits, but positional like JavaScript's String() for tiny values (no 1e-05).
    return format(Decimal(repr(float(value))), "f")


def livestream_json(model: SimulatorModel, livestream: Livestream, t: float) -> Json:
    """Livestream object as the API serves it (stream_key included, as the real API does)."""
    disabled: bool | str = livestream.disabled
    if livestream.disabled_as_string:
        disabled = "true" if livestream.disabled else "false"
    key, copies = livestream.stream_key, model.config.stream_key_copies
    body: Json = {
        "id": livestream.id,
        "name": f"{livestream.name or 'stream'} ({key})" if "name" in copies else livestream.name,
        "meeting_id": livestream.meeting_id,
        "status": model.livestream_status(livestream, t),
        "disabled": disabled,
        "ingest_server": f"{livestream.ingest_server}{key}"
        if "ingest_server" in copies
        else livestream.ingest_server,
        "playback_url": f"{livestream.playback_url}?key={key}"
        if "playback_url" in copies
        else livestream.playback_url,
        model.config.stream_key_field: key,
        "created_at": model.iso(livestream.created_ms),
        "updated_at": model.iso(model.livestream_updated_ms(livestream, t)),
    }
    if "nested" in copies:
        body["x_publish"] = {"targets": [{"protocol": "rtmps", "credentials": key}]}
    return body


def _optional_iso(model: SimulatorModel, offset_ms: int | None, t: float) -> str | None:
    """ISO timestamp of an event that has happened by t, else None."""
    if offset_ms is None or offset_ms > t * 1000.0:
        return None
    return model.iso(offset_ms)


def session_times_json(model: SimulatorModel, session: Session, t: float) -> Json:
    """Identity and timestamps of a session as known at t."""
    err_message = session.err_message if session.phase(t) == "STOPPED" else None
    if "err_message" in model.config.stream_key_copies and session.phase(t) == "STOPPED":
        livestream = model.livestream(session.livestream_id)
        key = livestream.stream_key if livestream is not None else ""
        err_message = f"{err_message or 'ingest stopped'} (stream key {key})"
    return {
        "id": session.id,
        "livestream_id": session.livestream_id,
        "created_at": model.iso(session.created_ms if session.created_ms is not None else session.invoked_ms),
        # Null in every published example, also for sessions that were invoked first.
        "invoked_time": None,
        "started_time": _optional_iso(model, session.started_ms, t),
        "stopped_time": _optional_iso(model, session.stopped_ms, t),
        "updated_at": model.iso(session.updated_ms(t)),
        "err_message": err_message,
    }


def figure_numbers(figures: Figures) -> tuple[int, int | float]:
    """(ingest_seconds, viewer_seconds) as JSON numbers, as session by id and details send them."""
    viewer = int(figures.viewer_seconds) if figures.placeholder else float(figures.viewer_seconds)
    return figures.ingest_seconds, viewer


def figures_as_strings(config: SimulatorConfig, livestream: Livestream) -> bool:
    """Whether the active session of a livestream sends its figures as strings (active_figures)."""
    if config.active_figures == "mixed":
        return livestream.position % 2 == 1
    return config.active_figures == "string"


def session_json(model: SimulatorModel, session: Session, t: float, as_strings: bool) -> Json:
    """Session object with reported figures: strings or numbers (active endpoint), numbers elsewhere."""
    figures = model.reported_figures(session, t)
    body = session_times_json(model, session, t)
    if as_strings:
        body["ingest_seconds"] = figure_text(figures.ingest_seconds, figures.placeholder)
        body["viewer_seconds"] = figure_text(figures.viewer_seconds, figures.placeholder)
    else:
        body["ingest_seconds"], body["viewer_seconds"] = figure_numbers(figures)
    return body


def truth_session_json(model: SimulatorModel, session: Session, t: float) -> Json:
    """Ground truth for one session: true figures, final status, and what session by id reports now."""
    figures = session.true_figures(t)
    reported_ingest, reported_viewer = figure_numbers(model.reported_figures(session, t))
    body = session_times_json(model, session, t)
    body.update(
        app_id=session.app_id,
        status=session.status(t),
        ingest_seconds=figures.ingest_seconds,
        viewer_seconds=figures.viewer_seconds,
        is_final=session.phase(t) == "STOPPED",
        reported_ingest_seconds=reported_ingest,
        reported_viewer_seconds=reported_viewer,
        settled=model.settled(session, t),
    )
    return body


def daywise_date(day: date, form: str) -> str:
    """A daywise item's date: plain ("2026-11-01"), ISO midnight, or alternating by day when mixed."""
    if form == "mixed":
        # By the day itself, so one day keeps its form across requests while every range sees both.
        form = "date" if day.toordinal() % 2 == 0 else "iso"
    return day.isoformat() if form == "date" else f"{day.isoformat()}T00:00:00.000Z"


def rounded_seconds(exact: float, floored: int, rounding: AnalyticsRounding) -> int:
    """An analytics total as an integer: floor or round half up of the exact sum, or the sum of floors."""
    if rounding == "sum_of_floors":
        return floored
    return math.floor(exact + 0.5) if rounding == "round" else math.floor(exact)


def analytics_totals(totals: Totals, rounding: AnalyticsRounding | None) -> Json:
    """count and the two totals, as integers rounded as the API rounds them, or exact (None: the truth)."""
    if rounding is None:
        ingest: float = totals.ingest_seconds
        viewer: float = float(totals.viewer_seconds)
    else:
        ingest = rounded_seconds(totals.ingest_seconds, totals.ingest_seconds_floored, rounding)
        viewer = rounded_seconds(totals.viewer_seconds, totals.viewer_seconds_floored, rounding)
    return {"count": totals.count, "total_ingest_seconds": ingest, "total_viewer_seconds": viewer}


def daywise_item(totals: DayTotals, form: str, rounding: AnalyticsRounding | None) -> Json:
    """One daywise item: integer totals as the API sends them, or exact ones (rounding None: the truth)."""
    return {"date": daywise_date(totals.day, form)} | analytics_totals(totals, rounding)
