"""The one settings object, read from the environment once at the edge and passed down."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, cast

from streamledger.errors import ConfigError

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
# Cloudflare's documented global limit: 1,200 requests per 5 minutes per token.
DEFAULT_BUDGET_REQUESTS = 1200
DEFAULT_BUDGET_WINDOW_SECONDS = 300.0
MAX_ID_LENGTH = 32  # account_id and app_id are at most 32 characters [CFAPI]
DEFAULT_RAW_RETENTION_DAYS = 90

N = TypeVar("N", int, float)


class Secret:
    """A string that never shows itself in repr, str, logs or exception messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    """Everything a poll needs: where the API is, who we are, where the warehouse is, how fast to go."""

    api_token: Secret
    account_id: str
    app_ids: tuple[str, ...]
    base_url: str = DEFAULT_BASE_URL
    database: Path = Path("data/streamledger.duckdb")
    landing_dir: Path = Path("data/landing")
    budget_requests: int = DEFAULT_BUDGET_REQUESTS
    budget_window_seconds: float = DEFAULT_BUDGET_WINDOW_SECONDS
    concurrency: int = 8
    per_page: int = 100
    max_pages: int = 200
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    max_retry_wait_seconds: float = 60.0
    poll_interval_seconds: float = 60.0
    sweep_interval_seconds: float = 900.0
    max_sweep_pages: int = 5
    reconcile_days: int = 7
    lock_wait_seconds: float = 15.0
    stale_after_seconds: float = 600.0
    raw_retention_days: int = DEFAULT_RAW_RETENTION_DAYS
    archive_dir: Path = Path("data/archive")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from the environment; a missing or bad one is a one-line ConfigError."""
        env = os.environ if environ is None else environ
        token = env.get("CLOUDFLARE_API_TOKEN", "").strip() or _token_from_block(env)
        account_id = _identifier("CLOUDFLARE_ACCOUNT_ID", _required(env, "CLOUDFLARE_ACCOUNT_ID"))
        # Not set: every app of the account is discovered through the apps list on each poll.
        app_ids = tuple(
            _identifier("REALTIMEKIT_APP_ID", part.strip())
            for part in env.get("REALTIMEKIT_APP_ID", "").split(",")
            if part.strip()
        )
        base_url = env.get("CLOUDFLARE_BASE_URL", "").strip() or DEFAULT_BASE_URL
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"CLOUDFLARE_BASE_URL must start with http:// or https://, got {base_url!r}")
        database = Path(env.get("STREAMLEDGER_DATABASE", "").strip() or "data/streamledger.duckdb")
        landing = env.get("STREAMLEDGER_LANDING_DIR", "").strip()
        return cls(
            api_token=Secret(token),
            account_id=account_id,
            app_ids=tuple(dict.fromkeys(app_ids)),
            base_url=base_url.rstrip("/"),
            database=database,
            landing_dir=Path(landing) if landing else database.parent / "landing",
            budget_requests=env_number(env, "STREAMLEDGER_BUDGET_REQUESTS", DEFAULT_BUDGET_REQUESTS, int),
            budget_window_seconds=env_number(
                env, "STREAMLEDGER_BUDGET_WINDOW_SECONDS", DEFAULT_BUDGET_WINDOW_SECONDS, float
            ),
            concurrency=env_number(env, "STREAMLEDGER_CONCURRENCY", 8, int),
            per_page=env_number(env, "STREAMLEDGER_PER_PAGE", 100, int),
            max_pages=env_number(env, "STREAMLEDGER_MAX_PAGES", 200, int),
            timeout_seconds=env_number(env, "STREAMLEDGER_TIMEOUT_SECONDS", 30.0, float),
            max_attempts=env_number(env, "STREAMLEDGER_MAX_ATTEMPTS", 5, int),
            max_retry_wait_seconds=env_number(env, "STREAMLEDGER_MAX_RETRY_WAIT_SECONDS", 60.0, float),
            poll_interval_seconds=env_number(
                env,
                # STREAMLEDGER_POLL_INTERVAL is the same setting under the name the deployments use.
                "STREAMLEDGER_POLL_INTERVAL_SECONDS"
                if "STREAMLEDGER_POLL_INTERVAL_SECONDS" in env
                else "STREAMLEDGER_POLL_INTERVAL",
                60.0,
                float,
            ),
            sweep_interval_seconds=env_number(env, "STREAMLEDGER_SWEEP_INTERVAL_SECONDS", 900.0, float),
            max_sweep_pages=env_number(env, "STREAMLEDGER_MAX_SWEEP_PAGES", 5, int),
            reconcile_days=env_number(env, "STREAMLEDGER_RECONCILE_DAYS", 7, int),
            lock_wait_seconds=env_number(env, "STREAMLEDGER_LOCK_WAIT_SECONDS", 15.0, float),
            stale_after_seconds=env_number(env, "STREAMLEDGER_STALE_AFTER_SECONDS", 600.0, float),
            raw_retention_days=raw_retention_days(env),
            archive_dir=archive_dir(env, database),
        )

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with some settings changed (the demo and tests point it at the simulator)."""
        return replace(self, **changes)


def _token_from_block(env: Mapping[str, str]) -> str:
    """Return the token kept in the Prefect Secret block named by STREAMLEDGER_TOKEN_BLOCK."""
    block = env.get("STREAMLEDGER_TOKEN_BLOCK", "").strip()
    if not block:
        raise ConfigError(
            "CLOUDFLARE_API_TOKEN is not set (required, or STREAMLEDGER_TOKEN_BLOCK naming a Prefect "
            "Secret block; see the README's settings table)"
        )
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


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (required; see the README's settings table)")
    return value


def _identifier(name: str, value: str) -> str:
    if len(value) > MAX_ID_LENGTH or not value.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(
            f"{name} has an invalid id {value[:40]!r} (expected letters, digits, '-' or '_', at most 32)"
        )
    return value


def raw_retention_days(env: Mapping[str, str]) -> int:
    """Return STREAMLEDGER_RAW_RETENTION_DAYS (default 90), a whole number of days, at least 1."""
    raw = env.get("STREAMLEDGER_RAW_RETENTION_DAYS", "").strip()
    if not raw:
        return DEFAULT_RAW_RETENTION_DAYS
    try:
        days = int(raw)
    except ValueError:
        raise ConfigError(
            f"STREAMLEDGER_RAW_RETENTION_DAYS must be a whole number of days, got {raw!r}"
        ) from None
    return checked_retention_days("STREAMLEDGER_RAW_RETENTION_DAYS", days)


def checked_retention_days(name: str, days: int) -> int:
    """Return `days` if it is a valid raw-response retention, else a ConfigError naming `name`."""
    # The request budget of a new process is read from the last window of raw_responses: never prune today.
    if days < 1:
        raise ConfigError(
            f"{name} must be at least 1 day (the request budget reads recent raw responses), got {days}"
        )
    return days


def archive_dir(env: Mapping[str, str], database: Path) -> Path:
    """Return STREAMLEDGER_ARCHIVE_DIR, by default `archive/` beside the database."""
    folder = env.get("STREAMLEDGER_ARCHIVE_DIR", "").strip()
    return Path(folder) if folder else database.parent / "archive"


def env_number(env: Mapping[str, str], name: str, default: N, kind: type[N]) -> N:
    """Return a positive, finite number from the environment (the default when unset), or a ConfigError."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive, finite number, got {raw!r}")
    return value
