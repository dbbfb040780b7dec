"""Starlette app of the simulated RealtimeKit API: routing, auth, budget, faults, envelopes.

Analytics daywise (GET .../analytics/livestreams/daywise?start_time=&end_time=, Unix seconds) attributes
each session created by the request time to the UTC day of its started_time, or, while it has none (still
INVOKED, or ERRORED before going LIVE), to the UTC day of its invoked_time with 0 figures. An item per UTC
day from the day of start_time to the day of end_time (inclusive) that has sessions, ascending: count is
the number of those sessions, totals the sums of their reported figures at request time, so a settled
day equals the sum of the true final figures. GET /_simulator/daywise is the same aggregation over true
figures for every day.

Faults (knobs in SimulatorConfig; GET /_simulator/faults shows them, POST changes them while running), in
the order a request meets them: a revoked token (401 before anything else), a 429 storm (the budget forced
exhausted for block_seconds), a 5xx burst or outage, a timeout (the answer held back), then, on a 200 only,
one of a truncated transfer, a malformed body or an unexpected shape. GET /_simulator/stats counts each.
"""

from __future__ import annotations

import asyncio
import email.utils
import hmac
import math
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from simulator.config import (
    COUNT_KNOBS,
    RUNTIME_KNOBS,
    SECONDS_KNOBS,
    SHARE_KNOBS,
    WINDOW_KNOBS,
    RouteName,
    ShapeForm,
    SimulatorConfig,
    Window,
)
from simulator.model import App, DayTotals, Figures, Livestream, Session, SimulatorModel

API_PREFIX = "/client/v4"
CONTROL_PREFIX = "/_simulator"
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=UTF-8"
SERVER_ERROR_STATUSES = (500, 502, 503, 504)
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

Json = dict[str, Any]
T = TypeVar("T")
RequestFault = Literal["5xx", "timeout"]
BodyFault = Literal["truncated", "malformed", "shape"]


class ManualClock:
    """Simulated time that moves only when advanced."""

    kind = "manual"

    def __init__(self) -> None:
        """Start at t = 0 (the model origin)."""
        self._t = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the origin."""
        with self._lock:
            return self._t

    def advance(self, seconds: float) -> float:
        """Move time forward and return the new t."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("advance_seconds must be a finite number >= 0")
        with self._lock:
            self._t += seconds
            return self._t


class RealClock:
    """Wall-clock time measured from the model origin."""

    kind = "real"

    def __init__(self, origin_epoch_seconds: float) -> None:
        """Anchor t = 0 at origin_epoch_seconds."""
        self._origin = origin_epoch_seconds

    def now(self) -> float:
        """Seconds since the origin."""
        return time.time() - self._origin


Clock = ManualClock | RealClock


@dataclass(frozen=True)
class Admission:
    """Outcome of one request against the rate-limit budget."""

    allowed: bool
    remaining: int
    reset_seconds: int
    retry_after: int | None = None


def _ceil_seconds(seconds: float) -> int:
    """Whole seconds, rounded up, never below 1."""
    return max(1, math.ceil(seconds - 1e-9))


class Budget:
    """Sliding-window request budget with Cloudflare's block-after-exceeding behaviour."""

    def __init__(self, limit: int, window_seconds: float, block_seconds: float) -> None:
        """limit requests per window_seconds; exceeding blocks everything for block_seconds."""
        self.limit = limit
        self.window = window_seconds
        self.block = block_seconds
        self._accepted: deque[float] = deque()
        self._seen: deque[float] = deque()
        self.blocked_until: float | None = None
        self.max_in_window = 0

    def _purge(self, queue: deque[float], t: float) -> None:
        """Drop entries that left the window (t - window, t]."""
        while queue and queue[0] <= t - self.window:
            queue.popleft()

    def _open(self, t: float) -> Admission:
        """Remaining quota and reset time without a block."""
        self._purge(self._accepted, t)
        reset = self.window if not self._accepted else self._accepted[0] + self.window - t
        return Admission(True, self.limit - len(self._accepted), _ceil_seconds(reset))

    def peek(self, t: float) -> Admission:
        """Current state, consuming nothing."""
        if self.blocked_until is not None and t < self.blocked_until:
            wait = _ceil_seconds(self.blocked_until - t)
            return Admission(False, 0, wait, wait)
        return self._open(t)

    def admit(self, t: float) -> Admission:
        """Count one request at t and decide whether it is served."""
        self._seen.append(t)
        self._purge(self._seen, t)
        self.max_in_window = max(self.max_in_window, len(self._seen))
        if self.blocked_until is not None and t < self.blocked_until:
            wait = _ceil_seconds(self.blocked_until - t)
            return Admission(False, 0, wait, wait)
        self._purge(self._accepted, t)
        if len(self._accepted) >= self.limit:
            self.blocked_until = t + self.block
            wait = _ceil_seconds(self.block)
            return Admission(False, 0, wait, wait)
        self._accepted.append(t)
        return self._open(t)

    def force_block(self, until: float) -> None:
        """Refuse every request until `until`, as if the budget had been exceeded."""
        self.blocked_until = until if self.blocked_until is None else max(self.blocked_until, until)


