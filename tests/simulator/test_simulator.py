"""Behaviour of the RealtimeKit simulator over real HTTP."""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cyclopts import CycloptsError

from simulator import (
    RunningSimulator,
    SimulatorConfig,
    running_simulator,
)
from simulator.cli import parse_serve
from simulator.model import Session, SimulatorModel

START = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
ACCOUNT = "sim-account"
APP = "sim-app"
KIT = f"/accounts/{ACCOUNT}/realtime/kit/{APP}"
AUTH = {"Authorization": "Bearer sim-token"}
MANUAL = SimulatorConfig(clock="manual", start_at=START)
V4_401 = {
    "success": False,
    "errors": [{"code": 10001, "message": "Unable to authenticate request"}],
    "messages": [],
    "result": None,
}
V4_403 = {
    "success": False,
    "errors": [{"code": 10000, "message": "Authentication error"}],
    "messages": [],
    "result": None,
}
V4_429 = {
    "success": False,
    "errors": [{"code": 971, "message": "Please wait and consider throttling your request speed"}],
    "messages": [],
    "result": None,
}


@contextmanager
def simulator(**overrides: Any) -> Iterator[tuple[RunningSimulator, httpx.Client]]:
    """A manual-clock simulator and an authenticated client for it."""
    with (
        running_simulator(replace(MANUAL, **overrides)) as sim,
        httpx.Client(base_url=sim.base_url, headers=AUTH) as client,
    ):
        yield sim, client


def truth(sim: RunningSimulator) -> list[dict[str, Any]]:
    """Ground-truth sessions at the simulator's current time."""
    sessions: list[dict[str, Any]] = httpx.get(f"{sim.root_url}/_simulator/sessions").json()["sessions"]
    return sessions


def stats(sim: RunningSimulator) -> dict[str, Any]:
    """The simulator's request counters."""
    body: dict[str, Any] = httpx.get(f"{sim.root_url}/_simulator/stats").json()
    return body


def first_session(model: SimulatorModel, position: int = 0) -> Session:
    """The first session of the livestream at position in the fleet."""
    return model.sessions_created(model.livestreams[position], 10_000.0)[0]


def inactive_kind(response: httpx.Response) -> str:
    """Which 'nothing active' form a response is."""
    body = response.json()
    if response.status_code == 404:
        assert body["success"] is False
        assert body["error"]["code"] == 404
        assert body["error"]["message"].startswith("No active livestream session found for livestream_id")
        return "404"
    assert response.status_code == 200
    if body["success"] is False:
        assert body["error"]["code"] == 404
        return "success_false"
    if "data" not in body:
        return "no_data_missing"
    if body["data"] is None:
        return "no_data_null"
    assert body["data"]["session"] is None
    assert body["data"]["livestream"]["id"]
    return "null_session"


