"""Contract: the official `cloudflare` SDK, pointed at the simulator, parses its answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from cloudflare import AuthenticationError, Cloudflare, PermissionDeniedError

from simulator import RunningSimulator, running_simulator
from tests.helpers import simulator_config


@pytest.fixture(scope="module")
def sdk_sim() -> Iterator[RunningSimulator]:
    with running_simulator(simulator_config(list_shape="object", inactive_form="404")) as sim:
        sim.advance(120)
        yield sim


def sdk(sim: RunningSimulator, token: str | None = None) -> Cloudflare:
    return Cloudflare(api_token=token or sim.config.token, base_url=sim.base_url, max_retries=0)


def live_session(sim: RunningSimulator) -> tuple[str, str]:
    truth = httpx.get(f"{sim.root_url}/_simulator/sessions").json()["sessions"]
    running = [s for s in truth if s["started_time"] and not s["stopped_time"]]
    assert running, "the simulator should have running sessions two minutes in"
    return running[0]["livestream_id"], running[0]["id"]


def test_sdk_parses_the_active_session(sdk_sim: RunningSimulator) -> None:
    livestream_id, session_id = live_session(sdk_sim)
    answer = sdk(sdk_sim).realtime_kit.livestreams.get_active_livestreams_for_livestream_id(
        livestream_id, account_id=sdk_sim.config.account_id, app_id="sim-app"
    )
    assert answer.success is True
    assert answer.data is not None
    assert answer.data.session is not None
    assert answer.data.session.id == session_id
    assert isinstance(answer.data.session.ingest_seconds, str)
    assert isinstance(answer.data.session.viewer_seconds, str)
    assert answer.data.livestream is not None
    assert answer.data.livestream.id == livestream_id
    assert isinstance(answer.data.livestream.created_at, datetime)


def test_sdk_parses_the_session_by_id(sdk_sim: RunningSimulator) -> None:
    _, session_id = live_session(sdk_sim)
    answer = sdk(sdk_sim).realtime_kit.livestreams.get_livestream_session_details_for_session_id(
        session_id, account_id=sdk_sim.config.account_id, app_id="sim-app"
    )
    assert answer.data is not None
    assert answer.data.id == session_id
    assert isinstance(answer.data.viewer_seconds, float | int)
    assert isinstance(answer.data.ingest_seconds, int)


def test_sdk_parses_the_list_in_the_specs_object_form(sdk_sim: RunningSimulator) -> None:
    answer = sdk(sdk_sim).realtime_kit.livestreams.get_all_livestreams(
        "sim-app", account_id=sdk_sim.config.account_id, page_no=1, per_page=5
    )
    assert answer.success is True
    assert answer.data is not None
    assert answer.data.paging is not None
    assert answer.data.paging.total_count == 12
    assert answer.data.paging.end_offset == 5


def test_sdk_maps_the_simulators_auth_errors_to_its_typed_errors(sdk_sim: RunningSimulator) -> None:
    with pytest.raises(PermissionDeniedError):
        sdk(sdk_sim, token="wrong").realtime_kit.livestreams.get_all_livestreams(
            "sim-app", account_id=sdk_sim.config.account_id
        )
    bare = Cloudflare(
        api_token="x", base_url=sdk_sim.base_url, max_retries=0, default_headers={"Authorization": "Basic x"}
    )
    with pytest.raises(AuthenticationError):
        bare.realtime_kit.livestreams.get_all_livestreams("sim-app", account_id=sdk_sim.config.account_id)