@dataclass
class Stats:
    """Counters over requests to the API paths."""

    requests_total: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    faults_5xx: int = 0
    faults_malformed: int = 0
    faults_timeout: int = 0
    faults_truncated: int = 0
    faults_shape: int = 0
    shape_forms: Counter[str] = field(default_factory=Counter)
    faults_storm: int = 0
    faults_revoked: int = 0

    def record(self, status: int) -> None:
        """Count one answered API request."""
        self.requests_total += 1
        self.by_status[str(status)] += 1


@dataclass(frozen=True)
class FaultPlan:
    """Faults drawn for one admitted request; the body faults are decided once its status is known."""

    delay_seconds: float
    targeted: bool  # the route is one of config.fault_routes
    request_fault: RequestFault | None
    error_status: int
    error_body: str
    malformed_draw: float
    cut_fraction: float
    truncated_draw: float
    shape_draw: float
    shape_form: ShapeForm


def within(window: Window | None, t: float) -> bool:
    """True when t falls inside the window [start, end)."""
    return window is not None and window[0] <= t < window[1]


class SimulatorState:
    """Everything the app mutates: clock, budget, fault RNG and stats, behind one lock."""

    def __init__(self, config: SimulatorConfig) -> None:
        """Build the model at config.start_at (or now) and the clock it runs on."""
        origin = config.start_at if config.start_at is not None else datetime.now(UTC)
        self.config = config
        self.model = SimulatorModel(config, origin)
        self.clock: Clock = (
            ManualClock() if config.clock == "manual" else RealClock(self.model.origin_ms / 1000.0)
        )
        self.budget = Budget(config.budget_requests, config.budget_window_seconds, config.block_seconds)
        self.stats = Stats()
        self.lock = threading.Lock()
        self._fault_rng = random.Random(f"{config.seed}:faults")
        # A second stream for the later fault kinds, so a seed's sequence of 5xx and malformed is unchanged.
        self._extra_rng = random.Random(f"{config.seed}:faults:extra")
        self._remaining = {name: int(getattr(config, name)) for name in COUNT_KNOBS}
        self._storms_started: set[float] = set()

    def now(self) -> float:
        """Seconds since the model origin on the simulator clock."""
        return self.clock.now()

    def now_iso(self) -> str:
        """The simulator's current time as an ISO timestamp."""
        return self.model.iso_at(self.now())

    def advance(self, seconds: float) -> float:
        """Advance a manual clock; refuses on a real clock."""
        if not isinstance(self.clock, ManualClock):
            raise RuntimeError("the simulator runs on a real clock; only a manual clock can be advanced")
        return self.clock.advance(seconds)

    def _take(self, counter: str) -> bool:
        """Use one of the remaining `*_next` faults of a kind, if any is left."""
        if self._remaining[counter] <= 0:
            return False
        self._remaining[counter] -= 1
        return True

    def draw_faults(self, t: float, route: RouteName) -> FaultPlan:
        """Draw a fixed number of values per request (a reproducible fault sequence); caller holds lock."""
        rng, config = self._fault_rng, self.config
        jitter_draw, error_draw, status_draw, body_draw, malformed_draw, cut_draw = (
            rng.random() for _ in range(6)
        )
        timeout_draw, truncated_draw, shape_draw, form_draw = (self._extra_rng.random() for _ in range(4))
        delay = (config.latency_ms + jitter_draw * config.latency_jitter_ms) / 1000.0
        request_fault: RequestFault | None = None
        targeted = route in config.fault_routes
        if targeted and (
            within(config.outage, t) or self._take("fault_5xx_next") or error_draw < config.fault_5xx
        ):
            request_fault = "5xx"
        elif targeted and (self._take("fault_timeout_next") or timeout_draw < config.fault_timeout):
            request_fault = "timeout"
            delay += config.fault_timeout_seconds
            self.stats.faults_timeout += 1
        return FaultPlan(
            delay_seconds=delay,
            targeted=targeted,
            request_fault=request_fault,
            error_status=SERVER_ERROR_STATUSES[int(status_draw * len(SERVER_ERROR_STATUSES))],
            error_body=("html", "v4", "realtimekit")[int(body_draw * 3)],
            malformed_draw=malformed_draw,
            cut_fraction=cut_draw,
            truncated_draw=truncated_draw,
            shape_draw=shape_draw,
            shape_form=config.shape_forms[int(form_draw * len(config.shape_forms))],
        )

    def body_fault(self, plan: FaultPlan) -> BodyFault | None:
        """The fault of a 200 answer that had no request fault, counted; caller holds the lock."""
        if not plan.targeted:
            return None
        config = self.config
        fault: BodyFault | None = None
        if self._take("fault_truncated_next") or plan.truncated_draw < config.fault_truncated:
            fault = "truncated"
            self.stats.faults_truncated += 1
        elif self._take("fault_malformed_next") or plan.malformed_draw < config.fault_malformed:
            fault = "malformed"
            self.stats.faults_malformed += 1
        elif self._take("fault_shape_next") or plan.shape_draw < config.fault_shape:
            fault = "shape"
            self.stats.faults_shape += 1
            self.stats.shape_forms[plan.shape_form] += 1
        return fault

    def start_storms(self, t: float) -> None:
        """Force the budget exhausted for every storm whose moment has come; caller holds the lock."""
        for moment in self.config.storm_at:
            if moment <= t and moment not in self._storms_started:
                self._storms_started.add(moment)
                until = moment + self.config.block_seconds
                if t < until:
                    self.budget.force_block(until)
                    self.stats.faults_storm += 1

    def set_faults(self, changes: Mapping[str, Any]) -> Json:
        """Change fault knobs (names from RUNTIME_KNOBS, JSON-style values) and return faults_json()."""
        unknown = sorted(set(changes) - set(RUNTIME_KNOBS))
        if unknown:
            raise ValueError(f"unknown fault knobs {unknown}; expected some of {list(RUNTIME_KNOBS)}")
        with self.lock:
            t = self.now()
            values = {name: _knob_value(name, raw, t, self.config) for name, raw in changes.items()}
            self.config = replace(self.config, **values)
            for name in COUNT_KNOBS:
                if name in values:
                    self._remaining[name] = int(values[name])
            return self.faults_json()

    def faults_json(self) -> Json:
        """Knobs as served by GET /_simulator/faults (`*_next`: what is left); caller holds the lock."""
        config, t = self.config, self.now()
        knobs: Json = {name: getattr(config, name) for name in (*SHARE_KNOBS, *SECONDS_KNOBS)}
        knobs |= dict(self._remaining)
        for name in WINDOW_KNOBS:
            window: Window | None = getattr(config, name)
            knobs[name] = (
                None if window is None else [window[0], None if math.isinf(window[1]) else window[1]]
            )
        blocked = self.budget.blocked_until
        return knobs | {
            "shape_forms": list(config.shape_forms),
            "fault_routes": list(config.fault_routes),
            "storm_at": list(config.storm_at),
            "block_seconds": config.block_seconds,
            "now": self.model.iso_at(t),
            "t": t,
            "blocked_until": blocked if blocked is not None and blocked > t else None,
        }

    def stats_json(self) -> Json:
        """Stats as served by /_simulator/stats."""
        return {
            "requests_total": self.stats.requests_total,
            "by_status": dict(sorted(self.stats.by_status.items())),
            "rate_limited": self.stats.rate_limited,
            "max_in_window": self.budget.max_in_window,
            "faults_5xx": self.stats.faults_5xx,
            "faults_malformed": self.stats.faults_malformed,
            "faults_timeout": self.stats.faults_timeout,
            "faults_truncated": self.stats.faults_truncated,
            "faults_shape": self.stats.faults_shape,
            "faults_shape_forms": dict(sorted(self.stats.shape_forms.items())),
            "faults_storm": self.stats.faults_storm,
            "faults_revoked": self.stats.faults_revoked,
        }


