import subprocess
import sys

import pytest

from streamledger.cli import main


def test_a_missing_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "CLOUDFLARE_API_TOKEN",
        "STREAMLEDGER_TOKEN_BLOCK",
        "CLOUDFLARE_ACCOUNT_ID",
        "REALTIMEKIT_APP_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    assert main(["snapshot"]) == 1
    assert capsys.readouterr().err == (
        "streamledger: error: CLOUDFLARE_API_TOKEN is not set (required to poll, or STREAMLEDGER_TOKEN_BLOCK "
        "naming a Prefect Secret block; see docs/settings.md)\n"
    )


@pytest.mark.parametrize("argv", [["report", "--list"], ["--help"], ["completion", "bash"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(argv: list[str]) -> None:
    """`streamledger report --list | head -1`: no BrokenPipeError traceback; the status of a killed writer."""
    run_cli = "import sys; from streamledger.cli import main; sys.exit(main(sys.argv[1:]))"
    child = subprocess.Popen(
        [sys.executable, "-c", run_cli, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None
    assert child.stderr is not None
    child.stdout.close()  # the reader is gone before the first line is written
    err = child.stderr.read()
    child.stderr.close()
    assert child.wait(timeout=60) == 141
    assert err == b""


def test_a_password_in_the_base_url_is_one_line_that_does_not_show_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "tok-123")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acc")
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", "https://me:hunter2@api.cloudflare.com/client/v4")
    assert main(["snapshot"]) == 1
    assert capsys.readouterr().err == (
        "streamledger: error: CLOUDFLARE_BASE_URL holds a user name or password before its host "
        "(https://…@api.cloudflare.com): remove them; the API token goes in CLOUDFLARE_API_TOKEN "
        "(see docs/settings.md)\n"
    )
