"""`streamledger doctor --api` over real HTTP: the simulator, recorded bodies, and the ways a read fails."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from simulator import RunningSimulator, running_simulator
from streamledger.cli import main
from streamledger.doctor import ASSUMPTIONS, MAX_REQUESTS, diagnose
from tests.helpers import Answer, serving_fixtures, settings_for, simulator_config

TOKEN = "doctor-token-6f1e2a9c"
PAGE = Path(__file__).parents[2] / "docs" / "api-assumptions.md"


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    """A simulator a minute in: livestreams LIVE, INVOKED and IDLE, sessions running and stopped."""
    with running_simulator(simulator_config(token=TOKEN)) as running:
        running.advance(60)
        yield running


def use(
    monkeypatch: pytest.MonkeyPatch, base_url: str, account: str, token: str = TOKEN, app: str = ""
) -> None:
    """Point the settings' variables at an API (the app unset: the first app listed is read)."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", account)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", base_url)
    monkeypatch.delenv("STREAMLEDGER_TOKEN_BLOCK", raising=False)
    if app:
        monkeypatch.setenv("REALTIMEKIT_APP_ID", app)
    else:
        monkeypatch.delenv("REALTIMEKIT_APP_ID", raising=False)


def requests_sent(sim: RunningSimulator) -> int:
    stats: dict[str, Any] = httpx.get(f"{sim.root_url}/_simulator/stats").json()
    return int(stats["requests_total"])


def stream_keys(sim: RunningSimulator) -> list[str]:
    return [livestream.stream_key for livestream in sim.model.livestreams]


def test_doctor_reads_each_endpoint_once_and_says_what_each_answer_confirms(
    sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, sim.base_url, sim.config.account_id)
    before = requests_sent(sim)
    assert main(["doctor", "--api"]) == 0
    out, err = capsys.readouterr()
    assert requests_sent(sim) - before == 11 <= MAX_REQUESTS
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"streamledger doctor --api: {sim.base_url}, account sim-account, app sim-app")
    headings = [line for line in lines if re.match(r"^ ?\d+\. ", line)]
    assert [re.sub(r" \(.*", "", line.split(":")[0]).strip() for line in headings] == [
        "1. apps list, page 1",
        "2. livestreams list, page 1",
        "3. livestreams list, status=LIVE",
        "4. livestreams list, status=INVOKED",
        "5. livestream details, page 1",
        "6. active session",
        "7. session by id",
        "8. daywise analytics, no times",
        "9. daywise analytics, 2026-10-25 to now",
        "10. overall analytics, no times",
        "11. overall analytics, 2026-10-25 to now",
    ]
    assert all(": HTTP 200 " in line for line in headings)
    filtered = re.search(
        r"list status filter honoured: yes \((\d+) of (\d+) items LIVE; the whole list shows (\d+)\)", out
    )
    assert filtered is not None
    assert filtered[1] == filtered[2] == filtered[3]
    assert int(filtered[1]) > 0
    assert re.search(r"confirms +list-shape +data is an array, paging at the top level", out)
    assert "shape: {success: bool, data: [12 x {id: str," in out
    assert "stream_key: str(redacted)" in out
    assert re.search(r"confirms +stream-key +stream_key on 12 of 12 in the list, every one redacted", out)
    assert re.search(r"confirms +figure-types +active session: ingest_seconds: str\(number\) x1", out)
    assert re.search(
        r"confirms +analytics-integers +count: int x1, total_ingest_seconds: int x1, total_viewer_seconds: i",
        out,
    )
    assert re.search(
        r"confirms +budget +Ratelimit-Policy \"burst\";q=1200;w=300; our budget 1200 per 300 s", out
    )
    assert re.search(
        r"confirms +parse +the normalization read 9 answers without an issue", out
    )  # not the 2 analytics reads without times
    assert TOKEN not in out
    assert not [key for key in stream_keys(sim) if key in out]


