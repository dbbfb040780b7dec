"""The command line's manners: help on every command and option, --version, did-you-mean, one-line usage
errors naming the option, shell completion. Each goes through `streamledger.cli.main`, as the command does."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import fields
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import pytest
from cyclopts.argument import Argument

from streamledger.cli import app, main
from streamledger.settings import Settings, known_variables

COMMANDS = [name for name in app if not name.startswith("-")]
GROUPS = {
    "Run": ["snapshot", "reconcile", "serve", "rebuild", "archive"],
    "Inspect": ["status", "doctor", "report", "sql", "dashboard"],
    "Export": ["export", "docs"],
    "Develop": ["completion"],
}


def shown(command: str) -> list[Argument]:
    """The options and arguments the help of `command` lists."""
    return [argument for argument in app[command].assemble_argument_collection() if argument.show]


def help_rows(command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The lines of `streamledger COMMAND --help`, wide enough that each option is one line."""
    monkeypatch.setenv("COLUMNS", "400")
    assert main([command, "--help"]) == 0
    return [line.strip("│ ").lstrip("* ") for line in capsys.readouterr().out.splitlines()]


def row_of(argument: Argument, rows: list[str]) -> str:
    name = argument.names[0]
    matching = [row for row in rows if row == name or row.startswith((f"{name} ", f"{name}  "))]
    assert len(matching) == 1, (name, rows)
    return matching[0]


def expected_default(argument: Argument) -> str:
    if argument.required:
        return "[required]"
    shown_default = argument.parameter.show_default
    text = shown_default if isinstance(shown_default, str) else str(argument.field_info.default)
    return f"[default: {text}]"


