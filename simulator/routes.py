"""The simulated API's routes: a handler per RealtimeKit endpoint, and the table matching paths to them."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from simulator.bodies import (
    analytics_totals,
    daywise_item,
    figures_as_strings,
    livestream_json,
    realtimekit_error,
    session_json,
)
from simulator.config import (
    RouteName,
    SimulatorConfig,
)
from simulator.model import App, Livestream
from simulator.state import (
    Json,
    SimulatorState,
    T,
)


class _BadRequest(Exception):
    """A query parameter the API would reject with 400."""


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


# Without start_time and end_time, daywise (and overall) cover the 30 days up to now. The livestream
# endpoints' schema makes both optional and states no default; 30 days is what their sibling, the app's
# daywise analytics (get-org-analytics), documents: an inference, in docs/simulator.md.
DAYWISE_DEFAULT_DAYS = 30


def _unix_seconds_param(query: Mapping[str, str], name: str, default: float) -> float:
    """An optional Unix-seconds query parameter (integer or fractional); `default` when it is absent."""
    raw = query.get(name)
    if raw is None:
        return default
    if raw.strip() == "":
        raise _BadRequest(f'BAD_REQUEST: "{name}" must be a number')
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
    """GET /accounts/{a}/realtime/kit/apps: newest first unless sort_order=ASC, `search` in the name."""
    page_no, per_page = _paging(state.config, query)
    model = state.model
    order = query.get("sort_order", "DESC").upper()
    if order not in ("ASC", "DESC"):
        raise _BadRequest('BAD_REQUEST: "sort_order" must be one of [ASC, DESC]')
    apps = sorted(model.apps, key=lambda app: (app.created_ms, app.id), reverse=order == "DESC")
    # How search matches is undocumented: a case-insensitive part of the name (inferred).
    search = query.get("search", "").strip().lower()
    if search:
        apps = [app for app in apps if search in app.name.lower()]
    rows, paging = _page(apps, page_no, per_page)
    data = [{"id": app.id, "created_at": model.iso(app.created_ms), "name": app.name} for app in rows]
    return 200, {"success": True, "data": data, "paging": paging}


def _list_livestreams(
    state: SimulatorState, t: float, params: dict[str, str], query: Mapping[str, str]
) -> tuple[int, Json]:
    """GET .../{app}/livestreams: a `data` array with top-level paging, as every published example."""
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
    if status and not state.config.ignore_status_filter:
        livestreams = [ls for ls in livestreams if model.livestream_status(ls, t) == status.upper()]
    rows, paging = _page(livestreams, page_no, per_page)
    data = [livestream_json(model, ls, t) for ls in rows]
    return 200, {"success": True, "data": data, "paging": paging}


def _livestream_or_error(state: SimulatorState, params: dict[str, str]) -> Livestream | tuple[int, Json]:
    """The livestream of the path, or the RealtimeKit 404 for an unknown app or id."""
    found = _app_or_error(state, params["app"])
    if not isinstance(found, App):
        return found
    livestream = state.model.livestream(params["livestream"])
    if livestream is None or livestream.app_id != found.id:
        return 404, realtimekit_error(404, f"No livestream found for livestream_id {params['livestream']}")
    return livestream


def _details_form(state: SimulatorState, livestream: Livestream, page_no: int) -> str:
    """The details shape of one page of one livestream (see SimulatorConfig.details_shape)."""
    shape = state.config.details_shape
    if shape != "mixed":
        return shape
    if livestream.position % 3 == 2:
        return "session"
    # By page, so a retried page keeps its shape while every walk sees both.
    return "top" if page_no % 2 == 1 else "inner"


def _livestream_details(
    state: SimulatorState, t: float, params: dict[str, str], query: Mapping[str, str]
) -> tuple[int, Json]:
    """GET .../livestreams/{id}: the livestream and its recorded sessions so far, newest first (or oldest)."""
    found = _livestream_or_error(state, params)
    if not isinstance(found, Livestream):
        return found
    page_no, per_page = _paging(state.config, query)
    model = state.model
    sessions = list(model.sessions_recorded(found, t))
    if state.config.sessions_order == "newest_first":
        sessions.reverse()
    shape = _details_form(state, found, page_no)
    data: Json = {"livestream": livestream_json(model, found, t)}
    if shape == "session":
        # The schema's form: one `session` object and paging inside data, so a page holds one session
        # whatever per_page asks (inferred: the schema's paging example is 1 of 1); none past the end.
        rows, paging = _page(sessions, page_no, 1)
        if rows:
            data["session"] = session_json(model, rows[0], t, as_strings=False)
        data["paging"] = paging
        return 200, {"success": True, "data": data}
    rows, paging = _page(sessions, page_no, per_page)
    data["sessions"] = [session_json(model, s, t, as_strings=False) for s in rows]
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
    end = _unix_seconds_param(query, "end_time", state.model.origin_ms / 1000.0 + t)
    start = _unix_seconds_param(query, "start_time", end - DAYWISE_DEFAULT_DAYS * 86_400)
    first_day = datetime.fromtimestamp(start, UTC).date()
    last_day = datetime.fromtimestamp(end, UTC).date()
    form, rounding = state.config.daywise_date_form, state.config.analytics_rounding
    days = state.model.daywise(found.id, t, reported=True)
    data = [daywise_item(totals, form, rounding) for totals in days if first_day <= totals.day <= last_day]
    return 200, {"success": True, "data": data}


def _analytics_overall(
    state: SimulatorState, t: float, params: dict[str, str], query: Mapping[str, str]
) -> tuple[int, Json]:
    """GET .../analytics/livestreams/overall: reported totals of the sessions attributed to [start, end).

    Without start_time and end_time it covers what daywise covers without them, the 30 days up to now.
    """
    found = _app_or_error(state, params["app"])
    if not isinstance(found, App):
        return found
    end = _unix_seconds_param(query, "end_time", state.model.origin_ms / 1000.0 + t)
    start = _unix_seconds_param(query, "start_time", end - DAYWISE_DEFAULT_DAYS * 86_400)
    totals = state.model.overall(found.id, t, start, end)
    return 200, {"success": True, "data": analytics_totals(totals, state.config.analytics_rounding)}


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
            "session": session_json(model, session, t, figures_as_strings(state.config, found)),
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
    """GET .../livestreams/sessions/{session_id}, figures as numbers; only a recorded session."""
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
    (
        "analytics_overall",
        re.compile(rf"^{_KIT}/(?P<app>{_SEGMENT})/analytics/livestreams/overall/?$"),
        _analytics_overall,
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