def _number(name: str, raw: Any) -> float:
    """A JSON number (not a boolean) as a float."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"{name} must be a number, got {raw!r}")
    return float(raw)


def _knob_value(name: str, raw: Any, t: float, config: SimulatorConfig) -> Any:
    """A fault knob from its JSON form; windows and storms take `true` for 'from now on' / 'now'."""
    if name in SHARE_KNOBS or name in SECONDS_KNOBS:
        return _number(name, raw)
    if name in COUNT_KNOBS:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"{name} must be an integer, got {raw!r}")
        return raw
    if name in WINDOW_KNOBS:
        if raw is True:
            return (t, math.inf)
        if raw is None or raw is False:
            return None
        if not isinstance(raw, list | tuple) or len(raw) != 2:
            raise ValueError(f"{name} must be true, false, null or [start, end|null], got {raw!r}")
        return (_number(name, raw[0]), math.inf if raw[1] is None else _number(name, raw[1]))
    if name == "storm_at":
        if raw is True:
            return (*config.storm_at, t)
        if not isinstance(raw, list | tuple):
            raise ValueError(f"storm_at must be true or a list of moments, got {raw!r}")
        return tuple(_number(name, moment) for moment in raw)
    if not isinstance(raw, list | tuple) or not all(isinstance(item, str) for item in raw):
        raise ValueError(f"{name} must be a list of names, got {raw!r}")
    return tuple(raw)


def v4_error(code: int, message: str) -> Json:
    """Cloudflare v4 error envelope, as the API gateway writes it."""
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


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


class _CutTransfer(Response):
    """A response whose transfer stops halfway: Content-Length promises the whole body, then it closes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the headers and half the body, then return: the server closes the connection mid-body."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send(
            {"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True}
        )


