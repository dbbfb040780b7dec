"""Every simulator response, on every endpoint and for every value of every shape knob, validates against
the published schema (tests/api/schema.py) with exactly its relaxations for the schema's known defects.

Relaxations (tests/api/schema.py RELAXATIONS, shared with the recorded bodies' test; docs/testing.md):
nulls_as_sent, disabled_boolean, list_as_array, details_sessions, active_figures_numbers,
fractional_figures. Each one that relaxes something is needed by some simulator response (validation fails
without it); details_sessions relaxes nothing the schema checks (it checks the sessions array the schema
ignores) and is shown to reject a simulator body with a string figure.

Beyond them, a response may fail only where a named VARIANT says, each a deliberate answer of the
simulator that the published schema does not describe, and each seen in some response:
- offline_status: a livestream status OFFLINE (the webhook docs; outside the schema's enum);
- nothing_active_data_null, nothing_active_session_null: two undocumented "nothing active" forms
  (realtimekit-api.md section 2: accept every form), not nullable in the schema;
- rate_limit_code: the gateway's 429 code 971, below the v4 envelope's documented minimum of 1000;
- app_id_not_uuid: app ids of at most 32 characters (the paths' documented limit), which the apps
  list's `format: uuid` (36 characters) cannot allow: the published documents contradict each other.

Error bodies are checked against the schema that documents them: the v4 envelope (gateway errors: 400
6003/6111, 401 10001, 403, 404 7003, 405, 429, 5xx), realtimekit_GenericErrorResponse (404s and the 200
success:false of RealtimeKit, 5xx in that envelope), realtimekit_ErrorResponse (400 BAD_REQUEST), and the
webhooks' documented 401 example {message: "Unauthorized"}.

Exempt, with why: fault_shape (its point is a body in no documented shape), fault_malformed and
fault_truncated (the body is not JSON at all), and the HTML page of fault_5xx (a gateway page, not JSON).
"""

from __future__ import annotations

import copy
import functools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any

import httpx
import pytest

from simulator import RunningSimulator, SimulatorConfig, running_simulator
from simulator.config import (
    ACTIVE_FIGURES,
    DAYWISE_DATE_FORMS,
    DETAILS_SHAPES,
    INACTIVE_FORMS,
    SHARE_KNOBS,
    UNAUTHORIZED_FORMS,
)
from tests.api.schema import (
    KIT,
    RELAXATIONS,
    SUBSET,
    Failures,
    at,
    error_schema,
    example,
    failures,
    relaxed,
)
from tests.helpers import SIM_START

# Two apps, so that the apps list pages. Not uuids: see the variant app_id_not_uuid.
APPS = ("sim-app-1", "sim-app-2")
# Every shape knob and its values; test_every_shape_knob_is_covered holds this to SimulatorConfig.
SHAPE_KNOBS: dict[str, tuple[str, ...]] = {
    "details_shape": DETAILS_SHAPES,
    "inactive_form": INACTIVE_FORMS,
    "daywise_date_form": DAYWISE_DATE_FORMS,
    "active_figures": ACTIVE_FIGURES,
    "unauthorized_form": UNAUTHORIZED_FORMS,
}
# Knobs whose point is to break a body's shape, and why they are not validated.
EXEMPT = {
    "fault_shape": "its answers are in no documented shape on purpose (no data, data as a list, ...)",
    "fault_malformed": "its body is a proper prefix of the JSON: not JSON at all",
    "fault_truncated": "its transfer stops halfway: no complete body",
}
# Literal-valued fields of SimulatorConfig that are not shape knobs: the clock and credentials, the order of
# a livestream's sessions (the same bodies, another order), how analytics round (integers every way), and
# the name of the stream key's field (hostile: off the schema on purpose, like the faults above).
NOT_SHAPES = {"clock", "account_id", "token", "sessions_order", "analytics_rounding", "stream_key_field"}
STEPS = (30.0, 70.0, 130.0, 200.0, 320.0)  # simulated seconds at which every endpoint is read
Route = str  # the endpoint names of tests/api/schema.py OPERATIONS, or an error kind
Body = tuple[Route, int, Any]  # (what was asked, HTTP status, decoded body)


@dataclass(frozen=True)
class Variant:
    """A deliberate simulator answer the schema does not describe: which failures it explains."""

    why: str
    explains: Callable[[Any, tuple[str | int, ...], str], bool]


def _at_or_none(body: Any, path: tuple[str | int, ...]) -> Any:
    try:
        return at(body, path)
    except (KeyError, IndexError, TypeError):
        return None


