"""`streamledger doctor`: is this setup able to poll? One line per check, ok or FAIL with the fix.

Checks, in order: the settings (each bad variable one line), each folder the pipeline writes (writable, free
space), the database (opens, its schema is this version's, it reads whole, its checks hold), one
authenticated request per configured app (the apps list when none is configured), and the Prefect API. It
writes nothing but a probe file, removed at once, in each folder; the database is opened read-only.
`doctor --api` (streamledger/doctor.py) goes deeper into the API's shapes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from streamledger import warehouse
from streamledger.client import LIST_APPS, LIST_LIVESTREAMS, RealtimeKitClient
from streamledger.doctor import Read, fix_for, what_failed
from streamledger.errors import ApiError, ConfigError, DatabaseBusy, DatabaseUnusable, StreamledgerError
from streamledger.files import free_bytes, nearest_existing, not_a_folder, size_text, storage_problem
from streamledger.settings import PREFIXES, Settings, unknown_variables, variable_problems

# Below this much free space a folder fails: DuckDB's checkpoint writes changed blocks anew before it frees
# the old ones, and a day of polls lands and archives tens of MB.
MIN_FREE_BYTES = 100_000_000
DATABASE_WAIT_SECONDS = 5.0
PROBE_BYTES = 4096
# The folders the pipeline writes, by setting; the database's is the folder that holds the file.
FOLDERS = (
    ("database folder", "database", "STREAMLEDGER_DATABASE"),
    ("landing folder", "landing_dir", "STREAMLEDGER_LANDING_DIR"),
    ("archive folder", "archive_dir", "STREAMLEDGER_ARCHIVE_DIR"),
    ("export folder", "export_dir", "STREAMLEDGER_EXPORT_DIR"),
    ("Prefect home", "prefect_home", "STREAMLEDGER_PREFECT_HOME"),
)


@dataclass(frozen=True)
class Outcome:
    """One check's result: its name, whether it passed, and what it found (with the fix when it failed)."""

    name: str
    ok: bool
    text: str

    def line(self) -> str:
        """The check as one line: ok or FAIL, its name, what was found."""
        return f"{'ok' if self.ok else 'FAIL':<5} {self.name:<22} {self.text}"


def checkup(environ: Mapping[str, str], *, timeout_seconds: float) -> Iterator[Outcome]:
    """Run every check against the settings `environ` gives; yield each outcome as soon as it is known."""
    settings, problems = read_settings(environ)
    yield from problems
    for name, attribute, setting in FOLDERS:
        path = getattr(settings, attribute)
        yield check_folder(name, path.parent if attribute == "database" else path, setting)
    yield from check_database(settings.database)
    try:
        api = settings.with_api()
    except ConfigError as exc:
        yield Outcome("API", False, str(exc))
    else:
        yield from check_api(api, timeout_seconds)
    yield check_prefect(environ, timeout_seconds)


def read_settings(environ: Mapping[str, str]) -> tuple[Settings, list[Outcome]]:
    """Read the settings variable by variable: return the settings (defaults in place of the bad ones) and
    one failed outcome per bad or unknown variable, or one ok outcome."""
    unknown = unknown_variables(environ)
    problems = [Outcome("settings", False, line) for line in unknown]
    bad = variable_problems(environ)
    problems += [Outcome("settings", False, message) for message in bad.values()]
    left_out = set(bad) | {line.split(" ", 1)[0] for line in unknown}  # said here, not logged again
    settings = Settings.from_env({name: value for name, value in environ.items() if name not in left_out})
    if not problems:
        told = sum(1 for name in environ if name.startswith(PREFIXES))
        problems.append(Outcome("settings", True, f"{told} variable(s) set, every other setting its default"))
    return settings, problems


def check_folder(name: str, folder: Path, setting: str) -> Outcome:
    """Write (and remove) a probe file where the folder is, or would be created; check its free space."""
    where = f"{folder} ({setting})"
    blocker = not_a_folder(folder)
    if blocker is not None:
        return Outcome(name, False, f"{where}: {blocker} is a file, not a folder: move it, or set {setting}")
    target = nearest_existing(folder)
    probe = target / f".streamledger-doctor-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return Outcome(name, False, storage_problem(where, folder, setting, exc))
    finally:
        probe.unlink(missing_ok=True)
    free = free_bytes(folder)
    made = "" if target == folder else f" (created on first use in {target})"
    if free < MIN_FREE_BYTES:
        return Outcome(
            name,
            False,
            f"{where}: only {size_text(free)} free{made}, less than {size_text(MIN_FREE_BYTES)}: free space "
            f"on it, or set {setting} to a folder on a larger disk",
        )
    return Outcome(name, True, f"{where}: writable, {size_text(free)} free{made}")


