"""Loud failures: a poll that could not read what it was asked to read is `failed` and says why; a
`partial` poll names the reads that failed; only an `ok` poll counts as a success for staleness."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulator import RunningSimulator
from streamledger import landing
from streamledger.health import read_status, stale_problem
from streamledger.poll import FetchedPoll
from streamledger.settings import Secret, Settings
from tests.helpers import run_poll, settings_for


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_api_fails_the_poll_and_names_the_connection_failure(tmp_path: Path) -> None:
    settings = settings_for_url(f"http://127.0.0.1:{closed_port()}/client/v4", tmp_path)
    row = run_poll(settings)
    assert row.outcome == "failed"
    assert row.message is not None
    first = row.message.splitlines()[0]
    assert first.startswith(
        "no livestream listing could be read: list_livestreams on app sim-app, status LIVE page 1: "
        "no response: ConnectError"
    )
    assert row.requests == settings.max_attempts  # a first poll knows no session to read besides


def test_a_base_url_without_client_v4_fails_the_poll(sim: RunningSimulator, tmp_path: Path) -> None:
    sim.advance(60)
    settings = settings_for(sim, tmp_path, base_url=sim.root_url)
    row = run_poll(settings)
    assert row.outcome == "failed"
    assert row.message is not None
    assert row.message.startswith("no livestream listing could be read: list_livestreams on app sim-app")
    assert "HTTP 404" in row.message.splitlines()[0]


def test_a_wrong_app_id_fails_the_poll(sim: RunningSimulator, tmp_path: Path) -> None:
    sim.advance(60)
    row = run_poll(settings_for(sim, tmp_path, app_ids=("no-such-app",)))
    assert row.outcome == "failed"
    assert row.message is not None
    assert row.message.startswith(
        "no livestream listing could be read: "
        "list_livestreams on app no-such-app, status LIVE page 1: HTTP 404"
    )
    assert row.livestreams == 0


def test_one_wrong_app_among_good_ones_makes_the_poll_partial_and_names_it(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    sim.advance(60)
    row = run_poll(settings_for(sim, tmp_path, app_ids=("sim-app", "no-such-app")))
    assert row.outcome == "partial"
    assert row.livestreams == 12  # the good app's livestreams are all read
    assert row.message is not None
    [line] = row.message.splitlines()
    assert line.startswith("list_livestreams on app no-such-app, status LIVE page 1: HTTP 404")


def test_an_apps_list_that_cannot_be_read_fails_the_poll(tmp_path: Path) -> None:
    settings = settings_for_url(f"http://127.0.0.1:{closed_port()}/client/v4", tmp_path, app_ids=())
    row = run_poll(settings)
    assert row.outcome == "failed"
    assert row.message is not None
    assert row.message.startswith("no app to poll: list_apps, page 1: no response: ConnectError")
    assert row.requests == settings.max_attempts


def test_only_an_ok_poll_counts_as_a_success_for_staleness(sim: RunningSimulator, tmp_path: Path) -> None:
    sim.advance(60)
    settings = settings_for(sim, tmp_path, app_ids=("sim-app", "no-such-app"), stale_after_seconds=60.0)
    assert run_poll(settings).outcome == "partial"
    status = read_status(settings.database, window_seconds=300)
    assert (status["last_outcome"], status["last_success_at"]) == ("partial", None)
    assert stale_problem(settings) == f"stale: no successful poll is recorded in {settings.database}"
    ok = run_poll(settings.with_overrides(app_ids=("sim-app",)))
    assert ok.outcome == "ok"
    assert read_status(settings.database, window_seconds=300)["last_success_at"] == ok.finished_at
    assert stale_problem(settings) is None


@pytest.mark.parametrize(
    ("errors", "fatal", "counts"),
    [([], None, True), (["active_session on app a: HTTP 500"], None, False), (["x"], "x", False)],
)
def test_a_landed_poll_counts_for_staleness_only_when_it_read_all_it_planned(
    tmp_path: Path, errors: list[str], fatal: str | None, counts: bool
) -> None:
    finished = datetime.now(UTC) - timedelta(seconds=5)
    poll = FetchedPoll("p1", finished, finished, ("a",), [], errors=errors, fatal=fatal)
    landing.land(tmp_path, poll)
    assert landing.newest_success(tmp_path) == (finished if counts else None)


def settings_for_url(base_url: str, tmp_path: Path, **changes: object) -> Settings:
    """Settings for an API at `base_url`, where nothing answers."""
    return Settings(
        api_token=Secret("t0ken"),
        account_id="acct",
        app_ids=("sim-app",),
        base_url=base_url,
        database=tmp_path / "history.duckdb",
        landing_dir=tmp_path / "landing",
        max_retry_wait_seconds=5.0,
        burst_requests=100_000,
    ).with_overrides(**changes)
