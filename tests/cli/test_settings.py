from pathlib import Path

import pytest

from streamledger.errors import ConfigError
from streamledger.settings import DEFAULT_BASE_URL, Settings

REQUIRED = {"CLOUDFLARE_API_TOKEN": "tok-123", "CLOUDFLARE_ACCOUNT_ID": "acc"}
CONFIGURED = REQUIRED | {"REALTIMEKIT_APP_ID": "app-1"}


def test_defaults_apply_when_only_required_settings_are_given() -> None:
    settings = Settings.from_env(CONFIGURED)
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.database == Path("data/streamledger.duckdb").absolute()
    assert settings.landing_dir == Path("data/landing").absolute()
    assert (settings.budget_requests, settings.budget_window_seconds) == (1200, 300.0)
    assert settings.app_ids == ("app-1",)


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_missing_required_setting_is_one_line_naming_the_variable(missing: str) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env, api=True)
    assert missing in str(err.value)
    assert "\n" not in str(err.value)


def test_readers_of_the_warehouse_need_no_credentials() -> None:
    settings = Settings.from_env({"STREAMLEDGER_DATABASE": "/srv/w.duckdb"})
    assert (settings.database, settings.export_dir) == (Path("/srv/w.duckdb"), Path("/srv/exports"))
    assert not settings.api_token
    with pytest.raises(ConfigError, match="CLOUDFLARE_API_TOKEN is not set"):
        settings.with_api()


def test_a_mistyped_variable_is_named_with_the_closest_setting(caplog: pytest.LogCaptureFixture) -> None:
    env = REQUIRED | {"STREAMLEDGER_DATABSE": "/srv/w.duckdb", "STREAMLEDGER_QQQ": "1"}
    settings = Settings.from_env(env)
    assert (
        settings.database == Path("data/streamledger.duckdb").absolute()
    )  # not read: it is not the setting's name
    assert caplog.messages == [
        "STREAMLEDGER_DATABSE is set but is not a streamledger setting; did you mean STREAMLEDGER_DATABASE?",
        "STREAMLEDGER_QQQ is set but is not a streamledger setting (see docs/settings.md)",
    ]


def test_the_old_name_of_the_poll_interval_still_works_and_warns_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert Settings.from_env(REQUIRED | {"STREAMLEDGER_POLL_INTERVAL": "30"}).poll_interval_seconds == 30.0
    assert caplog.messages == []


def test_no_app_id_means_every_app_of_the_account_is_discovered() -> None:
    assert Settings.from_env(REQUIRED).app_ids == ()
    assert Settings.from_env(REQUIRED | {"REALTIMEKIT_APP_ID": " , "}).app_ids == ()


def test_app_ids_are_comma_separated_trimmed_and_deduplicated() -> None:
    settings = Settings.from_env(REQUIRED | {"REALTIMEKIT_APP_ID": " a1, a2 ,a1,"})
    assert settings.app_ids == ("a1", "a2")


def test_bad_number_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="STREAMLEDGER_BUDGET_REQUESTS must be a int, got 'lots'"):
        Settings.from_env(REQUIRED | {"STREAMLEDGER_BUDGET_REQUESTS": "lots"})
    with pytest.raises(ConfigError, match="STREAMLEDGER_CONCURRENCY must be a positive, finite number"):
        Settings.from_env(REQUIRED | {"STREAMLEDGER_CONCURRENCY": "0"})
    for bad in ("nan", "inf", "-1"):
        with pytest.raises(
            ConfigError, match="STREAMLEDGER_POLL_INTERVAL_SECONDS must be a positive, finite"
        ):
            Settings.from_env(REQUIRED | {"STREAMLEDGER_POLL_INTERVAL_SECONDS": bad})


def test_overlong_app_id_is_rejected() -> None:
    with pytest.raises(ConfigError, match="REALTIMEKIT_APP_ID has an invalid id"):
        Settings.from_env(REQUIRED | {"REALTIMEKIT_APP_ID": "x" * 33})


def test_database_setting_moves_the_database_and_its_landing_folder() -> None:
    settings = Settings.from_env(REQUIRED | {"STREAMLEDGER_DATABASE": "/tmp/x/h.duckdb"})
    assert settings.database == Path("/tmp/x/h.duckdb")
    assert settings.landing_dir == Path("/tmp/x/landing")