def check_database(database: Path) -> Iterator[Outcome]:
    """Open the database read-only; check its schema, read it whole, run the checks of sql/checks."""
    if not database.exists():
        yield Outcome("database", True, f"{database} does not exist yet: the first poll creates it")
        return
    try:
        with warehouse.opened(database, read_only=True, wait_seconds=DATABASE_WAIT_SECONDS) as con:
            schema = warehouse.schema_problem(con, database)
            if schema is not None:
                yield Outcome("database", False, str(schema))
                return
            size = size_text(database.stat().st_size)
            yield Outcome("database", True, f"{database}: opens, {size}, its schema is this version's")
            try:
                rows = warehouse.read_whole(con, database)
            except DatabaseUnusable as exc:
                yield Outcome("database read whole", False, str(exc))
                return
            yield Outcome("database read whole", True, f"{rows:,} rows read, every block's checksum holds")
            failures = warehouse.run_checks(con)
    except DatabaseBusy as exc:
        yield Outcome("database", False, f"{exc} (`streamledger doctor` reads it whole; run it again)")
        return
    except StreamledgerError as exc:
        yield Outcome("database", False, str(exc))
        return
    for failure in failures:
        yield Outcome(
            "database checks",
            False,
            f"check {failure.check.name} failed on {failure.violations} row(s) "
            f"({failure.check.description}): `streamledger status --check` lists them",
        )
    if not failures:
        yield Outcome("database checks", True, f"all {len(warehouse.checks())} checks of sql/checks hold")


def check_api(settings: Settings, timeout_seconds: float) -> Iterator[Outcome]:
    """One authenticated request per configured app (page 1 of its livestreams), or the apps list."""
    bounded = settings.with_overrides(
        max_pages=1, max_attempts=1, timeout_seconds=timeout_seconds, concurrency=1
    )
    where = f"{settings.base_url}, account {settings.account_id}"
    for name, endpoint, result in asyncio.run(_api_reads(bounded)):
        if isinstance(result, ApiError):
            fix = fix_for(Read(name, endpoint, failure=result), settings)
            yield Outcome(name, False, f"{where}: {what_failed(result)}: {fix}")
        else:
            yield Outcome(name, True, f"{where}: {result}")


async def _api_reads(settings: Settings) -> list[tuple[str, str, str | ApiError]]:
    reads: list[tuple[str, str, Callable[[RealtimeKitClient], Any], Callable[[Any], str]]]
    if settings.app_ids:
        reads = [
            (f"app {app_id}", LIST_LIVESTREAMS, _first_page(app_id), _page_text)
            for app_id in settings.app_ids
        ]
    else:
        reads = [("apps", LIST_APPS, lambda client: client.list_apps(), _apps_text)]
    results: list[tuple[str, str, str | ApiError]] = []
    async with RealtimeKitClient(settings) as client:
        for name, endpoint, call, text in reads:
            try:
                results.append((name, endpoint, text(await call(client))))
            except ApiError as exc:
                results.append((name, endpoint, exc))
    return results


def _first_page(app_id: str) -> Callable[[RealtimeKitClient], Any]:
    return lambda client: client.livestreams_page(app_id, 1)


def _page_text(body: Any) -> str:
    data = body.get("data") if isinstance(body, dict) else None
    count = len(data) if isinstance(data, list) else 0
    return f"the token reads its livestreams ({count} on page 1)"


def _apps_text(listing: Any) -> str:
    ids = [item.get("id") for item in listing.items if isinstance(item, dict)]
    if not ids:
        return (
            "the token reads the account's apps, and it has none: create one, or check CLOUDFLARE_ACCOUNT_ID"
        )
    shown = ", ".join(str(i) for i in ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    return f"the token reads the account's apps: {shown} (REALTIMEKIT_APP_ID unset: every app is polled)"


def check_prefect(environ: Mapping[str, str], timeout_seconds: float) -> Outcome:
    """Ask the Prefect API named by PREFECT_API_URL for its health; without one, say what runs instead."""
    url = environ.get("PREFECT_API_URL", "").strip().rstrip("/")
    if not url:
        return Outcome(
            "Prefect API",
            True,
            "PREFECT_API_URL is not set: each flow run starts a temporary Prefect server (about 10 s), which "
            "cannot schedule; `streamledger serve` starts a local one",
        )
    try:
        answer = httpx.get(f"{url}/health", timeout=timeout_seconds)
        answer.raise_for_status()
        healthy = orjson.loads(answer.content) is True
    except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        return Outcome(
            "Prefect API",
            False,
            f"PREFECT_API_URL {url} does not answer ({why}): start the server (`prefect server start`, or "
            "`streamledger serve`), or fix PREFECT_API_URL",
        )
    if not healthy:
        return Outcome("Prefect API", False, f"PREFECT_API_URL {url}: /health did not answer true")
    return Outcome("Prefect API", True, f"PREFECT_API_URL {url} answers")


def run_checkup(environ: Mapping[str, str], *, timeout_seconds: float, as_json: bool) -> int:
    """Print every check's line (or all of them as JSON); return 1 when one failed, else 0."""
    outcomes = []
    for outcome in checkup(environ, timeout_seconds=timeout_seconds):
        outcomes.append(outcome)
        if not as_json:
            print(outcome.line(), flush=True)
    failed = sum(not outcome.ok for outcome in outcomes)
    summary = f"{failed} of {len(outcomes)} checks failed" if failed else f"all {len(outcomes)} checks ok"
    if as_json:
        body = {"ok": not failed, "checks": [vars(o) for o in outcomes], "summary": summary}
        print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    else:
        print(summary)
    return 1 if failed else 0
