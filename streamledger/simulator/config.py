"""Configuration of the RealtimeKit livestream API simulator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ClockKind = Literal["real", "manual"]
InactiveForm = Literal["mixed", "404", "null_session", "no_data", "success_false"]
ListShape = Literal["mixed", "array", "object"]
DaywiseDateForm = Literal["mixed", "date", "iso"]
DetailsShape = Literal["mixed", "top", "inner"]

CLOCK_KINDS: tuple[ClockKind, ...] = ("real", "manual")
INACTIVE_FORMS: tuple[InactiveForm, ...] = ("mixed", "404", "null_session", "no_data", "success_false")
LIST_SHAPES: tuple[ListShape, ...] = ("mixed", "array", "object")
DAYWISE_DATE_FORMS: tuple[DaywiseDateForm, ...] = ("mixed", "date", "iso")
DETAILS_SHAPES: tuple[DetailsShape, ...] = ("mixed", "top", "inner")


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
    fault_5xx: float = 0.0
    fault_malformed: float = 0.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    gap_seconds: tuple[float, float] = (5.0, 30.0)
    invoked_seconds: tuple[float, float] = (1.0, 3.0)
    live_seconds: tuple[float, float] = (20.0, 90.0)
    placeholder_seconds: float = 8.0
    linger_seconds: float = 10.0
    errored_share: float = 0.1
    odd_status_share: float = 0.05
    disabled_as_string_share: float = 0.2
    disabled_share: float = 0.0
    clock: ClockKind = "real"
    start_at: datetime | None = None
    inactive_form: InactiveForm = "mixed"
    list_shape: ListShape = "mixed"
    default_per_page: int = 20
    max_per_page: int = 100
    # Reported figures are the true ones lag seconds ago; after the stop they settle at stop + lag.
    report_lag_seconds: float = 0.0
    # Share of sessions whose LIVE phase lasts short_live_seconds instead of live_seconds.
    short_share: float = 0.0
    short_live_seconds: tuple[float, float] = (2.0, 8.0)
    # Share of (session, 10 s block) pairs whose reported figures dip below an earlier reading.
    dip_share: float = 0.0
    # date of the analytics daywise items: "2026-11-01", "2026-11-01T00:00:00.000Z", or alternating by day.
    daywise_date_form: DaywiseDateForm = "mixed"
    # Livestream details: paging at the top level, inside data, or alternating by page (odd top, even inner).
    details_shape: DetailsShape = "top"

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
        if self.budget_requests < 1 or self.budget_window_seconds <= 0 or self.block_seconds < 0:
            raise ValueError("budget_requests >= 1, budget_window_seconds > 0, block_seconds >= 0")
        shares = {
            "fault_5xx": self.fault_5xx,
            "fault_malformed": self.fault_malformed,
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
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise ValueError("latency_ms and latency_jitter_ms must be >= 0")
        for name, (low, high) in (
            ("gap_seconds", self.gap_seconds),
            ("invoked_seconds", self.invoked_seconds),
            ("live_seconds", self.live_seconds),
            ("short_live_seconds", self.short_live_seconds),
        ):
            if not (math.isfinite(high) and 0 <= low <= high):
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high")
        if min(self.live_seconds[0], self.invoked_seconds[0], self.short_live_seconds[0]) <= 0:
            raise ValueError("invoked_seconds, live_seconds and short_live_seconds must be > 0")
        if self.placeholder_seconds < 0 or self.linger_seconds < 0:
            raise ValueError("placeholder_seconds and linger_seconds must be >= 0")
        if not (math.isfinite(self.report_lag_seconds) and self.report_lag_seconds >= 0):
            raise ValueError("report_lag_seconds must be a finite number >= 0")
        if self.clock not in CLOCK_KINDS:
            raise ValueError(f"clock must be one of {CLOCK_KINDS}")
        if self.inactive_form not in INACTIVE_FORMS:
            raise ValueError(f"inactive_form must be one of {INACTIVE_FORMS}")
        if self.list_shape not in LIST_SHAPES:
            raise ValueError(f"list_shape must be one of {LIST_SHAPES}")
        if self.daywise_date_form not in DAYWISE_DATE_FORMS:
            raise ValueError(f"daywise_date_form must be one of {DAYWISE_DATE_FORMS}")
        if self.details_shape not in DETAILS_SHAPES:
            raise ValueError(f"details_shape must be one of {DETAILS_SHAPES}")
        if self.start_at is not None and self.start_at.utcoffset() is None:
            raise ValueError("start_at must be timezone-aware")
        if not 1 <= self.default_per_page <= self.max_per_page:
            raise ValueError("default_per_page must be within [1, max_per_page]")
