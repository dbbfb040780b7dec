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
