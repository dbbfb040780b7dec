"""The RealtimeKit REST client: bearer auth, bounded concurrency, the one retry layer, the budget.

Every HTTP response received (retried ones included) is kept in `responses`, redacted, in the order it
arrived: that list is what a poll lands as `raw_responses`.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import random
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Self
from urllib.parse import quote

import certifi
import httpx
import orjson

from streamledger.errors import ApiError
from streamledger.ratelimit import RequestBudget, parse_ratelimit, shared_budget
from streamledger.settings import Settings
from streamledger.transforms.redact import Redactor
from streamledger.transforms.shapes import (
    active_session_parts,
    active_session_shape_problem,
    error_detail,
    is_not_found,
    list_items,
    list_shape_problem,
    overall_shape_problem,
    session_items_shape_problem,
)
from streamledger.transport import client_transport

LIST_APPS = "list_apps"
LIST_LIVESTREAMS = "list_livestreams"
ACTIVE_SESSION = "active_session"
SESSION_BY_ID = "session_by_id"
LIVESTREAM_SESSIONS = "livestream_sessions"
ANALYTICS_DAYWISE = "analytics_daywise"
ANALYTICS_OVERALL = "analytics_overall"
RETRY_STATUSES = frozenset({408, 409, 429})
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
# How long a retry may wait for a send slot of the budget window (see RealtimeKitClient._reserve).
RETRY_SLOT_WAIT_SECONDS = 2.0
# The body encodings asked for, and decoded here in bounded pieces (httpx would inflate a chunk whole).
ACCEPT_ENCODING = "gzip, deflate"
INFLATE_PIECE_BYTES = 256 * 1024

Outcome = Literal["data", "none", "retry", "error"]


class NotSent(ApiError):
    """A call given up before sending: the poll already met a refused token or a long rate-limit block."""


@dataclass(frozen=True)
class _Where:
    """Which call a response belongs to, for error messages."""

    endpoint: str
    app_id: str | None
    subject: str | None

    def error(
        self, status: int | None, code: int | str | None, message: str, *, retryable: bool = False
    ) -> ApiError:
        return ApiError(
            endpoint=self.endpoint,
            app_id=self.app_id,
            subject=self.subject,
            status=status,
            code=code,
            message=message,
            retryable=retryable,
        )

    def not_sent(self, reason: str) -> NotSent:
        return NotSent(
            endpoint=self.endpoint,
            app_id=self.app_id,
            subject=self.subject,
            status=None,
            code=None,
            message=f"not sent: {reason}",
        )


@dataclass(frozen=True)
class Listing:
    """The livestreams of one app, read page by page; `complete` is False if paging was cut short."""

    app_id: str | None
    items: list[Any]
    pages: int
    complete: bool
    problem: str | None
    deferred: bool = False  # cut short because the poll's allowance granted no further page


class BodyRefused(Exception):
    """An answer's body was not read whole: past the size cap, or in an encoding not asked for."""


@dataclass
class _Tally:
    """The answer bytes (decompressed) a client holds, kept or being read, against
    STREAMLEDGER_MAX_POLL_BYTES."""

    limit: int
    read: int = 0

    @property
    def over(self) -> bool:
        return self.read > self.limit


_NO_HEADERS = httpx.Headers()


@dataclass
class _Progress:
    """How far one request got: its status once the headers came, the body's bytes so far."""

    tally: _Tally
    status: int | None = None
    headers: httpx.Headers = field(default_factory=lambda: _NO_HEADERS)  # replaced, never changed
    wire: int = 0
    decoded: int = 0

    def add(self, decoded: int, cap: int, setting: str) -> None:
        """Count `decoded` more bytes of the body; BodyRefused past its cap or past the poll's."""
        self.decoded += decoded
        self.tally.read += decoded
        if self.decoded > cap:
            raise BodyRefused(
                f"body over {setting}: cut off past {cap:,} bytes decompressed (from {self.wire:,} on "
                "the wire); not kept"
            )
        if self.tally.over:
            raise BodyRefused(
                f"cut off, not kept: the poll holds {self.tally.limit:,} bytes of answers "
                "(STREAMLEDGER_MAX_POLL_BYTES)"
            )

    def __str__(self) -> str:
        if self.status is None:
            return "before the answer's headers came"
        return f"after {self.wire:,} bytes of the body"