V4_400_HEADER = {
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


def test_missing_authorization_gets_401_in_both_documented_bodies_alternating() -> None:
    with simulator() as (sim, _):
        answers = [httpx.get(f"{sim.base_url}{KIT}/livestreams") for _ in range(4)]
        assert [(a.status_code, a.json()) for a in answers] == [
            (401, V4_401),
            (401, {"message": "Unauthorized"}),
        ] * 2
        assert answers[0].headers["Ratelimit-Policy"] == '"burst";q=1200;w=300'
    for form, body in (("v4", V4_401), ("message", {"message": "Unauthorized"})):
        with simulator(unauthorized_form=form) as (sim, _):
            bodies = [httpx.get(f"{sim.base_url}{KIT}/livestreams").json() for _ in range(2)]
            assert bodies == [body, body]


@pytest.mark.parametrize("header", ["Basic c2ltOnRva2Vu", "Bearer", "Bearer two words", "sim-token"])
def test_a_malformed_authorization_header_gets_400_with_6003_and_the_chained_6111(header: str) -> None:
    with simulator() as (sim, _):
        answer = httpx.get(f"{sim.base_url}{KIT}/livestreams", headers={"Authorization": header})
        assert (answer.status_code, answer.json()) == (400, V4_400_HEADER)


def test_wrong_token_or_wrong_account_gets_403_v4_envelope() -> None:
    with simulator() as (sim, client):
        wrong_token = httpx.get(f"{sim.base_url}{KIT}/livestreams", headers={"Authorization": "Bearer nope"})
        wrong_account = client.get("/accounts/other-account/realtime/kit/sim-app/livestreams")
        assert (wrong_token.status_code, wrong_token.json()) == (403, V4_403)
        assert (wrong_account.status_code, wrong_account.json()) == (403, V4_403)


def test_unknown_app_livestream_and_session_get_realtimekit_404_and_unknown_route_v4_404() -> None:
    with simulator() as (_, client):
        unknown_app = client.get(f"/accounts/{ACCOUNT}/realtime/kit/no-such-app/livestreams")
        unknown_livestream = client.get(f"{KIT}/livestreams/00000000-0000-4000-8000-000000000000")
        unknown_active = client.get(f"{KIT}/livestreams/nope/active-livestream-session")
        unknown_session = client.get(f"{KIT}/livestreams/sessions/nope")
        for response in (unknown_app, unknown_livestream, unknown_active, unknown_session):
            assert response.status_code == 404
            assert response.json()["success"] is False
            assert response.json()["error"]["code"] == 404
        unknown_route = client.get(f"/accounts/{ACCOUNT}/stream/live_inputs")
        assert unknown_route.status_code == 404
        assert unknown_route.json()["errors"][0]["code"] == 7003


def test_apps_list_pages_newest_first_by_default_ascending_on_request_and_searches_names() -> None:
    with simulator(app_ids=("app-a", "app-b", "app-c"), default_per_page=20) as (sim, client):
        apps_url = f"/accounts/{ACCOUNT}/realtime/kit/apps"
        oldest_first = [app.id for app in sorted(sim.model.apps, key=lambda app: app.created_ms)]
        body = client.get(apps_url, params={"per_page": 2}).json()
        assert [app["id"] for app in body["data"]] == oldest_first[::-1][:2]
        assert body["paging"] == {"total_count": 3, "start_offset": 1, "end_offset": 2}
        assert body["data"][0]["created_at"].endswith("Z")
        ascending = client.get(apps_url, params={"sort_order": "asc"}).json()["data"]
        assert [app["id"] for app in ascending] == oldest_first
        found = client.get(apps_url, params={"search": "APP 2"}).json()
        assert [app["name"] for app in found["data"]] == ["Simulated app 2"]
        assert found["paging"]["total_count"] == 1
        assert client.get(apps_url, params={"sort_order": "DSC"}).status_code == 400
    with simulator(app_ids=tuple(f"app-{n}" for n in range(25))) as (_, client):
        page = client.get(f"/accounts/{ACCOUNT}/realtime/kit/apps").json()
        assert (len(page["data"]), page["paging"]["total_count"]) == (20, 25)  # per_page default 20


@pytest.mark.parametrize("form", ["string", "number", "mixed"])
def test_active_session_sends_figures_as_strings_or_numbers_and_by_id_as_numbers(form: str) -> None:
    with simulator(live_seconds=(60.0, 80.0), placeholder_seconds=(8.0, 8.0), active_figures=form) as (
        sim,
        client,
    ):
        kinds = set()
        for position in (0, 1):
            session = first_session(sim.model, position)
            assert session.started_ms is not None
            sim.advance_to(max(sim.now(), session.started_ms / 1000 + 33.3))
            livestream_id = session.livestream_id
            active = client.get(f"{KIT}/livestreams/{livestream_id}/active-livestream-session").json()
            by_id = client.get(f"{KIT}/livestreams/sessions/{session.id}").json()["data"]
            active_session = active["data"]["session"]
            assert active["data"]["livestream"]["status"] == "LIVE"
            kind = type(active_session["ingest_seconds"])
            assert type(active_session["viewer_seconds"]) is (str if kind is str else float)
            kinds.add(kind)
            assert isinstance(by_id["ingest_seconds"], int)
            assert isinstance(by_id["viewer_seconds"], float)
            assert int(active_session["ingest_seconds"]) == by_id["ingest_seconds"]
            assert float(active_session["viewer_seconds"]) == by_id["viewer_seconds"]
            if kind is str:
                assert re.fullmatch(r"\d+\.\d{6,}", str(active_session["viewer_seconds"]))
        expected = {"string": {str}, "number": {int}, "mixed": {str, int}}[form]
        assert kinds == expected  # mixed: by fleet position, number at even positions


def test_placeholder_60_is_reported_early_in_live_phase_while_ground_truth_is_true() -> None:
    config = {"live_seconds": (60.0, 80.0), "placeholder_seconds": (8.0, 8.0), "active_figures": "number"}
    with simulator(**config) as (sim, client):
        session = first_session(sim.model)
        assert session.started_ms is not None
        assert session.created_ms is not None
        active_url = f"{KIT}/livestreams/{session.livestream_id}/active-livestream-session"
        sim.advance_to(session.invoked_ms / 1000 + 0.001)
        inactive_kind(client.get(active_url))  # INVOKED: no session yet, in one of the "nothing" forms
        sim.advance_to(session.created_ms / 1000 + 0.5)
        early = client.get(active_url).json()["data"]["session"]
        early_by_id = client.get(f"{KIT}/livestreams/sessions/{session.id}").json()["data"]
        early_truth = next(s for s in truth(sim) if s["id"] == session.id)
        assert (early["ingest_seconds"], early["viewer_seconds"]) == (60, 60)
        assert (early_by_id["ingest_seconds"], early_by_id["viewer_seconds"]) == (60, 60)
        assert early_truth["ingest_seconds"] <= 3
        assert early_truth["viewer_seconds"] != 60

        sim.advance_to(session.started_ms / 1000 + 8.5)
        later = client.get(active_url).json()["data"]["session"]
        later_truth = next(s for s in truth(sim) if s["id"] == session.id)
        assert later["ingest_seconds"] == later_truth["ingest_seconds"] <= 8
        assert later["viewer_seconds"] == later_truth["viewer_seconds"]


def test_the_placeholder_lasts_40_to_50_seconds_by_default_and_a_session_stopped_within_it_keeps_it() -> None:
    with simulator(live_seconds=(20.0, 30.0), gap_seconds=(60.0, 90.0)) as (sim, client):
        session = first_session(sim.model)
        assert session.started_ms is not None
        assert 40_000 <= session.placeholder_until_ms - session.started_ms <= 50_000
        url = f"{KIT}/livestreams/sessions/{session.id}"
        for moment in (session.stopped_ms - 500, session.stopped_ms + 1_000, session.final_ms - 500):
            sim.advance_to(moment / 1000)
            body = client.get(url).json()["data"]
            assert (body["ingest_seconds"], body["viewer_seconds"]) == (60, 60), moment
        sim.advance_to(session.final_ms / 1000)
        landed = client.get(url).json()["data"]
        true = next(s for s in truth(sim) if s["id"] == session.id)
        assert (landed["ingest_seconds"], landed["viewer_seconds"]) == (
            true["ingest_seconds"],
            true["viewer_seconds"],
        )
        assert landed["ingest_seconds"] < 60


def test_a_session_record_appears_only_once_ingest_started_with_the_published_timestamps() -> None:
    with simulator(live_seconds=(60.0, 80.0), inactive_form="404") as (sim, client):
        session = first_session(sim.model)
        assert session.started_ms is not None
        assert session.created_ms is not None
        assert 1_000 <= session.created_ms - session.started_ms <= 2_000
        active_url = f"{KIT}/livestreams/{session.livestream_id}/active-livestream-session"
        by_id_url = f"{KIT}/livestreams/sessions/{session.id}"
        details_url = f"{KIT}/livestreams/{session.livestream_id}"
        for moment in (session.invoked_ms + 1, session.started_ms, session.created_ms - 1):
            sim.advance_to(moment / 1000)
            status = "INVOKED" if moment < session.started_ms else "LIVE"
            listed = client.get(f"{KIT}/livestreams", params={"per_page": 100}).json()["data"]
            assert next(ls for ls in listed if ls["id"] == session.livestream_id)["status"] == status
            assert inactive_kind(client.get(active_url)) == "404"  # an INVOKED livestream has no session
            assert client.get(by_id_url).status_code == 404
            assert client.get(details_url).json()["data"]["sessions"] == []
            assert session.id not in {s["id"] for s in truth(sim)}
        sim.advance_to(session.created_ms / 1000)
        shown = client.get(active_url).json()["data"]["session"]
        assert shown["invoked_time"] is None
        assert re.fullmatch(r".*T\d\d:\d\d:\d\d\.000Z", shown["started_time"])
        assert shown["created_at"] == shown["updated_at"] == sim.model.iso(session.created_ms)
        sim.advance_to(session.stopped_ms / 1000 + 1)
        stopped = client.get(by_id_url).json()["data"]
        assert re.fullmatch(r".*T\d\d:\d\d:\d\d\.000Z", stopped["stopped_time"])
        assert stopped["updated_at"] == stopped["stopped_time"]
        sim.advance_to(session.final_ms / 1000)
        landed = client.get(by_id_url).json()["data"]
        assert 55_000 <= session.final_ms - session.stopped_ms <= 65_000
        assert landed["updated_at"] == sim.model.iso(session.final_ms)


def test_session_goes_invoked_live_stopped_then_lingers_and_disappears() -> None:
    config = {
        "gap_seconds": (25.0, 30.0),
        "linger_seconds": 10.0,
        "inactive_form": "404",
        "placeholder_seconds": (8.0, 8.0),
        "final_after_seconds": (5.0, 5.0),
    }
    with simulator(**config) as (sim, client):
        session = first_session(sim.model)
        assert session.started_ms is not None
        assert session.created_ms is not None
        url = f"{KIT}/livestreams/{session.livestream_id}/active-livestream-session"

        assert inactive_kind(client.get(url)) == "404"
        sim.advance_to(session.invoked_ms / 1000 + 0.01)
        assert inactive_kind(client.get(url)) == "404"  # INVOKED: no session record yet
        sim.advance_to(session.created_ms / 1000 + 0.01)
        live = client.get(url).json()["data"]
        assert live["livestream"]["status"] == "LIVE"
        assert live["session"]["started_time"] is not None
        assert live["session"]["stopped_time"] is None

        sim.advance_to(session.stopped_ms / 1000 + 9.0)
        lingering = client.get(url).json()["data"]
        final = next(s for s in truth(sim) if s["id"] == session.id)
        assert lingering["session"]["id"] == session.id
        assert lingering["session"]["stopped_time"] == final["stopped_time"] is not None
        assert lingering["livestream"]["status"] == final["status"] == session.outcome
        assert int(lingering["session"]["ingest_seconds"]) == final["ingest_seconds"]
        assert float(lingering["session"]["viewer_seconds"]) == final["viewer_seconds"]
        assert final["is_final"] is True

        sim.advance_to(session.stopped_ms / 1000 + 11.0)
        assert inactive_kind(client.get(url)) == "404"
        listed = client.get(f"{KIT}/livestreams", params={"per_page": 100}).json()["data"]
        assert next(ls for ls in listed if ls["id"] == session.livestream_id)["status"] == session.outcome


def test_sessions_end_errored_with_err_message_or_with_odd_offline_status() -> None:
    with simulator(errored_share=0.5, odd_status_share=0.5) as (sim, client):
        sim.advance_to(400.0)
        finals = [s for s in truth(sim) if s["is_final"]]
        statuses = {s["status"] for s in finals}
        assert statuses == {"ERRORED", "OFFLINE"}
        for s in finals:
            assert (s["err_message"] is not None) == (s["status"] == "ERRORED")
        # A session that errors before going LIVE never gets a record: not in the truth, 404 by id.
        recordless = [
            x
            for ls in sim.model.livestreams
            for x in sim.model.sessions_created(ls, 400.0)
            if x.created_ms is None
        ]
        assert recordless
        assert all(x.outcome == "ERRORED" and x.started_ms is None for x in recordless)
        assert not {x.id for x in recordless} & {s["id"] for s in truth(sim)}
        assert client.get(f"{KIT}/livestreams/sessions/{recordless[0].id}").status_code == 404
        assert all(s["started_time"] is not None for s in finals)
        errored = next(s for s in finals if s["status"] == "ERRORED")
        by_id = client.get(f"{KIT}/livestreams/sessions/{errored['id']}").json()["data"]
        assert by_id["err_message"] == errored["err_message"]


def test_mixed_inactive_form_produces_every_nothing_active_form() -> None:
    with simulator(inactive_form="mixed") as (sim, client):
        kinds = {
            inactive_kind(client.get(f"{KIT}/livestreams/{ls.id}/active-livestream-session"))
            for ls in sim.model.livestreams
        }
        assert kinds == {"404", "success_false", "no_data_missing", "no_data_null", "null_session"}


@pytest.mark.parametrize(
    ("form", "kinds"),
    [
        ("404", {"404"}),
        ("null_session", {"null_session"}),
        ("no_data", {"no_data_missing", "no_data_null"}),
        ("success_false", {"success_false"}),
    ],
)
def test_configured_inactive_form_is_used_by_every_livestream(form: str, kinds: set[str]) -> None:
    with simulator(inactive_form=form, livestreams=8) as (sim, client):
        seen = {
            inactive_kind(client.get(f"{KIT}/livestreams/{ls.id}/active-livestream-session"))
            for ls in sim.model.livestreams
        }
        assert seen == kinds


def test_the_list_pages_with_one_based_offsets_and_an_empty_page_past_the_end() -> None:
    with simulator(livestreams=25) as (_, client):
        pages = [
            client.get(f"{KIT}/livestreams", params={"page_no": n, "per_page": 10}).json()
            for n in (1, 2, 3, 4)
        ]
        offsets = [(p["paging"]["start_offset"], p["paging"]["end_offset"]) for p in pages]
        assert offsets == [(1, 10), (11, 20), (21, 25), (31, 30)]
        assert all(p["paging"]["total_count"] == 25 for p in pages)
        assert [len(p["data"]) for p in pages] == [10, 10, 5, 0]
        ids = [ls["id"] for p in pages for ls in p["data"]]
        assert len(set(ids)) == 25
        default_page = client.get(f"{KIT}/livestreams").json()
        capped_page = client.get(f"{KIT}/livestreams", params={"per_page": 1000}).json()
        assert len(default_page["data"]) == 20
        assert len(capped_page["data"]) == 25


def test_the_list_is_always_an_array_with_top_level_paging_as_every_published_example() -> None:
    with simulator(livestreams=5) as (_, client):
        for page_no in (1, 2, 3):
            body = client.get(f"{KIT}/livestreams", params={"per_page": 2, "page_no": page_no}).json()
            assert set(body) == {"success", "data", "paging"}
            assert isinstance(body["data"], list)
        livestream = body["data"][0]
        assert set(livestream) == {
            "id",
            "name",
            "meeting_id",
            "status",
            "disabled",
            "ingest_server",
            "playback_url",
            "stream_key",
            "created_at",
            "updated_at",
        }
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", livestream["created_at"])


def test_status_filter_returns_only_livestreams_in_that_status() -> None:
    with simulator() as (sim, client):
        sim.advance_to(40.0)
        every = client.get(f"{KIT}/livestreams", params={"per_page": 100}).json()["data"]
        live = client.get(f"{KIT}/livestreams", params={"per_page": 100, "status": "LIVE"}).json()
        expected = {ls["id"] for ls in every if ls["status"] == "LIVE"}
        assert expected
        assert {ls["id"] for ls in live["data"]} == expected
        assert live["paging"]["total_count"] == len(expected) < len(every)


def test_disabled_is_sometimes_sent_as_a_string_and_disabled_livestreams_never_stream() -> None:
    with simulator(disabled_as_string_share=0.5, disabled_share=0.3) as (sim, client):
        sim.advance_to(300.0)
        listed = client.get(f"{KIT}/livestreams", params={"per_page": 100}).json()["data"]
        assert {ls["disabled"] for ls in listed} == {True, False, "true", "false"}
        disabled = {ls["id"] for ls in listed if ls["disabled"] in (True, "true")}
        assert disabled == {ls.id for ls in sim.model.livestreams if ls.disabled}
        assert all(ls["status"] == "IDLE" for ls in listed if ls["id"] in disabled)
        streamed = {s["livestream_id"] for s in truth(sim)}
        assert streamed
        assert streamed.isdisjoint(disabled)


def test_livestream_details_lists_sessions_so_far_newest_first_as_numbers() -> None:
    with simulator() as (sim, client):
        livestream_id = sim.model.livestreams[0].id
        sim.advance_to(600.0)
        expected = [s["id"] for s in truth(sim) if s["livestream_id"] == livestream_id][::-1]
        assert len(expected) >= 4
        body = client.get(f"{KIT}/livestreams/{livestream_id}", params={"per_page": 3}).json()
        assert body["data"]["livestream"]["id"] == livestream_id
        assert [s["id"] for s in body["data"]["sessions"]] == expected[:3]
        assert body["paging"] == {"total_count": len(expected), "start_offset": 1, "end_offset": 3}
        for session in body["data"]["sessions"]:
            assert isinstance(session["ingest_seconds"], int)
            assert isinstance(session["viewer_seconds"], float | int)


def test_ground_truth_matches_session_by_id_for_every_session() -> None:
    with simulator(placeholder_seconds=(0.0, 0.0)) as (sim, client):
        sim.advance_to(150.0)
        sessions = truth(sim)
        assert len(sessions) > 20
        assert any(not s["is_final"] for s in sessions)
        for expected in sessions:
            served = client.get(f"{KIT}/livestreams/sessions/{expected['id']}").json()["data"]
            assert served == {key: expected[key] for key in served}


def test_exceeding_budget_gets_429_with_retry_after_and_code_971_until_the_block_ends() -> None:
    with simulator(budget_requests=5, budget_window_seconds=60.0, block_seconds=120.0) as (sim, client):
        served = [client.get(f"{KIT}/livestreams") for _ in range(5)]
        assert [r.headers["Ratelimit"] for r in served] == [f'"default";r={n};t=60' for n in (4, 3, 2, 1, 0)]
        assert all(r.headers["Ratelimit-Policy"] == '"burst";q=5;w=60' for r in served)

        refused = client.get(f"{KIT}/livestreams")
        assert (refused.status_code, refused.json()) == (429, V4_429)
        assert refused.headers["Retry-After"] == "120"
        assert refused.headers["Ratelimit"].startswith('"default";r=0;')

        sim.advance(70.0)
        still_blocked = client.get(f"{KIT}/livestreams")
        assert still_blocked.status_code == 429
        assert still_blocked.headers["Retry-After"] == "50"

        sim.advance(51.0)
        assert client.get(f"{KIT}/livestreams").status_code == 200
        counters = stats(sim)
        assert counters["rate_limited"] == 2
        assert counters["max_in_window"] == 6
        assert counters["by_status"] == {"200": 6, "429": 2}


def test_client_that_paces_itself_never_exceeds_budget_in_any_window() -> None:
    with simulator(budget_requests=10, budget_window_seconds=10.0) as (sim, client):
        statuses = []
        for _ in range(6):
            for _ in range(5):
                statuses.append(client.get(f"{KIT}/livestreams").status_code)
                sim.advance(1.0)
        assert set(statuses) == {200}
        counters = stats(sim)
        assert counters["max_in_window"] == 10
        assert counters["rate_limited"] == 0


def test_5xx_faults_come_at_roughly_the_configured_share_with_html_and_json_bodies() -> None:
    with simulator(fault_5xx=0.3, budget_requests=10_000) as (sim, client):
        responses = [client.get(f"/accounts/{ACCOUNT}/realtime/kit/apps") for _ in range(400)]
        failed = [r for r in responses if r.status_code >= 500]
        assert 0.22 <= len(failed) / len(responses) <= 0.38
        assert {r.status_code for r in failed} == {500, 502, 503, 504}
        html = [r for r in failed if r.headers["content-type"].startswith("text/html")]
        v4 = [r for r in failed if r.headers["content-type"] == "application/json" and "errors" in r.json()]
        assert html
        assert "cloudflare" in html[0].text
        assert v4
        assert all("Ratelimit" in r.headers for r in failed)
        assert stats(sim)["faults_5xx"] == len(failed)


def test_malformed_faults_truncate_json_at_roughly_the_configured_share() -> None:
    with simulator(fault_malformed=0.25, budget_requests=10_000) as (sim, client):
        broken = 0
        for _ in range(400):
            response = client.get(f"{KIT}/livestreams")
            assert response.status_code == 200
            try:
                json.loads(response.content)
            except ValueError:
                broken += 1
        assert 0.17 <= broken / 400 <= 0.33
        assert stats(sim)["faults_malformed"] == broken


def test_same_seed_gives_same_ids_and_timelines_regardless_of_request_order() -> None:
    with simulator() as (first, _), simulator() as (second, _), simulator(seed=8) as (other, _):
        truth(second)
        second.advance_to(100.0)
        truth(second)
        for sim in (first, second, other):
            sim.advance_to(300.0)
        first_livestreams = httpx.get(f"{first.root_url}/_simulator/livestreams").json()
        second_livestreams = httpx.get(f"{second.root_url}/_simulator/livestreams").json()
        other_livestreams = httpx.get(f"{other.root_url}/_simulator/livestreams").json()
        assert first_livestreams == second_livestreams
        assert truth(first) == truth(second)
        assert len(truth(first)) > 40
        first_ids = {ls["id"] for ls in first_livestreams["livestreams"]}
        assert first_ids.isdisjoint(ls["id"] for ls in other_livestreams["livestreams"])


def test_stream_key_is_a_long_hex_secret_distinct_per_livestream() -> None:
    with simulator() as (sim, client):
        listed = client.get(f"{KIT}/livestreams", params={"per_page": 100}).json()["data"]
        keys = [ls["stream_key"] for ls in listed]
        assert all(re.fullmatch(r"[0-9a-f]{32,}", key) for key in keys)
        assert len(set(keys)) == len(keys) == sim.config.livestreams


def test_latency_delays_requests_without_serialising_them() -> None:
    async def burst(base_url: str) -> float:
        async with httpx.AsyncClient(base_url=base_url, headers=AUTH) as client:
            began = time.perf_counter()
            responses = await asyncio.gather(*(client.get(f"{KIT}/livestreams") for _ in range(8)))
            assert {r.status_code for r in responses} == {200}
            return time.perf_counter() - began

    with simulator(latency_ms=200.0) as (sim, _):
        elapsed = asyncio.run(burst(sim.base_url))
        assert 0.2 <= elapsed < 0.8


def test_clock_control_advances_manual_clock_and_refuses_real_clock() -> None:
    with simulator() as (sim, _):
        advanced = httpx.post(f"{sim.root_url}/_simulator/clock", json={"advance_seconds": 90})
        assert advanced.json()["now"] == "2026-11-27T18:01:30.000Z"
        assert httpx.post(f"{sim.root_url}/_simulator/clock", json={"advance_seconds": -1}).status_code == 400
    with running_simulator(SimulatorConfig()) as real:
        refused = httpx.post(f"{real.root_url}/_simulator/clock", json={"advance_seconds": 1})
        assert refused.status_code == 409
        with pytest.raises(RuntimeError):
            real.advance(1.0)


def test_figures_follow_live_time_and_freeze_at_stop() -> None:
    model = SimulatorModel(replace(MANUAL, live_seconds=(50.0, 60.0)), START)
    session = first_session(model)
    assert session.started_ms is not None
    start = session.started_ms / 1000
    a, b = session.true_figures(start + 21.0), session.true_figures(start + 29.0)
    assert b.viewer_seconds - a.viewer_seconds == pytest.approx(session.viewer_rates[2] * 8.0)
    assert 0.92 * 29.0 <= b.ingest_seconds < 29.0
    stop = session.stopped_ms / 1000
    assert session.true_figures(stop) == session.true_figures(stop + 500.0)
    assert session.reported_figures(start + 1.0).placeholder
    assert not session.reported_figures(stop + 1.0, 10.0).placeholder


def test_cli_helpers_build_the_config_from_argv() -> None:
    options = parse_serve(
        [
            "--port",
            "0",
            "--seed",
            "3",
            "--apps",
            "2",
            "--clock",
            "manual",
            "--fault-5xx",
            "0.1",
            "--budget",
            "50",
        ]
    )
    config = options.config()
    assert options.port == 0
    assert config.app_ids == ("sim-app-1", "sim-app-2")
    assert (config.seed, config.clock, config.fault_5xx, config.budget_requests) == (3, "manual", 0.1, 50)
    named = parse_serve(["--apps", "alpha,beta"]).config()
    assert named.app_ids == ("alpha", "beta")
    with pytest.raises(ValueError, match="fault_5xx"):
        parse_serve(["--fault-5xx", "2"]).config()


def by_id(client: httpx.Client, session_id: str) -> dict[str, Any]:
    """Session by id as the API serves it."""
    data: dict[str, Any] = client.get(f"{KIT}/livestreams/sessions/{session_id}").json()["data"]
    return data


def truth_of(sim: RunningSimulator, session_id: str) -> dict[str, Any]:
    """The ground-truth row of one session."""
    return next(s for s in truth(sim) if s["id"] == session_id)


def parse_iso(text: str) -> datetime:
    """An API timestamp as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_after_the_stop_the_figures_of_the_stop_repeat_until_the_final_ones_land_a_minute_later() -> None:
    lag = 15.0
    config = {
        "report_lag_seconds": lag,
        "live_seconds": (40.0, 60.0),
        "linger_seconds": 10.0,
        "placeholder_seconds": (8.0, 8.0),
        "active_figures": "string",
    }
    with simulator(**config) as (sim, client):
        session = first_session(sim.model)
        assert session.started_ms is not None
        start, stop, landing = session.started_ms / 1000, session.stopped_ms / 1000, session.final_ms / 1000
        assert 55.0 <= landing - stop <= 65.0  # the default final_after_seconds: the example's 62 s

        sim.advance_to(start + 30.0)
        live = by_id(client, session.id)
        live_truth = truth_of(sim, session.id)
        assert live["ingest_seconds"] == session.true_figures(start + 30.0 - lag).ingest_seconds
        assert live["ingest_seconds"] < live_truth["ingest_seconds"]
        assert live["viewer_seconds"] == live_truth["reported_viewer_seconds"] < live_truth["viewer_seconds"]

        final = session.true_figures(stop)
        at_stop = session.true_figures(stop - lag)
        readings = []
        for after_stop in (0.001, 5.0, 20.0, landing - stop - 0.5):
            sim.advance_to(stop + after_stop)
            served = by_id(client, session.id)
            row = truth_of(sim, session.id)
            assert served["stopped_time"] is not None
            assert served["updated_at"] == served["stopped_time"]
            assert (row["is_final"], row["settled"]) == (True, False)
            assert (row["ingest_seconds"], row["viewer_seconds"]) == (
                final.ingest_seconds,
                final.viewer_seconds,
            )
            assert (row["reported_ingest_seconds"], row["reported_viewer_seconds"]) == (
                served["ingest_seconds"],
                served["viewer_seconds"],
            )
            readings.append((served["ingest_seconds"], served["viewer_seconds"]))
            if after_stop < 10.0:  # still lingering: the active endpoint reports the same figures
                active = client.get(f"{KIT}/livestreams/{session.livestream_id}/active-livestream-session")
                assert active.json()["data"]["session"]["ingest_seconds"] == str(served["ingest_seconds"])
        assert set(readings) == {(at_stop.ingest_seconds, at_stop.viewer_seconds)}
        assert readings[0][0] < final.ingest_seconds
        assert readings[0][1] < final.viewer_seconds

        for after_stop in (landing - stop, landing - stop + 400.0):
            sim.advance_to(stop + after_stop)
            settled = by_id(client, session.id)
            row = truth_of(sim, session.id)
            assert row["settled"] is True
            assert settled["updated_at"] == sim.model.iso(session.final_ms)
            assert (settled["ingest_seconds"], settled["viewer_seconds"]) == (
                row["ingest_seconds"],
                row["viewer_seconds"],
            )
            assert (settled["ingest_seconds"], settled["viewer_seconds"]) == (
                final.ingest_seconds,
                final.viewer_seconds,
            )


def test_short_sessions_live_for_short_live_seconds_and_keep_every_other_draw() -> None:
    with simulator(short_share=0.4, short_live_seconds=(2.0, 6.0)) as (sim, client):
        sim.advance_to(600.0)
        rows = [s for s in truth(sim) if s["is_final"] and s["started_time"] is not None]
        durations = {
            s["id"]: (parse_iso(s["stopped_time"]) - parse_iso(s["started_time"])).total_seconds()
            for s in rows
        }
        # Started and stopped on whole seconds, so a 2-6 s phase lasts 2 to 6 whole seconds.
        short = {sid: d for sid, d in durations.items() if d <= 6.0}
        assert 0.2 <= len(short) / len(durations) <= 0.6
        assert all(2.0 <= d <= 6.0 and d.is_integer() for d in short.values())
        assert min(d for d in durations.values() if d > 6.0) >= 20.0
        now = sim.now()
        lives = []
        for sid in short:
            found = sim.model.session(sid, now)
            assert found is not None
            lives.append((found.stopped_ms - found.invoked_ms) / 1000)
        assert min(lives) < 10.0  # invoked, started and stopped between two polls 10 s apart
        served = by_id(client, next(iter(short)))
        assert served["started_time"] is not None
        assert served["stopped_time"] is not None

    long_model = SimulatorModel(replace(MANUAL, short_share=0.0), START)
    short_model = SimulatorModel(replace(MANUAL, short_share=1.0, short_live_seconds=(2.0, 6.0)), START)
    for position in range(len(long_model.livestreams)):
        long_first, short_first = first_session(long_model, position), first_session(short_model, position)
        same = ("id", "invoked_ms", "started_ms", "outcome", "err_message", "ingest_factor")
        assert [getattr(short_first, f) for f in same] == [getattr(long_first, f) for f in same]
        rates = short_first.viewer_rates
        assert rates == long_first.viewer_rates[: len(rates)]
        if short_first.started_ms is not None:
            assert short_first.short
            assert 2000 <= short_first.stopped_ms - short_first.started_ms <= 6000


def _poll_by_id(
    sim: RunningSimulator, client: httpx.Client, steps: int
) -> tuple[dict[str, list[tuple[int, float]]], dict[str, list[tuple[int, float]]]]:
    """Reported (by id) and true figures of every unsettled session, every 2 simulated seconds."""
    reported: dict[str, list[tuple[int, float]]] = {}
    true: dict[str, list[tuple[int, float]]] = {}
    with httpx.Client(base_url=sim.root_url) as control:
        for _ in range(steps):
            sim.advance(2.0)
            for row in control.get("/_simulator/sessions").json()["sessions"]:
                if row["started_time"] is None or row["settled"]:
                    continue
                served = by_id(client, row["id"])
                reported.setdefault(row["id"], []).append(
                    (served["ingest_seconds"], served["viewer_seconds"])
                )
                true.setdefault(row["id"], []).append((row["ingest_seconds"], row["viewer_seconds"]))
    return reported, true


def _has_decrease(series: list[tuple[int, float]]) -> bool:
    """True when some reading is lower than an earlier one (ingest or viewer)."""
    return any(b[0] < a[0] or b[1] < a[1] for i, b in enumerate(series) for a in series[:i])


@pytest.mark.parametrize("dip_share", [0.0, 0.3])
def test_dips_make_reported_figures_go_down_while_truth_is_monotonic_and_finals_are_true(
    dip_share: float,
) -> None:
    config = {
        "dip_share": dip_share,
        "placeholder_seconds": (0.0, 0.0),
        "livestreams": 4,
        "budget_requests": 100_000,
    }
    with simulator(**config) as (sim, client):
        reported, true = _poll_by_id(sim, client, 75)
        assert len(reported) >= 6
        assert not any(_has_decrease(series) for series in true.values())
        dipped = [sid for sid, series in reported.items() if _has_decrease(series)]
        if dip_share:
            assert len(dipped) >= 2
        else:
            assert dipped == []
        sim.advance(200.0)
        finals = {row["id"]: row for row in truth(sim)}
        for session_id in reported:
            row = finals[session_id]
            assert row["settled"] is True
            served = by_id(client, session_id)
            assert (served["ingest_seconds"], served["viewer_seconds"]) == (
                row["ingest_seconds"],
                row["viewer_seconds"],
            )


def test_dips_never_touch_the_placeholder_or_the_settled_figures() -> None:
    config = replace(MANUAL, live_seconds=(60.0, 80.0), placeholder_seconds=(8.0, 8.0))
    session = first_session(SimulatorModel(config, START))
    assert session.started_ms is not None
    start, stop, landing = session.started_ms / 1000, session.stopped_ms / 1000, session.final_ms / 1000
    assert session.reported_figures(start + 3.0, 0.0, 1.0).placeholder
    dipped = session.reported_figures(start + 25.0, 0.0, 1.0)
    base = session.true_figures(start + 20.0)
    assert 0.8 * base.viewer_seconds <= dipped.viewer_seconds <= 0.95 * base.viewer_seconds
    assert dipped.ingest_seconds < session.true_figures(start + 25.0).ingest_seconds
    for after in (0.0, 30.0, landing - stop):
        assert session.reported_figures(stop + after, 0.0, 1.0) == session.true_figures(stop)
    # Lagged: the stop's lagged figures (undipped) until the final ones land.
    assert session.reported_figures(stop + 10.0, 10.0, 1.0) == session.true_figures(stop - 10.0)
    assert session.reported_figures(landing, 10.0, 1.0) == session.true_figures(stop)


DAY_START = datetime(2026, 10, 31, 23, 58, tzinfo=UTC)
DAYWISE = f"{KIT}/analytics/livestreams/daywise"


def daywise(client: httpx.Client, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The API's daywise items between two instants."""
    response = client.get(DAYWISE, params={"start_time": int(start.timestamp()), "end_time": end.timestamp()})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"success", "data"}
    items: list[dict[str, Any]] = body["data"]
    return items