VARIANTS: dict[str, Variant] = {
    "app_id_not_uuid": Variant(
        "an app id that is not a uuid: the apps list types id as format uuid (its example is one, 36 "
        "characters), while the paths limit app_id to 32 characters (CFAPI); the simulator keeps the limit",
        lambda body, path, keyword: (
            len(path) == 3
            and path[0] == "data"
            and path[2] == "id"
            and keyword == "format"
            and isinstance(_at_or_none(body, path), str)
            and len(_at_or_none(body, path)) <= 32
        ),
    ),
    "offline_status": Variant(
        "status OFFLINE: a real livestream status (webhook docs), outside the schema's enum",
        lambda body, path, keyword: (
            keyword == "enum" and path[-1:] == ("status",) and _at_or_none(body, path) == "OFFLINE"
        ),
    ),
    "nothing_active_data_null": Variant(
        'the undocumented "nothing active" form data: null (realtimekit-api.md section 2)',
        lambda body, path, keyword: path == ("data",) and keyword == "type" and body.get("data") is None,
    ),
    "nothing_active_session_null": Variant(
        'the undocumented "nothing active" form data.session: null (realtimekit-api.md section 2)',
        lambda body, path, keyword: (
            path == ("data", "session") and keyword == "type" and _at_or_none(body, path) is None
        ),
    ),
    "rate_limit_code": Variant(
        "the gateway's 429 code 971, below the v4 envelope's minimum of 1000",
        lambda body, path, keyword: (
            path == ("errors", 0, "code") and keyword == "minimum" and _at_or_none(body, path) == 971
        ),
    ),
}


def _config(**changes: Any) -> SimulatorConfig:
    """A manual-clock simulator with the default (the API's) timings and every data variant in it."""
    base: dict[str, Any] = {
        "clock": "manual",
        "start_at": SIM_START,
        "app_ids": APPS,
        "livestreams": 8,
        "seed": 5,
        "budget_requests": 1_000_000,
        "errored_share": 0.2,
        "odd_status_share": 0.2,
        "disabled_as_string_share": 0.5,
        "short_share": 0.2,
        "dip_share": 0.2,
        "report_lag_seconds": 5.0,
    }
    return SimulatorConfig(**(base | changes))


def _read(client: httpx.Client, route: Route, path: str, **params: Any) -> Body:
    response = client.get(path, params=params)
    return route, response.status_code, response.json()


def _walk(sim: RunningSimulator) -> Iterator[Body]:
    """Every endpoint the simulator serves, for every livestream and session, at every step."""
    account = f"/accounts/{sim.config.account_id}/realtime/kit"
    with httpx.Client(
        base_url=sim.base_url, headers={"Authorization": f"Bearer {sim.config.token}"}
    ) as client:
        for step in STEPS:
            sim.advance_to(step)
            yield _read(client, "apps", f"{account}/apps", per_page=1)
            for app in sim.config.app_ids:
                kit = f"{account}/{app}"
                for page_no in (1, 2, 3):
                    yield _read(client, "livestreams", f"{kit}/livestreams", page_no=page_no, per_page=3)
                yield _read(client, "analytics_daywise", f"{kit}/analytics/livestreams/daywise")
                for livestream in sim.model.livestreams_of(app):
                    base = f"{kit}/livestreams/{livestream.id}"
                    yield _read(client, "active_session", f"{base}/active-livestream-session")
                    for page_no in (1, 2):
                        yield _read(client, "livestream_sessions", base, page_no=page_no, per_page=2)
                for session in sim.model.all_sessions(step):
                    if session.app_id == app:
                        yield _read(client, "session_by_id", f"{kit}/livestreams/sessions/{session.id}")


@functools.cache
def bodies(knob: str, value: str) -> tuple[Body, ...]:
    """Every response of a simulator with one shape knob set (each simulator walked once per run)."""
    with running_simulator(_config(**{knob: value})) as sim:
        return tuple(_walk(sim))


def error_bodies() -> list[Body]:
    """The simulator's error answers, each asked for as a client would meet it."""
    found: list[Body] = []
    config = _config(budget_requests=40, fault_routes=("list_apps",))
    with running_simulator(config) as sim:
        account = f"{sim.base_url}/accounts/{sim.config.account_id}/realtime/kit"
        good = {"Authorization": f"Bearer {sim.config.token}"}
        kit = f"{account}/{APPS[0]}"
        for name, url, headers in (
            ("401", f"{kit}/livestreams", {}),
            ("401", f"{kit}/livestreams", {}),
            ("400", f"{kit}/livestreams", {"Authorization": "Token abc"}),
            ("403", f"{kit}/livestreams", {"Authorization": "Bearer wrong"}),
        ):
            response = httpx.get(url, headers=headers)
            found.append((name, response.status_code, response.json()))
        with httpx.Client(headers=good) as client:
            for name, url in (
                ("404", f"{account}/no-such-app/livestreams"),
                ("404", f"{kit}/livestreams/{uuid.UUID(int=1)}"),
                ("404", f"{kit}/livestreams/sessions/nope"),
                ("404", f"{sim.base_url}/accounts/{sim.config.account_id}/stream/live_inputs"),
            ):
                response = client.get(url)
                found.append((name, response.status_code, response.json()))
            response = client.get(f"{kit}/livestreams", params={"page_no": "x"})
            found.append(("400", response.status_code, response.json()))
            sim.set_faults(fault_5xx=1.0)
            for _ in range(60):  # 5xx answers: HTML, v4 and RealtimeKit bodies, drawn per answer
                response = client.get(f"{account}/apps")
                if response.headers["content-type"].startswith("application/json"):
                    found.append(("5xx", response.status_code, response.json()))
                if response.status_code == 429:
                    break
            sim.advance(400)
            response = client.post(f"{kit}/livestreams")
            found.append(("405", response.status_code, response.json()))
    return found


