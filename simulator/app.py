"""The Starlette app of the simulated RealtimeKit API: authentication, budget, faults, the control endpoints.

Analytics daywise (GET .../analytics/livestreams/daywise?start_time=&end_time=, Unix seconds) attributes
each session created by the request time to the UTC day of its started_time, or, while it has none (still
INVOKED, or ERRORED before going LIVE), to the UTC day of its invoked_time with 0 figures. An item per UTC
day from the day of start_time to the day of end_time (inclusive) that has sessions, ascending: count is
the number of those sessions, totals the sums of their reported figures at request time rounded to
integers as analytics_rounding says, so a settled day equals the true final figures' sum so rounded.
Analytics overall (.../analytics/livestreams/overall) is one such total over the sessions whose instant
of attribution lies in [start_time, end_time). GET /_simulator/daywise is the same aggregation over true
figures for every day, exact (and rounded, in rounded_total_ingest_seconds and rounded_total_viewer_seconds).

Authentication, as the gateway does it: no Authorization header answers 401 (the v4 envelope 10001 or
the documented {"message": "Unauthorized"}, by unauthorized_form), a header not of the form `Bearer
<token>` answers 400 with 6003 and the chained 6111, a wrong token 403 with 10000.

Faults (knobs in SimulatorConfig; GET /_simulator/faults shows them, POST changes them while running), in
the order a request meets them: a revoked token (401 before anything else), a 429 storm (the budget forced
exhausted for block_seconds), a 5xx burst or outage, a timeout (the answer held back), then, on a 200 only,
one of a truncated transfer, a malformed body or an unexpected shape. GET /_simulator/stats counts each.
"""

from __future__ import annotations

import asyncio
import email.utils
import hmac
import re
from collections.abc import Mapping

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from simulator.bodies import (
    UNAUTHORIZED_MESSAGE,
    analytics_totals,
    auth_header_error,
    daywise_item,
    livestream_json,
    realtimekit_error,
    reshape,
    truth_session_json,
    v4_error,
)
from simulator.config import (
    SimulatorConfig,
)
from simulator.routes import (
    _BadRequest,
    _match,
)
from simulator.state import (
    _REASONS,
    API_PREFIX,
    CONTROL_PREFIX,
    HTML_TYPE,
    JSON_TYPE,
    Admission,
    FaultPlan,
    Json,
    ManualClock,
    SimulatorState,
    within,
)


class _CutTransfer(Response):
    """A response whose transfer stops halfway: Content-Length promises the whole body, then it closes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the headers and half the body, then return: the server closes the connection mid-body."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send(
            {"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True}
        )


def _date_header(state: SimulatorState, t: float) -> dict[str, str]:
    """The HTTP Date header on the simulator's clock (a manual clock's date, not the machine's)."""
    offset = state.config.date_offset_seconds
    return {"Date": email.utils.formatdate(state.model.origin_ms / 1000.0 + t + offset, usegmt=True)}


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
    if config.echo_token:
        headers["Ratelimit"] += f';echo="Bearer {config.token}"'
    return headers


def _json_response(status: int, body: Json, headers: Mapping[str, str]) -> Response:
    """A JSON response with the given headers."""
    return Response(orjson.dumps(body), status_code=status, headers=dict(headers), media_type=JSON_TYPE)


def _unauthorized(state: SimulatorState) -> tuple[int, Json]:
    """A 401 in unauthorized_form's body; mixed alternates the two by 401 answered so far."""
    form = state.config.unauthorized_form
    if form == "mixed":
        form = "v4" if state.stats.by_status["401"] % 2 == 0 else "message"
    if form == "message":
        return 401, dict(UNAUTHORIZED_MESSAGE)
    return 401, v4_error(10001, "Unable to authenticate request")


# A bearer credential is one run of token characters (Cloudflare's tokens are [A-Za-z0-9_-]); anything
# else in the header is a malformed header.
_CREDENTIAL = re.compile(r"[A-Za-z0-9._~+/=-]+")


def _authenticate(state: SimulatorState, request: Request) -> tuple[int, Json] | None:
    """The answer refusing a request's Authorization header (None when the token is good): 401 without
    one, 400 (6003/6111) for one not of the form `Bearer <token>`, 403 for a wrong token."""
    header = request.headers.get("authorization")
    if header is None or not header.strip():
        return _unauthorized(state)
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not _CREDENTIAL.fullmatch(credentials):
        return 400, auth_header_error()
    if not hmac.compare_digest(credentials.encode(), state.config.token.encode()):
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
        denied = _authenticate(state, request)
        if within(config.revoked, t):
            state.stats.faults_revoked += 1
            denied = _unauthorized(state)
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
        if config.echo_token:
            body = body | {"x_echo": f"Authorization: Bearer {config.token}"}
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
        rounding = state.config.analytics_rounding
        days = [
            daywise_item(totals, "date", None)
            | {"settled": totals.settled}
            | {f"rounded_{k}": v for k, v in analytics_totals(totals, rounding).items() if k != "count"}
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
                app_id=livestream.app_id,
                disabled=livestream.disabled,
                inactive_form=livestream.inactive_form,
                stream_key=livestream.stream_key,  # under its own name, whatever stream_key_field says
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
