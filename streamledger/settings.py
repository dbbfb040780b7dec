"""The one settings object, read from the environment once at the edge and passed down.

Every setting is declared once in SETTINGS (its variable, type, default and meaning); the reader, the
warning for a mistyped variable and the settings page of the docs are all made from that table.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar, cast

from streamledger.errors import ConfigError

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_DATABASE = Path("data/streamledger.duckdb")
# The finalization rule's settle time: about twice the one observed delay of the final figures (62 s).
DEFAULT_SETTLE_SECONDS = 120.0
# Far above the largest answer the API gives: a list page of STREAMLEDGER_PER_PAGE=100 livestreams is
# about 45 KB (450 bytes an item as served; 2 MB if every name ran to 20 KB), yet small enough that the 8
# bodies in flight of a hostile server stay far from the memory a poll may use.
DEFAULT_MAX_BODY_BYTES = 16 * 2**20
# A poll holds every answer until it is loaded, and needs up to 10 bytes of memory per byte of answer on
# the way (text, parsed items, frames, the DuckDB insert): 24 MiB keeps a poll of endless large pages near
# 400 MB, and is twice what a poll of the default allowance reads at most (240 full list pages, 11 MB).
DEFAULT_MAX_POLL_BYTES = 24 * 2**20
# The network stage of a poll ends at this share of the poll interval unless told otherwise: the time left
# lands and loads the poll before the next one starts.
POLL_DEADLINE_SHARE = 0.75
MIN_ALERT_AFTER_SECONDS = 10.0
DEFAULT_PAGER = "less -FRX"  # quit at once when it fits a screen, keep colours, leave the text on screen
MAX_ID_LENGTH = 32  # account_id and app_id are at most 32 characters [CFAPI]
PREFIXES = ("STREAMLEDGER_", "CLOUDFLARE_", "REALTIMEKIT_")
logger = logging.getLogger("streamledger.settings")

N = TypeVar("N", int, float)


class Secret:
    """A string that never shows itself in repr, str, logs or exception messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value, for the one place that must send it."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def variable(name: str, help: str, **extra: Any) -> dict[str, Any]:
    """Return a settings field's metadata: the variable it is read from, what it means, aliases, docs."""
    return {"env": name, "help": help, **extra}


@dataclass(frozen=True)
class QueryLimits:
    """What one reading of the warehouse may take: wall time, DuckDB's memory, temporary files (as DuckDB
    reads sizes, e.g. 1GB); each named by its setting when it is reached."""

    timeout_seconds: float
    memory_limit: str
    temp_limit: str