class _BadRequest(Exception):
    """A query parameter the API would reject with 400."""


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
    return {
        "id": livestream.id,
        "name": livestream.name,
        "meeting_id": livestream.meeting_id,
        "status": model.livestream_status(livestream, t),
        "disabled": disabled,
        "ingest_server": livestream.ingest_server,
        "playback_url": livestream.playback_url,
        "stream_key": livestream.stream_key,
        "created_at": model.iso(livestream.created_ms),
        "updated_at": model.iso(model.livestream_updated_ms(livestream, t)),
    }


def _optional_iso(model: SimulatorModel, offset_ms: int | None, t: float) -> str | None:
    """ISO timestamp of an event that has happened by t, else None."""
    if offset_ms is None or offset_ms > t * 1000.0:
        return None
    return model.iso(offset_ms)


def session_times_json(model: SimulatorModel, session: Session, t: float) -> Json:
    """Identity and timestamps of a session as known at t."""
    return {
        "id": session.id,
        "livestream_id": session.livestream_id,
        "created_at": model.iso(session.invoked_ms),
        "invoked_time": model.iso(session.invoked_ms),
        "started_time": _optional_iso(model, session.started_ms, t),
        "stopped_time": _optional_iso(model, session.stopped_ms, t),
        "updated_at": model.iso(session.updated_ms(t)),
        "err_message": session.err_message if session.phase(t) == "STOPPED" else None,
    }


def figure_numbers(figures: Figures) -> tuple[int, int | float]:
    """(ingest_seconds, viewer_seconds) as JSON numbers, as session by id and details send them."""
    viewer = int(figures.viewer_seconds) if figures.placeholder else float(figures.viewer_seconds)
    return figures.ingest_seconds, viewer


def session_json(model: SimulatorModel, session: Session, t: float, as_strings: bool) -> Json:
    """Session object with reported figures: strings (active endpoint) or numbers (by id, details)."""
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


