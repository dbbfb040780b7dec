"""`streamledger doctor` (without --api): one line per check, ok or FAIL with the fix, and an exit status.

Against the real simulator over HTTP, a real database polled from it (then cut short, overwritten, or
stamped by a newer schema), real folders (a file in a folder's place, a small tmpfs filled to its last byte)
and, for the Prefect API, a real HTTP server on 127.0.0.1 (or a port nothing listens on).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import pytest

from simulator import RunningSimulator, running_simulator
from streamledger import warehouse
from streamledger.cli import main
from streamledger.settings import Settings
from tests.helpers import fill_disk, run_poll, settings_for, simulator_config, small_disk

NAMES = [
    "settings",
    "database folder",
    "landing folder",
    "archive folder",
    "export folder",
    "Prefect home",
    "database",
    "database read whole",
    "database checks",
]


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"true" if self.path == "/api/health" else b"{}"
        self.send_response(200 if self.path == "/api/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[str]:
    """A server on 127.0.0.1 that answers GET /api/health as Prefect's does (true); yields its API URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


@pytest.fixture
def polled(sim: RunningSimulator, tmp_path: Path) -> Settings:
    """Settings of a database that one poll of the simulator loaded."""
    settings = settings_for(sim, tmp_path)
    run_poll(settings)
    return settings


