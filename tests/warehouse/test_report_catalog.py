"""Reports describe themselves: each header declares its parameters (unit, default) and its columns (unit),
`report NAME --describe` and `report --list` print them in 80 columns, and a header cannot drift from its
SQL: on a polled warehouse every report returns exactly the columns it declares, and the defaults it
declares are the ones its SQL applies."""

from __future__ import annotations

import io
import re
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from simulator import running_simulator
from streamledger import reports
from streamledger.cli import main
from tests.helpers import run_poll, settings_for, simulator_config

POLLS = 12


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve one-minute polls ending about an hour ago, so that the reports' default period holds them."""
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    config = simulator_config(start_at=start, livestreams=6, live_seconds=(30.0, 300.0), seed=3)
    with running_simulator(config) as sim:
        settings = settings_for(sim, tmp_path_factory.mktemp("catalog"))
        for _ in range(POLLS):
            sim.advance(60)
            run_poll(settings)
    return settings.database


def declared(name: str) -> list[str]:
    return [column.name for column in reports.find(name).columns]


def test_each_report_returns_the_columns_its_header_declares(database: Path) -> None:
    returned = {name: reports.run_report(database, name) for name in reports.catalog()}
    assert {name: frame.columns for name, frame in returned.items()} == {
        name: declared(name) for name in reports.catalog()
    }
    assert returned["session-log"].height > 0  # the default period (this month) holds the polls
    assert returned["finance-statement"].height > 0


def test_each_report_s_example_command_runs_and_prints_the_declared_columns(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, report in reports.catalog().items():
        words = shlex.split(" ".join(line.rstrip("\\") for line in reports.example(report)))
        assert words[:3] == ["streamledger", "report", name]
        assert main([*words[1:], "--database", str(database), "--format", "csv"]) == 0, name
        header = pl.read_csv(io.StringIO(capsys.readouterr().out), infer_schema=False).columns
        assert header == declared(name)


def _value(text: str) -> object:
    """The value a declared default names: a date phrase, or a literal (before any remark in brackets)."""
    today = datetime.now(UTC).date()
    first = today.replace(day=1)  # the reports' default zone is UTC
    phrases = {"first day of this month in tz": first, "today in tz": today}
    phrases |= {"first day of this month in UTC": first, "today in UTC": today}
    return phrases.get(text, text.split(" (")[0])


def test_the_defaults_a_header_declares_are_the_ones_its_sql_applies(database: Path) -> None:
    for name, report in reports.catalog().items():
        literal = {spec.name: _value(spec.default) for spec in report.parameter_specs}
        given = {
            key: value if not isinstance(value, str) else reports.PARAMETERS[key](value)
            for key, value in literal.items()
        }
        assert all(key in reports.PARAMETERS for key in given)
        alone, explicit = reports.run_report(database, name), reports.run_report(database, name, given)
        if name == "data-quality":  # the period's last gap ends now(), which moves between the two readings
            recent = pl.col("last_at") > datetime.now(UTC) - timedelta(minutes=1)
            alone, explicit = alone.filter(~recent), explicit.filter(~recent)
        assert alone.equals(explicit), name
    # A changed default changes the result: the comparison above can fail.
    statement = reports.run_report(database, "finance-statement", {"price_per_ingest_minute": 1})
    assert statement["price_per_ingest_minute_usd"].cast(pl.Float64).to_list()[0] == 1.0


def test_describe_gives_the_question_grain_parameters_columns_units_and_an_example_in_80_columns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, report in reports.catalog().items():
        text = reports.describe(name)
        lines = text.splitlines()
        assert max(len(line) for line in lines) <= 80, name
        flat = " ".join(text.split())
        for part in (report.description, report.grain, report.units):
            assert " ".join(part.split()) in flat, (name, part)
        for spec in report.parameter_specs:
            assert f"{spec.usage}: {spec.unit}; default {spec.default}" in flat
        listed = lines[lines.index("Columns:") + 1 : lines.index("", lines.index("Columns:"))]
        rows = {line.split()[0]: " ".join(line.split()[1:]) for line in listed}
        assert len(rows) == len(listed) == len(report.columns)
        for column in report.columns:
            assert rows.get(column.name) == column.unit, (name, column.name)
        assert lines[-len(reports.example(report)) :] == reports.example(report)
        assert main(["report", name, "--describe"]) == 0
        assert capsys.readouterr().out == text
    assert "price_per_ingest_minute (--price): USD per ingest minute; default 0.010" in " ".join(
        reports.describe("finance_statement").split()
    )


def test_report_list_gives_every_report_s_question_grain_parameters_and_units_in_80_columns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = reports.catalog_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert [line for line in lines if line and not line.startswith(" ")] == list(reports.catalog())
    blocks = dict(zip(reports.catalog(), text.split("\n\n"), strict=True))
    for name, report in reports.catalog().items():
        flat = " ".join(blocks[name].split())
        assert f"Grain: {' '.join(report.grain.split())}" in flat
        assert f"Parameters: {', '.join(report.parameters) or 'none'}" in flat
        assert f"Units: {' '.join(report.units.split())}" in flat
    assert main(["report", "--list"]) == 0
    assert capsys.readouterr().out == text


BODY = "-- Units: u.\nselect 1 as a;\n"
HEADER_ERRORS = {
    "-- Grain: one row per thing.\n-- Columns: a [count]\n" + BODY: "line 1:",
    "-- Q?\n-- Grain: one row.\n-- Parameter tz IANA = UTC\n-- Columns: a [count]\n" + BODY: (
        "line 3: expected '-- Parameter NAME [UNIT] = DEFAULT'"
    ),
    "-- Q?\n-- Grain: one row.\n-- Parameter nope [days] = 1\n-- Columns: a [count]\n" + BODY: (
        "unknown parameters ['nope']"
    ),
    "-- Q?\n-- Grain: one row.\n-- Columns: a [count], b\n" + BODY: "Columns: expected",
    "-- Q?\n-- Grain: one row.\n" + BODY: "one or more Columns",
}


@pytest.mark.parametrize(("text", "message"), HEADER_ERRORS.items())
def test_a_header_that_breaks_the_syntax_is_one_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    (tmp_path / "broken.sql").write_text(text)
    monkeypatch.setattr(reports, "REPORTS_DIR", tmp_path)
    reports.catalog.cache_clear()
    try:
        with pytest.raises(reports.ReportError, match=re.escape(message)) as caught:
            reports.catalog()
        assert str(caught.value).startswith(f"{tmp_path / 'broken.sql'}: ")
    finally:
        reports.catalog.cache_clear()


def test_every_parameter_has_an_example_value_and_the_common_ones_a_flag() -> None:
    assert set(reports.EXAMPLES) == set(reports.PARAMETERS)
    assert set(reports.FLAGS) <= set(reports.PARAMETERS)
    for name, value in reports.EXAMPLES.items():
        reports.PARAMETERS[name](value)  # a value the parameter takes


def test_describing_an_unknown_report_names_the_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "nope", "--describe"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("streamledger: error: no report 'nope' (available: concurrency, daily-usage,")
    assert err.count("\n") == 1
