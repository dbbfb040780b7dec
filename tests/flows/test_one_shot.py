"""A one-shot `streamledger snapshot` runs on the Prefect server `serve` started (its URL recorded in the
server's home), not on a temporary server of its own; a recorded server that does not answer is ignored."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.settings import get_current_settings

from simulator import RunningSimulator
from streamledger.commands import TEMPORARY_SERVER
from streamledger.prefect_server import API_URL_FILE, running_server
from tests.helpers import command_env, snapshot_command


@pytest.mark.prefect
def test_a_one_shot_snapshot_runs_on_the_server_serve_recorded(
    prefect_api: None, sim: RunningSimulator, tmp_path: Path
) -> None:
    sim.advance(60)
    home = tmp_path / "prefect"
    home.mkdir()
    api_url = str(get_current_settings().api.url)
    (home / API_URL_FILE).write_text(api_url + "\n")
    assert running_server(home) == api_url
    done, poll_id = snapshot_command(command_env(sim, tmp_path))
    assert TEMPORARY_SERVER not in done.stderr
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[poll_id])))
    assert len(runs) == 1


def test_a_recorded_server_that_does_not_answer_is_not_used(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens on it once the probe is closed
    (tmp_path / API_URL_FILE).write_text(f"http://127.0.0.1:{port}/api\n")
    assert running_server(tmp_path) is None
    (tmp_path / API_URL_FILE).write_text("https://elsewhere.example/api\n")
    assert running_server(tmp_path) is None
    assert running_server(tmp_path / "missing") is None