def test_a_bare_command_prints_the_help_grouped_by_task(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: streamledger COMMAND")
    positions = {name: out.index(f"╭─ {name} ") for name in GROUPS}
    assert sorted(positions, key=positions.__getitem__) == list(GROUPS)
    for group, names in GROUPS.items():
        start = positions[group]
        panel = out[start : out.index("╰", start)]
        listed = [line.strip("│ ").split()[0] for line in panel.splitlines()[1:] if line.strip("│ ")]
        assert [name for name in listed if name in COMMANDS] == names, group
    assert sorted(COMMANDS) == sorted(name for names in GROUPS.values() for name in names)


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"{version('streamledger')}\n"


def test_the_installed_command_prints_its_help_and_version() -> None:
    command = Path(sys.executable).with_name("streamledger")
    bare = subprocess.run([command], capture_output=True, text=True, timeout=60, check=False)
    assert (bare.returncode, bare.stderr) == (0, "")
    assert "snapshot" in bare.stdout
    assert "completion" in bare.stdout
    done = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, f"{version('streamledger')}\n")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help(command: str) -> None:
    """The walk of every command: no option or argument without its help text."""
    for argument in shown(command):
        assert argument.parameter.help, (command, argument.names)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_lists_each_option_with_its_help_default_and_variable(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = help_rows(command, monkeypatch, capsys)
    for argument in shown(command):
        row = row_of(argument, rows)
        assert argument.parameter.help is not None
        assert argument.parameter.help in row, row
        assert expected_default(argument) in row, row
        for name in argument.parameter.env_var or ():
            assert f"[env var: {name}" in row, row


def test_an_option_that_sets_a_setting_says_what_the_settings_page_says() -> None:
    """Help, variable and default come from the Settings field: the command line and settings page agree."""
    by_variable = {item.metadata["env"]: item for item in fields(Settings)}
    seen = set()
    for command in COMMANDS:
        for argument in shown(command):
            variables = tuple(argument.parameter.env_var or ())
            if not variables:
                continue
            assert set(variables) <= set(known_variables()), (command, variables)
            item = by_variable[variables[0]]
            assert argument.parameter.help == item.metadata["help"], (command, argument.names)
            assert argument.parameter.show_default == str(item.metadata.get("shown", item.default))
            seen.add((command, argument.names[0], variables[0]))
    assert {
        ("status", "--database", "STREAMLEDGER_DATABASE"),
        ("archive", "--retention-days", "STREAMLEDGER_RAW_RETENTION_DAYS"),
        ("archive", "--archive-dir", "STREAMLEDGER_ARCHIVE_DIR"),
        ("export", "--output", "STREAMLEDGER_EXPORT_DIR"),
    } <= seen


def test_one_name_per_concept() -> None:
    """--output for every file or folder written, --database, --wait, --format... never a second spelling."""
    names = {name for command in COMMANDS for argument in shown(command) for name in argument.names}
    assert {
        "--output",
        "--database",
        "--wait",
        "--format",
        "--columns",
        "--tz",
        "--month",
        "--price",
    } <= names
    assert {"--out", "--db", "--timezone", "--fmt"}.isdisjoint(
        name for command in COMMANDS for argument in shown(command) for name in argument.names[:1]
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["stauts"], 'Unknown command "stauts". Did you mean "status"?'),
        (["reprot", "session-log"], 'Did you mean "report"?'),
        (["status", "--chek"], "Unknown option: --chek. Did you mean --check?"),
        (["report", "session-log", "--frm", "2026-10-01"], "Did you mean --from?"),
        (["export", "--month", "2026-10", "--outptu", "x"], "Did you mean --output?"),
    ],
)
def test_a_mistyped_command_or_option_gets_a_did_you_mean(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("streamledger: error: "), err
    assert err.count("\n") == 1, err
    assert said in err
    assert err.rstrip().endswith("--help)")  # where the right spelling is listed


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["report", "finance-statement", "--price", "abc"],
            "--price 'abc': expected a price of zero or more with at most 6 decimals, e.g. 0.010",
        ),
        (["export", "--month", "2026-10", "--price", "1.0000001"], "--price '1.0000001': expected a price"),
        (
            ["report", "session-log", "--from", "31/10/2026"],
            "--from '31/10/2026': expected a date as YYYY-MM-DD",
        ),
        (["report", "session-log", "--to", "2026-02-30"], "--to '2026-02-30': expected a date as YYYY-MM-DD"),
        (
            ["report", "session-log", "--tz", "Mars/Olympus"],
            "--tz 'Mars/Olympus': expected an IANA time zone",
        ),
        (["dashboard", "--tz", "Nowhere"], "--tz 'Nowhere': expected an IANA time zone"),
        (["export", "--month", "2026-13"], "--month '2026-13': expected a calendar month as YYYY-MM"),
        (["dashboard", "--month", "October"], "--month 'October': expected a calendar month as YYYY-MM"),
        (["dashboard", "--port", "http"], "--port 'http': expected a port number"),
        (["sql", "select 1", "--wait", "soon"], "--wait 'soon': expected a number of seconds"),
        (["status", "--wait", "-5"], "--wait '-5': expected a number of seconds, zero or more"),
        (["doctor", "--timeout", "0"], "--timeout '0': expected a positive number of seconds"),
        (
            ["report", "session-log", "--param", "max_gap_seconds"],
            "--param 'max_gap_seconds': expected NAME=VALUE",
        ),
        (
            ["sql", "select 1", "--columns", "a,,b"],
            "--columns 'a,,b': expected one or more column names separated by commas",
        ),
        (
            ["archive", "--retention-days", "a week"],
            "--retention-days must be a whole number of days, got 'a week'",
        ),
        (["status", "--format", "xml"], 'Invalid value "xml" for --format. Choose from: "text", "json".'),
        (["export", "--month", "2026-10", "--format", "pdf"], 'Invalid value "pdf" for --format.'),
        (["export"], 'Command "export" parameter --month requires an argument.'),
        (["sql"], 'Command "sql" parameter STATEMENT requires an argument.'),
    ],
)
def test_a_bad_value_is_one_line_naming_the_option_and_usage_status(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main([*argv, *(["--database", str(tmp_path / "none.duckdb")] if argv[0] != "doctor" else [])]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"streamledger: error: {line}"), captured.err
    assert captured.err.count("\n") == 1
    assert not any(
        word in captured.err
        for word in ("decimal.", "InvalidOperation", "Traceback", "ConversionSyntax", "╭")
    )


def test_a_bad_variable_behind_an_option_is_a_bad_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read through the option's converter, a variable fails as Settings says it does: status 1, named."""
    monkeypatch.setenv("STREAMLEDGER_RAW_RETENTION_DAYS", "0")
    assert main(["archive", "--dry-run"]) == 1
    assert capsys.readouterr().err.startswith("streamledger: error: STREAMLEDGER_RAW_RETENTION_DAYS must be")


def test_an_empty_variable_is_unset_and_an_option_wins_over_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STREAMLEDGER_DATABASE", "")
    assert main(["status"]) == 1
    default = tmp_path / "data" / "streamledger.duckdb"
    assert f"database {default} does not exist yet" in capsys.readouterr().err
    monkeypatch.setenv("STREAMLEDGER_DATABASE", str(tmp_path / "from-variable.duckdb"))
    assert main(["status"]) == 1
    assert "from-variable.duckdb does not exist yet" in capsys.readouterr().err
    assert main(["status", "--database", "given.duckdb"]) == 1
    assert f"database {tmp_path / 'given.duckdb'} does not exist yet" in capsys.readouterr().err


def parsed(argv: list[str]) -> dict[str, object]:
    """The values a command would be called with (parsed, not run)."""
    _, bound, _ = app.parse_args(argv, exit_on_error=False, print_error=False)
    return dict(bound.arguments)


def test_export_takes_repeatable_formats_its_folder_as_output_and_a_group(tmp_path: Path) -> None:
    values = parsed(["export", "--month", "2026-10", "--format", "xlsx", "--format", "csv", "--group", "fin"])
    assert (values["month"], values["format"], values["group"]) == ("2026-10", ("xlsx", "csv"), "fin")
    out = tmp_path / "finance"
    assert parsed(["export", "--month", "2026-10", "--output", str(out)])["output"] == out
    assert parsed(["export", "--month", "2026-10", "--out", str(out)])["output"] == out  # the former name
    assert parsed(["export", "--month", "2026-10", "--price", "0.012"])["price"] == Decimal("0.012")


def test_report_takes_describe_columns_and_parameters() -> None:
    values = parsed(
        ["report", "daily-usage", "--describe", "--columns", "day,ingest_minutes", "--columns", "cost"]
    )
    assert values["describe"] is True
    assert values["columns"] == ("day", "ingest_minutes", "cost")
    values = parsed(["report", "usage", "--from", "2026-10-01", "--tz", "Europe/Paris", "--param", "a=b"])
    assert (values["from_date"], values["tz"], values["param"]) == ("2026-10-01", "Europe/Paris", ("a=b",))
    assert parsed(["sql", "select 1", "--columns", "one"])["columns"] == ("one",)


def test_dashboard_and_docs_take_their_options(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    values = parsed(
        ["dashboard", "--port", "0", "--month", "2026-10", "--tz", "Europe/Paris", "--output", str(page)]
    )
    assert (values["port"], values["month"], values["tz"], values["output"]) == (
        0,
        "2026-10",
        "Europe/Paris",
        page,
    )
    assert parsed(["docs", "--output", str(tmp_path)])["output"] == tmp_path


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_prints_a_script_the_shell_reads(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The script is printed, never installed here; the shell, when present, parses it without error."""
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for name in COMMANDS:
        assert name in script
    assert "--retention-days" in script
    assert "--database" in script
    interpreter = shutil.which(shell)
    if interpreter is None:
        pytest.skip(f"{shell} is not installed: the script's syntax is not checked")
    checked = subprocess.run([interpreter, "-n"], input=script, capture_output=True, text=True, check=False)
    assert (checked.returncode, checked.stderr) == (0, "")


def test_bash_completes_a_command_and_an_option_from_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    probe = (
        script
        + '\nCOMP_WORDS=(streamledger sta); COMP_CWORD=1; _streamledger; echo "${COMPREPLY[*]}"'
        + '\nCOMP_WORDS=(streamledger archive --ret); COMP_CWORD=2; _streamledger; echo "${COMPREPLY[*]}"'
    )
    done = subprocess.run([bash, "-c", probe], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["status", "--retention-days"]
