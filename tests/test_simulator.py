"""Behaviour of the RealtimeKit simulator over real HTTP."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from streamledger.simulator import (
    RunningSimulator,
    SimulatorConfig,
    add_simulator_arguments,
    config_from_args,
    running_simulator,
)
from streamledger.simulator.model import Session, SimulatorModel

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


def test_missing_or_non_bearer_authorization_gets_401_v4_envelope() -> None:
    with simulator() as (sim, _):
        no_header = httpx.get(f"{sim.base_url}{KIT}/livestreams")
        basic = httpx.get(f"{sim.base_url}{KIT}/livestreams", headers={"Authorization": "Basic c2ltOnRva2Vu"})
        assert (no_header.status_code, no_header.json()) == (401, V4_401)
        assert (basic.status_code, basic.json()) == (401, V4_401)
        assert no_header.headers["Ratelimit-Policy"] == '"burst";q=1200;w=300'


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


def test_apps_endpoint_lists_configured_apps_with_paging() -> None:
    with simulator(app_ids=("app-a", "app-b", "app-c")) as (_, client):
        body = client.get(f"/accounts/{ACCOUNT}/realtime/kit/apps", params={"per_page": 2}).json()
        assert [app["id"] for app in body["data"]] == ["app-a", "app-b"]
        assert body["paging"] == {"total_count": 3, "start_offset": 1, "end_offset": 2}
        assert body["data"][0]["created_at"].endswith("Z")


def test_active_session_sends_figures_as_strings_and_by_id_as_numbers() -> None:
    with simulator(live_seconds=(60.0, 80.0)) as (sim, client):
        session = first_session(sim.model)
        assert session.started_ms is not None
        sim.advance_to(session.started_ms / 1000 + 33.3)
        livestream_id = session.livestream_id
        active = client.get(f"{KIT}/livestreams/{livestream_id}/active-livestream-session").json()
        by_id = client.get(f"{KIT}/livestreams/sessions/{session.id}").json()["data"]
        active_session = active["data"]["session"]
        assert active["data"]["livestream"]["status"] == "LIVE"
        assert isinstance(active_session["ingest_seconds"], str)
        assert isinstance(active_session["viewer_seconds"], str)
        assert isinstance(by_id["ingest_seconds"], int)
        assert isinstance(by_id["viewer_seconds"], float)
        assert int(active_session["ingest_seconds"]) == by_id["ingest_seconds"]
        assert float(active_session["viewer_seconds"]) == by_id["viewer_seconds"]
        assert re.fullmatch(r"\d+\.\d{6,}", active_session["viewer_seconds"])
        assert 30 <= by_id["ingest_seconds"] < 33.3


def test_placeholder_60_is_reported_early_in_live_phase_while_ground_truth_is_true() -> None:
    with simulator(live_seconds=(60.0, 80.0), placeholder_seconds=8.0) as (sim, client):
        session = first_session(sim.model)
        assert session.started_ms is not None
        active_url = f"{KIT}/livestreams/{session.livestream_id}/active-livestream-session"
        sim.advance_to(session.invoked_ms / 1000 + 0.001)
        invoked = client.get(active_url).json()["data"]
        assert invoked["livestream"]["status"] == "INVOKED"
        assert invoked["session"]["started_time"] is None
        assert (invoked["session"]["ingest_seconds"], invoked["session"]["viewer_seconds"]) == ("0", "0")

        sim.advance_to(session.started_ms / 1000 + 3.0)
        early = client.get(active_url).json()["data"]["session"]
        early_by_id = client.get(f"{KIT}/livestreams/sessions/{session.id}").json()["data"]
        early_truth = next(s for s in truth(sim) if s["id"] == session.id)
        assert (early["ingest_seconds"], early["viewer_seconds"]) == ("60", "60")
        assert (early_by_id["ingest_seconds"], early_by_id["viewer_seconds"]) == (60, 60)
        assert early_truth["ingest_seconds"] <= 3
        assert early_truth["viewer_seconds"] != 60

        sim.advance_to(session.started_ms / 1000 + 8.5)
        later = client.get(active_url).json()["data"]["session"]
        later_truth = next(s for s in truth(sim) if s["id"] == session.id)
        assert int(later["ingest_seconds"]) == later_truth["ingest_seconds"] <= 8
        assert float(later["viewer_seconds"]) == later_truth["viewer_seconds"]


def test_session_goes_invoked_live_stopped_then_lingers_and_disappears() -> None:
    config = {"gap_seconds": (25.0, 30.0), "linger_seconds": 10.0, "inactive_form": "404"}
    with simulator(**config) as (sim, client):
        session = first_session(sim.model)
        assert session.started_ms is not None
        url = f"{KIT}/livestreams/{session.livestream_id}/active-livestream-session"

        assert inactive_kind(client.get(url)) == "404"
        sim.advance_to(session.invoked_ms / 1000 + 0.01)
        assert client.get(url).json()["data"]["livestream"]["status"] == "INVOKED"
        sim.advance_to(session.started_ms / 1000 + 0.01)
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
        assert any(s["status"] == "ERRORED" and s["started_time"] is None for s in finals)
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


def test_array_list_shape_pages_with_one_based_offsets_and_empty_page_past_end() -> None:
    with simulator(list_shape="array", livestreams=25) as (_, client):
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


def test_object_list_shape_nests_livestreams_and_paging_under_data() -> None:
    with simulator(list_shape="object", livestreams=5) as (_, client):
        body = client.get(f"{KIT}/livestreams", params={"per_page": 3, "page_no": 2}).json()
        assert set(body) == {"success", "data"}
        assert body["data"]["paging"] == {"total_count": 5, "start_offset": 4, "end_offset": 5}
        assert len(body["data"]["livestreams"]) == 2
        livestream = body["data"]["livestreams"][0]
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


def test_mixed_list_shape_alternates_between_array_and_object_by_page() -> None:
    with simulator(list_shape="mixed", livestreams=6) as (_, client):
        shapes = []
        for page_no in (1, 2, 3, 1):
            data = client.get(f"{KIT}/livestreams", params={"per_page": 2, "page_no": page_no}).json()["data"]
            shapes.append("array" if isinstance(data, list) else "object")
        assert shapes == ["array", "object", "array", "array"]


def test_status_filter_returns_only_livestreams_in_that_status() -> None:
    with simulator(list_shape="array") as (sim, client):
        sim.advance_to(40.0)
        every = client.get(f"{KIT}/livestreams", params={"per_page": 100}).json()["data"]
        live = client.get(f"{KIT}/livestreams", params={"per_page": 100, "status": "LIVE"}).json()
        expected = {ls["id"] for ls in every if ls["status"] == "LIVE"}
        assert expected
        assert {ls["id"] for ls in live["data"]} == expected
        assert live["paging"]["total_count"] == len(expected) < len(every)


def test_disabled_is_sometimes_sent_as_a_string_and_disabled_livestreams_never_stream() -> None:
    with simulator(list_shape="array", disabled_as_string_share=0.5, disabled_share=0.3) as (sim, client):
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
    with simulator(placeholder_seconds=0.0) as (sim, client):
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
    assert session.reported_figures(start + 1.0, 8.0).placeholder
    assert not session.reported_figures(stop + 1.0, 1_000.0).placeholder


def test_cli_helpers_build_the_config_from_argv() -> None:
    parser = argparse.ArgumentParser()
    add_simulator_arguments(parser)
    args = parser.parse_args(
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
    config = config_from_args(args)
    assert args.sim_port == 0
    assert config.app_ids == ("sim-app-1", "sim-app-2")
    assert (config.seed, config.clock, config.fault_5xx, config.budget_requests) == (3, "manual", 0.1, 50)
    named = config_from_args(parser.parse_args(["--apps", "alpha,beta"]))
    assert named.app_ids == ("alpha", "beta")
    with pytest.raises(ValueError, match="fault_5xx"):
        config_from_args(parser.parse_args(["--fault-5xx", "2"]))