@dataclass(frozen=True)
class Settings:
    """Everything streamledger needs: the API and who we are, where the data lives, how fast to go."""

    api_token: Secret = field(
        default_factory=lambda: Secret(""),
        metadata=variable(
            "CLOUDFLARE_API_TOKEN",
            "API token with Realtime read access; needed by polls only (or STREAMLEDGER_TOKEN_BLOCK)",
            shown="(none)",
        ),
    )
    account_id: str = field(
        default="",
        metadata=variable(
            "CLOUDFLARE_ACCOUNT_ID", "Cloudflare account id; needed by polls only", shown="(none)"
        ),
    )
    app_ids: tuple[str, ...] = field(
        default=(),
        metadata=variable(
            "REALTIMEKIT_APP_ID", "RealtimeKit app ids, comma-separated; unset: every app of the account"
        ),
    )
    base_url: str = field(
        default=DEFAULT_BASE_URL, metadata=variable("CLOUDFLARE_BASE_URL", "API base URL, with /client/v4")
    )
    token_block: str = field(
        default="",
        metadata=variable("STREAMLEDGER_TOKEN_BLOCK", "name of a Prefect Secret block holding the API token"),
    )
    database: Path = field(
        default=DEFAULT_DATABASE, metadata=variable("STREAMLEDGER_DATABASE", "the DuckDB file of the history")
    )
    landing_dir: Path = field(
        default=Path("data/landing"),
        metadata=variable(
            "STREAMLEDGER_LANDING_DIR",
            "where fetched polls wait until they are loaded",
            shown="landing/ beside the database",
        ),
    )
    archive_dir: Path = field(
        default=Path("data/archive"),
        metadata=variable(
            "STREAMLEDGER_ARCHIVE_DIR",
            "where raw responses past their retention go, as Parquet",
            shown="archive/ beside the database",
        ),
    )
    export_dir: Path = field(
        default=Path("data/exports"),
        metadata=variable(
            "STREAMLEDGER_EXPORT_DIR",
            "where monthly finance exports are written",
            shown="exports/ beside the database",
        ),
    )
    export_group: str = field(
        default="",
        metadata=variable(
            "STREAMLEDGER_EXPORT_GROUP",
            "a group (name or id) that may read the monthly exports: their folders get it with group read "
            "and setgid (0o2750), their files 0o640 (export --group for one run); unset: owner-only",
            shown="(none: owner-only)",
        ),
    )
    prefect_home: Path = field(
        default=Path("data/prefect"),
        metadata=variable(
            "STREAMLEDGER_PREFECT_HOME",
            "state of the local Prefect server `serve` starts without PREFECT_API_URL",
            shown="prefect/ beside the database",
        ),
    )
    budget_requests: int = field(
        default=1200,
        metadata=variable("STREAMLEDGER_BUDGET_REQUESTS", "requests the token may send per budget window"),
    )
    budget_window_seconds: float = field(
        default=300.0,
        metadata=variable(
            "STREAMLEDGER_BUDGET_WINDOW_SECONDS", "the budget window (Cloudflare: 1,200 per 300 s)"
        ),
    )
    budget_name: str = field(
        default="",
        metadata=variable(
            "STREAMLEDGER_BUDGET_NAME",
            "the budget the token draws on: tokens of one Cloudflare user share one (empty: the token's own)",
        ),
    )
    burst_requests: int = field(
        default=250,
        metadata=variable(
            "STREAMLEDGER_BURST_REQUESTS",
            "most requests in any burst window, whatever the budget (Cloudflare: 250 per 10 s)",
        ),
    )
    burst_window_seconds: float = field(
        default=10.0,
        metadata=variable("STREAMLEDGER_BURST_WINDOW_SECONDS", "the burst window"),
    )
    poll_interval_seconds: float = field(
        default=60.0,
        metadata=variable(
            "STREAMLEDGER_POLL_INTERVAL_SECONDS",
            "seconds between scheduled polls",
            aliases=("STREAMLEDGER_POLL_INTERVAL",),
        ),
    )
    concurrency: int = field(
        default=8, metadata=variable("STREAMLEDGER_CONCURRENCY", "requests in flight at once")
    )
    per_page: int = field(default=100, metadata=variable("STREAMLEDGER_PER_PAGE", "items per list page"))
    max_pages: int = field(
        default=200, metadata=variable("STREAMLEDGER_MAX_PAGES", "pages one listing may read")
    )
    max_clock_skew_seconds: float = field(
        default=300.0,
        metadata=variable(
            "STREAMLEDGER_MAX_CLOCK_SKEW_SECONDS",
            "a poll whose answers' Date header is further than this from our clock (the median over them) is "
            "flagged in poll_runs (clock_skewed) and its message; a reading is never placed after the moment "
            "we received it, whatever the skew",
        ),
    )
    timeout_seconds: float = field(
        default=30.0,
        metadata=variable(
            "STREAMLEDGER_TIMEOUT_SECONDS",
            "longest wait for a connection or for the next bytes of an answer (each wait, not the whole "
            "request: see STREAMLEDGER_REQUEST_DEADLINE_SECONDS)",
        ),
    )
    request_deadline_seconds: float = field(
        default=30.0,
        metadata=variable(
            "STREAMLEDGER_REQUEST_DEADLINE_SECONDS",
            "longest one request may take as a whole, connect and every byte of the body included (a body "
            "trickled a byte at a time is cut off here); a request past it is a failed read, retried",
        ),
    )
    poll_deadline_seconds: float | None = field(
        default=None,
        metadata=variable(
            "STREAMLEDGER_POLL_DEADLINE_SECONDS",
            "longest the network stage of one poll may take: then nothing more is sent, the requests in "
            "flight are cut off, and the poll keeps what it read (partial, or failed if it read nothing); "
            "must be less than the poll interval",
            shown="3/4 of the poll interval (`45`)",
        ),
    )
    max_body_bytes: int = field(
        default=DEFAULT_MAX_BODY_BYTES,
        metadata=variable(
            "STREAMLEDGER_MAX_BODY_BYTES",
            "largest answer body read, counted both as sent (compressed) and decompressed, while it "
            "streams: a larger one (or a larger Content-Length) is cut off and recorded as a failed read, "
            "not kept and not retried (a page of 100 livestreams is about 45 KB)",
        ),
    )
    max_poll_bytes: int = field(
        default=DEFAULT_MAX_POLL_BYTES,
        metadata=variable(
            "STREAMLEDGER_MAX_POLL_BYTES",
            "most answer bytes (decompressed) one poll holds, kept or being read (it keeps every answer "
            "until it is loaded): past it the body being read is cut off, nothing more is sent, and the "
            "poll keeps what it read (240 requests of full list pages are about 11 MB)",
        ),
    )
    max_attempts: int = field(
        default=5, metadata=variable("STREAMLEDGER_MAX_ATTEMPTS", "attempts per request, retries included")
    )
    max_retry_wait_seconds: float = field(
        default=60.0,
        metadata=variable(
            "STREAMLEDGER_MAX_RETRY_WAIT_SECONDS", "longest wait before a retry (Retry-After included)"
        ),
    )
    sweep_interval_seconds: float = field(
        default=900.0,
        metadata=variable(
            "STREAMLEDGER_SWEEP_INTERVAL_SECONDS",
            "how often a recently active livestream's sessions are listed",
        ),
    )
    full_listing_interval_seconds: float = field(
        default=900.0,
        metadata=variable(
            "STREAMLEDGER_FULL_LISTING_INTERVAL_SECONDS",
            "how often every livestream is listed, whatever its status (between, only LIVE and INVOKED ones)",
        ),
    )
    settle_seconds: float = field(
        default=DEFAULT_SETTLE_SECONDS,
        metadata=variable(
            "STREAMLEDGER_SETTLE_SECONDS",
            "a session's figures are final only once two reads after the stop agree and the later one was "
            "observed at least this long after stopped_time (the API's final figures land about a minute "
            "after the stop: 62 s in its example)",
        ),
    )
    max_sweep_pages: int = field(
        default=5, metadata=variable("STREAMLEDGER_MAX_SWEEP_PAGES", "pages one sweep may read")
    )
    reconcile_days: int = field(
        default=7,
        metadata=variable("STREAMLEDGER_RECONCILE_DAYS", "recent UTC days the daily reconcile reads"),
    )
    reconcile_months: int = field(
        default=2,
        metadata=variable(
            "STREAMLEDGER_RECONCILE_MONTHS",
            "UTC months (this one and those before) whose overall totals the daily reconcile reads",
        ),
    )
    lock_wait_seconds: float = field(
        default=15.0,
        metadata=variable(
            "STREAMLEDGER_LOCK_WAIT_SECONDS", "how long a poll waits while another process holds the database"
        ),
    )
    query_timeout_seconds: float = field(
        default=60.0,
        metadata=variable(
            "STREAMLEDGER_QUERY_TIMEOUT_SECONDS",
            "longest a `sql` or `report` reading runs before it is stopped; it also bounds how long a "
            "reader holds the database, which a poll waits for (STREAMLEDGER_LOCK_WAIT_SECONDS) before it "
            "lands aside",
        ),
    )
    query_memory_limit: str = field(
        default="1GB",
        metadata=variable(
            "STREAMLEDGER_QUERY_MEMORY_LIMIT",
            "memory DuckDB may use for a `sql` or `report` reading, e.g. 512MB or 2GB",
        ),
    )
    query_temp_limit: str = field(
        default="1GB",
        metadata=variable(
            "STREAMLEDGER_QUERY_TEMP_LIMIT",
            "temporary files a `sql` or `report` reading may write when it spills; they go to a folder of "
            "its own in the system's temporary folder (TMPDIR), removed when it ends",
        ),
    )
    stale_after_seconds: float = field(
        default=600.0,
        metadata=variable(
            "STREAMLEDGER_STALE_AFTER_SECONDS",
            "no successful poll for this long fails runs and `status --check`",
        ),
    )
    raw_retention_days: int = field(
        default=90,
        metadata=variable(
            "STREAMLEDGER_RAW_RETENTION_DAYS", "days raw responses stay in the database before the archive"
        ),
    )
    alert_url: Secret = field(
        default_factory=lambda: Secret(""),
        metadata=variable(
            "STREAMLEDGER_ALERT_URL",
            "where the alerts of `serve`'s automations go: an apprise URL, e.g. json://host:port/path (a "
            "JSON POST to any webhook; jsons:// for https), a Slack or Discord webhook URL, mailto://...; "
            "unset: the automations are created but notify nobody",
            shown="(none)",
        ),
    )
    alert_after_seconds: float = field(
        default=600.0,
        metadata=variable(
            "STREAMLEDGER_ALERT_AFTER_SECONDS",
            "alert when no snapshot run has completed for this long (at least 10; checked in windows of "
            "this length, so an alert comes between one and two of them after the last completed run)",
        ),
    )

    pager: str = field(
        default=DEFAULT_PAGER,
        metadata=variable(
            "STREAMLEDGER_PAGER",
            "the command a `report` or `sql` table longer than the terminal is shown through; `off` (or set "
            "and empty) for none; never used when the output is not a terminal",
            shown="$PAGER, else `less -FRX`",
        ),
    )

    def __post_init__(self) -> None:
        if (
            self.poll_deadline_seconds is not None
            and self.poll_deadline_seconds >= self.poll_interval_seconds
        ):
            raise ConfigError(
                f"STREAMLEDGER_POLL_DEADLINE_SECONDS ({self.poll_deadline_seconds:g}) must be less than "
                f"STREAMLEDGER_POLL_INTERVAL_SECONDS ({self.poll_interval_seconds:g}): a poll must end "
                "before the next one starts (unset, it is 3/4 of the interval)"
            )

    @property
    def poll_deadline(self) -> float:
        """Seconds the network stage of one poll may take (STREAMLEDGER_POLL_DEADLINE_SECONDS)."""
        if self.poll_deadline_seconds is not None:
            return self.poll_deadline_seconds
        return self.poll_interval_seconds * POLL_DEADLINE_SHARE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, api: bool = False) -> Settings:
        """Read every setting from the environment; a bad one is a one-line ConfigError naming it.

        `api`: the caller talks to the API, so the token and account id are required (and the token is read
        from its Prefect Secret block when one is named). Readers of the warehouse need neither.
        """
        env = os.environ if environ is None else environ
        warn_unknown(env)
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = _raw(env, item.metadata)
            if raw is not None:
                values[item.name] = _PARSERS[item.name](item.metadata["env"], raw)
        # Relative paths resolve here, once, against the working directory of the command that read them,
        # so every message, artifact and status line names the same absolute file.
        database = values.setdefault("database", DEFAULT_DATABASE.absolute())
        for name, folder in _BESIDE_DATABASE.items():
            values.setdefault(name, database.parent / folder)
        values.setdefault("pager", _default_pager(env))
        settings = cls(**values)
        return settings.with_api() if api else settings

    def with_api(self) -> Settings:
        """Return these settings with a token and account id, or a ConfigError saying which is missing."""
        token = self.api_token
        if not token:
            if not self.token_block:
                raise ConfigError(
                    "CLOUDFLARE_API_TOKEN is not set (required to poll, or STREAMLEDGER_TOKEN_BLOCK naming a "
                    "Prefect Secret block; see docs/settings.md)"
                )
            token = Secret(_token_from_block(self.token_block))
        _check_token(
            token.reveal(), "STREAMLEDGER_TOKEN_BLOCK" if not self.api_token else "CLOUDFLARE_API_TOKEN"
        )
        if not self.account_id:
            raise ConfigError("CLOUDFLARE_ACCOUNT_ID is not set (required to poll; see docs/settings.md)")
        return replace(self, api_token=token)

    @property
    def budget(self) -> str:
        """The budget the token draws on: its name, or the token's own (a hash of it, never the token)."""
        if self.budget_name:
            return self.budget_name
        return "token " + hashlib.sha256(self.api_token.reveal().encode()).hexdigest()[:16]

    @property
    def query_limits(self) -> QueryLimits:
        """The bounds of a `sql` or `report` reading (and of the dashboard's)."""
        return QueryLimits(self.query_timeout_seconds, self.query_memory_limit, self.query_temp_limit)

    @property
    def plan_cache(self) -> Path:
        """Where the last plan read from the warehouse is kept, for polls planned while it is busy."""
        return self.database.with_name(f"{self.database.name}.plan.json")

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with some settings changed (the demo and tests point it at the simulator)."""
        return replace(self, **changes)


# Folders that default to a place beside the database, wherever the database is.
_BESIDE_DATABASE = {
    "landing_dir": "landing",
    "archive_dir": "archive",
    "export_dir": "exports",
    "prefect_home": "prefect",
}


def _default_pager(env: Mapping[str, str]) -> str:
    """The pager when STREAMLEDGER_PAGER is not set to a command: none when it is set and empty (as git and
    psql read their pager variables), else $PAGER, else less."""
    if "STREAMLEDGER_PAGER" in env:
        return ""
    return env.get("PAGER", "").strip() or DEFAULT_PAGER


def _pager(name: str, raw: str) -> str:
    return "" if raw.lower() in ("off", "none") else raw


def known_variables() -> dict[str, str]:
    """Return every variable a setting is read from (aliases included), with the setting's own variable."""
    known: dict[str, str] = {}
    for item in fields(Settings):
        env = item.metadata["env"]
        known[env] = env
        known |= dict.fromkeys(item.metadata.get("aliases", ()), env)
    return known