def test_doctor_json_and_saved_bodies_hold_neither_the_token_nor_a_stream_key(
    sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    use(monkeypatch, sim.base_url, sim.config.account_id, app="sim-app")
    saved = tmp_path / "report"
    assert main(["doctor", "--api", "--json", "--save", str(saved)]) == 0
    out, err = capsys.readouterr()
    result = orjson.loads(out)
    assert result["ok"] is True
    assert result["problem"] is None
    assert result["app_id"] == "sim-app"
    assert [read["http_status"] for read in result["reads"]] == [200] * 11
    assert {read["outcome"] for read in result["reads"]} <= {"data", "none"}
    assert err == f"saved 12 files (bodies redacted) to {saved}\n"
    files = sorted(path.name for path in saved.iterdir())
    assert files[0] == "01-list_apps.json"
    assert files[-1] == "doctor.json"
    assert len(files) == 12
    texts = [out, *(path.read_text() for path in saved.iterdir())]
    assert not [text for text in texts if TOKEN in text]
    assert not [key for key in stream_keys(sim) for text in texts if key in text]
    listing = orjson.loads((saved / "02-list_livestreams.json").read_text())
    assert all(
        re.fullmatch(r"\[redacted sha256:[0-9a-f]{12}\]", item["stream_key"]) for item in listing["data"]
    )


def test_every_assumption_the_doctor_names_is_a_row_of_the_assumptions_page() -> None:
    ids = set(re.findall(r"^\| `([a-z-]+)` \|", PAGE.read_text(), re.MULTILINE))
    assert ASSUMPTIONS - ids == set()


def test_a_refused_token_is_one_line_naming_the_token_setting_and_nothing_more_is_sent(
    sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "not-the-token-3b7d"
    use(monkeypatch, sim.base_url, sim.config.account_id, token=wrong)
    before = requests_sent(sim)
    assert main(["doctor", "--api"]) == 1
    out, err = capsys.readouterr()
    assert requests_sent(sim) - before == 1
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert err.startswith(
        "streamledger: error: doctor --api: apps list, page 1: HTTP 403, code 10000: Authentication error; "
    )
    assert "set CLOUDFLARE_API_TOKEN to a token with the Realtime or Realtime Admin permission" in err
    assert re.search(r"confirms +error-envelope +errors\[\] \(v4\) x1", out)
    assert wrong not in out + err
    assert TOKEN not in out + err


def test_an_unknown_app_is_one_line_naming_the_app_setting(
    sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, sim.base_url, sim.config.account_id, app="no-such-app")
    assert main(["doctor", "--api"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("streamledger: error: doctor --api: livestreams list, page 1: HTTP 404")
    assert "HTTP 404" in err
    assert "check REALTIMEKIT_APP_ID" in err
    assert err.count("\n") == 1


def test_an_api_that_cannot_be_reached_is_one_line_naming_the_base_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/client/v4"
    use(monkeypatch, base_url, "acc")
    assert main(["doctor", "--api", "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert "apps list, page 1" in err
    assert "ConnectError" in err
    assert f"check CLOUDFLARE_BASE_URL ({base_url}) and the network" in err
    assert err.count("\n") == 1


def test_a_body_past_the_cap_fails_its_read_without_keeping_it(sim: RunningSimulator, tmp_path: Path) -> None:
    diagnosis = diagnose(settings_for(sim, tmp_path), body_cap_bytes=100)
    first = diagnosis.reads[0]
    assert first.outcome == "error"
    assert first.body is None
    assert "over STREAMLEDGER_MAX_BODY_BYTES=100" in str(first.error)
    assert diagnosis.problem is not None
    assert "the answer is larger than a poll reads either" in diagnosis.problem


def test_recorded_answers_show_the_nothing_active_form_an_ignored_filter_and_the_final_lag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The published examples: a list that ignores `status`, 404 for nothing active, no overall route."""
    with serving_fixtures() as api:
        app = "14a396e7-ca44-4937-bf1f-050a69118543"
        livestream = "3fd739f4-3c41-456e-bfba-6ebd51e16d2c"
        api.answer("/apps", Answer(200, "apps.json"))
        api.answer(f"/{app}/livestreams", Answer(200, "livestreams.page1.json"))
        api.answer(f"/{app}/livestreams/{livestream}", Answer(200, "livestream_sessions.json"))
        api.answer(
            f"/{app}/livestreams/{livestream}/active-livestream-session",
            Answer(404, "active_session.no_session.json"),
        )
        api.answer(
            f"/{app}/livestreams/sessions/cf55a850-c3fd-46b5-b5d2-25b3b9aa1686",
            Answer(200, "session_by_id.stopped.json"),
        )
        api.answer(f"/{app}/analytics/livestreams/daywise", Answer(200, "analytics_daywise.json"))
        use(monkeypatch, api.base_url, "acc")
        assert main(["doctor", "--api"]) == 1
    out, err = capsys.readouterr()
    assert re.search(r"contradicts +status-filter +list status filter honoured: no \(\d of 2 items LIVE", out)
    assert re.search(
        r"confirms +nothing-active +no active session, said as HTTP 404 error\{\} \(RealtimeKit\)", out
    )
    assert re.search(r"confirms +final-lag +updated_at 62 s after stopped_time", out)
    assert re.search(r"confirms +analytics-integers +count: int x1, total_ingest_seconds: int x1", out)
    assert err.startswith(
        "streamledger: error: doctor --api: overall analytics, no times: HTTP 404, code 7003: No route"
    )
    assert "HTTP 404, code 7003: No route for the URI" in err
    assert "(1 more read(s) failed)" in err