def test_token_never_shows_in_repr_or_str() -> None:
    settings = Settings.from_env(REQUIRED)
    assert "tok-123" not in repr(settings)
    assert "tok-123" not in str(settings)
    assert settings.api_token.reveal() == "tok-123"


@pytest.mark.parametrize(
    ("token", "what"),
    [
        # Leading and trailing whitespace (a pasted line break) is stripped when the variable is read.
        ("sekrit 123", "whitespace or a line break at character 7 of 10"),
        ("sekrit\n123", "whitespace or a line break at character 7 of 10"),
        ("sekrit\u00e9123", "a character outside printable ASCII at character 7 of 10"),
    ],
)
def test_a_token_that_cannot_be_one_is_refused_in_one_line_without_showing_it(token: str, what: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(REQUIRED | {"CLOUDFLARE_API_TOKEN": token}, api=True)
    message = str(refused.value)
    assert message.startswith(f"CLOUDFLARE_API_TOKEN holds {what}: set it to the token alone")
    assert "\n" not in message
    assert "sekrit" not in message


def test_a_pasted_line_break_around_the_token_is_not_part_of_it() -> None:
    settings = Settings.from_env(REQUIRED | {"CLOUDFLARE_API_TOKEN": "  tok-123\n"}, api=True)
    assert settings.api_token.reveal() == "tok-123"


def test_paths_resolve_once_against_the_working_directory_and_the_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    settings = Settings.from_env(
        {"STREAMLEDGER_DATABASE": "rel/w.duckdb", "STREAMLEDGER_EXPORT_DIR": "~/out"}
    )
    assert settings.database == tmp_path / "rel" / "w.duckdb"
    assert settings.archive_dir == tmp_path / "rel" / "archive"
    assert settings.export_dir == tmp_path / "home" / "out"
    monkeypatch.chdir(tmp_path / "..")  # a later change of directory moves nothing
    assert settings.database == tmp_path / "rel" / "w.duckdb"


def test_the_poll_deadline_is_three_quarters_of_the_interval_unless_set() -> None:
    assert Settings.from_env(REQUIRED).poll_deadline == 45.0
    assert Settings.from_env(REQUIRED | {"STREAMLEDGER_POLL_INTERVAL_SECONDS": "20"}).poll_deadline == 15.0
    assert Settings.from_env(REQUIRED | {"STREAMLEDGER_POLL_DEADLINE_SECONDS": "55"}).poll_deadline == 55.0


def test_a_poll_deadline_not_under_the_poll_interval_is_one_line_naming_both() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(REQUIRED | {"STREAMLEDGER_POLL_DEADLINE_SECONDS": "60"})
    assert str(err.value) == (
        "STREAMLEDGER_POLL_DEADLINE_SECONDS (60) must be less than STREAMLEDGER_POLL_INTERVAL_SECONDS (60): "
        "a poll must end before the next one starts (unset, it is 3/4 of the interval)"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pa55word@api.cloudflare.com/client/v4",
        "https://pa55word@api.cloudflare.com/client/v4",
        "https://user:pa55/word?x@api.cloudflare.com/client/v4",  # a password may hold "/" and "?"
        "ftp://user:pa55word@api.cloudflare.com/client/v4",
    ],
)
def test_credentials_in_the_base_url_are_refused_in_one_line_without_showing_them(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(REQUIRED | {"CLOUDFLARE_BASE_URL": url})
    message = str(refused.value)
    scheme = url.partition("://")[0]
    assert message == (
        f"CLOUDFLARE_BASE_URL holds a user name or password before its host ({scheme}://…@api.cloudflare.com):"
        " remove them; the API token goes in CLOUDFLARE_API_TOKEN (see docs/settings.md)"
    )
    assert "pa55" not in message


def test_the_clock_skew_limit_is_a_positive_number_of_seconds() -> None:
    assert Settings.from_env(REQUIRED).max_clock_skew_seconds == 300.0
    assert (
        Settings.from_env(REQUIRED | {"STREAMLEDGER_MAX_CLOCK_SKEW_SECONDS": "5"}).max_clock_skew_seconds
        == 5.0
    )
    with pytest.raises(ConfigError, match=r"^STREAMLEDGER_MAX_CLOCK_SKEW_SECONDS must be a positive"):
        Settings.from_env(REQUIRED | {"STREAMLEDGER_MAX_CLOCK_SKEW_SECONDS": "-1"})
