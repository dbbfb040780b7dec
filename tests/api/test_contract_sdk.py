"""Contract: the official `cloudflare` SDK parses the simulator's answers and the recorded bodies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from cloudflare import AuthenticationError, BadRequestError, Cloudflare, PermissionDeniedError

from simulator import RunningSimulator, running_simulator
from tests.helpers import Answer, FixtureServer, serving_fixtures, simulator_config


@pytest.fixture(scope="module")
def sdk_sim() -> Iterator[RunningSimulator]:
    with running_simulator(simulator_config(inactive_form="404")) as sim:
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


def test_sdk_reads_the_list_as_every_published_example_sends_it(sdk_sim: RunningSimulator) -> None:
    answer = sdk(sdk_sim).realtime_kit.livestreams.get_all_livestreams(
        "sim-app", account_id=sdk_sim.config.account_id, page_no=1, per_page=5
    )
    assert answer.success is True
    # The SDK types data as the spec's one object; it keeps the array it is sent, and paging as an extra.
    assert isinstance(answer.data, list)
    assert len(answer.data) == 5
    assert answer.model_extra == {"paging": {"total_count": 12, "start_offset": 1, "end_offset": 5}}


def test_sdk_maps_the_simulators_auth_errors_to_its_typed_errors(sdk_sim: RunningSimulator) -> None:
    with pytest.raises(PermissionDeniedError):
        sdk(sdk_sim, token="wrong").realtime_kit.livestreams.get_all_livestreams(
            "sim-app", account_id=sdk_sim.config.account_id
        )
    bare = Cloudflare(
        api_token="x", base_url=sdk_sim.base_url, max_retries=0, default_headers={"Authorization": "Basic x"}
    )
    with pytest.raises(BadRequestError, match="6111"):  # a malformed header: 400, 6003 chained 6111
        bare.realtime_kit.livestreams.get_all_livestreams("sim-app", account_id=sdk_sim.config.account_id)
    sdk_sim.set_faults(revoked=True)
    try:
        for _ in range(2):  # the v4 401, then {"message": "Unauthorized"}
            with pytest.raises(AuthenticationError):
                sdk(sdk_sim).realtime_kit.livestreams.get_all_livestreams(
                    "sim-app", account_id=sdk_sim.config.account_id
                )
    finally:
        sdk_sim.set_faults(revoked=False)


# --- the recorded bodies (tests/fixtures/api) -----------------------------------------------------------

LS_LIVE = "b60ef3da-fbbb-441b-9168-8235b0035248"
SESSION = "cf55a850-c3fd-46b5-b5d2-25b3b9aa1686"


@pytest.fixture(scope="module")
def recorded() -> Iterator[FixtureServer]:
    with serving_fixtures() as server:
        server.answer(
            f"/app/livestreams/{LS_LIVE}/active-livestream-session", Answer(200, "active_session.live.json")
        )
        server.answer("/app/livestreams", Answer(200, "livestreams.page2.json"))
        server.answer(f"/app/livestreams/sessions/{SESSION}", Answer(200, "session_by_id.stopped.json"))
        server.answer("/app/analytics/livestreams/daywise", Answer(200, "analytics_daywise.json"))
        yield server


def recorded_sdk(server: FixtureServer) -> Cloudflare:
    return Cloudflare(api_token="tok-recorded", base_url=server.base_url, max_retries=0)


def test_sdk_reads_the_recorded_active_session(recorded: FixtureServer) -> None:
    answer = recorded_sdk(recorded).realtime_kit.livestreams.get_active_livestreams_for_livestream_id(
        LS_LIVE, account_id="acc", app_id="app"
    )
    assert answer.data is not None
    assert answer.data.session is not None
    assert answer.data.livestream is not None
    assert answer.data.session.id == SESSION
    assert answer.data.session.started_time == datetime(2023, 7, 15, 7, 8, 39, tzinfo=UTC)
    assert answer.data.livestream.created_at == datetime(2023, 7, 15, 7, 8, 26, 634000, tzinfo=UTC)
    # Typed str by the SDK, sent as a number by the published example: the SDK passes it through as is.
    assert answer.data.session.ingest_seconds == 60  # type: ignore[comparison-overlap]


def test_sdk_reads_the_recorded_list_page_whatever_its_declared_shape(recorded: FixtureServer) -> None:
    answer = recorded_sdk(recorded).realtime_kit.livestreams.get_all_livestreams(
        "app", account_id="acc", page_no=2, per_page=2
    )
    # The SDK declares one object (the spec); the published example, and the SDK's lenient read, a list.
    assert isinstance(answer.data, list)
    assert [item.id for item in answer.data] == ["61e03cb4-d4da-42ad-9169-f53360f4f4b4"]


def test_sdk_reads_the_recorded_stopped_session_and_daywise_totals(recorded: FixtureServer) -> None:
    client = recorded_sdk(recorded)
    session = client.realtime_kit.livestreams.get_livestream_session_details_for_session_id(
        SESSION, account_id="acc", app_id="app"
    )
    assert session.data is not None
    assert (session.data.ingest_seconds, session.data.viewer_seconds) == (118, 116.11599994199997)
    daywise = client.realtime_kit.livestreams.get_livestream_analytics_daywise("app", account_id="acc")
    assert daywise.data is not None
    assert [(d.date, d.count, d.total_ingest_seconds, d.total_viewer_seconds) for d in daywise.data] == [
        ("2023-07-15", 4, 531, 116)
    ]
