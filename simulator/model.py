"""Deterministic fleet and session timelines of the simulated RealtimeKit account (no I/O).

A session's life, as the published examples show it (realtimekit-api.md section 8): the livestream is
INVOKED, then goes LIVE at started_time (a whole second); the session record is created
created_after_seconds later (the examples: 1.742 s), and only from then on does the API show the session
(invoked_time is null in every example, so it is always null here). A session that errors before going
LIVE never gets a record. At stopped_time (a whole second) the livestream goes IDLE, ERRORED or OFFLINE;
the final figures land final_after_seconds later (the example: updated_at 62 s after stopped_time), when
the record's updated_at moves to that moment.

Reported figures (what the API serves) differ from the true ones in these configurable ways:

- placeholder: until placeholder_seconds after started_time (Dyte docs: 40 to 50 s), both figures are 60;
- lag: otherwise, while LIVE, they are the true figures at max(started, t - report_lag_seconds);
- dips: for a dip_share of (session, 10-second block) pairs while LIVE (never during the placeholder,
  never once stopped) they are 80-95 % of the (lagged) figures at the start of the block;
- landing: once stopped, they stay what they were at the stop (the placeholder, for a session that
  stopped within it) until the final figures land, then they are the true final figures for good.

Analytics daywise attribution: a session belongs to the UTC day of its started_time; only sessions with
a record by the request time t count. A day's count is the number of its sessions, and its totals are the
sums of their figures at t (reported figures for the API, true figures for the ground truth).
Analytics overall sums the same way over the sessions whose started_time lies in [start_time,
end_time). Both send integer totals, rounded as analytics_rounding says.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from simulator.config import SimulatorConfig

INGEST_SERVER = "rtmps://live.cloudflare.com:443/live/"
PLACEHOLDER_FIGURE = 60
VIEWER_BLOCK_SECONDS = 10.0
# A dipped reading is this share of the (lagged) figures at the start of its 10-second block.
DIP_FACTOR_RANGE = (0.80, 0.95)
# Share of ERRORED sessions that fail while INVOKED, before any input arrives.
ERRORED_BEFORE_LIVE_SHARE = 0.25
ERROR_MESSAGES = (
    "RTMP ingest disconnected",
    "Input stream timed out",
    "Encoder sent an unsupported codec",
    "Livestream exceeded maximum duration",
)
CONCRETE_INACTIVE_FORMS = ("404", "null_session", "no_data", "success_false")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Outcome = Literal["IDLE", "ERRORED", "OFFLINE"]
Phase = Literal["PENDING", "INVOKED", "LIVE", "STOPPED"]


def _uuid4(rng: random.Random) -> str:
    """A uuid4-shaped string drawn from rng."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def iso_from_epoch_ms(epoch_ms: int) -> str:
    """ISO 8601 UTC with milliseconds and Z, as RealtimeKit writes timestamps."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, floored."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


@dataclass(frozen=True)
class Figures:
    """ingest_seconds and viewer_seconds at one instant; placeholder marks the API's early 60s."""

    ingest_seconds: int
    viewer_seconds: float
    placeholder: bool = False


@dataclass(frozen=True)
class Totals:
    """Sessions' count and summed figures at one instant: exact, and with each figure floored first."""

    count: int
    ingest_seconds: int
    viewer_seconds: float
    ingest_seconds_floored: int
    viewer_seconds_floored: int

    @classmethod
    def of(cls, figures: list[Figures]) -> Totals:
        """The totals of these figures; viewer seconds by math.fsum, an exact sum whatever the order."""
        return cls(
            count=len(figures),
            ingest_seconds=sum(f.ingest_seconds for f in figures),
            viewer_seconds=math.fsum(f.viewer_seconds for f in figures),
            ingest_seconds_floored=sum(math.floor(f.ingest_seconds) for f in figures),
            viewer_seconds_floored=sum(math.floor(f.viewer_seconds) for f in figures),
        )


@dataclass(frozen=True)
class DayTotals(Totals):
    """One UTC day of analytics daywise: its sessions' count and summed figures at one instant."""

    day: date
    # The day is over and every session attributed to it has settled: its totals are final.
    settled: bool