def truth_daywise(sim: RunningSimulator) -> dict[str, dict[str, Any]]:
    """Ground-truth daywise by plain date."""
    body = httpx.get(f"{sim.root_url}/_simulator/daywise", params={"app_id": APP}).json()
    return {day["date"]: day for day in body["data"]}


def test_daywise_attributes_sessions_to_their_started_day_and_settled_days_equal_the_truth() -> None:
    config = {
        "start_at": DAY_START,
        "report_lag_seconds": 20.0,
        "dip_share": 0.2,
        "invoked_seconds": (5.0, 15.0),
        "placeholder_seconds": (8.0, 8.0),
        "final_after_seconds": (20.0, 20.0),
    }
    figures = ("count", "total_ingest_seconds", "total_viewer_seconds")
    with simulator(**config) as (sim, client):
        since = datetime(2026, 10, 31, tzinfo=UTC)
        sim.advance_to(125.0)
        early = {item["date"][:10]: item for item in daywise(client, since, parse_iso(sim.now_iso()))}
        early_truth = truth_daywise(sim)
        assert list(early) == list(early_truth) == ["2026-10-31", "2026-11-01"]
        assert early_truth["2026-10-31"]["settled"] is False
        assert early["2026-10-31"]["count"] == early_truth["2026-10-31"]["count"]
        assert early["2026-10-31"]["total_ingest_seconds"] < early_truth["2026-10-31"]["total_ingest_seconds"]

        sim.advance_to(240.0)
        requests_before = stats(sim)["requests_total"]
        items = daywise(client, since, parse_iso(sim.now_iso()))
        assert stats(sim)["requests_total"] == requests_before + 1
        assert sorted(item["date"] for item in items) == ["2026-10-31", "2026-11-01T00:00:00.000Z"]
        assert [item["date"][:10] for item in items] == ["2026-10-31", "2026-11-01"]
        for item in items:  # integers, as the published schema and its examples have them
            assert all(type(item[k]) is int for k in figures)
        served = {item["date"][:10]: item for item in items}
        days = truth_daywise(sim)
        assert (days["2026-10-31"]["settled"], days["2026-11-01"]["settled"]) == (True, False)
        rounded = ("count", "rounded_total_ingest_seconds", "rounded_total_viewer_seconds")
        assert [served["2026-10-31"][k] for k in figures] == [days["2026-10-31"][k] for k in rounded]
        assert served["2026-11-01"]["count"] == days["2026-11-01"]["count"]
        assert (
            served["2026-11-01"]["total_viewer_seconds"] != days["2026-11-01"]["rounded_total_viewer_seconds"]
        )

        sessions = truth(sim)
        by_day: dict[str, list[dict[str, Any]]] = {}
        for s in sessions:
            by_day.setdefault(s["started_time"][:10], []).append(s)
        for day, members in by_day.items():
            assert days[day]["count"] == len(members)
            assert days[day]["total_ingest_seconds"] == sum(s["ingest_seconds"] for s in members)
            assert days[day]["total_viewer_seconds"] == math.fsum(s["viewer_seconds"] for s in members)
        assert all(s["settled"] for s in by_day["2026-10-31"])
        started = [s for s in sessions if s["started_time"] is not None]
        assert any(s["started_time"] < "2026-11-01" <= s["stopped_time"] for s in started)
        invoked = {s["id"]: sim.model.iso(sim.model.session(s["id"], sim.now()).invoked_ms) for s in started}  # type: ignore[union-attr]
        assert any(invoked[s["id"]] < "2026-11-01" <= s["started_time"] for s in started)

        midnight = datetime(2026, 11, 1, tzinfo=UTC)
        only_second = daywise(client, midnight, midnight)
        assert [item["date"] for item in only_second] == ["2026-11-01T00:00:00.000Z"]
        assert daywise(client, since - timedelta(days=5), since - timedelta(days=1)) == []