def schema_of(route: Route, status: int, body: Any) -> Any:
    """The schema a response must satisfy; None for the 401 documented only by its example."""
    if isinstance(body, dict) and "errors" in body:
        return error_schema("v4")
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return error_schema(
            "realtimekit_ErrorResponse" if status == 400 else "realtimekit_GenericErrorResponse"
        )
    if status == 401:
        return None
    assert status == 200, (route, status, body)
    return relaxed(route)


def unexplained(body: Body, used: set[str] | None = None) -> Failures:
    """The failures of a response that no VARIANT explains (recording the variants used in `used`)."""
    route, status, decoded = body
    schema = schema_of(route, status, decoded)
    if schema is None:
        documented = at(SUBSET, example(f"{KIT}/{{app_id}}/webhooks", "default", method="post", status="401"))
        assert documented.split() == ["{", "message:", '"Unauthorized"', "}"]
        return set() if decoded == {"message": "Unauthorized"} else {((), "documented example")}
    left: Failures = set()
    for path, keyword in failures(decoded, schema):
        names = [name for name, variant in VARIANTS.items() if variant.explains(decoded, path, keyword)]
        if names and used is not None:
            used.update(names)
        if not names:
            left.add((path, keyword))
    return left


KNOB_VALUES = [(knob, value) for knob, values in SHAPE_KNOBS.items() for value in values]


def test_every_shape_knob_is_covered_and_the_exempt_knobs_are_the_shape_breaking_faults() -> None:
    literal = {f.name for f in fields(SimulatorConfig) if isinstance(getattr(SimulatorConfig(), f.name), str)}
    assert literal - NOT_SHAPES == set(SHAPE_KNOBS)
    assert set(EXEMPT) == set(SHARE_KNOBS) - {"fault_5xx", "fault_timeout"}


@pytest.mark.parametrize(("knob", "value"), KNOB_VALUES, ids=[f"{k}={v}" for k, v in KNOB_VALUES])
def test_every_simulator_response_validates_against_the_relaxed_published_schema(
    knob: str, value: str
) -> None:
    seen = bodies(knob, value)
    assert {route for route, _, _ in seen} == {
        "apps",
        "livestreams",
        "analytics_daywise",
        "active_session",
        "livestream_sessions",
        "session_by_id",
    }
    assert len(seen) > 300
    problems = [
        (route, status, sorted(left))
        for route, status, body in seen
        if (left := unexplained((route, status, body)))
    ]
    assert problems == []


def test_every_error_body_validates_against_the_schema_that_documents_it() -> None:
    found = error_bodies()
    assert [(name, status) for name, status, _ in found if name != "5xx"] == [
        ("401", 401),
        ("401", 401),
        ("400", 400),
        ("403", 403),
        ("404", 404),
        ("404", 404),
        ("404", 404),
        ("404", 404),
        ("400", 400),
        ("405", 405),
    ]
    assert {type(body.get("message")) for name, _, body in found if name == "401"} == {type(None), str}
    server_errors = [body for name, _, body in found if name == "5xx"]
    assert {"errors" in body for body in server_errors if "success" in body} == {True, False}
    assert any(status == 429 for name, status, _ in found if name == "5xx")
    used: set[str] = set()
    assert [
        (name, status, left)
        for name, status, body in found
        if (left := unexplained((name, status, body), used))
    ] == []
    assert used == {"rate_limit_code"}


def test_every_variant_is_met_and_every_relaxation_is_needed_by_some_simulator_response() -> None:
    every = [body for knob, value in KNOB_VALUES for body in bodies(knob, value)]
    used: set[str] = set()
    for body in every:
        unexplained(body, used)
    assert used == set(VARIANTS) - {"rate_limit_code"}  # that one is met by the error bodies
    for name in RELAXATIONS:
        if name == "details_sessions":
            continue  # relaxes nothing: see the next test
        needing = [
            body
            for body in every
            if body[1] == 200
            and isinstance(body[2], dict)
            and body[2].get("success") is not False
            and _fails_without(body, name)
        ]
        assert needing, f"no simulator response needs the relaxation {name}"


def _fails_without(body: Body, relaxation: str) -> bool:
    route, _, decoded = body
    return bool(failures(decoded, relaxed(route, without=relaxation)) - failures(decoded, relaxed(route)))


def test_details_sessions_checks_the_sessions_array_the_published_schema_ignores() -> None:
    top = next(
        body
        for route, _, body in bodies("details_shape", "top")
        if route == "livestream_sessions" and body["data"]["sessions"]
    )
    broken = copy.deepcopy(top)
    broken["data"]["sessions"][0]["ingest_seconds"] = "60"
    assert failures(top, relaxed("livestream_sessions")) == set()
    assert failures(broken, relaxed("livestream_sessions")) == {
        (("data", "sessions", 0, "ingest_seconds"), "type")
    }
    assert failures(broken, relaxed("livestream_sessions", without="details_sessions")) == set()
