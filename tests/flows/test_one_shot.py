"""A one-shot `streamledger snapshot` runs on the Prefect server `serve` started (its URL recorded in the
server's home), not on a temporary server of its own; a recorded server that does not answer is ignored."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.settings import get_current_settings

from simulator import RunningSimulator
from streamledger.cli import TEMPORARY_SERVER
from streamledger.prefect_server import API_URL_FILE, running_server


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
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_API", "STREAM"))}
    env |= {
        "CLOUDFLARE_API_TOKEN": sim.config.token,
        "CLOUDFLARE_ACCOUNT_ID": sim.config.account_id,
        "REALTIMEKIT_APP_ID": "sim-app",
        "CLOUDFLARE_BASE_URL": sim.base_url,
        "STREAMLEDGER_DATABASE": str(tmp_path / "one-shot.duckdb"),
        "STREAMLEDGER_PREFECT_HOME": str(home),
        "PREFECT_HOME": str(tmp_path / "client"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "streamledger.cli", "snapshot"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert TEMPORARY_SERVER not in done.stderr
    poll_id = done.stdout.split()[1].rstrip(":")
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