def daywise_item(totals: DayTotals, form: str) -> Json:
    """One daywise item with figures as numbers (ingest int, viewer float)."""
    return {
        "date": daywise_date(totals.day, form),
        "count": totals.count,
        "total_ingest_seconds": totals.ingest_seconds,
        "total_viewer_seconds": float(totals.viewer_seconds),
    }


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    """A non-negative integer query parameter."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f'BAD_REQUEST: "{name}" must be a number') from None
    if value < 0:
        raise _BadRequest(f'BAD_REQUEST: "{name}" must be greater than or equal to 0')
    return value


def _unix_seconds_param(query: Mapping[str, str], name: str) -> float:
    """A required Unix-seconds query parameter (integer or fractional)."""
    raw = query.get(name)
    if raw is None or raw.strip() == "":
        raise _BadRequest(f'BAD_REQUEST: "{name}" is required')
    try:
        value = float(raw)
    except ValueError:
        raise _BadRequest(f'BAD_REQUEST: "{name}" must be a number') from None
    if not math.isfinite(value) or not -62_135_596_800 <= value <= 253_402_300_799:
        raise _BadRequest(f'BAD_REQUEST: "{name}" must be a valid Unix time in seconds')
    return value


def _paging(config: SimulatorConfig, query: Mapping[str, str]) -> tuple[int, int]:
    """(page_no, per_page): 1-based pages, 0 read as 1; per_page defaulted and capped."""
    page_no = max(1, _int_param(query, "page_no", 1))
    per_page = _int_param(query, "per_page", config.default_per_page) or config.default_per_page
    return page_no, min(per_page, config.max_per_page)


def _page(items: Sequence[T], page_no: int, per_page: int) -> tuple[Sequence[T], Json]:
    """One page of items and its paging block with 1-based inclusive offsets."""
    offset = (page_no - 1) * per_page
    rows = items[offset : offset + per_page]
    paging = {"total_count": len(items), "start_offset": offset + 1, "end_offset": offset + len(rows)}
    return rows, paging


Handler = Callable[[SimulatorState, float, dict[str, str], Mapping[str, str]], tuple[int, Json]]


def _app_or_error(state: SimulatorState, app_id: str) -> App | tuple[int, Json]:
    """The app, or the 404 RealtimeKit answer for an unknown one."""
    app = state.model.app(app_id)
    if app is None:
        return 404, realtimekit_error(404, f"No app found for app_id {app_id}")
    return app


def _list_apps(
    state: SimulatorState, t: float, params: dict[str, str], query: Mapping[str, str]
) -> tuple[int, Json]:
    """GET /accounts/{a}/realtime/kit/apps."""
    page_no, per_page = _paging(state.config, query)
    model = state.model
    rows, paging = _page(model.apps, page_no, per_page)
    data = [{"id": app.id, "created_at": model.iso(app.created_ms), "name": app.name} for app in rows]
    return 200, {"success": True, "data": data, "paging": paging}


def _list_livestreams(
    state: SimulatorState, t: float, params: dict[str, str], query: Mapping[str, str]
) -> tuple[int, Json]:
    """GET .../{app}/livestreams in the array or the object shape."""
    found = _app_or_error(state, params["app"])
    if not isinstance(found, App):
        return found
    page_no, per_page = _paging(state.config, query)
    model = state.model
    livestreams = list(model.livestreams_by_creation(found.id))
    if query.get("sort_order", "").upper() == "DSC":
        livestreams.reverse()
    if query.get("exclude_meetings", "").lower() == "true":
        livestreams = [ls for ls in livestreams if ls.meeting_id is None]
    status = query.get("status")
    if status:
        livestreams = [ls for ls in livestreams if model.livestream_status(ls, t) == status.upper()]
    rows, paging = _page(livestreams, page_no, per_page)
    data = [livestream_json(model, ls, t) for ls in rows]
    shape = state.config.list_shape
    if shape == "mixed":
        # Alternating by page keeps a retried page in the same shape while every walk sees both.
        shape = "array" if page_no % 2 == 1 else "object"
    if shape == "array":
        return 200, {"success": True, "data": data, "paging": paging}
    return 200, {"success": True, "data": {"livestreams": data, "paging": paging}}


def _livestream_or_error(state: SimulatorState, params: dict[str, str]) -> Livestream | tuple[int, Json]:
    """The livestream of the path, or the RealtimeKit 404 for an unknown app or id."""
    found = _app_or_error(state, params["app"])
    if not isinstance(found, App):
        return found
    livestream = state.model.livestream(params["livestream"])
    if livestream is None or livestream.app_id != found.id:
        return 404, realtimekit_error(404, f"No livestream found for livestream_id {params['livestream']}")
    return livestream


def _livestream_details(
    state: SimulatorState, t: float, params: dict[str, str], query: Mapping[str, str]
) -> tuple[int, Json]:
    """GET .../livestreams/{id}: the livestream and its sessions so far, newest first."""
    found = _livestream_or_error(state, params)
    if not isinstance(found, Livestream):
        return found
    page_no, per_page = _paging(state.config, query)
    model = state.model
    sessions = list(reversed(model.sessions_created(found, t)))
    rows, paging = _page(sessions, page_no, per_page)
    data: Json = {
        "livestream": livestream_json(model, found, t),
        "sessions": [session_json(model, s, t, as_strings=False) for s in rows],
    }
    shape = state.config.details_shape
    if shape == "mixed":
        # Like the list: by page, so a retried page keeps its shape while every walk sees both.
        shape = "top" if page_no % 2 == 1 else "inner"
    if shape == "inner":
        data["paging"] = paging
        return 200, {"success": True, "data": data}
    return 200, {"success": True, "data": data, "paging": paging}


def _analytics_daywise(
    state: SimulatorState, t: float, params: dict[str, str], query: Mapping[str, str]
) -> tuple[int, Json]:
    """GET .../analytics/livestreams/daywise: reported totals per UTC day (attribution: module docstring)."""
    found = _app_or_error(state, params["app"])
    if not isinstance(found, App):
        return found
    start = _unix_seconds_param(query, "start_time")
    end = _unix_seconds_param(query, "end_time")
    first_day = datetime.fromtimestamp(start, UTC).date()
    last_day = datetime.fromtimestamp(end, UTC).date()
    form = state.config.daywise_date_form
    days = state.model.daywise(found.id, t, reported=True)
    data = [daywise_item(totals, form) for totals in days if first_day <= totals.day <= last_day]
    return 200, {"success": True, "data": data}


def _active_session(
    state: SimulatorState, t: float, params: dict[str, str], query: Mapping[str, str]
) -> tuple[int, Json]:
    """GET .../livestreams/{id}/active-livestream-session, with every plausible 'nothing active' form."""
    found = _livestream_or_error(state, params)
    if not isinstance(found, Livestream):
        return found
    model = state.model
    session = model.active_session(found, t)
    if session is not None:
        data = {
            "livestream": livestream_json(model, found, t),
            "session": session_json(model, session, t, True),
        }
        return 200, {"success": True, "data": data}
    message = f"No active livestream session found for livestream_id {found.id}"
    if found.inactive_form == "404":
        return 404, realtimekit_error(404, message)
    if found.inactive_form == "success_false":
        return 200, realtimekit_error(404, message)
    if found.inactive_form == "null_session":
        return 200, {
            "success": True,
            "data": {"livestream": livestream_json(model, found, t), "session": None},
        }
    return 200, ({"success": True} if found.no_data_omits_key else {"success": True, "data": None})


def _session_by_id(
    state: SimulatorState, t: float, params: dict[str, str], query: Mapping[str, str]
) -> tuple[int, Json]:
    """GET .../livestreams/sessions/{session_id}, figures as numbers."""
    found = _app_or_error(state, params["app"])
    if not isinstance(found, App):
        return found
    session = state.model.session(params["session"], t)
    if session is None or session.app_id != found.id:
        return 404, realtimekit_error(404, f"No livestream session found for id {params['session']}")
    return 200, {"success": True, "data": session_json(state.model, session, t, as_strings=False)}


_SEGMENT = r"[^/]+"
_KIT = rf"/accounts/(?P<account>{_SEGMENT})/realtime/kit"
_ROUTES: tuple[tuple[RouteName, re.Pattern[str], Handler], ...] = (
    ("list_apps", re.compile(rf"^{_KIT}/apps/?$"), _list_apps),
    (
        "analytics_daywise",
        re.compile(rf"^{_KIT}/(?P<app>{_SEGMENT})/analytics/livestreams/daywise/?$"),
        _analytics_daywise,
    ),
    ("list_livestreams", re.compile(rf"^{_KIT}/(?P<app>{_SEGMENT})/livestreams/?$"), _list_livestreams),
    (
        "session_by_id",
        re.compile(rf"^{_KIT}/(?P<app>{_SEGMENT})/livestreams/sessions/(?P<session>{_SEGMENT})/?$"),
        _session_by_id,
    ),
    (
        "active_session",
        re.compile(
            rf"^{_KIT}/(?P<app>{_SEGMENT})/livestreams/(?P<livestream>{_SEGMENT})/active-livestream-session/?$"
        ),
        _active_session,
    ),
    (
        "livestream_details",
        re.compile(rf"^{_KIT}/(?P<app>{_SEGMENT})/livestreams/(?P<livestream>{_SEGMENT})/?$"),
        _livestream_details,
    ),
)


def _match(path: str) -> tuple[RouteName, Handler, dict[str, str]] | None:
    """The route name, handler and path parameters for an API path."""
    for name, pattern, handler in _ROUTES:
        matched = pattern.match(path)
        if matched:
            return name, handler, matched.groupdict()
    return None


def _date_header(state: SimulatorState, t: float) -> dict[str, str]:
    """The HTTP Date header on the simulator's clock (a manual clock's date, not the machine's)."""
    return {"Date": email.utils.formatdate(state.model.origin_ms / 1000.0 + t, usegmt=True)}


