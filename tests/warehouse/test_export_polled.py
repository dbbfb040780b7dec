"""The finance export of a history polled from the simulator across a month end, through the command the
user runs, in processes of their own: totals, the workbook beside the CSV, byte-identical re-exports."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from simulator import running_simulator
from tests.helpers import run_poll, settings_for, simulator_config
from tests.warehouse.test_reports import POLLS, START

MONTHS = ("2026-10", "2026-11")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Thirty one-minute polls from 2026-10-31 23:46 to 00:15 UTC, as the report tests poll them."""
    tmp_path = tmp_path_factory.mktemp("export-polled")
    config = simulator_config(
        start_at=START, livestreams=10, gap_seconds=(5.0, 60.0), live_seconds=(30.0, 600.0), seed=5
    )
    with running_simulator(config) as sim:
        settings = settings_for(sim, tmp_path)
        for _ in range(POLLS):
            sim.advance(60)
            run_poll(settings)
    return settings.database


def export_command(database: Path, month: str, output: Path) -> list[str]:
    """Run `streamledger export` in a process of its own, on the real clock; return what it printed."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("STREAMLEDGER_")}
    argv = ["export", "--month", month, "--database", str(database), "--output", str(output)]
    done = subprocess.run(
        [sys.executable, "-m", "streamledger.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def without_exported_at(manifest_path: Path) -> dict[str, Any]:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest.pop("exported_at").endswith("Z")
    return dict(manifest)


@pytest.mark.parametrize("month", MONTHS)
def test_re_exports_at_different_times_in_other_processes_are_byte_identical(
    database: Path, tmp_path: Path, month: str
) -> None:
    export_command(database, month, tmp_path / "first")
    time.sleep(2.1)  # past the zip format's two-second clock
    printed = export_command(database, month, tmp_path / "second")
    first, second = digests(tmp_path / "first" / month), digests(tmp_path / "second" / month)
    assert sorted(first) == [
        "daily-usage.png",
        "finance-statement.csv",
        "finance-statement.parquet",
        "finance-statement.xlsx",
        "manifest.json",
        "session-log.csv",
        "session-log.parquet",
    ]
    for name in first:
        if name != "manifest.json":
            assert first[name] == second[name], name
            print(f"{month} {name}: sha256 {first[name]} both times")
    # The manifest differs in the instant of the export alone (the months are over: nothing else moves).
    manifests = [without_exported_at(tmp_path / run / month / "manifest.json") for run in ("first", "second")]
    assert manifests[0] == manifests[1]
    assert printed[0].startswith(f"exported {month} to {tmp_path / 'second' / month} (")


@pytest.mark.parametrize("month", MONTHS)
def test_the_polled_months_totals_add_up_and_the_workbook_holds_the_csvs_figures(
    database: Path, tmp_path: Path, month: str
) -> None:
    export_command(database, month, tmp_path)
    folder = tmp_path / month
    *rows, total = pl.read_csv(folder / "finance-statement.csv", infer_schema=False).to_dicts()
    assert len(rows) >= 3
    assert total["app_id"] == "TOTAL"
    for name in ("viewer_minutes", "ingest_minutes", "estimated_cost_usd"):
        assert Decimal(total[name]) == sum(Decimal(row[name]) for row in rows), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["totals"]["estimated_cost_usd"] == total["estimated_cost_usd"]
    # Polling began at 23:46 on Oct 31 and ended at 00:16: neither month is fully covered.
    assert manifest["month_state"] == "provisional"
    assert {row["month_state"] for row in rows} == {"provisional"}
    sheet = openpyxl.load_workbook(folder / "finance-statement.xlsx", data_only=True)["Statement"]
    header, *cells = sheet.iter_rows(values_only=True)
    assert len(cells) == len(rows) + 1
    for name in ("sessions", "ingest_seconds", "viewer_minutes", "estimated_cost_usd"):
        column = header.index(name)
        expected = [float(Decimal(row[name])) for row in [*rows, total]]
        assert [line[column] for line in cells] == expected, name
    log = openpyxl.load_workbook(folder / "finance-statement.xlsx", read_only=True)["Session log"]
    sessions = pl.read_csv(folder / "session-log.csv", infer_schema=False)
    assert log.max_row - 1 == sessions.height > 0
