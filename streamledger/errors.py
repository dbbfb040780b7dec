"""The few error types streamledger raises; each message is one line that names what and where."""

from __future__ import annotations


class StreamledgerError(Exception):
    """Base of every error the CLI reports as one line instead of a traceback."""


class ConfigError(StreamledgerError):
    """A setting is missing or invalid; the message names the environment variable."""


# Cloudflare's answer to a malformed Authorization header: HTTP 400 with 6003 "Invalid request headers"
# (6103 in older answers), its cause chained as 6111 (realtimekit-api.md section 8.2). No other request
# of the poll can succeed either.
AUTH_HEADER_CODES = frozenset({"6003", "6103", "6111"})  # as text: a code may come as a number or a string


class ApiError(StreamledgerError):
    """The API refused a request or kept failing; names endpoint, app, livestream, status and API code."""

    def __init__(
        self,
        *,
        endpoint: str,
        app_id: str | None,
        subject: str | None,
        status: int | None,
        code: int | str | None,
        message: str,
        retryable: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.app_id = app_id
        self.subject = subject
        self.status = status
        self.code = code
        self.api_message = message
        self.retryable = retryable
        where = endpoint + (f" on app {app_id}" if app_id else "") + (f", {subject}" if subject else "")
        what = f"HTTP {status}" if status is not None else "no response"
        if code is not None:
            what += f", code {code}"
        super().__init__(f"{where}: {what}: {message}")

    @property
    def is_auth_error(self) -> bool:
        """True for 401/403, or a 400 refusing the Authorization header: the token or account is wrong, so
        no other request can succeed."""
        if self.status in (401, 403):
            return True
        return self.status == 400 and str(self.code) in AUTH_HEADER_CODES


class WarehouseError(StreamledgerError):
    """The DuckDB file could not be opened, migrated or loaded; names the file and the step."""


class DatabaseBusy(WarehouseError):
    """Another process held the DuckDB file for longer than this one would wait."""


class DatabaseUnusable(WarehouseError):
    """The DuckDB file cannot be used at all (damaged, on a full or read-only disk, misplaced, or written by a
    newer streamledger): no poll can load until it is fixed, so landed polls wait instead of being
    quarantined. The message names the file, what is wrong and the setting or step that fixes it."""


class StorageError(StreamledgerError):
    """A folder the pipeline writes (landing, archive, exports) cannot be written: a full or read-only disk,
    a file in the folder's place, no permission. The message names the folder, its setting and the fix."""
