"""Secrets stay secret: a recognizable token and the stream keys are in no log, table, artifact or export."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest
from prefect.blocks.system import Secret as SecretBlock
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter
from pydantic import SecretStr

from simulator import RunningSimulator, running_simulator
from streamledger.cli import main
from streamledger.flows.export import monthly_export
from streamledger.flows.reconcile import reconcile
from streamledger.flows.snapshot import snapshot
from streamledger.poll import PollRun
from streamledger.settings import Settings
from tests.helpers import simulator_config

pytestmark = pytest.mark.prefect

TOKEN = "cf-TOKEN-5ecret-9f8e7d6c5b4a3928"


@pytest.fixture
def secret_sim() -> Iterator[RunningSimulator]:
    with running_simulator(simulator_config(token=TOKEN, livestreams=8)) as running:
        yield running


def point_flows_at(sim: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    database = tmp_path / "secrets.duckdb"
    for name, value in {
        "CLOUDFLARE_API_TOKEN": TOKEN,
        "CLOUDFLARE_ACCOUNT_ID": sim.config.account_id,
        "REALTIMEKIT_APP_ID": "sim-app",
        "CLOUDFLARE_BASE_URL": sim.base_url,
        "STREAMLEDGER_DATABASE": str(database),
        "STREAMLEDGER_EXPORT_DIR": str(tmp_path / "exports"),
    }.items():
        monkeypatch.setenv(name, value)
    return database


def every_table_as_text(database: Path) -> str:
    con = duckdb.connect(str(database), read_only=True)
    try:
        tables = [
            row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()
        ]
        return "\n".join(str(con.execute(f'select * from "{table}"').fetchall()) for table in tables)
    finally:
        con.close()


async def prefect_logs_and_artifacts() -> str:
    async with get_client() as client:
        logs = await client.read_logs(log_filter=LogFilter(), limit=200)
        artifacts = await client.read_artifacts(limit=200)
    return "\n".join([*(log.message for log in logs), *(str(a.data) + str(a.description) for a in artifacts)])


def test_no_token_or_stream_key_in_logs_tables_artifacts_landing_files_or_exports(
    prefect_api: None,
    secret_sim: RunningSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = point_flows_at(secret_sim, tmp_path, monkeypatch)
    caplog.set_level(logging.DEBUG)
    for _ in range(4):
        secret_sim.advance(60)
        assert snapshot(return_state=True).is_completed()
    assert reconcile(return_state=True).is_completed()
    month = secret_sim.now_iso()[:7]
    assert monthly_export(month=month, return_state=True).is_completed()
    for report in ("session-log", "finance-statement", "data-quality"):
        assert main(["report", report, "--database", str(database), "--format", "csv"]) == 0
    assert main(["sql", "select * from livestreams", "--database", str(database)]) == 0

    import asyncio

    prefect_text = asyncio.run(prefect_logs_and_artifacts())
    tables = every_table_as_text(database)
    files = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".duckdb")
    printed = capsys.readouterr()
    keys = [
        ls["stream_key"]
        for ls in httpx.get(f"{secret_sim.root_url}/_simulator/livestreams").json()["livestreams"]
    ]
    assert len(keys) == 8
    for secret in (TOKEN, *keys):
        assert secret not in caplog.text
        assert secret not in prefect_text
        assert secret not in tables
        assert secret.encode() not in files
        assert secret not in printed.out + printed.err
    # The search was not vacuous: the keys' fingerprints and the exports are there.
    assert tables.count("sha256:") >= 8
    assert "snapshot" in prefect_text
    assert list((tmp_path / "exports" / month).glob("*.csv"))


def test_the_token_can_come_from_a_prefect_secret_block(
    prefect_api: None, secret_sim: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_flows_at(secret_sim, tmp_path, monkeypatch)
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    SecretBlock(value=SecretStr(TOKEN)).save("cloudflare-token", overwrite=True)
    monkeypatch.setenv("STREAMLEDGER_TOKEN_BLOCK", "cloudflare-token")
    assert Settings.from_env(api=True).api_token.reveal() == TOKEN
    secret_sim.advance(60)
    state = snapshot(return_state=True)
    assert state.is_completed()
    run = state.result()
    assert isinstance(run, PollRun)
    assert run.outcome == "ok"
    monkeypatch.setenv("STREAMLEDGER_TOKEN_BLOCK", "no-such-block")
    failed = snapshot(return_state=True)
    assert failed.is_failed()
    assert failed.message == (
        "STREAMLEDGER_TOKEN_BLOCK: the Prefect Secret block 'no-such-block' could not be read (ValueError)"
    )


def test_files_the_pipeline_creates_are_private_to_their_owner(
    prefect_api: None, secret_sim: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = point_flows_at(secret_sim, tmp_path, monkeypatch)
    os.umask(0o022)  # what a shell usually has: files readable by everyone
    secret_sim.advance(60)
    assert snapshot(return_state=True).is_completed()
    assert monthly_export(month=secret_sim.now_iso()[:7], return_state=True).is_completed()
    created = [database, *database.parent.glob("landing*"), *(tmp_path / "exports").rglob("*")]
    assert len(created) >= 7
    for path in created:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