@dataclass(frozen=True)
class _Answer:
    """What one attempt came to: the response's parts (status None: none came) and how it is classified."""

    status: int | None
    headers: httpx.Headers
    url: str
    text: str | None
    body: Any
    outcome: Outcome
    failure: ApiError | None


class RealtimeKitClient:
    """Reads the livestream endpoints of one account; use as `async with RealtimeKitClient(...)`."""

    def __init__(
        self,
        settings: Settings,
        *,
        poll_id: str = "",
        budget: RequestBudget | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        deadline_seconds: float | None = None,
        stream_key_fingerprints: Iterable[str] = (),
    ) -> None:
        """`deadline_seconds`: the poll's deadline from now (see Settings.poll_deadline); None, none.
        `stream_key_fingerprints`: those of the keys earlier polls saw (see Redactor)."""
        token = settings.api_token.reveal()
        self._settings = settings
        self._poll_id = poll_id
        # Every text kept of a response goes through it: the token and the poll's stream keys, wherever
        # they appear (see redacted and redact_recorded), and those of earlier polls, by their fingerprints.
        self._redactor = Redactor((token,), stream_key_fingerprints)
        self._keys_at: list[int] = []  # per recorded response, how many keys the redactor knew then
        self._budget = budget or shared_budget(
            settings.base_url,
            settings.budget,
            settings.budget_requests,
            settings.budget_window_seconds,
            (settings.burst_requests, settings.burst_window_seconds),
        )
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=f"{settings.base_url}/accounts/{_segment(settings.account_id)}/realtime/kit",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            timeout=httpx.Timeout(settings.timeout_seconds, connect=min(5.0, settings.timeout_seconds)),
            limits=httpx.Limits(max_connections=settings.concurrency),
            transport=transport or client_transport(_tls_context(), settings.concurrency),
            verify=_tls_context(),
        )
        # Requests name their whole URL: httpx joins a relative one to base_url anew on every request.
        self._root = str(self._http.base_url).rstrip("/")
        self.responses: list[dict[str, Any]] = []
        self.requests = 0
        self.retries = 0
        self.transport_errors = 0
        self.rate_limited = 0
        # Why this client sends nothing more: every later call fails at once without a request.
        self.halted: str | None = None
        self._deadline = deadline_seconds
        self._deadline_at = (
            None if deadline_seconds is None else asyncio.get_running_loop().time() + deadline_seconds
        )
        # Why the poll's deadline stopped this client (None while it has not).
        self.deadline_reached: str | None = None
        self._tally = _Tally(settings.max_poll_bytes)

    @property
    def per_page(self) -> int:
        """Items this client asks for per list page."""
        return self._settings.per_page

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.redact_recorded()
        await self._http.aclose()

    def redacted(self, text: str) -> str:
        """Return a text (an error message) without the token and every stream key this client has seen."""
        return self._redactor.text(text) or text

    def redact_recorded(self) -> None:
        """Redact, again, the responses recorded before a stream key they hold was learnt from a later one.

        A key is learnt from the field that names it; an earlier answer may have shown it elsewhere (an
        error message of a session read before its livestream was listed).
        """
        known = len(self._redactor.keys)
        for response, keys_then in zip(self.responses, self._keys_at, strict=True):
            if keys_then < known:
                if response["body"] is not None:
                    response["body"] = self._redactor.body(response["body"])
                for name in ("error", "ratelimit", "request_path"):
                    response[name] = self._redactor.text(response[name])
        self._keys_at = [known] * len(self.responses)

    async def list_livestreams(
        self, app_id: str, status: str | None = None, grant: Callable[[], bool] | None = None
    ) -> Listing:
        """Read every page of an app's livestreams (those of one status, if given), up to the page cap.

        `grant`, when given, is asked before each page: a page it refuses is not sent, and the listing is
        cut short there (deferred).
        """
        path = f"/{_segment(app_id)}/livestreams"
        if status is None:
            return await self._list(LIST_LIVESTREAMS, app_id, path, "livestreams", grant=grant)
        filters = {"status": status}
        return await self._list(LIST_LIVESTREAMS, app_id, path, f"{status} livestreams", filters, grant)

    async def livestreams_page(self, app_id: str, page: int) -> Any:
        """Return one page of an app's full livestream list, oldest first (new ones are added at the end)."""
        return await self._get(
            LIST_LIVESTREAMS,
            app_id,
            f"/{_segment(app_id)}/livestreams",
            params={"page_no": page, "per_page": self._settings.per_page, "sort_order": "ASC"},
            subject=f"page {page}",
        )

    async def list_apps(self, grant: Callable[[], bool] | None = None) -> Listing:
        """Read every page of the account's apps, up to the page cap (and as far as `grant` allows)."""
        return await self._list(LIST_APPS, None, "/apps", "apps", grant=grant)

    async def _list(
        self,
        endpoint: str,
        app_id: str | None,
        path: str,
        noun: str,
        filters: dict[str, str] | None = None,
        grant: Callable[[], bool] | None = None,
    ) -> Listing:
        """Read a paged list; stop on an empty page, at the total, on a short unpaged page, at the cap, or
        at the first page `grant` refuses."""
        items: list[Any] = []
        per_page = self._settings.per_page
        prefix = "".join(f"{name} {value} " for name, value in (filters or {}).items())
        for page in range(1, self._settings.max_pages + 1):
            if grant is not None and not grant():
                problem = f"no allowance left for page {page}"
                return Listing(app_id, items, page - 1, False, problem, deferred=True)
            body = await self._get(
                endpoint,
                app_id,
                path,
                params={**(filters or {}), "page_no": page, "per_page": per_page},
                subject=f"{prefix}page {page}",
            )
            page_items, paging = list_items(body)
            items.extend(page_items)
            if not page_items:
                break
            if paging is not None and paging.end_offset is not None and paging.total_count is not None:
                if paging.is_last_page():
                    break
            elif len(page_items) < per_page:
                break
        else:
            return Listing(app_id, items, page, False, f"page cap {self._settings.max_pages} reached")
        total = paging.total_count if paging is not None else None
        if total is not None and total != len(items):
            return Listing(app_id, items, page, False, f"read {len(items)} {noun}, paging says {total}")
        return Listing(app_id, items, page, True, None)

    async def livestream_sessions(self, app_id: str, livestream_id: str, page: int, per_page: int) -> Any:
        """Return one page of a livestream's details with its sessions (newest first)."""
        return await self._get(
            LIVESTREAM_SESSIONS,
            app_id,
            f"/{_segment(app_id)}/livestreams/{_segment(livestream_id)}",
            params={"page_no": page, "per_page": per_page},
            livestream_id=livestream_id,
            subject=f"livestream {livestream_id} page {page}",
        )

    async def daywise(self, app_id: str, start: datetime, end: datetime) -> Any:
        """Return an app's livestream analytics per day between two instants (sent as Unix seconds)."""
        return await self._get(
            ANALYTICS_DAYWISE,
            app_id,
            f"/{_segment(app_id)}/analytics/livestreams/daywise",
            params={"start_time": int(start.timestamp()), "end_time": int(end.timestamp())},
            subject=f"days {start:%Y-%m-%d} to {end:%Y-%m-%d}",
        )

    async def overall(self, app_id: str, start: datetime, end: datetime) -> Any:
        """Return an app's livestream analytics totals between two instants (sent as Unix seconds)."""
        return await self._get(
            ANALYTICS_OVERALL,
            app_id,
            f"/{_segment(app_id)}/analytics/livestreams/overall",
            params={"start_time": int(start.timestamp()), "end_time": int(end.timestamp())},
            subject=f"totals {start:%Y-%m-%dT%H:%M:%SZ} to {end:%Y-%m-%dT%H:%M:%SZ}",
        )

    async def read_app_path(
        self, endpoint: str, app_id: str, path: str, params: Mapping[str, str | int] | None = None
    ) -> Any:
        """Return the body of one GET of a path under an app (`path` follows the app id: '/analytics/...')."""
        query = dict(params) if params else None
        subject = " ".join(f"{name}={value}" for name, value in (params or {}).items()) or None
        return await self._get(endpoint, app_id, f"/{_segment(app_id)}{path}", params=query, subject=subject)

    async def active_session(self, app_id: str, livestream_id: str) -> Any:
        """Return the active-session body, or None when the livestream has no active session."""
        return await self._get(
            ACTIVE_SESSION,
            app_id,
            f"/{_segment(app_id)}/livestreams/{_segment(livestream_id)}/active-livestream-session",
            livestream_id=livestream_id,
            subject=f"livestream {livestream_id}",
        )

    async def session_by_id(self, app_id: str, session_id: str, livestream_id: str | None = None) -> Any:
        """Return the session-by-id body (the livestream id, when known, is recorded with the response)."""
        return await self._get(
            SESSION_BY_ID,
            app_id,
            f"/{_segment(app_id)}/livestreams/sessions/{_segment(session_id)}",
            livestream_id=livestream_id,
            session_id=session_id,
            subject=f"session {session_id}",
        )

    async def _get(
        self,
        endpoint: str,
        app_id: str | None,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        livestream_id: str | None = None,
        session_id: str | None = None,
        subject: str | None = None,
    ) -> Any:
        """Send one GET with retries; return the decoded body (None for 'no active session')."""
        where = _Where(endpoint, app_id, subject)
        attempts = self._settings.max_attempts
        for attempt in range(1, attempts + 1):
            async with self._slots:
                self._check_deadline()
                delay = self._reserve(where, retry=attempt > 1)
                if delay > 0:
                    await self._pause(delay, where, "the wait for a send slot of the request budget")
                if self.halted is not None:  # set while this call waited for its slot
                    raise where.not_sent(self.halted)
                self.requests += 1
                started = time.perf_counter()
                answer = await self._send(endpoint, where, path, params)
                elapsed_ms = (time.perf_counter() - started) * 1000
            status, headers, failure = answer.status, answer.headers, answer.failure
            reading = parse_ratelimit(headers.get("ratelimit"))
            if reading is not None:
                self._budget.observe(reading)
            if status == 429:
                self.rate_limited += 1
            if failure is not None and failure.is_auth_error and self.halted is None:
                # No other request can succeed with this token: the rest of the poll is not sent.
                self.halted = f"the API refused the token earlier in this poll (HTTP {status})"
            wait, asked = self._retry_wait(attempt, status, headers) if failure is not None else (0.0, False)
            will_retry = failure is not None and failure.retryable and attempt < attempts
            if failure is not None and will_retry and wait > self._settings.max_retry_wait_seconds:
                will_retry = False
                waited = f"asked to wait {wait:.0f} s" if asked else f"backoff of {wait:.1f} s"
                failure = where.error(
                    status,
                    failure.code,
                    f"{failure.api_message} ({waited}, more than "
                    f"STREAMLEDGER_MAX_RETRY_WAIT_SECONDS={self._settings.max_retry_wait_seconds:g})",
                )
            self._record(
                endpoint=endpoint,
                app_id=app_id,
                livestream_id=livestream_id,
                session_id=session_id,
                url=answer.url,
                attempt=attempt,
                status=status,
                elapsed_ms=elapsed_ms,
                ratelimit=headers.get("ratelimit"),
                server_date=_server_date(headers),
                outcome="retry" if will_retry else answer.outcome,
                body=answer.text,
                error=str(failure) if failure is not None else None,
            )
            if failure is None:
                return answer.body if answer.outcome == "data" else None
            if not will_retry:
                raise failure
            self.retries += 1
            if status != 429:  # after a 429 the budget itself holds every request until Retry-After
                await self._pause(wait, where, "the backoff before the retry")
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _send(self, endpoint: str, where: _Where, path: str, params: dict[str, Any] | None) -> _Answer:
        """Send one request and read its body whole, within the request's deadline, the poll's and the cap.

        The body streams in: its bytes on the wire and decompressed are counted as they come, so a body past
        STREAMLEDGER_MAX_BODY_BYTES is cut off there (a Content-Length past it before any is read).
        """
        request = self._http.build_request("GET", self._root + path, params=params)
        url = str(request.url)
        progress = _Progress(self._tally)
        now = asyncio.get_running_loop().time()
        until = now + self._settings.request_deadline_seconds
        poll_binds = self._deadline_at is not None and self._deadline_at <= until
        try:
            async with asyncio.timeout_at(self._deadline_at if poll_binds else until):
                response = await self._http.send(request, stream=True)
                try:
                    progress.status, progress.headers = response.status_code, response.headers
                    content = await _read_body(response, self._settings.max_body_bytes, progress)
                finally:
                    await response.aclose()
        except httpx.HTTPError as exc:  # connection, timeout, protocol, and body decoding failures
            message = _describe(exc, self._http.timeout)
            return self._unanswered(where, url, progress, message, retryable=True, answered=False)
        except TimeoutError:
            if poll_binds:
                self._stop_at_deadline()
                message = f"cut off {progress}: {self.deadline_reached}"
            else:
                message = (
                    f"RequestDeadline: no whole answer within {self._settings.request_deadline_seconds:g} s "
                    f"(STREAMLEDGER_REQUEST_DEADLINE_SECONDS), cut off {progress}"
                )
            return self._unanswered(where, url, progress, message, retryable=not poll_binds, answered=False)
        except BodyRefused as exc:  # the headers came: a response, its body not kept
            if self._tally.over and self.halted is None:
                self.halted = (
                    f"the poll holds {self._tally.limit:,} bytes of answers "
                    "(STREAMLEDGER_MAX_POLL_BYTES); the next poll reads the rest"
                )
            return self._unanswered(where, url, progress, str(exc), retryable=False, answered=True)
        content_type = response.headers.get("content-type", "")
        encoding = _encoding(content_type) if len(content_type) <= 200 else response.encoding or "utf-8"
        text = self._redactor.body(content.decode(encoding, errors="replace"))
        if response.is_redirect:
            redirect = where.error(response.status_code, None, _redirect_problem(response))
            return _Answer(response.status_code, response.headers, url, text, None, "error", redirect)
        body, outcome, failure = _classify(endpoint, response.status_code, text, where)
        return _Answer(response.status_code, response.headers, url, text, body, outcome, failure)

    def _unanswered(
        self, where: _Where, url: str, progress: _Progress, message: str, *, retryable: bool, answered: bool
    ) -> _Answer:
        """A request whose body was not read whole, and why; no body is kept, and what was read of it no
        longer counts against STREAMLEDGER_MAX_POLL_BYTES. Its status and headers when it was `answered`
        (its body refused by a cap); cut off or broken before its end, it had no response (a transport
        error), as a body that times out does."""
        progress.tally.read -= progress.decoded
        if not answered:
            self.transport_errors += 1
            failure = where.error(None, None, message, retryable=retryable)
            return _Answer(None, httpx.Headers(), url, None, None, "error", failure)
        failure = where.error(progress.status, None, message, retryable=retryable)
        return _Answer(progress.status, progress.headers, url, None, None, "error", failure)

    def _check_deadline(self) -> None:
        """Stop the client once the poll's deadline has passed: nothing more is sent."""
        if self._deadline_at is not None and asyncio.get_running_loop().time() >= self._deadline_at:
            self._stop_at_deadline()

    def _stop_at_deadline(self) -> None:
        if self.deadline_reached is None:
            self.deadline_reached = (
                f"the poll reached its deadline of {self._deadline:g} s "
                "(STREAMLEDGER_POLL_DEADLINE_SECONDS); the next poll reads the rest"
            )
        if self.halted is None:
            self.halted = self.deadline_reached

    async def _pause(self, seconds: float, where: _Where, what: str) -> None:
        """Sleep `seconds`, unless that would pass the poll's deadline: then the call is not sent."""
        if seconds <= 0:
            return
        if self._deadline_at is not None and asyncio.get_running_loop().time() + seconds >= self._deadline_at:
            raise where.not_sent(
                f"{what} ({seconds:.1f} s) would pass the poll's deadline of {self._deadline:g} s "
                "(STREAMLEDGER_POLL_DEADLINE_SECONDS); the next poll reads it"
            )
        await self._sleep(seconds)

    def _retry_wait(self, attempt: int, status: int | None, headers: httpx.Headers) -> tuple[float, bool]:
        """(seconds to wait before another attempt, whether the server asked for it); a 429 pauses all."""
        backoff = min(BACKOFF_BASE_SECONDS * 2 ** (attempt - 1), BACKOFF_CAP_SECONDS)
        backoff *= 1 - random.random() * 0.25
        server_wait = _retry_after(headers)
        wait = server_wait if server_wait is not None else backoff
        if status == 429:
            self._budget.block_for(wait)
        return wait, server_wait is not None

    def _reserve(self, where: _Where, *, retry: bool = False) -> float:
        """Return the wait for a send slot; raise NotSent if the poll is halted or the wait is too long.

        A retry takes only a slot free within RETRY_SLOT_WAIT_SECONDS: past the slots the planner keeps
        for retries, waiting for the window would hold back every later send of the poll behind it, so
        that one call fails instead (the next poll reads it again) and the poll goes on.
        """
        if self.halted is None:
            limit = self._settings.max_retry_wait_seconds
            if retry and self._budget.blocked_seconds() == 0.0:
                wait = min(limit, RETRY_SLOT_WAIT_SECONDS)
                delay = self._budget.reserve(wait)
                if delay <= wait:
                    return delay
                raise where.not_sent(
                    f"retry not sent: the request budget has no free slot for {delay:.0f} s "
                    "(this poll's retries used the slots kept for them); the next poll reads it again"
                )
            delay = self._budget.reserve(limit)
            if delay <= limit:
                return delay
            blocked = self._budget.blocked_seconds()
            if blocked > limit:
                self.halted = f"rate-limited: the API blocks requests for {blocked:.0f} s more"
            else:
                self.halted = f"rate-limited: the request budget has no free slot for {delay:.0f} s"
            self.halted += (
                f" (more than STREAMLEDGER_MAX_RETRY_WAIT_SECONDS={limit:g}); the next poll resumes"
            )
        raise where.not_sent(self.halted)

    def _record(self, **row: Any) -> None:
        redact = self._redactor.text
        self._keys_at.append(len(self._redactor.keys))
        self.responses.append(
            {
                "poll_id": self._poll_id,
                "seq": len(self.responses) + 1,
                "fetched_at": datetime.now(UTC),
                "endpoint": row["endpoint"],
                "app_id": row["app_id"],
                "livestream_id": row["livestream_id"],
                "session_id": row["session_id"],
                "request_path": redact(_without_userinfo(row["url"])),
                "attempt": row["attempt"],
                "http_status": row["status"],
                "elapsed_ms": round(row["elapsed_ms"], 3),
                "ratelimit": redact(row["ratelimit"]),
                "server_date": row["server_date"],
                "outcome": row["outcome"],
                "body": row["body"],
                "error": redact(row["error"]),
            }
        )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process: building it (the CA bundle) costs about 30 ms, every poll otherwise."""
    return ssl.create_default_context(cafile=certifi.where())


@functools.lru_cache(maxsize=64)
def _encoding(content_type: str) -> str:
    """The text encoding of a body of this Content-Type as httpx decides it (UTF-8 but a known charset)."""
    return httpx.Response(200, headers={"content-type": content_type}).encoding or "utf-8"


def _without_userinfo(url: str) -> str:
    """Return a URL without a user or password before its host (settings refuse them; never stored)."""
    scheme, found, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not found or "@" not in authority:
        return url
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


def _segment(value: str) -> str:
    """Return an id as exactly one URL path segment: '/', '?', '#', '%' and the rest are escaped."""
    quoted = quote(value, safe="")
    # quote() leaves dots alone, and httpx resolves "." and ".." segments: escape those too.
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


# The endpoints whose odd `data` would otherwise read as "nothing there" (no session, no items).
_SHAPE_PROBLEMS: dict[str, Callable[[Any], str | None]] = {
    LIST_APPS: list_shape_problem,
    LIST_LIVESTREAMS: list_shape_problem,
    LIVESTREAM_SESSIONS: session_items_shape_problem,
    ACTIVE_SESSION: active_session_shape_problem,
    ANALYTICS_OVERALL: overall_shape_problem,
}


def _classify(endpoint: str, status: int, text: str, where: _Where) -> tuple[Any, Outcome, ApiError | None]:
    """Decide what one response means: data, no active session, or a (retryable?) failure."""
    try:
        body: Any = orjson.loads(text) if text else None
        decode_problem = None if text else "empty body"
    except orjson.JSONDecodeError as exc:
        body, decode_problem = None, f"malformed JSON body ({exc.msg} at character {exc.pos})"
    if 200 <= status < 300:
        if decode_problem is not None:
            # A 2xx whose body does not decode is a broken transfer: worth one more request.
            return (
                None,
                "error",
                where.error(status, None, decode_problem, retryable=True),
            )
        if not isinstance(body, dict):
            return (
                body,
                "error",
                where.error(status, None, f"expected a JSON object, got {type(body).__name__}"),
            )
        if body.get("success") is False:
            if endpoint == ACTIVE_SESSION and is_not_found(body):
                return body, "none", None
            code, detail = error_detail(body)
            return body, "error", where.error(status, code, detail or "success: false")
        shape_problem = _SHAPE_PROBLEMS.get(endpoint)
        if shape_problem is not None and (problem := shape_problem(body)) is not None:
            # Not a transfer fault, so not retried: read as empty, it would pass for "nothing there".
            return body, "error", where.error(status, None, problem)
        if endpoint == ACTIVE_SESSION and active_session_parts(body)[1] is None:
            return body, "none", None
        return body, "data", None
    if status == 404 and endpoint == ACTIVE_SESSION:
        return body, "none", None
    code, detail = error_detail(body)
    message = detail if detail is not None else httpx.codes.get_reason_phrase(status) or "error"
    if detail is None and text and decode_problem is not None:
        message += f": {' '.join(text[:120].split())}"
    retryable = status in RETRY_STATUSES or status >= 500
    return body, "error", where.error(status, code, message, retryable=retryable)


async def _read_body(response: httpx.Response, cap: int, progress: _Progress) -> bytes:
    """Return a streamed response's body, decoded; BodyRefused past `cap` bytes on the wire or decoded."""
    setting = f"STREAMLEDGER_MAX_BODY_BYTES={cap}"
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > cap:
        raise BodyRefused(
            f"body over {setting}: its Content-Length is {int(declared):,} bytes; refused unread"
        )
    if response.is_stream_consumed:  # a transport that hands the body over read (httpx.MockTransport)
        content = response.content
        progress.wire = len(content)
        progress.add(len(content), cap, setting)
        return content
    decoder = _decoder(response.headers.get("content-encoding", ""))
    pieces: list[bytes] = []

    def take(decoded: Iterator[bytes]) -> None:
        for piece in decoded:
            progress.add(len(piece), cap, setting)
            pieces.append(piece)

    async for chunk in response.aiter_raw():
        progress.wire += len(chunk)
        if progress.wire > cap:
            raise BodyRefused(f"body over {setting}: cut off past {cap:,} bytes on the wire; not kept")
        take(decoder.decode(chunk))
    take(decoder.flush())
    return b"".join(pieces)


