from pathlib import Path

import pytest

from streamledger import warehouse
from streamledger.cli import main


def test_a_missing_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "REALTIMEKIT_APP_ID"):
        monkeypatch.delenv(name, raising=False)
    assert main(["snapshot"]) == 1
    assert capsys.readouterr().err == (
        "streamledger: error: CLOUDFLARE_API_TOKEN is not set (required; see the README's settings table)\n"
    )


def test_an_unknown_report_lists_the_available_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "nope", "--database", "/nonexistent.duckdb"]) == 1
    assert "no report 'nope' (available: poll_health, reconciliation, sessions_by_livestream)" in (
        capsys.readouterr().err
    )


def test_a_report_on_a_missing_database_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "sessions_by_livestream", "--database", "/nonexistent.duckdb"]) == 1
    assert "database /nonexistent.duckdb does not exist yet" in capsys.readouterr().err


def test_ad_hoc_sql_reads_the_warehouse_and_bad_sql_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "w.duckdb"
    con = warehouse.connect(database)
    warehouse.migrate(con)
    con.close()
    assert main(["sql", "select count(*) as polls from poll_runs", "--database", str(database)]) == 0
    assert "polls" in capsys.readouterr().out
    assert main(["sql", "select nonsense from nowhere", "--database", str(database)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"streamledger: error: sql on {database}: Catalog Error")
    assert err.count("\n") == 1