def use(monkeypatch: pytest.MonkeyPatch, settings: Settings, prefect_api: str | None, **extra: str) -> None:
    """Point the environment at these settings (as an operator's variables would)."""
    for name in list(os.environ):
        if name.startswith(("STREAMLEDGER_", "CLOUDFLARE_", "REALTIMEKIT_", "PREFECT_API_URL")):
            monkeypatch.delenv(name)
    variables = {
        "CLOUDFLARE_API_TOKEN": settings.api_token.reveal(),
        "CLOUDFLARE_ACCOUNT_ID": settings.account_id,
        "CLOUDFLARE_BASE_URL": settings.base_url,
        "REALTIMEKIT_APP_ID": ",".join(settings.app_ids),
        "STREAMLEDGER_DATABASE": str(settings.database),
        "STREAMLEDGER_LANDING_DIR": str(settings.landing_dir),
        **({"PREFECT_API_URL": prefect_api} if prefect_api else {}),
        **extra,
    }
    for name, value in variables.items():
        if value:
            monkeypatch.setenv(name, value)


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """Run `streamledger doctor`; return its exit status and its lines (every one is ok or FAIL, or the
    summary last)."""
    status = main(["doctor", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = out.splitlines()
    assert all(line.startswith(("ok    ", "FAIL  ")) for line in lines[:-1]), out
    return status, lines


def named(lines: list[str], name: str) -> list[str]:
    return [line[29:] for line in lines if line[6:28].rstrip() == name]


def requests_sent(sim: RunningSimulator) -> int:
    return int(httpx.get(f"{sim.root_url}/_simulator/stats").json()["requests_total"])


def test_a_sound_setup_is_all_ok_with_one_request_per_app(
    polled: Settings,
    sim: RunningSimulator,
    prefect_api: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use(monkeypatch, polled, prefect_api)
    before = requests_sent(sim)
    status, lines = doctor(capsys)
    assert requests_sent(sim) - before == len(polled.app_ids) == 1
    assert status == 0
    assert [line[6:28].rstrip() for line in lines[:-1]] == [*NAMES, "app sim-app", "Prefect API"]
    assert lines[-1] == f"all {len(lines) - 1} checks ok"
    assert named(lines, "app sim-app") == [
        f"{sim.base_url}, account sim-account: the token reads its livestreams (12 on page 1)"
    ]
    assert named(lines, "Prefect API") == [f"PREFECT_API_URL {prefect_api} answers"]
    (whole,) = named(lines, "database read whole")
    assert whole.endswith("rows read, every block's checksum holds")
    assert named(lines, "landing folder") == [
        f"{polled.landing_dir} (STREAMLEDGER_LANDING_DIR): writable, "
        + named(lines, "landing folder")[0].split("writable, ")[1]
    ]
    assert sorted(path.name for path in polled.landing_dir.parent.iterdir() if "doctor" in path.name) == []


def test_without_apps_configured_it_reads_the_apps_list_and_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_simulator(simulator_config(app_ids=("app-one", "app-two"))) as sim:
        settings = settings_for(sim, tmp_path).with_overrides(app_ids=())
        use(monkeypatch, settings, None)
        before = requests_sent(sim)
        status, lines = doctor(capsys)
        assert requests_sent(sim) - before == 1
    assert status == 0
    (apps,) = named(lines, "apps")
    listed = apps.removeprefix(f"{sim.base_url}, account sim-account: the token reads the account's apps: ")
    assert sorted(listed.removesuffix(" (REALTIMEKIT_APP_ID unset: every app is polled)").split(", ")) == [
        "app-one",
        "app-two",
    ]
    assert named(lines, "database") == [f"{settings.database} does not exist yet: the first poll creates it"]
    assert named(lines, "Prefect API") == [
        "PREFECT_API_URL is not set: each flow run starts a temporary Prefect server (about 10 s), which "
        "cannot schedule; `streamledger serve` starts a local one"
    ]


def test_each_broken_piece_is_one_fail_line_with_its_fix_and_the_exit_status_is_1(
    polled: Settings,
    sim: RunningSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocker = tmp_path / "exports-file"
    blocker.write_text("")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}/api"
    use(
        monkeypatch,
        polled,
        closed,
        CLOUDFLARE_API_TOKEN="not-the-token",
        REALTIMEKIT_APP_ID="sim-app,no-such-app",
        STREAMLEDGER_TIMEOUT_SECONDS="-1",
        STREAMLEDGER_PER_PAGE="many",
        STREAMLEDGER_EXPORTS_DIR="/tmp",
        STREAMLEDGER_EXPORT_DIR=str(blocker / "exports"),
    )
    status, lines = doctor(capsys)
    assert status == 1
    assert named(lines, "settings") == [
        "STREAMLEDGER_EXPORTS_DIR is set but is not a streamledger setting; did you mean "
        "STREAMLEDGER_EXPORT_DIR?",
        "STREAMLEDGER_PER_PAGE must be a int, got 'many'",
        "STREAMLEDGER_TIMEOUT_SECONDS must be a positive, finite number, got '-1'",
    ]
    assert named(lines, "export folder") == [
        f"{blocker / 'exports'} (STREAMLEDGER_EXPORT_DIR): {blocker} is a file, not a folder: move it, or "
        "set STREAMLEDGER_EXPORT_DIR"
    ]
    refused = (
        f"{sim.base_url}, account sim-account: HTTP 401, code 10000: Authentication error: set "
        "CLOUDFLARE_API_TOKEN to a token with the Realtime or Realtime Admin permission on account "
        "CLOUDFLARE_ACCOUNT_ID (and check CLOUDFLARE_ACCOUNT_ID)"
    )
    (first,) = named(lines, "app sim-app")
    assert first.startswith(f"{sim.base_url}, account sim-account: HTTP 40")
    assert "set CLOUDFLARE_API_TOKEN to a token with the Realtime" in first
    (second,) = named(lines, "app no-such-app")
    assert second.startswith(f"{sim.base_url}, account sim-account: no response") or second == refused
    (prefect,) = named(lines, "Prefect API")
    assert prefect.startswith(f"PREFECT_API_URL {closed} does not answer (")
    assert prefect.endswith(
        "): start the server (`prefect server start`, or `streamledger serve`), or fix PREFECT_API_URL"
    )
    failed = sum(line.startswith("FAIL") for line in lines)
    assert lines[-1] == f"{failed} of {len(lines) - 1} checks failed"


def test_an_unknown_app_shows_the_apis_own_message(
    polled: Settings,
    sim: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use(monkeypatch, polled, None, REALTIMEKIT_APP_ID="sim-app,no-such-app")
    status, lines = doctor(capsys)
    assert status == 1
    assert named(lines, "app sim-app")[0].endswith("the token reads its livestreams (12 on page 1)")
    (unknown,) = named(lines, "app no-such-app")
    assert unknown.startswith(f"{sim.base_url}, account sim-account: HTTP 404")
    assert unknown.endswith("check REALTIMEKIT_APP_ID (its first app is the one read)")


def test_a_damaged_database_fails_the_whole_read(
    polled: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = polled.database
    con = duckdb.connect(str(database), read_only=True)
    ((block,),) = con.execute(
        "select min(block_id) from pragma_storage_info('raw_responses') where persistent "
        "and column_name = 'body' and block_id >= 0"
    ).fetchall()
    ((block_size,),) = con.execute("select block_size from pragma_database_size()").fetchall()
    con.close()
    with database.open("r+b") as out:
        out.seek(3 * 4096 + block * block_size + 1000)
        out.write(os.urandom(512))
    use(monkeypatch, polled, None)
    status, lines = doctor(capsys)
    assert status == 1
    assert named(lines, "database")[0].endswith("its schema is this version's")
    (whole,) = named(lines, "database read whole")
    assert whole.startswith(f"database {database} is damaged (Corrupt database file: computed checksum ")
    assert whole.endswith(
        "restore it from a backup, or move it aside and let the next poll start a new one (or set "
        "STREAMLEDGER_DATABASE to another file)"
    )
    assert named(lines, "database checks") == []  # not asked of a file that cannot be trusted
    assert lines[-1].startswith("FAIL") or lines[-1] == f"1 of {len(lines) - 1} checks failed"


def test_a_truncated_or_newer_database_is_one_fail_line(
    polled: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = polled.database
    backup = database.read_bytes()
    newest, name, _ = warehouse._migration_files()[-1]
    con = duckdb.connect(str(database))
    con.execute(
        "insert into schema_migrations (version, name, checksum) values (?, ?, 'x')",
        [newest + 1, f"{newest + 1:03d}_next.sql"],
    )
    con.close()
    use(monkeypatch, polled, None)
    status, lines = doctor(capsys)
    assert status == 1
    assert named(lines, "database") == [
        f"database {database} was written by a newer streamledger: it records migration "
        f"{newest + 1:03d}_next.sql, and this version's migrations end at {name}: upgrade streamledger, or "
        "set STREAMLEDGER_DATABASE to another file (nothing was changed in it)"
    ]
    database.write_bytes(backup[: len(backup) // 2])
    status, lines = doctor(capsys)
    assert status == 1
    failed = [line for line in lines if line.startswith("FAIL  database")]
    assert len(failed) == 1, lines  # at the open, or at the whole read: wherever the cut falls
    assert f"database {database} is damaged (IO Error: Could not read enough bytes" in failed[0]


def test_a_full_disk_fails_its_folders_and_says_how_much_is_free(
    polled: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with small_disk(tmp_path / "disk", "64k") as disk:
        use(monkeypatch, polled, None, STREAMLEDGER_LANDING_DIR=str(disk / "landing"))
        status, lines = doctor(capsys)
        assert status == 1
        (low,) = named(lines, "landing folder")
        assert low.startswith(f"{disk / 'landing'} (STREAMLEDGER_LANDING_DIR): only ")
        assert low.endswith(
            f"free (created on first use in {disk}), less than 100 MB: free space on it, or set "
            "STREAMLEDGER_LANDING_DIR to a folder on a larger disk"
        )
        fill_disk(disk)
        status, lines = doctor(capsys)
        assert named(lines, "landing folder") == [
            f"{disk / 'landing'} (STREAMLEDGER_LANDING_DIR): the disk is full (0 bytes free): free space on "
            "it, or set STREAMLEDGER_LANDING_DIR to a folder on a larger disk"
        ]
        assert sorted(path.name for path in disk.iterdir()) == ["filler"]  # no probe left behind


def test_doctor_json_lists_every_check(
    polled: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, polled, None, STREAMLEDGER_TIMEOUT_SECONDS="0")
    assert main(["doctor", "--json"]) == 1
    body = orjson.loads(capsys.readouterr().out)
    assert body["ok"] is False
    assert body["checks"][0] == {
        "name": "settings",
        "ok": False,
        "text": "STREAMLEDGER_TIMEOUT_SECONDS must be a positive, finite number, got '0'",
    }
    assert [check["name"] for check in body["checks"][1:]] == [*NAMES[1:], "app sim-app", "Prefect API"]