def _ratelimit_headers(config: SimulatorConfig, admission: Admission) -> dict[str, str]:
    """Cloudflare's IETF-draft rate-limit headers, plus Retry-After when refused."""
    window = config.budget_window_seconds
    window_text = str(int(window)) if float(window).is_integer() else str(window)
    headers = {
        "Ratelimit": f'"default";r={admission.remaining};t={admission.reset_seconds}',
        "Ratelimit-Policy": f'"burst";q={config.budget_requests};w={window_text}',
    }
    if admission.retry_after is not None:
        headers["Retry-After"] = str(admission.retry_after)
    return headers


def _json_response(status: int, body: Json, headers: Mapping[str, str]) -> Response:
    """A JSON response with the given headers."""
    return Response(orjson.dumps(body), status_code=status, headers=dict(headers), media_type=JSON_TYPE)


def _authenticate(config: SimulatorConfig, request: Request) -> tuple[int, Json] | None:
    """The 401/403 answer for a missing, non-Bearer or wrong token; None when the token is good."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        return 401, v4_error(10001, "Unable to authenticate request")
    if not hmac.compare_digest(credentials.encode(), config.token.encode()):
        return 403, v4_error(10000, "Authentication error")
    return None


def _server_error_response(plan: FaultPlan, headers: Mapping[str, str]) -> Response:
    """An injected 5xx with an HTML page, a v4 envelope or a RealtimeKit envelope."""
    status = plan.error_status
    reason = _REASONS[status]
    if plan.error_body == "html":
        page = (
            f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return Response(page.encode(), status_code=status, headers=dict(headers), media_type=HTML_TYPE)
    if plan.error_body == "v4":
        return _json_response(status, v4_error(10002, f"{reason}: please try again later"), headers)
    return _json_response(status, realtimekit_error(status, reason), headers)


async def _api(request: Request) -> Response:
    """Every /client/v4 request: auth, budget, routing, faults, then the endpoint itself."""
    state: SimulatorState = request.app.state.simulator
    path = "/" + str(request.path_params["path"])
    with state.lock:
        config = state.config
        t = state.now()
        denied = _authenticate(config, request)
        if within(config.revoked, t):
            state.stats.faults_revoked += 1
            denied = 401, v4_error(10001, "Unable to authenticate request")
        if denied is not None:
            state.stats.record(denied[0])
            return _json_response(
                *denied, _ratelimit_headers(config, state.budget.peek(t)) | _date_header(state, t)
            )
        state.start_storms(t)
        admission = state.budget.admit(t)
        headers = _ratelimit_headers(config, admission) | _date_header(state, t)
        if not admission.allowed:
            state.stats.record(429)
            state.stats.rate_limited += 1
            return _json_response(
                429, v4_error(971, "Please wait and consider throttling your request speed"), headers
            )
        routed = _match(path)
        if routed is None:
            state.stats.record(404)
            return _json_response(404, v4_error(7003, "No route for the URI"), headers)
        route, handler, params = routed
        if params["account"] != config.account_id:
            state.stats.record(403)
            return _json_response(403, v4_error(10000, "Authentication error"), headers)
        if request.method != "GET":
            state.stats.record(405)
            return _json_response(405, v4_error(7001, "Method not allowed for this route"), headers)
        plan = state.draw_faults(t, route)
    if plan.delay_seconds > 0:
        await asyncio.sleep(plan.delay_seconds)
    with state.lock:
        if plan.request_fault == "5xx":
            state.stats.faults_5xx += 1
            state.stats.record(plan.error_status)
            return _server_error_response(plan, headers)
        t = state.now()
        try:
            status, body = handler(state, t, params, request.query_params)
        except _BadRequest as error:
            status, body = 400, realtimekit_error(400, str(error))
        fault = state.body_fault(plan) if status == 200 and plan.request_fault is None else None
        content = orjson.dumps(reshape(body, plan.shape_form) if fault == "shape" else body)
        if fault == "malformed":
            # A proper prefix of a JSON object is never valid JSON.
            content = content[: int(len(content) * plan.cut_fraction)]
        state.stats.record(status)
    response_type = _CutTransfer if fault == "truncated" else Response
    return response_type(content, status_code=status, headers=headers, media_type=JSON_TYPE)


def _control_json(body: Json, status: int = 200) -> Response:
    """A JSON response from a control endpoint."""
    return Response(orjson.dumps(body), status_code=status, media_type=JSON_TYPE)


async def _truth_sessions(request: Request) -> Response:
    """GET /_simulator/sessions: every session created so far with true figures."""
    state: SimulatorState = request.app.state.simulator
    app_id = request.query_params.get("app_id")
    livestream_id = request.query_params.get("livestream_id")
    with state.lock:
        t = state.now()
        model = state.model
        sessions = [
            truth_session_json(model, session, t)
            for session in model.all_sessions(t)
            if (app_id is None or session.app_id == app_id)
            and (livestream_id is None or session.livestream_id == livestream_id)
        ]
        return _control_json({"now": model.iso_at(t), "sessions": sessions})


async def _truth_daywise(request: Request) -> Response:
    """GET /_simulator/daywise?app_id=: daywise over true figures for every day, with a settled flag."""
    state: SimulatorState = request.app.state.simulator
    app_id = request.query_params.get("app_id")
    if app_id is None:
        if len(state.config.app_ids) != 1:
            return _control_json({"error": "app_id is required when there are several apps"}, 400)
        app_id = state.config.app_ids[0]
    with state.lock:
        t = state.now()
        model = state.model
        if model.app(app_id) is None:
            return _control_json({"error": f"no app {app_id}"}, 404)
        days = [
            daywise_item(totals, "date") | {"settled": totals.settled}
            for totals in model.daywise(app_id, t, reported=False)
        ]
        return _control_json({"now": model.iso_at(t), "app_id": app_id, "data": days})


async def _truth_livestreams(request: Request) -> Response:
    """GET /_simulator/livestreams: every livestream, stream_key included."""
    state: SimulatorState = request.app.state.simulator
    with state.lock:
        t = state.now()
        model = state.model
        livestreams = []
        for livestream in model.livestreams:
            body = livestream_json(model, livestream, t)
            body.update(
                app_id=livestream.app_id, disabled=livestream.disabled, inactive_form=livestream.inactive_form
            )
            livestreams.append(body)
        return _control_json({"now": model.iso_at(t), "livestreams": livestreams})


async def _stats(request: Request) -> Response:
    """GET /_simulator/stats."""
    state: SimulatorState = request.app.state.simulator
    with state.lock:
        return _control_json(state.stats_json())


async def _faults(request: Request) -> Response:
    """GET the fault knobs, or POST a JSON object setting some of them (see SimulatorConfig)."""
    state: SimulatorState = request.app.state.simulator
    if request.method == "GET":
        with state.lock:
            return _control_json(state.faults_json())
    try:
        changes = orjson.loads(await request.body())
        if not isinstance(changes, dict):
            raise ValueError("expected a JSON object of fault knobs")
        return _control_json(state.set_faults(changes))
    except (orjson.JSONDecodeError, ValueError, TypeError) as error:
        return _control_json({"error": str(error)}, 400)


async def _clock(request: Request) -> Response:
    """GET the simulator time, or POST {"advance_seconds": x} to move a manual clock."""
    state: SimulatorState = request.app.state.simulator
    if request.method == "POST":
        if not isinstance(state.clock, ManualClock):
            return _control_json({"error": "the simulator runs on a real clock"}, 409)
        try:
            payload = orjson.loads(await request.body())
            seconds = payload["advance_seconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise TypeError("advance_seconds must be a number")
            state.advance(float(seconds))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            return _control_json({"error": f"expected {{'advance_seconds': number >= 0}}: {error}"}, 400)
    return _control_json({"now": state.now_iso(), "clock": state.clock.kind})


def build_app(state: SimulatorState) -> Starlette:
    """The Starlette app serving state."""
    every_method = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(
        routes=[
            Route(f"{API_PREFIX}/{{path:path}}", _api, methods=every_method),
            Route(f"{CONTROL_PREFIX}/sessions", _truth_sessions, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/livestreams", _truth_livestreams, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/daywise", _truth_daywise, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/stats", _stats, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/faults", _faults, methods=["GET", "POST"]),
            Route(f"{CONTROL_PREFIX}/clock", _clock, methods=["GET", "POST"]),
        ]
    )
    app.state.simulator = state
    return app


def create_app(config: SimulatorConfig) -> Starlette:
    """A fresh simulator app for config; its state is at app.state.simulator."""
    return build_app(SimulatorState(config))