def warn_unknown(env: Mapping[str, str]) -> list[str]:
    """Warn, one line each, about variables with a setting's prefix that no setting reads; return them."""
    lines = unknown_variables(env)
    for line in lines:
        logger.warning(line)
    return lines


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """Return a line per variable with a setting's prefix that no setting reads, and the likely meant one."""
    known = known_variables()
    by_rest = {_unprefixed(name): name for name in known}  # the shared prefix would make everything close
    lines = []
    for name in sorted(env):
        if name.startswith(PREFIXES) and name not in known and name not in _NOT_SETTINGS:
            close = difflib.get_close_matches(_unprefixed(name), by_rest, n=1, cutoff=0.75)
            hint = f"; did you mean {known[by_rest[close[0]]]}?" if close else " (see docs/settings.md)"
            lines.append(f"{name} is set but is not a streamledger setting{hint}")
    return lines


# Variables of these prefixes that belong to others (Cloudflare's own tools), not to streamledger.
_NOT_SETTINGS = frozenset({"CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL", "CLOUDFLARE_API_USER_SERVICE_KEY"})


def _unprefixed(name: str) -> str:
    return next((name.removeprefix(prefix) for prefix in PREFIXES if name.startswith(prefix)), name)


def _raw(env: Mapping[str, str], metadata: Mapping[str, Any]) -> str | None:
    for name in (metadata["env"], *metadata.get("aliases", ())):
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _identifier(name: str, value: str) -> str:
    if len(value) > MAX_ID_LENGTH or not value.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(
            f"{name} has an invalid id {value[:40]!r} (expected letters, digits, '-' or '_', at most 32)"
        )
    return value


