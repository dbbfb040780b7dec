"""`python -m simulator` has the manners of `streamledger`: grouped help with every option's help and
default, one-line usage errors, and its options reach the simulator it serves."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import pytest
from cyclopts.argument import Argument

from simulator.cli import app, main, parse_serve
from simulator.config import SimulatorConfig

COMMANDS = ["serve", "demo", "serve-product"]


def shown(command: str) -> list[Argument]:
    return [argument for argument in app[command].assemble_argument_collection() if argument.show]


def test_the_commands_keep_their_names_and_a_bare_call_prints_the_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: python -m simulator COMMAND")
    listed = [
        line.strip("│ ").split()[0] for line in out.splitlines() if line.startswith("│ ") and line[2] != " "
    ]
    assert [name for name in listed if not name.startswith("-")] == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help_and_a_default(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    assert main([command, "--help"]) == 0
    rows = [line.strip("│ ") for line in capsys.readouterr().out.splitlines()]
    assert not any(re.search(r"\bSIM_[A-Z]", row) for row in rows)  # argparse's metavars from dests
    for argument in shown(command):
        assert argument.parameter.help, argument.names
        (row,) = [row for row in rows if row.startswith(f"{argument.names[0]} ")]
        assert argument.parameter.help in row
        assert "[default: " in row, row


def test_serve_has_every_option_it_had_in_groups(capsys: pytest.CaptureFixture[str]) -> None:
    names = {argument.names[0] for argument in shown("serve")}
    assert {
        "--port",
        "--host",
        "--seed",
        "--livestreams",
        "--apps",
        "--token",
        "--account",
        "--budget",
        "--budget-window",
        "--block-seconds",
        "--fault-5xx",
        "--fault-malformed",
        "--fault-timeout",
        "--fault-timeout-seconds",
        "--fault-truncated",
        "--fault-shape",
        "--shape-forms",
        "--latency-ms",
        "--latency-jitter-ms",
        "--clock",
        "--start-at",
        "--inactive-form",
        "--active-figures",
        "--unauthorized-form",
        "--details-shape",
        "--daywise-date-form",
        "--analytics-rounding",
        "--gap-seconds",
        "--invoked-seconds",
        "--live-seconds",
        "--created-after-seconds",
        "--placeholder-seconds",
        "--final-after-seconds",
        "--linger-seconds",
        "--report-lag-seconds",
        "--short-share",
        "--short-live-seconds",
        "--dip-share",
        "--stream-key-copies",
        "--stream-key-field",
        "--echo-token",
        "--date-offset-seconds",
    } == names
    assert main(["serve", "--help"]) == 0
    panels = [line for line in capsys.readouterr().out.splitlines() if line.startswith("╭─ ")]
    assert len(panels) >= 5  # server, account, sessions, shapes, faults, clock...


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["serve", "--live-seconds", "soon"], "--live-seconds 'soon': expected LOW,HIGH seconds"),
        (["serve", "--start-at", "2026-01-01T00:00:00"], "--start-at needs a timezone"),
        (["serve", "--clock", "fast"], 'Invalid value "fast" for --clock.'),
        (["serve", "--fault-5xx", "2"], "fault_5xx must be within [0, 1]"),
        (["serve", "--prot", "0"], "Did you mean --port?"),
        (["dmeo"], 'Did you mean "demo"?'),
    ],
)
def test_a_bad_value_is_one_line_and_status_2(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m simulator: error: ")
    assert line in err
    assert err.count("\n") == 1


def test_the_defaults_are_the_config_defaults() -> None:
    assert parse_serve([]).config() == SimulatorConfig()


def answered(url: str, token: str) -> httpx.Response:
    """GET url once the server listens: it announces its URL as it binds, a moment before it accepts."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_serve_serves_what_its_options_say() -> None:
    """A real `python -m simulator serve`: its announced base URL answers with the account and apps asked."""
    argv = [
        "serve",
        "--port",
        "0",
        "--apps",
        "2",
        "--account",
        "acc-cli",
        "--token",
        "tok-cli",
        "--clock",
        "manual",
    ]
    with subprocess.Popen(
        [sys.executable, "-m", "simulator", *argv], stderr=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stderr is not None
            line = child.stderr.readline()
            assert "clock=manual" in line
            assert "apps=sim-app-1,sim-app-2" in line
            match = re.search(r"base URL (\S+)", line)
            assert match is not None, line
            answer = answered(f"{match.group(1)}/accounts/acc-cli/realtime/kit/apps", "tok-cli")
            assert answer.status_code == 200, answer.text
            assert {app["id"] for app in answer.json()["data"]} == {"sim-app-1", "sim-app-2"}
        finally:
            child.send_signal(signal.SIGINT)
            assert child.wait(timeout=30) == 0
