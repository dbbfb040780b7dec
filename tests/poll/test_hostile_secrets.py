"""Credentials where a hostile but plausible API hides them: no stream key the API showed and no token is
kept in clear anywhere, whatever field, header or body carries it (polls and exports through the real
simulator, the production path of tests/helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from simulator import RunningSimulator, running_simulator
from simulator.config import KEY_COPIES
from streamledger import fetch
from streamledger.export import export_month
from streamledger.transforms.redact import fingerprint
from tests.helpers import finish, run_poll, settings_for, simulator_config

TOKEN = "cf-TOKEN-5ecret-9f8e7d6c5b4a3928"


def every_text_value(database: Path) -> Iterator[tuple[str, str, str]]:
    """(table, column, value) of every text value of every table of the database, lists of text included."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        columns = con.execute(
            "select table_name, column_name from information_schema.columns"
            " where data_type in ('VARCHAR', 'VARCHAR[]') order by all"
        ).fetchall()
        for table, column in columns:
            rows = con.execute(f'select distinct "{column}"::varchar from "{table}"').fetchall()
            yield from ((table, column, value) for (value,) in rows if value is not None)
    finally:
        con.close()


def clear_secrets(folder: Path, secrets: list[str]) -> list[str]:
    """Where any of the secrets lies in clear under folder: table.column of the database, or a file's path."""
    found = set()
    for database in folder.rglob("*.duckdb"):
        for table, column, value in every_text_value(database):
            if any(secret in value for secret in secrets):
                found.add(f"{table}.{column}")
    for path in folder.rglob("*"):
        if path.is_file():  # the database's own bytes too, its WAL, landing files, exports
            data = path.read_bytes()
            if any(secret.encode() in data for secret in secrets):
                found.add(str(path.relative_to(folder)))
    return sorted(found)


def stream_keys(sim: RunningSimulator) -> list[str]:
    livestreams = httpx.get(f"{sim.root_url}/_simulator/livestreams").json()["livestreams"]
    return [livestream["stream_key"] for livestream in livestreams]


def poll_hostile_api(
    tmp_path: Path, *, key_field: str, full_listing_interval_seconds: float, polls: int = 24
) -> tuple[list[str], Path]:
    """Polls, a reconcile and the exports of the months polled, against an API that copies each stream key
    into every field it can and echoes the token; return the keys and the folder of everything written."""
    config = simulator_config(
        token=TOKEN,
        livestreams=8,
        stream_key_copies=KEY_COPIES,
        stream_key_field=key_field,
        echo_token=True,
        errored_share=0.5,  # err_message on half the stopped sessions (the copy is on all of them)
    )
    with running_simulator(config) as sim:
        settings = settings_for(
            sim, tmp_path, full_listing_interval_seconds=full_listing_interval_seconds
        ).with_overrides(export_dir=tmp_path / "exports")
        for _ in range(polls):
            sim.advance(7)
            assert run_poll(settings).outcome == "ok"
        assert finish(settings, fetch.fetch_analytics(settings, 2, 2))
        for month in ("2026-10", "2026-11"):
            export_month(settings.database, month, settings.export_dir)
        return stream_keys(sim), tmp_path


@pytest.mark.parametrize("key_field", ["stream_key", "stream-key", "streamKey"])
def test_no_stream_key_or_token_is_kept_in_clear_wherever_the_api_copies_it(
    tmp_path: Path, key_field: str
) -> None:
    keys, folder = poll_hostile_api(tmp_path, key_field=key_field, full_listing_interval_seconds=60.0)
    assert len(keys) == 8
    assert clear_secrets(folder, [TOKEN, *keys]) == []
    # Not vacuous: each copy is there, as its key's fingerprint, and the token's echo as [redacted].
    database = folder / "history.duckdb"
    con = duckdb.connect(str(database), read_only=True)
    try:
        fingerprints = {
            r[0] for r in con.execute("select stream_key_fingerprint from livestreams").fetchall()
        }
        names = con.execute("select name, ingest_server, playback_url from livestreams").fetchall()
        errors = con.execute("select err_message from sessions where err_message is not null").fetchall()
        echoes = con.execute(
            "select count(*) from raw_responses where ratelimit like '%[redacted]%'"
        ).fetchall()
        bodies = con.execute(
            "select count(*) from raw_responses where body like '%Bearer [redacted]%'"
        ).fetchall()
    finally:
        con.close()
    assert fingerprints == {fingerprint(key) for key in keys}
    for name, ingest_server, playback_url in names:
        assert "[redacted sha256:" in name
        assert ingest_server.startswith("rtmps://live.cloudflare.com:443/live/[redacted sha256:")
        assert "?key=[redacted sha256:" in playback_url
    assert errors
    assert all("(stream key [redacted sha256:" in message for (message,) in errors)
    assert echoes[0][0] > 0
    assert bodies[0][0] > 0
    assert list((folder / "exports").rglob("*.csv"))


def test_a_key_shown_only_outside_its_field_in_a_poll_is_redacted_when_another_poll_showed_it(
    tmp_path: Path,
) -> None:
    # On the default cadence a poll lists only LIVE and INVOKED livestreams and a fifteenth of the rest: a
    # stopped session is read by id (its err_message holds the key) in polls that do not list its livestream.
    keys, folder = poll_hostile_api(tmp_path, key_field="stream_key", full_listing_interval_seconds=900.0)
    assert clear_secrets(folder, [TOKEN, *keys]) == []