@dataclass(frozen=True)
class App:
    """One RealtimeKit app."""

    id: str
    name: str
    created_ms: int


@dataclass(frozen=True)
class Livestream:
    """Static attributes of one livestream; its status comes from the session timeline."""

    id: str
    app_id: str
    position: int
    name: str | None
    meeting_id: str | None
    ingest_server: str
    playback_url: str
    stream_key: str
    created_ms: int
    updated_ms: int
    disabled: bool
    disabled_as_string: bool
    inactive_form: str
    no_data_omits_key: bool
    dormant: bool = False  # never streams (see SimulatorConfig.active_livestreams)


@dataclass(frozen=True)
class Session:
    """One livestream session; times are milliseconds after the simulator origin."""

    id: str
    livestream_id: str
    app_id: str
    index: int
    invoked_ms: int
    started_ms: int | None
    stopped_ms: int
    outcome: Outcome
    err_message: str | None
    ingest_factor: float
    viewer_rates: tuple[float, ...]
    viewer_cumulative: tuple[float, ...]
    short: bool = False
    # When the API's record appears (None: never, the session errored before going LIVE), when the
    # placeholder ends, and when the final figures land; milliseconds after the origin like the others.
    created_ms: int | None = None
    placeholder_until_ms: int = 0
    final_ms: int = 0

    def recorded(self, t: float) -> bool:
        """True once the API has a record of the session (from created_at on)."""
        return self.created_ms is not None and self.created_ms <= t * 1000.0

    def phase(self, t: float) -> Phase:
        """Where the session is at t seconds after the origin."""
        ms = t * 1000.0
        if ms < self.invoked_ms:
            return "PENDING"
        if ms >= self.stopped_ms:
            return "STOPPED"
        if self.started_ms is None or ms < self.started_ms:
            return "INVOKED"
        return "LIVE"

    def status(self, t: float) -> str:
        """The livestream status this session gives (or gave, once stopped) at t."""
        phase = self.phase(t)
        if phase == "STOPPED":
            return self.outcome
        return "INVOKED" if phase == "PENDING" else phase

    def live_elapsed(self, t: float) -> float:
        """Seconds of LIVE time up to t (frozen at the stop)."""
        if self.started_ms is None:
            return 0.0
        end = min(t, self.stopped_ms / 1000.0)
        return max(0.0, end - self.started_ms / 1000.0)

    def true_figures(self, t: float) -> Figures:
        """Exact ingest and viewer seconds at t."""
        elapsed = self.live_elapsed(t)
        if elapsed <= 0.0:
            return Figures(0, 0.0)
        block = min(int(elapsed // VIEWER_BLOCK_SECONDS), len(self.viewer_rates) - 1)
        viewer = self.viewer_cumulative[block] + self.viewer_rates[block] * (
            elapsed - block * VIEWER_BLOCK_SECONDS
        )
        return Figures(math.floor(self.ingest_factor * elapsed), viewer)

    def reported_figures(self, t: float, lag_seconds: float = 0.0, dip_share: float = 0.0) -> Figures:
        """What the API reports at t: the placeholder, lagged or dipped figures, the stop's until landing."""
        if self.started_ms is None:
            return self.true_figures(t)
        phase = self.phase(t)
        if phase == "STOPPED" and t * 1000.0 >= self.final_ms:
            return self.true_figures(t)
        # Until the final figures land, a stopped session shows what it showed at the stop.
        at = min(t, self.stopped_ms / 1000.0)
        if at * 1000.0 < self.placeholder_until_ms and at * 1000.0 >= self.started_ms:
            return Figures(PLACEHOLDER_FIGURE, float(PLACEHOLDER_FIGURE), placeholder=True)
        started = self.started_ms / 1000.0
        if phase == "LIVE" and dip_share > 0.0:
            block = int((t - started) // VIEWER_BLOCK_SECONDS)
            factor = self.dip_factor(block, dip_share)
            if factor is not None:
                base = self.true_figures(max(started, started + block * VIEWER_BLOCK_SECONDS - lag_seconds))
                return Figures(math.floor(base.ingest_seconds * factor), base.viewer_seconds * factor)
        # With no lag, and before the stop, this is true_figures(t): before the start both are 0.
        return self.true_figures(max(started, at - lag_seconds))

    def dip_factor(self, block: int, dip_share: float) -> float | None:
        """The dip of one 10-second block of the LIVE phase, or None; a function of (id, block) only."""
        rng = random.Random(f"{self.id}:dip:{block}")
        dipped = rng.random() < dip_share
        factor = rng.uniform(*DIP_FACTOR_RANGE)
        return factor if dipped else None

    def settled(self, t: float) -> bool:
        """True once the final figures have landed: reported figures are final from then on."""
        return self.phase(t) == "STOPPED" and t * 1000.0 >= self.final_ms

    def attribution_ms(self, t: float) -> int:
        """When the session counts for analytics daywise: started_time if started by t, else invoked_time."""
        if self.started_ms is not None and self.started_ms <= t * 1000.0:
            return self.started_ms
        return self.invoked_ms

    def updated_ms(self, t: float) -> int:
        """The record's updated_at at t: created_at while live, the stop, then when the final figures land."""
        ms = t * 1000.0
        if ms >= self.final_ms and self.phase(t) == "STOPPED":
            return self.final_ms
        if ms >= self.stopped_ms:
            return self.stopped_ms
        return self.created_ms if self.created_ms is not None else self.invoked_ms

    def changed_ms(self, t: float) -> int:
        """The livestream's latest state change due to this session at or before t."""
        ms = t * 1000.0
        changes = [
            c for c in (self.invoked_ms, self.started_ms, self.stopped_ms) if c is not None and c <= ms
        ]
        return max(changes) if changes else self.invoked_ms


def _whole_second(offset_ms: int, origin_ms: int) -> int:
    """The offset rounded up to a whole second of UTC (started and stopped times are, in the examples)."""
    return offset_ms + (-(origin_ms + offset_ms)) % 1000


def _draw_session(
    config: SimulatorConfig, livestream: Livestream, index: int, previous_stop_ms: int, origin_ms: int = 0
) -> Session:
    """Session number index of a livestream, from its own RNG so request order never matters."""
    rng = random.Random(f"{config.seed}:{livestream.id}:{index}")
    session_id = _uuid4(rng)
    gap = rng.uniform(*config.gap_seconds)
    invoked_for = rng.uniform(*config.invoked_seconds)
    live_for = rng.uniform(*config.live_seconds)
    outcome_draw = rng.random()
    before_live_draw = rng.random()
    ingest_factor = rng.uniform(0.93, 0.99)
    err_message = ERROR_MESSAGES[rng.randrange(len(ERROR_MESSAGES))]
    invoked_ms = previous_stop_ms + round(gap * 1000)
    outcome: Outcome = "IDLE"
    if outcome_draw < config.errored_share:
        outcome = "ERRORED"
    elif outcome_draw < config.errored_share + config.odd_status_share:
        outcome = "OFFLINE"
    end_of_invoked_ms = invoked_ms + max(1, round(invoked_for * 1000))
    started_ms: int | None = end_of_invoked_ms
    stopped_ms = end_of_invoked_ms + max(1, round(live_for * 1000))
    if outcome == "ERRORED" and before_live_draw < ERRORED_BEFORE_LIVE_SHARE:
        started_ms, stopped_ms = None, end_of_invoked_ms
    live_ms = 0 if started_ms is None else stopped_ms - started_ms
    blocks = math.ceil(live_ms / (VIEWER_BLOCK_SECONDS * 1000)) + 1
    rates = tuple(rng.uniform(0.0, 25.0) for _ in range(blocks))
    # Drawn after every other value, so adding short sessions changed no draw of the existing ones.
    short_draw = rng.random()
    short_for = rng.uniform(*config.short_live_seconds)
    short = False
    if started_ms is not None and short_draw < config.short_share:
        short = True
        stopped_ms = started_ms + max(1, round(short_for * 1000))
        short_blocks = math.ceil((stopped_ms - started_ms) / (VIEWER_BLOCK_SECONDS * 1000)) + 1
        rates = rates[:short_blocks] + tuple(rng.uniform(0.0, 25.0) for _ in range(short_blocks - len(rates)))
    cumulative = [0.0]
    for rate in rates[:-1]:
        cumulative.append(cumulative[-1] + rate * VIEWER_BLOCK_SECONDS)
    # Drawn last, so the lifecycle of the published examples changed no earlier draw.
    created_after = rng.uniform(*config.created_after_seconds)
    placeholder_for = rng.uniform(*config.placeholder_seconds)
    final_after = rng.uniform(*config.final_after_seconds)
    created_ms: int | None = None
    placeholder_until_ms = 0
    if started_ms is not None:
        # Whole seconds like the examples; past the last rate block, true_figures extends the last rate.
        started_ms = _whole_second(started_ms, origin_ms)
        stopped_ms = max(_whole_second(stopped_ms, origin_ms), started_ms + 1000)
        created_ms = started_ms + round(created_after * 1000)
        placeholder_until_ms = started_ms + round(placeholder_for * 1000)
    return Session(
        id=session_id,
        livestream_id=livestream.id,
        app_id=livestream.app_id,
        index=index,
        invoked_ms=invoked_ms,
        started_ms=started_ms,
        stopped_ms=stopped_ms,
        outcome=outcome,
        err_message=err_message if outcome == "ERRORED" else None,
        ingest_factor=ingest_factor,
        viewer_rates=rates,
        viewer_cumulative=tuple(cumulative),
        short=short,
        created_ms=created_ms,
        placeholder_until_ms=placeholder_until_ms,
        final_ms=stopped_ms + round(final_after * 1000),
    )


def _draw_fleet(config: SimulatorConfig) -> tuple[tuple[App, ...], tuple[Livestream, ...]]:
    """Apps and livestreams, each livestream from its own seeded RNG."""
    apps: list[App] = []
    livestreams: list[Livestream] = []
    form_offset = random.Random(f"{config.seed}:inactive").randrange(len(CONCRETE_INACTIVE_FORMS))
    for app_number, app_id in enumerate(config.app_ids):
        app_rng = random.Random(f"{config.seed}:app:{app_id}")
        apps.append(
            App(app_id, f"Simulated app {app_number + 1}", -round(app_rng.uniform(100, 400) * 86_400_000))
        )
        for i in range(config.livestreams):
            rng = random.Random(f"{config.seed}:livestream:{app_id}:{i}")
            livestream_id = _uuid4(rng)
            named = rng.random() >= 0.15
            meeting_id = _uuid4(rng)
            has_meeting = rng.random() < 0.4
            playback_hex = f"{rng.getrandbits(128):032x}"
            stream_key = f"{rng.getrandbits(192):048x}"
            created_ms = -round(rng.uniform(3_600, 90 * 86_400) * 1000)
            updated_ms = created_ms + round(rng.random() * -created_ms)
            disabled = rng.random() < config.disabled_share
            disabled_as_string = rng.random() < config.disabled_as_string_share
            no_data_omits_key = rng.random() < 0.5
            position = len(livestreams)
            if config.inactive_form == "mixed":
                form = CONCRETE_INACTIVE_FORMS[(position + form_offset) % len(CONCRETE_INACTIVE_FORMS)]
            else:
                form = config.inactive_form
            livestreams.append(
                Livestream(
                    id=livestream_id,
                    app_id=app_id,
                    position=position,
                    name=f"stream-{i + 1}" if named else None,
                    meeting_id=meeting_id if has_meeting else None,
                    ingest_server=INGEST_SERVER,
                    playback_url=f"https://customer-sim.cloudflarestream.com/{playback_hex}/manifest/video.m3u8",
                    stream_key=stream_key,
                    created_ms=created_ms,
                    updated_ms=updated_ms,
                    disabled=disabled,
                    disabled_as_string=disabled_as_string,
                    inactive_form=form,
                    no_data_omits_key=no_data_omits_key,
                    dormant=config.active_livestreams is not None and i >= config.active_livestreams,
                )
            )
    return tuple(apps), tuple(livestreams)


class SimulatorModel:
    """The fleet and its lazily drawn session timelines; every answer is a function of (config, t)."""

    def __init__(self, config: SimulatorConfig, origin: datetime) -> None:
        """Draw the fleet; origin is the instant t = 0 (floored to the millisecond)."""
        self.config = config
        self.origin_ms = epoch_ms(origin)
        self.apps, self.livestreams = _draw_fleet(config)
        self._apps_by_id = {app.id: app for app in self.apps}
        self._livestreams_by_id = {ls.id: ls for ls in self.livestreams}
        self._by_app: dict[str, tuple[Livestream, ...]] = {
            app.id: tuple(ls for ls in self.livestreams if ls.app_id == app.id) for app in self.apps
        }
        # The list endpoint's order, sorted once (a sort per page request made a 10,000-stream list slow).
        self._by_app_created: dict[str, tuple[Livestream, ...]] = {
            app_id: tuple(sorted(fleet, key=lambda ls: (ls.created_ms, ls.id)))
            for app_id, fleet in self._by_app.items()
        }
        self._timelines: dict[str, list[Session]] = {ls.id: [] for ls in self.livestreams}
        self._invoked: dict[str, list[int]] = {ls.id: [] for ls in self.livestreams}
        self._sessions_by_id: dict[str, Session] = {}
        self._extended_to = -math.inf
        # Timelines are extended lazily from the server thread and from test threads alike.
        self._lock = threading.RLock()

    def iso(self, offset_ms: int) -> str:
        """ISO timestamp of a millisecond offset from the origin."""
        return iso_from_epoch_ms(self.origin_ms + offset_ms)

    def iso_at(self, t: float) -> str:
        """ISO timestamp of t seconds after the origin."""
        return self.iso(math.floor(t * 1000.0))

    def app(self, app_id: str) -> App | None:
        """The app with that id, if any."""
        return self._apps_by_id.get(app_id)

    def livestreams_of(self, app_id: str) -> tuple[Livestream, ...]:
        """Livestreams of one app, in creation-draw order."""
        return self._by_app.get(app_id, ())

    def livestreams_by_creation(self, app_id: str) -> tuple[Livestream, ...]:
        """Livestreams of one app, oldest created first (ties by id): the list endpoint's order."""
        return self._by_app_created.get(app_id, ())

    def livestream(self, livestream_id: str) -> Livestream | None:
        """The livestream with that id, if any."""
        return self._livestreams_by_id.get(livestream_id)

    def _extend(self, livestream: Livestream, t: float) -> list[Session]:
        """Draw sessions until one starts after t, so the timeline up to t is complete."""
        with self._lock:
            timeline = self._timelines[livestream.id]
            if livestream.disabled or livestream.dormant:
                return timeline
            invoked = self._invoked[livestream.id]
            limit_ms = t * 1000.0
            while not timeline or timeline[-1].invoked_ms <= limit_ms:
                previous_stop = timeline[-1].stopped_ms if timeline else 0
                session = _draw_session(self.config, livestream, len(timeline), previous_stop, self.origin_ms)
                timeline.append(session)
                invoked.append(session.invoked_ms)
                self._sessions_by_id[session.id] = session
            return timeline

    def sessions_created(self, livestream: Livestream, t: float) -> list[Session]:
        """Sessions invoked at or before t, oldest first."""
        timeline = self._extend(livestream, t)
        with self._lock:
            count = bisect.bisect_right(self._invoked[livestream.id], t * 1000.0)
            return timeline[:count]

    def sessions_recorded(self, livestream: Livestream, t: float) -> list[Session]:
        """Sessions the API has a record of at t (created by t), oldest first."""
        return [session for session in self.sessions_created(livestream, t) if session.recorded(t)]

    def latest_session(self, livestream: Livestream, t: float) -> Session | None:
        """The most recently invoked session at t."""
        timeline = self._extend(livestream, t)
        with self._lock:
            count = bisect.bisect_right(self._invoked[livestream.id], t * 1000.0)
            return timeline[count - 1] if count else None

    def active_session(self, livestream: Livestream, t: float) -> Session | None:
        """The session the active-session endpoint returns: running, or stopped within linger_seconds.

        Only a recorded session: while the livestream is INVOKED, or LIVE before the record is created,
        nothing is active."""
        session = self.latest_session(livestream, t)
        if session is None or not session.recorded(t):
            return None
        if t * 1000.0 < session.stopped_ms + self.config.linger_seconds * 1000.0:
            return session
        return None

    def livestream_status(self, livestream: Livestream, t: float) -> str:
        """Livestream status at t: from its latest session, IDLE before the first one."""
        session = self.latest_session(livestream, t)
        return "IDLE" if session is None else session.status(t)

    def livestream_updated_ms(self, livestream: Livestream, t: float) -> int:
        """Livestream updated_at at t: its own edit time or its latest session change."""
        session = self.latest_session(livestream, t)
        if session is None:
            return livestream.updated_ms
        return max(livestream.updated_ms, session.changed_ms(t))

    def session(self, session_id: str, t: float) -> Session | None:
        """A session by id, only if the API has a record of it by t."""
        self._extend_all(t)
        session = self._sessions_by_id.get(session_id)
        if session is None or not session.recorded(t):
            return None
        return session

    def all_sessions(self, t: float) -> list[Session]:
        """Every session the API has a record of by t, oldest first."""
        sessions: list[Session] = []
        for livestream in self.livestreams:
            sessions.extend(self.sessions_recorded(livestream, t))
        return sorted(sessions, key=lambda s: (s.invoked_ms, s.id))

    def reported_figures(self, session: Session, t: float) -> Figures:
        """The figures the API reports for session at t under this model's configuration."""
        config = self.config
        return session.reported_figures(t, config.report_lag_seconds, config.dip_share)

    def settled(self, session: Session, t: float) -> bool:
        """True once the session's reported figures have settled on its true final figures."""
        return session.settled(t)

    def day_of(self, offset_ms: int) -> date:
        """The UTC date of a millisecond offset from the origin."""
        return (_EPOCH + timedelta(milliseconds=self.origin_ms + offset_ms)).date()

    def daywise(self, app_id: str, t: float, *, reported: bool) -> list[DayTotals]:
        """Analytics daywise of one app at t, every day with sessions, oldest first.

        Attribution (see the module docstring): each session with a record by t belongs to the UTC day of
        its started_time.
        Totals sum the reported (API) or true (ground truth) figures at t; viewer totals use math.fsum so
        they are exact sums whatever the order.
        """
        groups: dict[date, list[Session]] = defaultdict(list)
        for livestream in self.livestreams_of(app_id):
            for session in self.sessions_recorded(livestream, t):
                groups[self.day_of(session.attribution_ms(t))].append(session)
        now_ms = self.origin_ms + t * 1000.0
        days: list[DayTotals] = []
        for day in sorted(groups):
            sessions = groups[day]
            totals = Totals.of(
                [self.reported_figures(s, t) if reported else s.true_figures(t) for s in sessions]
            )
            day_end_ms = epoch_ms(datetime.combine(day + timedelta(days=1), time(), UTC))
            settled = now_ms >= day_end_ms and all(self.settled(s, t) for s in sessions)
            days.append(DayTotals(**vars(totals), day=day, settled=settled))
        return days

    def overall(self, app_id: str, t: float, start: float, end: float) -> Totals:
        """Analytics overall of one app at t: the reported figures of its sessions (attributed as daywise
        attributes them) whose attribution instant, in Unix seconds, lies in [start, end)."""
        figures = [
            self.reported_figures(session, t)
            for livestream in self.livestreams_of(app_id)
            for session in self.sessions_recorded(livestream, t)
            if start * 1000.0 <= self.origin_ms + session.attribution_ms(t) < end * 1000.0
        ]
        return Totals.of(figures)

    def _extend_all(self, t: float) -> None:
        """Extend every timeline to t, skipping the work when already done."""
        with self._lock:
            if t <= self._extended_to:
                return
            for livestream in self.livestreams:
                self._extend(livestream, t)
            self._extended_to = t