def _app_ids(name: str, raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_identifier(name, part.strip()) for part in raw.split(",") if part.strip()))


def _base_url(name: str, raw: str) -> str:
    if "@" in raw:
        # Credentials in the URL (user:password@host; a password may hold "/" or "?") would travel with
        # every request and be kept in raw_responses: the token has its own variable. None of it is shown.
        scheme = raw.partition("://")[0] if "://" in raw else "…"
        host = raw.rpartition("@")[2].split("/", 1)[0]
        raise ConfigError(
            f"{name} holds a user name or password before its host ({scheme}://…@{host}): remove them; "
            "the API token goes in CLOUDFLARE_API_TOKEN (see docs/settings.md)"
        )
    if not raw.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must start with http:// or https://, got {raw!r}")
    return raw.rstrip("/")


def _path(name: str, raw: str) -> Path:
    return Path(raw).expanduser().absolute()


def number(kind: type[N]) -> Callable[[str, str], N]:
    """Return a parser of a positive, finite number of `kind` that names the variable when it fails."""

    def parse(name: str, raw: str) -> N:
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{name} must be a positive, finite number, got {raw!r}")
        return value

    return parse


def _alert_after(name: str, raw: str) -> float:
    seconds = number(float)(name, raw)
    if seconds < MIN_ALERT_AFTER_SECONDS:  # Prefect's shortest window for a trigger on missing events
        raise ConfigError(f"{name} must be at least {MIN_ALERT_AFTER_SECONDS:g} seconds, got {raw!r}")
    return seconds


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B)", re.IGNORECASE)


