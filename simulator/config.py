"""Configuration of the RealtimeKit livestream API simulator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ClockKind = Literal["real", "manual"]
InactiveForm = Literal["mixed", "404", "null_session", "no_data", "success_false"]
DaywiseDateForm = Literal["mixed", "date", "iso"]
SessionsOrder = Literal["newest_first", "oldest_first"]
AnalyticsRounding = Literal["floor", "round", "sum_of_floors"]
DetailsShape = Literal["mixed", "top", "inner", "session"]
ActiveFigures = Literal["mixed", "number", "string"]
UnauthorizedForm = Literal["mixed", "v4", "message"]
RouteName = Literal[
    "list_apps",
    "analytics_daywise",
    "analytics_overall",
    "list_livestreams",
    "session_by_id",
    "active_session",
    "livestream_details",
]
ShapeForm = Literal["missing_data", "data_list", "data_string", "extra_fields", "nulls"]
# Where a hostile API copies each livestream's stream key besides its own field.
KeyCopy = Literal["playback_url", "ingest_server", "name", "err_message", "nested"]
# [start, end) in seconds after the model origin on the simulator clock; end may be math.inf.
Window = tuple[float, float]

CLOCK_KINDS: tuple[ClockKind, ...] = ("real", "manual")
INACTIVE_FORMS: tuple[InactiveForm, ...] = ("mixed", "404", "null_session", "no_data", "success_false")
DAYWISE_DATE_FORMS: tuple[DaywiseDateForm, ...] = ("mixed", "date", "iso")
ANALYTICS_ROUNDINGS: tuple[AnalyticsRounding, ...] = ("floor", "round", "sum_of_floors")
DETAILS_SHAPES: tuple[DetailsShape, ...] = ("mixed", "top", "inner", "session")
ACTIVE_FIGURES: tuple[ActiveFigures, ...] = ("mixed", "number", "string")
UNAUTHORIZED_FORMS: tuple[UnauthorizedForm, ...] = ("mixed", "v4", "message")
SHAPE_FORMS: tuple[ShapeForm, ...] = ("missing_data", "data_list", "data_string", "extra_fields", "nulls")
KEY_COPIES: tuple[KeyCopy, ...] = ("playback_url", "ingest_server", "name", "err_message", "nested")
ROUTE_NAMES: tuple[RouteName, ...] = (
    "list_apps",
    "analytics_daywise",
    "analytics_overall",
    "list_livestreams",
    "session_by_id",
    "active_session",
    "livestream_details",
)

# The fault knobs, by type; POST /_simulator/faults may change any of RUNTIME_KNOBS while the simulator runs.
SHARE_KNOBS = ("fault_5xx", "fault_timeout", "fault_truncated", "fault_malformed", "fault_shape")
COUNT_KNOBS = (
    "fault_5xx_next",
    "fault_timeout_next",
    "fault_truncated_next",
    "fault_malformed_next",
    "fault_shape_next",
)
SECONDS_KNOBS = ("fault_timeout_seconds", "latency_ms", "latency_jitter_ms")
WINDOW_KNOBS = ("outage", "revoked")
RUNTIME_KNOBS = (
    *SHARE_KNOBS,
    *COUNT_KNOBS,
    *SECONDS_KNOBS,
    *WINDOW_KNOBS,
    "shape_forms",
    "fault_routes",
    "storm_at",
)


@dataclass(frozen=True)
class SimulatorConfig:
    """Every knob of the simulator; the defaults mimic a small, healthy account."""

    seed: int = 7
    account_id: str = "sim-account"
    app_ids: tuple[str, ...] = ("sim-app",)
    token: str = "sim-token"
    livestreams: int = 20
    budget_requests: int = 1200
    budget_window_seconds: float = 300.0
    block_seconds: float = 300.0
    # Share of admitted requests answered 500/502/503/504 (HTML, v4 or RealtimeKit body).
    fault_5xx: float = 0.0
    # Share of 200 answers whose complete body is a proper prefix of the JSON (malformed JSON).
    fault_malformed: float = 0.0
    # A 5xx burst: the next N admitted requests answer 5xx (counts down).
    fault_5xx_next: int = 0
    # An outage: every admitted request within this window answers 5xx.
    outage: Window | None = None
    # Share, or next N, of admitted requests whose answer is held fault_timeout_seconds (real seconds, even
    # on a manual clock) before it is sent: a timeout for a client that waits less, a slow answer otherwise.
    fault_timeout: float = 0.0
    fault_timeout_next: int = 0
    fault_timeout_seconds: float = 5.0
    # Share, or next N, of 200 answers whose transfer stops halfway: Content-Length promises the whole body,
    # then the connection closes (truncated JSON).
    fault_truncated: float = 0.0
    fault_truncated_next: int = 0
    # Next N 200 answers that are malformed as fault_malformed makes them.
    fault_malformed_next: int = 0
    # Share, or next N, of 200 answers in an unexpected shape, drawn from shape_forms: no `data`, `data` in
    # a list, `data` as a JSON string, unknown extra fields, or every field of every record null.
    fault_shape: float = 0.0
    fault_shape_next: int = 0
    shape_forms: tuple[ShapeForm, ...] = SHAPE_FORMS
    # The endpoints the faults above (5xx to shape) may hit; the others always answer cleanly.
    fault_routes: tuple[RouteName, ...] = ROUTE_NAMES
    # 429 storms: at each of these moments the budget counts as exhausted and every request is refused
    # with 429 and Retry-After until block_seconds later.
    storm_at: tuple[float, ...] = ()
    # A revoked token: within this window every API request answers 401 (in unauthorized_form's body).
    revoked: Window | None = None
    # The body of a 401: the v4 envelope (10001), the webhooks' documented {"message": "Unauthorized"}, or
    # the two alternating by answer (mixed).
    unauthorized_form: UnauthorizedForm = "mixed"
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    gap_seconds: tuple[float, float] = (5.0, 30.0)
    invoked_seconds: tuple[float, float] = (1.0, 3.0)
    live_seconds: tuple[float, float] = (20.0, 90.0)
    # The session record is created this long after started_time (the examples: 1.742 s); before, the
    # livestream has no session to show. Drawn per session.
    created_after_seconds: tuple[float, float] = (1.0, 2.0)
    # Both figures read 60 until this long after started_time (Dyte docs: 40 to 50 s). Drawn per session.
    placeholder_seconds: tuple[float, float] = (40.0, 50.0)
    # The final figures land this long after stopped_time, and updated_at moves then (the example: 62 s);
    # until then a stopped session shows the figures it showed at the stop. Drawn per session.
    final_after_seconds: tuple[float, float] = (55.0, 65.0)
    linger_seconds: float = 10.0
    errored_share: float = 0.1
    odd_status_share: float = 0.05
    disabled_as_string_share: float = 0.2
    disabled_share: float = 0.0
    clock: ClockKind = "real"
    start_at: datetime | None = None
    inactive_form: InactiveForm = "mixed"
    # Active-session figures as JSON numbers (the only realistic example), as strings (the schema), or
    # per livestream, alternating by fleet position (mixed).
    active_figures: ActiveFigures = "mixed"
    default_per_page: int = 20
    max_per_page: int = 100
    # While live, reported figures are the true ones lag seconds ago (after the placeholder).
    report_lag_seconds: float = 0.0
    # Share of sessions whose LIVE phase lasts short_live_seconds instead of live_seconds.
    short_share: float = 0.0
    short_live_seconds: tuple[float, float] = (2.0, 8.0)
    # Share of (session, 10 s block) pairs whose reported figures dip below an earlier reading.
    dip_share: float = 0.0
    # date of the analytics daywise items: "2026-11-01", "2026-11-01T00:00:00.000Z", or alternating by day.
    daywise_date_form: DaywiseDateForm = "mixed"
    # How the analytics endpoints (daywise, overall) make their integer totals of fractional figures: floor
    # of the exact sum, round half up of it, or the sum of each session's floored figures. The published
    # schema types them integer and says no more; sum_of_floors is the default because it is the widest of
    # the three (up to one second short per session), so tests at the default meet the reconciliation's
    # tolerance at its hardest, and because the schema types the per-session figures integer too.
    analytics_rounding: AnalyticsRounding = "sum_of_floors"
    # Livestream details: a `sessions` array with paging at the top level (the example) or inside data, or
    # the schema's single `data.session` object with paging inside data, one session per page (session).
    # mixed: every third livestream by fleet position in the session form, the others alternating by page
    # (odd top, even inner), so that one walk through a livestream's pages stays in one paging scheme.
    details_shape: DetailsShape = "top"
    # How many livestreams of each app ever stream (the first N); the others stay IDLE with no session, as
    # the livestreams of past events do. None: every livestream streams.
    active_livestreams: int | None = None
    # An API that ignores the list's status filter: every livestream is listed whatever `status` asks.
    ignore_status_filter: bool = False
    # The order of a livestream's sessions in its details (undocumented): newest first, or oldest first.
    sessions_order: SessionsOrder = "newest_first"
    # Hostile but plausible echoes of credentials. stream_key_copies: where each livestream's stream key is
    # copied too: a `key` query of playback_url, the end of ingest_server's path, the name, the err_message
    # of its stopped sessions (session by id included, which shows no livestream), an unknown nested field.
    # stream_key_field: the name of the key's own field (the API's is stream_key; e.g. stream-key).
    # echo_token: every API answer echoes the bearer token in its Ratelimit header and its JSON body.
    stream_key_copies: tuple[KeyCopy, ...] = ()
    stream_key_field: str = "stream_key"
    echo_token: bool = False
    # Seconds added to the Date header alone (the answers' timestamps stay on the simulator's clock).
    date_offset_seconds: float = 0.0

    def __post_init__(self) -> None:
        """Reject values that would make the simulator misbehave silently."""
        if not self.app_ids or len(set(self.app_ids)) != len(self.app_ids):
            raise ValueError("app_ids must be non-empty and unique")
        for name, value in (("account_id", self.account_id), *(("app_ids", app) for app in self.app_ids)):
            if not value or len(value) > 32 or "/" in value:
                raise ValueError(f"{name} must be 1-32 characters without '/': {value!r}")
        if not self.token:
            raise ValueError("token must not be empty")
        if self.livestreams < 0:
            raise ValueError("livestreams must be >= 0")
        if self.active_livestreams is not None and self.active_livestreams < 0:
            raise ValueError("active_livestreams must be None or >= 0")
        if self.budget_requests < 1 or self.budget_window_seconds <= 0 or self.block_seconds < 0:
            raise ValueError("budget_requests >= 1, budget_window_seconds > 0, block_seconds >= 0")
        shares = {
            **{name: getattr(self, name) for name in SHARE_KNOBS},
            "errored_share": self.errored_share,
            "odd_status_share": self.odd_status_share,
            "disabled_as_string_share": self.disabled_as_string_share,
            "disabled_share": self.disabled_share,
            "short_share": self.short_share,
            "dip_share": self.dip_share,
        }
        for name, share in shares.items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.errored_share + self.odd_status_share > 1.0:
            raise ValueError("errored_share + odd_status_share must be <= 1")
        self._check_faults()
        for name, (low, high) in (
            ("gap_seconds", self.gap_seconds),
            ("invoked_seconds", self.invoked_seconds),
            ("live_seconds", self.live_seconds),
            ("short_live_seconds", self.short_live_seconds),
            ("created_after_seconds", self.created_after_seconds),
            ("placeholder_seconds", self.placeholder_seconds),
            ("final_after_seconds", self.final_after_seconds),
        ):
            if not (math.isfinite(high) and 0 <= low <= high):
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high")
        if min(self.live_seconds[0], self.invoked_seconds[0], self.short_live_seconds[0]) <= 0:
            raise ValueError("invoked_seconds, live_seconds and short_live_seconds must be > 0")
        if self.linger_seconds < 0:
            raise ValueError("linger_seconds must be >= 0")
        if not (math.isfinite(self.report_lag_seconds) and self.report_lag_seconds >= 0):
            raise ValueError("report_lag_seconds must be a finite number >= 0")
        if self.clock not in CLOCK_KINDS:
            raise ValueError(f"clock must be one of {CLOCK_KINDS}")
        if self.inactive_form not in INACTIVE_FORMS:
            raise ValueError(f"inactive_form must be one of {INACTIVE_FORMS}")
        if self.active_figures not in ACTIVE_FIGURES:
            raise ValueError(f"active_figures must be one of {ACTIVE_FIGURES}")
        if self.unauthorized_form not in UNAUTHORIZED_FORMS:
            raise ValueError(f"unauthorized_form must be one of {UNAUTHORIZED_FORMS}")
        if self.daywise_date_form not in DAYWISE_DATE_FORMS:
            raise ValueError(f"daywise_date_form must be one of {DAYWISE_DATE_FORMS}")
        if self.sessions_order not in ("newest_first", "oldest_first"):
            raise ValueError("sessions_order must be newest_first or oldest_first")
        if self.details_shape not in DETAILS_SHAPES:
            raise ValueError(f"details_shape must be one of {DETAILS_SHAPES}")
        if self.analytics_rounding not in ANALYTICS_ROUNDINGS:
            raise ValueError(f"analytics_rounding must be one of {ANALYTICS_ROUNDINGS}")
        if self.start_at is not None and self.start_at.utcoffset() is None:
            raise ValueError("start_at must be timezone-aware")
        if not 1 <= self.default_per_page <= self.max_per_page:
            raise ValueError("default_per_page must be within [1, max_per_page]")
        if not set(self.stream_key_copies) <= set(KEY_COPIES):
            raise ValueError(f"stream_key_copies must be a selection of {KEY_COPIES}")
        if not self.stream_key_field:
            raise ValueError("stream_key_field must not be empty")
        if not math.isfinite(self.date_offset_seconds):
            raise ValueError("date_offset_seconds must be finite")

    def _check_faults(self) -> None:
        """Reject fault knobs that are out of range (shares are checked with the other shares)."""
        for name in COUNT_KNOBS:
            count = getattr(self, name)
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"{name} must be an integer >= 0")
        for name in SECONDS_KNOBS:
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be a finite number >= 0")
        for name in WINDOW_KNOBS:
            window = getattr(self, name)
            if window is not None and not (
                len(window) == 2
                and math.isfinite(window[0])
                and not math.isnan(window[1])
                and window[0] <= window[1]
            ):
                raise ValueError(
                    f"{name} must be None or (start, end) with finite start <= end (end may be inf)"
                )
        if not self.shape_forms or not set(self.shape_forms) <= set(SHAPE_FORMS):
            raise ValueError(f"shape_forms must be a non-empty selection of {SHAPE_FORMS}")
        if not self.fault_routes or not set(self.fault_routes) <= set(ROUTE_NAMES):
            raise ValueError(f"fault_routes must be a non-empty selection of {ROUTE_NAMES}")
        if not all(math.isfinite(moment) for moment in self.storm_at):
            raise ValueError("storm_at must hold finite moments (seconds after the origin)")
