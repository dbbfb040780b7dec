"""`streamledger status --format json`: one object a probe reads, with the same verdict and exit status."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from simulator import RunningSimulator
from streamledger import warehouse
from streamledger.cli import main
from streamledger.settings import Settings
from tests.helpers import run_polls


@pytest.fixture
def polled(sim: RunningSimulator, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    run_polls(sim, settings, 3)
    monkeypatch.setenv("STREAMLEDGER_LANDING_DIR", str(settings.landing_dir))
    return settings.database


def status_json(
    database: Path, *extra: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    code = main(["status", "--database", str(database), "--format", "json", *extra])
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one line of JSON
    return code, json.loads(out)


def test_status_json_has_the_status_row_staleness_and_every_check(
    polled: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, status = status_json(polled, "--check", capsys=capsys)
    assert code == 0
    assert status["healthy"] is True
    assert status["stale"] is False
    assert status["exit_status"] == 0
    assert status["database"] == str(polled)
    assert 0 <= status["last_success_age_seconds"] < status["stale_after_seconds"]
    row = status["status"]
    assert row["last_outcome"] == "ok"
    assert row["polls_ok_last_hour"] == 3
    assert datetime.fromisoformat(row["last_success_at"]).tzinfo is not None
    assert row["requests_in_window"] > 0
    assert status["soundness"]["sound"] is True
    assert status["soundness"]["rows_read"] > 0
    assert [check["name"] for check in status["checks"]] == [check.name for check in warehouse.checks()]
    assert all(check["ok"] and check["violations"] == 0 for check in status["checks"])
    assert (status["landed_not_loaded"], status["quarantined"]) == (0, 0)

    # Without --check: no checks read, and the exit status says nothing, as the text form.
    code, status = status_json(polled, capsys=capsys)
    assert (code, status["soundness"], status["checks"]) == (0, None, None)

    monkeypatch.setenv("STREAMLEDGER_STALE_AFTER_SECONDS", "0.001")
    code, status = status_json(polled, "--check", capsys=capsys)
    assert code == 2
    assert (status["healthy"], status["stale"], status["exit_status"]) == (False, True, 2)


def test_status_json_names_a_failed_check_with_its_rows(
    polled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    con = warehouse.connect(polled)
    try:
        con.execute("insert into usage_stale (session_id) select session_id from sessions")
    finally:
        con.close()
    code, status = status_json(polled, "--check", capsys=capsys)
    assert code == 1
    assert status["healthy"] is False
    (failed,) = [check for check in status["checks"] if not check["ok"]]
    assert failed["name"] == "usage_stale_empty"
    assert failed["violations"] > len(failed["rows"]) > 0
    assert set(failed["rows"][0]) == {"session_id"}