def _size(name: str, raw: str) -> str:
    """A size as DuckDB reads it (KB, MB, GB, TB by 1,000; KiB, MiB, GiB, TiB by 1,024), not zero."""
    match = _SIZE.fullmatch(raw)
    if match is None or float(match.group(1)) == 0:
        raise ConfigError(f"{name} must be a size such as 512MB or 2GB, got {raw!r}")
    unit = match.group(2)
    return f"{match.group(1)}{unit[0].upper()}{unit[1:-1].lower()}B"


def _retention(name: str, raw: str) -> int:
    try:
        days = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of days, got {raw!r}") from None
    return checked_retention_days(name, days)


def checked_retention_days(name: str, days: int) -> int:
    """Return `days` if it is a valid raw-response retention, else a ConfigError naming `name`."""
    # The request budget of a new process is read from the last window of raw_responses: never prune today.
    if days < 1:
        raise ConfigError(
            f"{name} must be at least 1 day (the request budget reads recent raw responses), got {days}"
        )
    return days


def _parsers() -> dict[str, Callable[[str, str], Any]]:
    by_type: dict[Any, Callable[[str, str], Any]] = {
        "int": number(int),
        "float": number(float),
        "Path": _path,
        "str": lambda name, raw: raw,
    }
    special: dict[str, Callable[[str, str], Any]] = {
        "api_token": lambda name, raw: Secret(raw),
        "alert_url": lambda name, raw: Secret(raw),
        "alert_after_seconds": _alert_after,
        "account_id": _identifier,
        "app_ids": _app_ids,
        "base_url": _base_url,
        "raw_retention_days": _retention,
        "poll_deadline_seconds": number(float),
        "query_memory_limit": _size,
        "query_temp_limit": _size,
        "pager": _pager,
    }
    return {item.name: special.get(item.name) or by_type[cast(str, item.type)] for item in fields(Settings)}


