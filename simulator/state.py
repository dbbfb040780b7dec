"""The simulator's running state: its clock, request budget, statistics and fault plan."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

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
from simulator.model import SimulatorModel

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
