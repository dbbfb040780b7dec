"""The dashboard's server and file without a browser: the real command over real HTTP on 127.0.0.1, its
bounds (GET only, validated parameters, a connection per request that is closed at once) and its errors."""

from __future__ import annotations

import html
import socket
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from streamledger import warehouse
from streamledger.dashboard import BadParameter, period
from tests.dashboard.conftest import Polled, dashboard_command, dashboard_once
from tests.helpers import held


def test_a_month_runs_to_today_in_its_zone_and_a_future_month_is_refused() -> None:
    late = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)  # already 4 December in Tokyo
    assert period(None, "UTC", now=late).to_date == date(2026, 12, 3)
    tokyo = period(None, "Asia/Tokyo", now=late)
    assert (tokyo.first_day, tokyo.to_date, tokyo.last_day) == (
        date(2026, 12, 1),
        date(2026, 12, 4),
        date(2026, 12, 31),
    )
    assert not tokyo.month_over
    november = period("2026-11", "UTC", now=late)
    assert (november.to_date, november.month_over) == (date(2026, 11, 30), True)
    with pytest.raises(
        BadParameter, match=r"--month '2027-01': is in the future \(this month in UTC is 2026-12\)"
    ):
        period("2027-01", "UTC", now=late)
    assert (
        period("2027-01", "Pacific/Kiritimati", now=datetime(2026, 12, 31, 10, tzinfo=UTC)).month == "2027-01"
    )
    for bad in ("2026-13", "2026-1", "26-11", "2026-11-01", ""):
        with pytest.raises(BadParameter, match="--month"):
            period(bad, "UTC", now=late)
    for zone in ("Mars/Olympus", "../etc/passwd", "utc "):
        with pytest.raises(BadParameter, match="--tz"):
            period("2026-11", zone, now=late)


def test_only_get_of_the_page_is_served_with_its_parameters_checked(polled: Polled) -> None:
    with dashboard_command("--database", str(polled.database)) as served:
        page = httpx.get(served.url + "?month=2026-11&tz=UTC", timeout=60)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "<script" not in page.text
        assert "http://" not in page.text.split("<svg", 1)[0]
        assert httpx.post(served.url, timeout=10).status_code == 405
        assert httpx.get(served.url + "elsewhere", timeout=10).status_code == 404
        for query, named in (
            ("?month=2026-11&month=2026-10", "parameter month='2026-10': given more than once"),
            ("?colour=red", "parameter colour='red': unknown parameter (the page takes month and tz)"),
            ("?month=November", "parameter month='November': expected a calendar month as YYYY-MM"),
            ("?tz=Nowhere/City", "parameter tz='Nowhere/City': expected an IANA time zone"),
        ):
            answer = httpx.get(served.url + query, timeout=10)
            assert (answer.status_code, named in html.unescape(answer.text)) == (400, True), (
                query,
                answer.text,
            )
        # Another site reaching 127.0.0.1 through a name of its own is refused.
        rebound = httpx.get(served.url, headers={"Host": "attacker.example"}, timeout=10)
        assert rebound.status_code == 400


def test_the_database_is_free_between_requests_and_a_held_one_is_a_503_page(polled: Polled) -> None:
    with dashboard_command("--database", str(polled.database), "--wait", "0.5") as served:
        assert httpx.get(served.url, timeout=60).status_code == 200
        # The poller can write at once: the page's connection was closed when its figures were read.
        writer = warehouse.connect(polled.database, wait_seconds=0)
        writer.close()
        with held(polled.database, read_only=False, seconds=60):
            busy = httpx.get(served.url, timeout=60)
        assert busy.status_code == 503
        assert str(polled.database) in busy.text
        assert httpx.get(served.url, timeout=60).status_code == 200


def test_a_port_in_use_is_one_line_naming_the_option(polled: Polled) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = dashboard_once("--database", str(polled.database), "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"streamledger: error: --port: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


@pytest.mark.parametrize(
    ("args", "message", "status"),
    [
        (("--month", "2999-01"), "--month '2999-01': is in the future", 1),
        (("--tz", "Atlantis"), "--tz 'Atlantis': expected an IANA time zone", 2),  # a usage error
        (("--output", "OUT"), None, 1),
    ],
)
def test_the_command_refuses_bad_options_and_a_missing_database_in_one_line(
    args: tuple[str, ...], message: str | None, status: int, tmp_path: Path
) -> None:
    missing = tmp_path / "none.duckdb"
    args = tuple(str(tmp_path / "d.html") if arg == "OUT" else arg for arg in args)
    done = dashboard_once("--database", str(missing), *args)
    assert done.returncode == status
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("streamledger: error: ")
    assert (message or f"database {missing} does not exist yet") in line
    assert not (tmp_path / "d.html").exists()


def test_the_file_is_written_whole_and_names_where_it_comes_from(polled: Polled, tmp_path: Path) -> None:
    path = tmp_path / "out" / "october.html"
    done = dashboard_once("--database", str(polled.database), "--month", "2026-10", "--output", str(path))
    assert done.returncode == 0, done.stderr
    page = path.read_text()
    assert page.startswith("<!doctype html>")
    assert page.rstrip().endswith("</html>")
    assert "<form" not in page
    assert "<script" not in page
    assert "<svg" in page
    assert "streamledger report finance-statement --from 2026-10-01 --to 2026-10-31" in page
    assert list(path.parent.iterdir()) == [path]  # no temporary file left beside it
