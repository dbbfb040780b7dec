"""The dashboard in a real browser: Debian's headless Chromium loads the page that the real `streamledger
dashboard` command serves (or writes), and its figures are those of the finance-statement report."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from streamledger.reports import run_report
from tests.dashboard.conftest import (
    Polled,
    dashboard_command,
    dashboard_once,
    expected_figures,
    figures_on,
    needs_chromium,
    screenshot,
)
from tests.helpers import SIM_START

pytestmark = needs_chromium
NOVEMBER: dict[str, object] = {"from_date": date(2026, 11, 1), "to_date": date(2026, 11, 30)}
OCTOBER: dict[str, object] = {"from_date": date(2026, 10, 1), "to_date": date(2026, 10, 31)}


def statement_figures(database: Path, period: dict[str, object], tz: str) -> dict[str, str]:
    """The figures the page must show: the finance-statement report's for that period, summed."""
    return expected_figures(run_report(database, "finance-statement", period | {"tz": tz}))


def test_the_served_page_shows_the_finance_statement_and_follows_its_controls(
    polled: Polled, browser: Any
) -> None:
    assert SIM_START.month == 10
    assert SIM_START.day == 31
    november_utc = statement_figures(polled.database, NOVEMBER, "UTC")
    november_paris = statement_figures(polled.database, NOVEMBER, "Europe/Paris")
    october_utc = statement_figures(polled.database, OCTOBER, "UTC")
    # The usage before midnight UTC is in November in Paris: each choice below has figures of its own.
    assert november_utc["viewer_seconds"] != november_paris["viewer_seconds"]
    assert october_utc["viewer_seconds"] not in ("0", november_utc["viewer_seconds"])

    with dashboard_command("--database", str(polled.database), "--month", "2026-11") as served:
        assert served.url.startswith("http://127.0.0.1:")
        response = browser.goto(served.url)
        assert response.status == 200
        assert figures_on(browser) == november_utc
        assert browser.inner_text("#period").startswith("2026-11-01 to 2026-11-30")
        assert browser.inner_text("#state") == "provisional"  # sessions still running at the last poll
        assert browser.query_selector("#daily-chart svg") is not None
        assert browser.query_selector_all("script") == []
        screenshot(browser, "served-2026-11-utc")

        browser.select_option("#tz", "Europe/Paris")
        with browser.expect_navigation():
            browser.click("#show")
        assert "tz=Europe%2FParis" in browser.url
        assert figures_on(browser) == november_paris
        assert browser.input_value("#tz") == "Europe/Paris"
        screenshot(browser, "served-2026-11-europe-paris")

        browser.fill("#month", "2026-10")
        browser.select_option("#tz", "UTC")
        with browser.expect_navigation():
            browser.click("#show")
        assert figures_on(browser) == october_utc
        assert browser.input_value("#month") == "2026-10"


def test_a_bad_parameter_is_a_400_page_naming_it(polled: Polled, browser: Any) -> None:
    with dashboard_command("--database", str(polled.database)) as served:
        response = browser.goto(served.url + "?month=2999-01")
        assert response.status == 400
        assert "parameter month='2999-01': is in the future" in browser.inner_text("#error")
        response = browser.goto(served.url + "?month=2026-11&tz=Mars/Olympus")
        assert response.status == 400
        assert "parameter tz='Mars/Olympus'" in browser.inner_text("#error")


def test_the_static_file_shows_the_same_figures_offline(polled: Polled, browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "november.html"
    database = str(polled.database)
    done = dashboard_once(
        "--database", database, "--month", "2026-11", "--tz", "Europe/Paris", "--output", str(path)
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == f"dashboard written to {path}"
    requested: list[str] = []
    browser.on("request", lambda request: requested.append(request.url))
    browser.goto(path.as_uri())
    assert requested == [path.as_uri()]  # nothing else is loaded: the file is self-contained
    assert figures_on(browser) == statement_figures(polled.database, NOVEMBER, "Europe/Paris")
    assert browser.inner_text("#month") == "2026-11"
    assert browser.inner_text("#tz") == "Europe/Paris"
    assert browser.query_selector("form") is None
    screenshot(browser, "static-2026-11-europe-paris")