OVERALL = f"{KIT}/analytics/livestreams/overall"


def rounded_as(rounding: str, figures: list[float]) -> int:
    """The integer total of these figures as each rounding makes it (round: half up)."""
    exact = math.fsum(figures)
    floors = sum(math.floor(figure) for figure in figures)
    return {"floor": math.floor(exact), "round": math.floor(exact + 0.5), "sum_of_floors": floors}[rounding]


@pytest.mark.parametrize("rounding", ["floor", "round", "sum_of_floors"])
def test_analytics_totals_are_integers_rounded_as_the_knob_says(rounding: str) -> None:
    """Daywise and overall send integer totals of fractional figures; each rounding keeps its bound."""
    with simulator(start_at=DAY_START, analytics_rounding=rounding) as (sim, client):
        sim.advance_to(900.0)
        started = sorted(s["started_time"] for s in truth(sim) if s["settled"] and s["started_time"])
        since = datetime(2026, 10, 31, tzinfo=UTC)
        for item in daywise(client, since, parse_iso(sim.now_iso())):
            members = [
                s for s in truth(sim) if (s["started_time"] or s["invoked_time"])[:10] == item["date"][:10]
            ]
            viewer = rounded_as(rounding, [s["reported_viewer_seconds"] for s in members])
            assert item["total_viewer_seconds"] == viewer
            assert item["total_ingest_seconds"] == sum(s["reported_ingest_seconds"] for s in members)
        # Overall over a window of instants, [start_time, end_time): between the first and last settled start.
        start, end = parse_iso(started[0]), parse_iso(started[-1])
        inside = [s for s in truth(sim) if start <= parse_iso(s["started_time"] or s["invoked_time"]) < end]
        body = client.get(
            OVERALL, params={"start_time": start.timestamp(), "end_time": end.timestamp()}
        ).json()
        assert set(body) == {"success", "data"}
        assert set(body["data"]) == {"count", "total_ingest_seconds", "total_viewer_seconds"}
        assert all(type(value) is int for value in body["data"].values())
        assert body["data"]["count"] == len(inside) >= 2
        assert body["data"]["total_ingest_seconds"] == sum(s["reported_ingest_seconds"] for s in inside)
        viewer = body["data"]["total_viewer_seconds"]
        assert viewer == rounded_as(rounding, [s["reported_viewer_seconds"] for s in inside])
        # The bounds the reconciliation's tolerance is made of: within one second of the sum, or of count.
        exact = math.fsum(s["reported_viewer_seconds"] for s in inside)
        assert -0.5 <= exact - viewer < (1 if rounding != "sum_of_floors" else len(inside))