_PARSERS = _parsers()


def parse_setting(name: str, source: str, raw: str) -> Any:
    """Return the value of setting `name` given as text by `source` (its variable, or a command's option that
    sets it), or a ConfigError naming `source`: an option and its variable read alike."""
    return _PARSERS[name](source, raw)


def _check_token(token: str, source: str) -> None:
    """Refuse a token that cannot be one: whitespace or a character outside printable ASCII, which would
    otherwise travel in the Authorization header and be echoed in error messages (never shown here)."""
    for position, character in enumerate(token, start=1):
        if not "!" <= character <= "~":
            what = (
                "whitespace or a line break" if character.isspace() else "a character outside printable ASCII"
            )
            raise ConfigError(
                f"{source} holds {what} at character {position} of {len(token)}: set it to the token alone "
                "(no quotes, spaces or line break; see docs/settings.md)"
            )


def _token_from_block(block: str) -> str:
    """Return the token kept in the Prefect Secret block named by STREAMLEDGER_TOKEN_BLOCK."""
    from prefect.blocks.system import Secret as SecretBlock

    try:
        loaded = SecretBlock.load(block)  # called from sync code: a block, never a coroutine
        value = cast("SecretBlock[str]", loaded).get()
    except Exception as exc:  # Prefect raises ValueError, httpx and API errors alike: one line for all
        raise ConfigError(
            f"STREAMLEDGER_TOKEN_BLOCK: the Prefect Secret block {block!r} could not be read "
            f"({type(exc).__name__})"
        ) from None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"STREAMLEDGER_TOKEN_BLOCK: the Prefect Secret block {block!r} holds no token")
    return value.strip()


def variable_problems(env: Mapping[str, str]) -> dict[str, str]:
    """Return each set variable whose value is not valid, with its one-line ConfigError (for `doctor`, which
    reports every bad variable, where reading the settings stops at the first)."""
    found: dict[str, str] = {}
    for item in fields(Settings):
        for name in (item.metadata["env"], *item.metadata.get("aliases", ())):
            raw = env.get(name, "").strip()
            if not raw:
                continue
            try:
                _PARSERS[item.name](name, raw)
            except ConfigError as exc:
                found[name] = str(exc)
    return found