class _Identity:
    """A body sent as is."""

    def decode(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Inflater:
    """A gzip or deflate body, inflated in pieces of at most INFLATE_PIECE_BYTES: a bomb is cut off after
    its first piece past the cap, never inflated whole (httpx's own decoder inflates each chunk at once)."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._first = True
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)

    def decode(self, data: bytes) -> Iterator[bytes]:
        first, self._first = self._first, False
        while True:
            try:
                piece = self._inflate.decompress(data, INFLATE_PIECE_BYTES)
            except zlib.error as exc:
                if first and not self._gzip:  # "deflate" sent without its zlib header, as some servers do
                    self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                    yield from self.decode(data)
                    return
                raise httpx.DecodingError(str(exc)) from None
            first = False
            if piece:
                yield piece
            data = self._inflate.unconsumed_tail
            if not data and len(piece) < INFLATE_PIECE_BYTES:
                return

    def flush(self) -> Iterator[bytes]:
        try:
            rest = self._inflate.flush()
        except zlib.error as exc:
            raise httpx.DecodingError(str(exc)) from None
        if rest:
            yield rest


def _decoder(content_encoding: str) -> _Identity | _Inflater:
    """The decoder of a Content-Encoding; BodyRefused for one not asked for (br, zstd, a chain)."""
    codings = [
        c.strip().lower() for c in content_encoding.split(",") if c.strip().lower() not in ("", "identity")
    ]
    if not codings:
        return _Identity()
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Inflater(gzip=codings[0] != "deflate")
    shown = " ".join(content_encoding.split())[:40]
    raise BodyRefused(f"Content-Encoding {shown!r} is not one asked for ({ACCEPT_ENCODING}): not read")


def _redirect_problem(response: httpx.Response) -> str:
    """Why a redirect is a failed read, and where it pointed (scheme, host and path only)."""
    try:
        target = response.request.url.join(response.headers.get("location", ""))
        where = f"{target.scheme}://{target.host}{f':{target.port}' if target.port else ''}{target.path}"
    except (httpx.InvalidURL, ValueError, TypeError):
        where = "an unreadable Location"
    return (
        f"redirect to {where} not followed: CLOUDFLARE_BASE_URL must name the API itself "
        "(https://api.cloudflare.com/client/v4)"
    )


def _retry_after(headers: httpx.Headers) -> float | None:
    """Return the server-requested wait in seconds (retry-after-ms, then Retry-After), if any."""
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _server_date(headers: httpx.Headers) -> datetime | None:
    """Return the response's Date header: the API's own clock, which places readings on its time axis."""
    value = headers.get("date")
    if not value:
        return None
    # A Date changes once a second: the answers of a poll share a few dozen (an odd long one is not kept).
    return _cached_date(value) if len(value) <= 64 else _parsed_date(value)


def _parsed_date(value: str) -> datetime | None:
    """A Date header's instant in UTC (None: not a date)."""
    try:
        return email.utils.parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


_cached_date = functools.lru_cache(maxsize=64)(_parsed_date)


def _describe(exc: httpx.HTTPError, timeout: httpx.Timeout) -> str:
    """Return a one-line description of a transport failure (no URL, so no chance of leaking anything)."""
    detail = " ".join(str(exc).split())
    if isinstance(exc, httpx.TimeoutException):
        # httpx says only "timed out", or nothing: the limit that was reached is what explains it.
        limits = {
            httpx.ConnectTimeout: timeout.connect,
            httpx.ReadTimeout: timeout.read,
            httpx.WriteTimeout: timeout.write,
            httpx.PoolTimeout: timeout.pool,
        }
        limit = limits.get(type(exc))
        if limit is not None:
            timed_out = f"timed out after {limit:g} s"
            detail = timed_out if detail in ("", "timed out") else f"{detail} ({timed_out})"
    return f"{type(exc).__name__}: {detail or 'no detail'}"