def test_overall_without_start_or_end_time_covers_the_30_days_up_to_now() -> None:
    """Both are optional in the published schema: the same default window as daywise."""
    with simulator(start_at=DAY_START) as (sim, client):
        sim.advance_to(200.0)
        now = parse_iso(sim.now_iso())
        explicit = client.get(
            OVERALL,
            params={"start_time": (now - timedelta(days=30)).timestamp(), "end_time": now.timestamp()},
        ).json()["data"]
        assert explicit["count"] == sum(
            item["count"] for item in daywise(client, now - timedelta(days=30), now)
        )
        for params in ({}, {"end_time": now.timestamp()}):
            assert client.get(OVERALL, params=params).json()["data"] == explicit, params
        late = client.get(OVERALL, params={"end_time": (DAY_START + timedelta(days=31)).timestamp()}).json()
        assert late["data"] == {"count": 0, "total_ingest_seconds": 0, "total_viewer_seconds": 0}
        bad = client.get(OVERALL, params={"start_time": "yesterday"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, 400)


@pytest.mark.parametrize(
    ("form", "pattern"), [("date", r"\d{4}-\d\d-\d\d"), ("iso", r"\d{4}-\d\d-\d\dT00:00:00\.000Z")]
)
def test_daywise_date_form_is_configurable(form: str, pattern: str) -> None:
    with simulator(start_at=DAY_START, daywise_date_form=form) as (sim, client):
        sim.advance_to(200.0)
        items = daywise(client, DAY_START, parse_iso(sim.now_iso()))
        assert len(items) == 2
        assert all(re.fullmatch(pattern, item["date"]) for item in items)


def test_daywise_without_start_or_end_time_covers_the_30_days_up_to_now() -> None:
    """Both are optional in the published schema; the default range is the one its app analytics state."""
    with simulator(start_at=DAY_START) as (sim, client):
        sim.advance_to(200.0)
        now = parse_iso(sim.now_iso())
        both = daywise(client, now - timedelta(days=30), now)
        assert [item["date"][:10] for item in both] == ["2026-10-31", "2026-11-01"]
        for params in (
            {},
            {"start_time": int((now - timedelta(days=30)).timestamp())},
            {"end_time": now.timestamp()},
        ):
            response = client.get(DAYWISE, params=params)
            assert response.status_code == 200, params
            assert response.json()["data"] == both
        # 30 days back from an end time: the day before DAY_START's is outside, DAY_START's day inside.
        end = DAY_START + timedelta(days=30, hours=1)
        late = client.get(DAYWISE, params={"end_time": end.timestamp()}).json()["data"]
        assert [item["date"][:10] for item in late] == ["2026-11-01"]


@pytest.mark.parametrize(
    "params",
    [
        {"start_time": "", "end_time": "1793577600"},
        {"start_time": "1793577600", "end_time": ""},
        {"start_time": "2026-11-01", "end_time": "1793577600"},
        {"start_time": "1793577600", "end_time": "nan"},
    ],
)
def test_daywise_with_a_start_or_end_time_that_is_not_a_number_is_a_realtimekit_400(
    params: dict[str, str],
) -> None:
    with simulator() as (sim, client):
        response = client.get(DAYWISE, params=params)
        body = response.json()
        assert response.status_code == 400
        assert body["success"] is False
        assert body["error"]["code"] == 400
        assert "_time" in body["error"]["message"]
        assert stats(sim)["by_status"] == {"400": 1}
        fractional = client.get(DAYWISE, params={"start_time": "1793577600.5", "end_time": 1793664000})
        assert fractional.status_code == 200


@pytest.mark.parametrize(
    ("shape", "expected"),
    [("mixed", ["top", "inner", "top", "inner"]), ("top", ["top"] * 4), ("inner", ["inner"] * 4)],
)
def test_livestream_details_shapes_page_through_every_session_newest_first(
    shape: str, expected: list[str]
) -> None:
    config = {"details_shape": shape, "report_lag_seconds": 10.0, "dip_share": 0.3, "errored_share": 0.4}
    with simulator(**config) as (sim, client):
        livestream_id = sim.model.livestreams[0].id
        sim.advance_to(600.0)
        rows = [s for s in truth(sim) if s["livestream_id"] == livestream_id][::-1]
        assert len(rows) >= 6
        seen: list[dict[str, Any]] = []
        shapes = []
        page_no = 1
        while True:
            body = client.get(
                f"{KIT}/livestreams/{livestream_id}", params={"per_page": 2, "page_no": page_no}
            )
            body_json = body.json()
            data = body_json["data"]
            if "paging" in body_json:
                assert "paging" not in data
                shapes.append("top")
                paging = body_json["paging"]
            else:
                assert set(body_json) == {"success", "data"}
                shapes.append("inner")
                paging = data["paging"]
            assert data["livestream"]["id"] == livestream_id
            assert paging["total_count"] == len(rows)
            if not data["sessions"]:
                assert paging["start_offset"] > paging["total_count"]
                assert paging["end_offset"] == paging["start_offset"] - 1
                break
            seen.extend(data["sessions"])
            page_no += 1
        assert shapes[:4] == expected
        assert len(shapes) == math.ceil(len(rows) / 2) + 1
        assert [s["id"] for s in seen] == [r["id"] for r in rows]
        for served, row in zip(seen, rows, strict=True):
            assert {"stopped_time", "err_message"} <= set(served)
            assert served["stopped_time"] == row["stopped_time"]
            assert served["err_message"] == row["err_message"]
            assert isinstance(served["ingest_seconds"], int)
            assert isinstance(served["viewer_seconds"], float | int)
            assert (served["ingest_seconds"], served["viewer_seconds"]) == (
                row["reported_ingest_seconds"],
                row["reported_viewer_seconds"],
            )
        assert any(s["err_message"] is not None for s in seen)


@pytest.mark.parametrize(("shape", "position"), [("session", 0), ("mixed", 2)])
def test_livestream_details_in_the_schemas_single_session_form_page_one_session_at_a_time(
    shape: str, position: int
) -> None:
    with simulator(details_shape=shape, errored_share=0.4) as (sim, client):
        livestream_id = sim.model.livestreams[position].id
        sim.advance_to(600.0)
        rows = [s for s in truth(sim) if s["livestream_id"] == livestream_id][::-1]
        assert len(rows) >= 3
        seen = []
        for page_no in range(1, len(rows) + 2):
            body = client.get(
                f"{KIT}/livestreams/{livestream_id}", params={"per_page": 100, "page_no": page_no}
            )
            body_json = body.json()
            assert set(body_json) == {"success", "data"}
            data = body_json["data"]
            assert "sessions" not in data
            assert data["livestream"]["id"] == livestream_id
            expected_end = min(page_no, len(rows))
            assert data["paging"] == {
                "total_count": len(rows),
                "start_offset": page_no,
                "end_offset": expected_end,
            }
            if page_no > len(rows):
                assert "session" not in data
            else:
                seen.append(data["session"])
        assert [s["id"] for s in seen] == [r["id"] for r in rows]
        assert all(isinstance(s["ingest_seconds"], int) for s in seen)
    if shape == "mixed":  # the other livestreams keep the sessions array
        with simulator(details_shape="mixed") as (sim, client):
            sim.advance_to(600.0)
            other = client.get(f"{KIT}/livestreams/{sim.model.livestreams[0].id}").json()["data"]
            assert "sessions" in other


def test_cli_options_cover_the_timing_lag_short_dip_and_shape_knobs() -> None:
    assert parse_serve([]).config() == SimulatorConfig()
    config = parse_serve(
        [
            "--report-lag-seconds",
            "12.5",
            "--short-share",
            "0.25",
            "--short-live-seconds",
            "1,4",
            "--dip-share",
            "0.1",
            "--daywise-date-form",
            "iso",
            "--analytics-rounding",
            "round",
            "--details-shape",
            "inner",
            "--gap-seconds",
            "3,9",
            "--invoked-seconds",
            "0.5, 2",
            "--live-seconds",
            "10,20",
            "--placeholder-seconds",
            "4",
            "--linger-seconds",
            "0",
            "--created-after-seconds",
            "0.5,1",
            "--final-after-seconds",
            "30,40",
            "--active-figures",
            "string",
            "--unauthorized-form",
            "message",
        ]
    ).config()
    assert (config.report_lag_seconds, config.short_share, config.dip_share) == (12.5, 0.25, 0.1)
    assert (config.daywise_date_form, config.details_shape) == ("iso", "inner")
    assert config.analytics_rounding == "round"
    assert (config.gap_seconds, config.invoked_seconds, config.live_seconds) == ((3, 9), (0.5, 2), (10, 20))
    assert (config.short_live_seconds, config.placeholder_seconds, config.linger_seconds) == (
        (1, 4),
        (4, 4),
        0,
    )
    assert (config.created_after_seconds, config.final_after_seconds) == ((0.5, 1), (30, 40))
    assert (config.active_figures, config.unauthorized_form) == ("string", "message")
    with pytest.raises(CycloptsError, match="expected LOW,HIGH seconds"):
        parse_serve(["--live-seconds", "10,20,30"])
    with pytest.raises(CycloptsError, match="expected LOW,HIGH seconds"):
        parse_serve(["--gap-seconds", "soon,later"])
    with pytest.raises(ValueError, match="live_seconds"):
        parse_serve(["--live-seconds", "20,10"]).config()
    with pytest.raises(ValueError, match="report_lag_seconds"):
        parse_serve(["--report-lag-seconds", "-1"]).config()
