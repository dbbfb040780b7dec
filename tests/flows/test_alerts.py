"""Alerts out of the box, end to end: `streamledger serve` on its own local Prefect server creates the
automations, a run of its snapshot deployment fails (a refused token), and a real HTTP receiver on 127.0.0.1
gets each alert through STREAMLEDGER_ALERT_URL (apprise's json://); a one-shot snapshot meanwhile runs on
that server, and once serve has stopped says that it starts a temporary one. Also what the UI shows of a
served failed run: no engine traceback.

The deployment's run is started through the API, as the UI's "Run" does, not by its schedule: Prefect 3.9
holds the state events of a run its scheduler created less than 5 minutes before it started (they follow
a Scheduled event the scheduler never emits) for 15 minutes before its automations see them, so a
scheduled run in the first minutes of `serve` is alerted on late (docs/operations.md)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings

import streamledger.flows.export as export_flow
from simulator import RunningSimulator
from streamledger.commands import TEMPORARY_SERVER
from streamledger.flows.alerts import (
    EXPORT_INCOMPLETE,
    NAMES,
    NO_SNAPSHOT,
    SNAPSHOT_FAILED,
    ensure_automations,
)
from streamledger.prefect_server import API_URL_FILE
from streamledger.settings import Settings
from tests.helpers import command_env, snapshot_command

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

REFUSED = "list_livestreams on app sim-app, status LIVE page 1: HTTP 403, code 10000: Authentication error"


class Receiver:
    """A webhook on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.end_headers()
                with receiver.arrived:
                    receiver.bodies.append(body)
                    receiver.arrived.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, wanted: Callable[[dict[str, Any]], bool], seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        with self.arrived:
            while True:
                found = [body for body in self.bodies if wanted(body)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                assert left > 0, f"no such alert within {seconds} s; got {[b['title'] for b in self.bodies]}"
                self.arrived.wait(left)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


def start_serving(env: dict[str, str]) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Start `streamledger serve`; return it, its Prefect API URL and the alert lines it printed."""
    serving = subprocess.Popen(
        [sys.executable, "-m", "streamledger.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert serving.stdout is not None
    printed: list[str] = []
    api_url = None
    deadline = time.monotonic() + 180
    for line in serving.stdout:
        printed.append(line)
        match = re.match(r"Prefect UI: (http://127\.0\.0\.1:\d+) ", line)
        api_url = f"{match.group(1)}/api" if match else api_url
        alerts = [p.strip() for p in printed if p.startswith("alert: ")]
        if api_url and len(alerts) == len(NAMES):
            threading.Thread(target=serving.stdout.read, daemon=True).start()  # keep the pipe drained
            return serving, api_url, alerts
        assert time.monotonic() < deadline, "serve did not start its Prefect server in time"
    raise AssertionError(f"serve exited with status {serving.wait()}: {''.join(printed)[-2000:]}")


def stop(serving: subprocess.Popen[str]) -> None:
    serving.send_signal(signal.SIGTERM)
    try:
        serving.wait(90)
    except subprocess.TimeoutExpired:
        serving.kill()
        serving.wait()
        raise
    finally:
        if serving.stdout is not None:
            serving.stdout.close()


def wait_for_deployment(api_url: str, name: str) -> dict[str, Any]:
    """The deployment `serve` registers once its automations are set up."""
    deadline = time.monotonic() + 60
    while (answer := httpx.get(f"{api_url}/deployments/name/{name}", timeout=10)).status_code != 200:
        assert time.monotonic() < deadline, f"serve did not register {name}: {answer.text}"
        time.sleep(0.5)
    deployment: dict[str, Any] = answer.json()
    return deployment


def served_run(api_url: str, flow_run_id: str) -> tuple[dict[str, Any], list[Any], list[dict[str, Any]]]:
    """A flow run, its task runs and its logs as the API holds them, once it has ended and logged so."""
    deadline = time.monotonic() + 150
    while True:
        logs = httpx.post(
            f"{api_url}/logs/filter", json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}}, timeout=10
        ).json()
        if any(log["task_run_id"] is None and "Finished in state" in log["message"] for log in logs):
            break
        assert time.monotonic() < deadline, "the run's logs did not arrive"
        time.sleep(0.5)
    run = httpx.get(f"{api_url}/flow_runs/{flow_run_id}", timeout=10).json()
    tasks = httpx.post(
        f"{api_url}/task_runs/filter", json={"flow_runs": {"id": {"any_": [flow_run_id]}}}, timeout=10
    ).json()
    return run, tasks, logs


def test_serve_alerts_on_failed_and_missing_snapshots_and_on_an_export_incomplete_on_day_7(
    sim: RunningSimulator, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = command_env(
        sim,
        tmp_path,
        CLOUDFLARE_API_TOKEN="not-the-token",
        # Its scheduled runs fail too, but they are alerted on only after 15 minutes (see above).
        STREAMLEDGER_POLL_INTERVAL_SECONDS="240",
        STREAMLEDGER_ALERT_URL=receiver.url,
        STREAMLEDGER_ALERT_AFTER_SECONDS="10",
    )
    home = tmp_path / "prefect"
    serving, api_url, alert_lines = start_serving(env)
    try:
        port = receiver.url.split(":")[2].split("/")[0]
        assert alert_lines == [f"alert: {name}: notifies json://127.0.0.1:{port}" for name in NAMES]
        assert (home / API_URL_FILE).read_text().strip() == api_url

        deployment = wait_for_deployment(api_url, "snapshot/poll-every-240s")
        started = httpx.post(f"{api_url}/deployments/{deployment['id']}/create_flow_run", json={}, timeout=10)
        assert started.status_code == 201, started.text
        flow_run_id = started.json()["id"]
        run, tasks, logs = served_run(api_url, flow_run_id)
        assert run["state"]["type"] == "FAILED"
        failed = receiver.wait_for(
            lambda body: body["title"] == SNAPSHOT_FAILED and run["name"] in body["message"], 150
        )
        assert f"Flow run {run['name']}: Failed. {REFUSED}" in failed["message"]
        assert f"{api_url.removesuffix('/api')}/runs/flow-run/{flow_run_id}" in failed["message"]
        assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}", run["name"])  # named after its poll
        silent = receiver.wait_for(lambda body: body["title"] == NO_SNAPSHOT, 60)
        assert "No snapshot flow run completed within 10 s" in silent["message"]

        # The served run in the UI: red at fetch, the cause with what to do, no traceback of any kind.
        assert run["state"]["message"] == REFUSED
        assert set(run["tags"]) >= {"snapshot", "app:sim-app"}
        assert {task["name"]: task["state"]["type"] for task in tasks}["fetch"] == "FAILED"
        assert any(log["level"] == 40 and "What to do: " in log["message"] for log in logs)
        assert not any(
            "Traceback" in log["message"] or "exited with unexpected" in log["message"] for log in logs
        )

        # A one-shot snapshot, without PREFECT_API_URL, runs on serve's server instead of a temporary one.
        one_shot, poll_id = snapshot_command(env | {"CLOUDFLARE_API_TOKEN": sim.config.token})
        assert TEMPORARY_SERVER not in one_shot.stderr
        named = httpx.post(
            f"{api_url}/flow_runs/filter", json={"flow_runs": {"name": {"any_": [poll_id]}}}, timeout=10
        ).json()
        assert [r["state"]["type"] for r in named] == ["COMPLETED"]

        with temporary_settings({PREFECT_API_URL: api_url}):
            # Setting the automations up again (as a restart of serve does) changes them in place.
            settings = Settings.from_env(env | {"STREAMLEDGER_ALERT_AFTER_SECONDS": "30"})
            ensure_automations(settings)
            automations = httpx.post(f"{api_url}/automations/filter", json={}, timeout=10).json()
            assert sorted(a["name"] for a in automations) == sorted(NAMES)
            (quiet,) = [a for a in automations if a["name"] == NO_SNAPSHOT]
            assert quiet["trigger"]["within"] == 30

            # The scheduled export on the 7th, its month not complete: the flow fails and the alert says why.
            monkeypatch.setenv("STREAMLEDGER_DATABASE", env["STREAMLEDGER_DATABASE"])
            monkeypatch.setenv("STREAMLEDGER_EXPORT_DIR", str(tmp_path / "exports"))
            monkeypatch.setattr(export_flow, "utc_today", lambda: date(2026, 11, 7))
            assert export_flow.monthly_export(return_state=True).is_failed()
            APILogWorker.drain_all(timeout=10)  # while the server is still there to take them
        incomplete = receiver.wait_for(lambda body: body["title"] == EXPORT_INCOMPLETE, 60)
        assert "Export of 2026-10 in " in incomplete["message"]
        assert ", day 7:" in incomplete["message"]
    finally:
        stop(serving)
    assert not (home / API_URL_FILE).exists()
    # With serve gone, a one-shot snapshot starts a temporary server of its own, and says so once.
    alone, _ = snapshot_command(env | {"CLOUDFLARE_API_TOKEN": sim.config.token})
    assert alone.stderr.count(TEMPORARY_SERVER) == 1
