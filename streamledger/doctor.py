"""`streamledger doctor --api`: a few bounded reads of the configured API, and what each shows of the
assumptions on docs/api-assumptions.md (each verdict names an assumption by its id there).

It reads through the real client (bearer auth, redaction of stream keys and of the token), one request per
read, never retried, each with a timeout and a body-size cap, and never opens the warehouse.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import ssl
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import certifi
import httpx
import orjson

from streamledger.client import (
    ACTIVE_SESSION,
    ANALYTICS_DAYWISE,
    ANALYTICS_OVERALL,
    LIST_APPS,
    LIST_LIVESTREAMS,
    LIVESTREAM_SESSIONS,
    SESSION_BY_ID,
    NotSent,
    RealtimeKitClient,
)
from streamledger.errors import ApiError, StreamledgerError
from streamledger.settings import MAX_ID_LENGTH, Settings
from streamledger.transforms.shapes import list_items, parse_instant, session_items

# The reads below send 11 requests; the transport refuses any beyond this.
MAX_REQUESTS = 12
DEFAULT_TIMEOUT_SECONDS = 10.0
ANALYTICS_DAYS = 7  # the analytics reads with times ask for the UTC days of the last week
DOCUMENTED_STATUSES = ("LIVE", "IDLE", "ERRORED", "INVOKED")
KNOWN_STATUSES = (*DOCUMENTED_STATUSES, "OFFLINE")  # OFFLINE: the webhook docs, outside the list enum
# Response headers shown and saved: nothing else (a Set-Cookie, say) leaves the process.
HEADERS_SHOWN = ("date", "ratelimit", "ratelimit-policy", "retry-after", "content-type")
TIMESTAMP_FIELDS = ("created_at", "updated_at", "invoked_time", "started_time", "stopped_time")
FIGURES = ("ingest_seconds", "viewer_seconds")
TOTALS = ("count", "total_ingest_seconds", "total_viewer_seconds")
REDACTED = re.compile(r"^\[redacted sha256:[0-9a-f]{12}\]$")
_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:(?P<sep>[T ])\d{2}:\d{2}(?::\d{2}(?P<fraction>\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?)?$",
    re.IGNORECASE,
)

Verdict = Literal["confirms", "contradicts", "not shown"]
# The ids of docs/api-assumptions.md that the doctor's findings name (a test holds the page to them).
ASSUMPTIONS = frozenset(
    {
        "list-shape",
        "app-id-length",
        "paging",
        "paging-end",
        "per-page",
        "status-filter",
        "statuses",
        "disabled-type",
        "timestamps",
        "stream-key",
        "updated-at-trigger",
        "details-shape",
        "session-order",
        "figure-types",
        "nothing-active",
        "active-after-stop",
        "placeholder",
        "session-by-id-shape",
        "final-lag",
        "daywise-shape",
        "daywise-date",
        "analytics-integers",
        "analytics-times",
        "overall-shape",
        "date-header",
        "ratelimit-headers",
        "budget",
        "burst",
        "error-envelope",
        "parse",
    }
)
_POLICY_ITEM = re.compile(r"q=(?P<q>\d+)\s*;\s*w=(?P<w>\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Finding:
    """What one answer shows of one assumption (its id on docs/api-assumptions.md)."""

    assumption: str
    verdict: Verdict
    text: str

    def __post_init__(self) -> None:
        if self.assumption not in ASSUMPTIONS:
            raise ValueError(f"no assumption {self.assumption!r} on docs/api-assumptions.md")


@dataclass
class Read:
    """One read: what was asked, what came back (redacted), and what it shows."""

    name: str
    endpoint: str
    request: str | None = None
    http_status: int | None = None
    outcome: str = "skipped"  # data, none (no active session), error, not sent, skipped
    elapsed_ms: float | None = None
    error: str | None = None
    shape: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    body: str | None = None  # the redacted body, for --save only
    failure: ApiError | None = None

    @property
    def failed(self) -> bool:
        """True when the read was attempted and did not work."""
        return self.outcome in ("error", "not sent")

    def to_json(self) -> dict[str, Any]:
        """The read as JSON (without its body)."""
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "request": self.request,
            "http_status": self.http_status,
            "outcome": self.outcome,
            "elapsed_ms": self.elapsed_ms,
            "error": self.error,
            "shape": self.shape,
            "headers": self.headers,
            "findings": [vars(f) for f in self.findings],
        }


@dataclass
class Diagnosis:
    """Every read of one `doctor --api` run, the findings over all of them, and the problem, if any."""

    base_url: str
    account_id: str
    app_id: str | None = None
    reads: list[Read] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    requests: int = 0
    problem: str | None = None

    def all_findings(self) -> list[Finding]:
        """Every finding, read by read, then those over all reads."""
        return [f for read in self.reads for f in read.findings] + self.findings

    def summary(self) -> str:
        """One line: reads that worked, and the findings by verdict."""
        attempted = [r for r in self.reads if r.outcome != "skipped"]
        worked = sum(not r.failed for r in attempted)
        verdicts = Counter(f.verdict for f in self.all_findings())
        skipped = len(self.reads) - len(attempted)
        return (
            f"{worked} of {len(attempted)} reads worked ({self.requests} requests"
            + (f", {skipped} reads skipped" if skipped else "")
            + f"); {verdicts['confirms']} confirmed, {verdicts['contradicts']} contradicted, "
            f"{verdicts['not shown']} not shown (ids: docs/api-assumptions.md)"
        )

    def to_json(self) -> dict[str, Any]:
        """The whole diagnosis as JSON."""
        return {
            "ok": self.problem is None,
            "base_url": self.base_url,
            "account_id": self.account_id,
            "app_id": self.app_id,
            "requests": self.requests,
            "reads": [read.to_json() for read in self.reads],
            "findings": [vars(f) for f in self.findings],
            "summary": self.summary(),
            "problem": self.problem,
        }

    def lines(self) -> list[str]:
        """The diagnosis as text, a block per read."""
        out = [f"streamledger doctor --api: {self.base_url}, account {self.account_id}, app {self.app_id}"]
        for number, read in enumerate(self.reads, 1):
            status = f"HTTP {read.http_status}" if read.http_status is not None else read.outcome
            took = f"  {read.elapsed_ms:.0f} ms" if read.elapsed_ms is not None else ""
            out.append(f"{number:>2}. {read.name}: {status}{took}  {read.request or ''}".rstrip())
            if read.error:
                out.append(f"    error: {read.error}")
            if read.shape:
                out.append(f"    shape: {read.shape}")
            if read.headers:
                out.append("    headers: " + "; ".join(f"{k}: {v}" for k, v in read.headers.items()))
            out.extend(_finding_line(f) for f in read.findings)
        out.append("over every read:")
        out.extend(_finding_line(f) for f in self.findings)
        out.append(self.summary())
        return out

    def save(self, folder: Path) -> list[Path]:
        """Write each read's redacted body and the diagnosis as JSON into folder; return the files."""
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for number, read in enumerate(self.reads, 1):
            if read.body is None:
                continue
            path = folder / f"{number:02d}-{read.endpoint}.json"
            path.write_text(read.body)
            written.append(path)
        path = folder / "doctor.json"
        path.write_bytes(orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2))
        return [*written, path]


def _finding_line(finding: Finding) -> str:
    return f"    {finding.verdict:<11} {finding.assumption:<22} {finding.text}"


def diagnose(
    settings: Settings,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    body_cap_bytes: int | None = None,
) -> Diagnosis:
    """Read the API as configured (settings with a token and account), at most MAX_REQUESTS requests.

    Each body is read as a poll reads it, up to STREAMLEDGER_MAX_BODY_BYTES (or `body_cap_bytes`).
    """
    bounded = settings.with_overrides(
        max_pages=1,
        max_attempts=1,
        timeout_seconds=timeout_seconds,
        request_deadline_seconds=timeout_seconds,
        concurrency=1,
        max_body_bytes=body_cap_bytes or settings.max_body_bytes,
    )
    return asyncio.run(_diagnose(bounded))


class _BoundedTransport(httpx.AsyncBaseTransport):
    """Real HTTP with a cap on requests; keeps the shown headers of each answer (the client caps bodies)."""

    def __init__(self, max_requests: int) -> None:
        tls = ssl.create_default_context(cafile=certifi.where())
        self._inner = httpx.AsyncHTTPTransport(verify=tls)
        self._left = max_requests
        self.headers: list[dict[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._left <= 0:
            raise httpx.ConnectError("not sent: the doctor's request cap is reached", request=request)
        self._left -= 1
        response = await self._inner.handle_async_request(request)
        self.headers.append({k: response.headers[k] for k in HEADERS_SHOWN if k in response.headers})
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Doctor:
    """Runs the reads one after another and turns each answer into findings."""

    def __init__(self, settings: Settings, client: RealtimeKitClient, transport: _BoundedTransport) -> None:
        self.settings = settings
        self.client = client
        self.transport = transport
        self.diagnosis = Diagnosis(settings.base_url, settings.account_id)

    async def read(self, name: str, endpoint: str, call: Callable[[], Awaitable[Any]]) -> tuple[Read, Any]:
        """Send one read; return it with its decoded (redacted) body, None when it did not work."""
        read = Read(name, endpoint)
        self.diagnosis.reads.append(read)
        before, headers_before = len(self.client.responses), len(self.transport.headers)
        try:
            await call()
            read.outcome = "data"
        except NotSent as exc:
            read.outcome, read.error, read.failure = "not sent", exc.api_message, exc
        except ApiError as exc:
            read.outcome, read.error, read.failure = "error", what_failed(exc), exc
        for response in self.client.responses[before:]:
            read.request = response["request_path"].removeprefix(self.settings.base_url)
            read.http_status = response["http_status"]
            read.elapsed_ms = response["elapsed_ms"]
            read.body = response["body"]
            if response["outcome"] == "none":
                read.outcome = "none"
        for headers in self.transport.headers[headers_before:]:
            read.headers = headers
        body = _decoded(read.body)
        if read.body is not None:
            read.shape = shape_of(body)
        return read, (body if not read.failed else None)

    def skip(self, name: str, endpoint: str, why: str) -> None:
        """Record a read that could not be made (nothing to read it for)."""
        self.diagnosis.reads.append(Read(name, endpoint, error=why))


async def _diagnose(settings: Settings) -> Diagnosis:
    transport = _BoundedTransport(MAX_REQUESTS)
    async with RealtimeKitClient(settings, transport=transport) as client:
        doctor = _Doctor(settings, client, transport)
        await _read_everything(doctor)
        diagnosis = doctor.diagnosis
        diagnosis.requests = client.requests
        diagnosis.findings = _over_all_reads(client.responses, diagnosis.reads, settings)
    diagnosis.problem = _problem(diagnosis, settings)
    return diagnosis


async def _read_everything(doctor: _Doctor) -> None:
    client, settings, diagnosis = doctor.client, doctor.settings, doctor.diagnosis
    per_page = settings.per_page
    read, apps = await doctor.read("apps list, page 1", LIST_APPS, client.list_apps)
    found = [i["id"] for i in list_items(apps)[0] if isinstance(i, dict) and isinstance(i.get("id"), str)]
    if apps is not None:
        read.findings += _list_findings(apps, per_page, "apps")
        read.findings.append(_app_id_finding(found))
    app_id = settings.app_ids[0] if settings.app_ids else (found[0] if found else None)
    diagnosis.app_id = app_id
    if app_id is None:
        for name, endpoint in _APP_READS:
            doctor.skip(name, endpoint, "no app: REALTIMEKIT_APP_ID is unset and the account lists none")
        return
    read, everything = await doctor.read(
        "livestreams list, page 1", LIST_LIVESTREAMS, lambda: client.list_livestreams(app_id)
    )
    listed = [i for i in list_items(everything)[0] if isinstance(i, dict)]
    if everything is not None:
        read.findings += _list_findings(everything, per_page, "livestreams")
        read.findings += _livestream_findings(listed, "the list")
    filtered = {
        status: await _read_filtered(doctor, app_id, status, everything, listed)
        for status in ("LIVE", "INVOKED")
    }

    candidates = [
        *filtered["LIVE"],
        *(i for i in listed if _status(i) == "LIVE"),
        *filtered["INVOKED"],
        *listed,
    ]
    livestream_id = next((i["id"] for i in candidates if isinstance(i.get("id"), str)), None)
    if livestream_id is None:
        for name, endpoint in _APP_READS[3:6]:
            doctor.skip(name, endpoint, "no livestream listed in the app")
    else:
        session_id = await _read_livestream(doctor, app_id, livestream_id)
        if session_id is None:
            doctor.skip("session by id", SESSION_BY_ID, f"no session of livestream {livestream_id} known")
        else:
            read, body = await doctor.read(
                f"session by id ({session_id})",
                SESSION_BY_ID,
                lambda: client.session_by_id(app_id, session_id, livestream_id),
            )
            if body is not None:
                read.findings += _session_by_id_findings(body)
    await _read_analytics(doctor, app_id)


async def _read_filtered(
    doctor: _Doctor, app_id: str, status: str, everything: Any, listed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Read the list's first page filtered by status; return its items."""
    read, body = await doctor.read(
        f"livestreams list, status={status}",
        LIST_LIVESTREAMS,
        lambda: doctor.client.list_livestreams(app_id, status),
    )
    items = [i for i in list_items(body)[0] if isinstance(i, dict)]
    if body is not None:
        read.findings.append(_filter_finding(status, items, everything, listed))
    return items


# The reads after the apps list, in order (for the ones skipped when there is nothing to read them for).
_APP_READS = (
    ("livestreams list, page 1", LIST_LIVESTREAMS),
    ("livestreams list, status=LIVE", LIST_LIVESTREAMS),
    ("livestreams list, status=INVOKED", LIST_LIVESTREAMS),
    ("livestream details, page 1", LIVESTREAM_SESSIONS),
    ("active session", ACTIVE_SESSION),
    ("session by id", SESSION_BY_ID),
    ("daywise analytics, no times", ANALYTICS_DAYWISE),
    ("daywise analytics, last 7 days", ANALYTICS_DAYWISE),
    ("overall analytics, no times", ANALYTICS_OVERALL),
    ("overall analytics, last 7 days", ANALYTICS_OVERALL),
)


async def _read_livestream(doctor: _Doctor, app_id: str, livestream_id: str) -> str | None:
    """Read one livestream's details and active session; return a session id they show, if any."""
    client = doctor.client
    read, details = await doctor.read(
        f"livestream details, page 1 ({livestream_id})",
        LIVESTREAM_SESSIONS,
        lambda: client.livestream_sessions(app_id, livestream_id, 1, doctor.settings.per_page),
    )
    sessions: list[Any] = []
    if details is not None:
        findings, sessions = _details_findings(details)
        read.findings += findings
    read, active = await doctor.read(
        f"active session ({livestream_id})",
        ACTIVE_SESSION,
        lambda: client.active_session(app_id, livestream_id),
    )
    active_session = None
    if not read.failed:
        active_session = _active_session(active)
        read.findings += _active_findings(read, active, active_session)
    known = [s.get("id") for s in [active_session, *sessions] if isinstance(s, dict)]
    return next((s for s in known if isinstance(s, str) and s), None)


async def _read_analytics(doctor: _Doctor, app_id: str) -> None:
    """Daywise and overall analytics, each without and with times (the last UTC week on the API's clock)."""
    client = doctor.client
    now = _api_now(doctor.client.responses)
    first_day = (now - timedelta(days=ANALYTICS_DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    times = {"start_time": int(first_day.timestamp()), "end_time": int(now.timestamp())}
    daywise_path, overall_path = "/analytics/livestreams/daywise", "/analytics/livestreams/overall"
    reads: list[tuple[str, str, Callable[[], Awaitable[Any]], dict[str, int] | None]] = [
        (
            "daywise analytics, no times",
            ANALYTICS_DAYWISE,
            lambda: client.read_app_path(ANALYTICS_DAYWISE, app_id, daywise_path),
            None,
        ),
        (
            f"daywise analytics, {first_day:%Y-%m-%d} to now",
            ANALYTICS_DAYWISE,
            lambda: client.daywise(app_id, first_day, now),
            times,
        ),
        (
            "overall analytics, no times",
            ANALYTICS_OVERALL,
            lambda: client.read_app_path(ANALYTICS_OVERALL, app_id, overall_path),
            None,
        ),
        (
            f"overall analytics, {first_day:%Y-%m-%d} to now",
            ANALYTICS_OVERALL,
            lambda: client.read_app_path(ANALYTICS_OVERALL, app_id, overall_path, times),
            times,
        ),
    ]
    for name, endpoint, call, asked in reads:
        read, body = await doctor.read(name, endpoint, call)
        if body is None:
            if read.http_status in (400, 404, 422) and asked is None:
                read.findings.append(
                    Finding("analytics-times", "contradicts", f"without times: HTTP {read.http_status}")
                )
            continue
        if endpoint == ANALYTICS_DAYWISE:
            read.findings += _daywise_findings(body, asked)
        else:
            read.findings += _overall_findings(body, asked)


# --- what one answer shows ------------------------------------------------------------------------------


def _list_findings(body: Any, per_page: int, noun: str) -> list[Finding]:
    """The list shape, its paging, and whether per_page was honoured, from a first page."""
    findings = []
    data = body.get("data") if isinstance(body, dict) else None
    items, paging = list_items(body)
    top = isinstance(body, dict) and isinstance(body.get("paging"), dict)
    if isinstance(data, list) and top:
        findings.append(Finding("list-shape", "confirms", "data is an array, paging at the top level"))
    else:
        form = "an array without top-level paging" if isinstance(data, list) else _data_form(data)
        findings.append(Finding("list-shape", "contradicts", f"data is {form} (read all the same)"))
    if paging is None or paging.total_count is None or paging.end_offset is None:
        findings.append(Finding("paging", "contradicts", "no paging{total_count, start_offset, end_offset}"))
        return findings
    total, start, end = paging.total_count, paging.start_offset, paging.end_offset
    described = f"start_offset {start}, end_offset {end}, total_count {total}, {len(items)} {noun}"
    one_based = (start == 1 and end == len(items)) if items else total == 0
    verdict: Verdict = "confirms" if one_based else "contradicts"
    findings.append(Finding("paging", verdict, f"1-based inclusive offsets on page 1: {described}"))
    ends = end >= total
    if ends == (len(items) >= total):
        findings.append(
            Finding(
                "paging-end",
                "confirms",
                "end_offset reaches total_count" if ends else "paging says more remain",
            )
        )
    else:
        findings.append(Finding("paging-end", "contradicts", f"paging and items disagree: {described}"))
    if len(items) >= per_page:
        findings.append(
            Finding("per-page", "confirms", f"per_page={per_page} honoured ({len(items)} {noun})")
        )
    elif total > len(items):
        findings.append(
            Finding(
                "per-page",
                "contradicts",
                f"asked {per_page}, got {len(items)} of {total}: the server caps per_page (paging goes on)",
            )
        )
    else:
        findings.append(Finding("per-page", "not shown", f"all {total} {noun} fit on one page of {per_page}"))
    return findings


def _app_id_finding(ids: list[str]) -> Finding:
    """Whether the listed app ids fit REALTIMEKIT_APP_ID's limit of MAX_ID_LENGTH characters."""
    if not ids:
        return Finding("app-id-length", "not shown", "no app listed")
    longest = max(len(i) for i in ids)
    verdict: Verdict = "confirms" if longest <= MAX_ID_LENGTH else "contradicts"
    return Finding(
        "app-id-length",
        verdict,
        f"the longest app id listed has {longest} characters (REALTIMEKIT_APP_ID: at most {MAX_ID_LENGTH})",
    )


def _livestream_findings(items: list[dict[str, Any]], where: str) -> list[Finding]:
    """Statuses, `disabled`, timestamps and stream keys of livestream objects."""
    if not items:
        return [Finding("statuses", "not shown", f"no livestream in {where}")]
    findings = []
    statuses = Counter(_status(i) or "(none)" for i in items)
    seen = ", ".join(f"{s} x{n}" for s, n in statuses.most_common())
    unknown = sorted(set(statuses) - set(KNOWN_STATUSES))
    if unknown:
        findings.append(
            Finding("statuses", "contradicts", f"statuses seen: {seen}; not known: {', '.join(unknown)}")
        )
    else:
        findings.append(Finding("statuses", "confirms", f"statuses seen: {seen}"))
    kinds = Counter(_json_kind(i.get("disabled")) for i in items)
    odd = [k for k in kinds if k not in ("bool", "str(true/false)")]
    verdict: Verdict = "contradicts" if odd else "confirms"
    findings.append(Finding("disabled-type", verdict, "disabled: " + _counted(kinds)))
    findings.append(_timestamp_finding(items, where))
    findings.append(_stream_key_finding(items, where))
    updated = sum(isinstance(i.get("updated_at"), str) for i in items)
    findings.append(
        Finding(
            "updated-at-trigger",
            "not shown",
            f"updated_at on {updated} of {len(items)} livestreams; whether it moves with a session needs "
            "two listings around a start or stop",
        )
    )
    return findings


def _filter_finding(
    status: str, items: list[dict[str, Any]], everything: Any, listed: list[dict[str, Any]]
) -> Finding:
    """Whether the list's status filter is honoured: every item returned has that status."""
    matching = sum(_status(i) == status for i in items)
    in_full = sum(_status(i) == status for i in listed)
    if items:
        verdict: Verdict = "confirms" if matching == len(items) else "contradicts"
        word = "yes" if verdict == "confirms" else "no"
        whole = f"; the whole list shows {in_full}" if _is_last_page(everything) else ""
        return Finding(
            "status-filter",
            verdict,
            f"list status filter honoured: {word} ({matching} of {len(items)} items {status}{whole})",
        )
    if in_full and _is_last_page(everything):
        return Finding(
            "status-filter",
            "contradicts",
            f"status={status} listed nothing, the whole list shows {in_full} {status}",
        )
    return Finding("status-filter", "not shown", f"no {status} livestream now (status={status} listed none)")


def _details_findings(body: Any) -> tuple[list[Finding], list[Any]]:
    """The details' form, the order of its sessions and their figures; and its sessions."""
    findings = []
    data = body.get("data") if isinstance(body, dict) else None
    livestream, sessions, paging = session_items(body)
    form = (
        "sessions array"
        if isinstance(data, dict) and isinstance(data.get("sessions"), list)
        else "single session"
    )
    where = "inside data" if isinstance(data, dict) and "paging" in data else "at the top level"
    if not isinstance(data, dict) or not ("sessions" in data or "session" in data):
        form = "no session key"
    findings.append(
        Finding(
            "details-shape",
            "confirms" if livestream is not None else "contradicts",
            f"data.livestream {'present' if livestream is not None else 'absent'}, {form}, "
            + (f"paging {where}" if paging is not None else "no paging"),
        )
    )
    if livestream is not None:
        findings.append(_stream_key_finding([livestream], "the details"))
    records = [s for s in sessions if isinstance(s, dict)]
    created = [parse_instant(s.get("created_at")) for s in records]
    known = [c for c in created if c is not None]
    if len(known) < 2:
        findings.append(Finding("session-order", "not shown", f"{len(records)} session(s) on page 1"))
    else:
        newest_first = all(a >= b for a, b in itertools.pairwise(known))
        findings.append(
            Finding(
                "session-order",
                "confirms" if newest_first else "contradicts",
                f"{len(known)} sessions by created_at: "
                + ("newest first" if newest_first else "not newest first"),
            )
        )
    if records:
        findings.append(_figure_finding(records, "details"))
        findings.append(_timestamp_finding(records, "the details' sessions"))
    return findings, records


def _active_session(body: Any) -> dict[str, Any] | None:
    data = body.get("data") if isinstance(body, dict) else None
    session = data.get("session") if isinstance(data, dict) else None
    return session if isinstance(session, dict) else None


def _active_findings(read: Read, body: Any, session: dict[str, Any] | None) -> list[Finding]:
    """How 'nothing active' was said, or the active session's figures and stop time."""
    if session is None:
        form = _nothing_active_form(read.http_status, body)
        return [Finding("nothing-active", "confirms", f"no active session, said as {form}")]
    findings = [
        Finding("nothing-active", "not shown", "a session is active"),
        _figure_finding([session], "active session"),
        _timestamp_finding([session], "the active session"),
    ]
    data = body.get("data") if isinstance(body, dict) else None
    livestream = data.get("livestream") if isinstance(data, dict) else None
    if isinstance(livestream, dict):
        findings.append(_stream_key_finding([livestream], "the active session"))
    stopped = session.get("stopped_time")
    findings.append(
        Finding(
            "active-after-stop",
            "confirms" if stopped else "not shown",
            "the active endpoint shows a stopped session (read as a read after the stop)"
            if stopped
            else "the session shown is running (stopped_time null)",
        )
    )
    figures = [session.get(name) for name in FIGURES]
    if all(_number(value) == 60 for value in figures):
        findings.append(
            Finding("placeholder", "confirms", "both figures read 60: the documented placeholder")
        )
    return findings


def _nothing_active_form(status: int | None, body: Any) -> str:
    if status == 404:
        return f"HTTP 404 {_envelope(body)}"
    if not isinstance(body, dict) or "data" not in body:
        return f"HTTP {status}, no data"
    if body.get("success") is False:
        return f"HTTP {status}, success false {_envelope(body)}"
    if body["data"] is None:
        return f"HTTP {status}, data null"
    return f"HTTP {status}, data.session " + ("null" if "session" in body["data"] else "absent")


def _session_by_id_findings(body: Any) -> list[Finding]:
    """The session record's figures, timestamps, and how long after the stop it was last updated."""
    session = body.get("data") if isinstance(body, dict) else None
    if not isinstance(session, dict):
        return [Finding("session-by-id-shape", "contradicts", f"data is {_data_form(session)}")]
    findings = [
        Finding("session-by-id-shape", "confirms", "data is the session object"),
        _figure_finding([session], "session by id"),
        _timestamp_finding([session], "the session"),
    ]
    stopped, updated = parse_instant(session.get("stopped_time")), parse_instant(session.get("updated_at"))
    if stopped is None or updated is None:
        findings.append(Finding("final-lag", "not shown", "the session is not stopped"))
    else:
        lag = (updated - stopped).total_seconds()
        findings.append(
            Finding(
                "final-lag",
                "confirms" if lag >= 0 else "contradicts",
                f"updated_at {lag:.0f} s after stopped_time",
            )
        )
    return findings


def _daywise_findings(body: Any, asked: dict[str, int] | None) -> list[Finding]:
    """Daywise: an array of days, their date form, integer totals, and the range asked or defaulted."""
    days = body.get("data") if isinstance(body, dict) else None
    if not isinstance(days, list):
        return [Finding("daywise-shape", "contradicts", f"data is {_data_form(days)}")]
    records = [d for d in days if isinstance(d, dict)]
    findings = [Finding("daywise-shape", "confirms", f"data is an array of {len(records)} day(s)")]
    forms = Counter(_date_form(d.get("date")) for d in records)
    if records:
        odd = [f for f in forms if f not in ("YYYY-MM-DD", "YYYY-MM-DDThh:mm:ss.fffZ (midnight)")]
        findings.append(
            Finding("daywise-date", "contradicts" if odd else "confirms", "date: " + _counted(forms))
        )
        findings.append(_integer_finding(records))
    dates = sorted(str(d.get("date"))[:10] for d in records if isinstance(d.get("date"), str))
    covered = f"{dates[0]} to {dates[-1]}" if dates else "no day"
    if asked is None:
        findings.append(Finding("analytics-times", "confirms", f"answered without times: {covered}"))
    else:
        first = datetime.fromtimestamp(asked["start_time"], UTC).date().isoformat()
        last = datetime.fromtimestamp(asked["end_time"], UTC).date().isoformat()
        inside = all(first <= d <= last for d in dates)
        findings.append(
            Finding(
                "analytics-times",
                "confirms" if inside else "contradicts",
                f"asked {first} to {last} (Unix seconds), got {covered}",
            )
        )
    return findings


def _overall_findings(body: Any, asked: dict[str, int] | None) -> list[Finding]:
    """Overall: one object of integer totals."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not set(TOTALS) <= set(data):
        return [Finding("overall-shape", "contradicts", f"data is {_data_form(data)}")]
    findings = [
        Finding("overall-shape", "confirms", "data is {count, total_ingest_seconds, total_viewer_seconds}")
    ]
    findings.append(_integer_finding([data]))
    when = "without times" if asked is None else "with Unix-seconds times"
    findings.append(Finding("analytics-times", "confirms", f"answered {when}"))
    return findings


def _integer_finding(records: list[dict[str, Any]]) -> Finding:
    kinds = Counter(f"{name}: {_json_kind(r.get(name))}" for r in records for name in TOTALS)
    fractional = [k for k in kinds if not k.endswith(": int")]
    verdict: Verdict = "contradicts" if fractional else "confirms"
    return Finding("analytics-integers", verdict, _counted(kinds))


def _figure_finding(records: list[dict[str, Any]], where: str) -> Finding:
    kinds = Counter(f"{name}: {_json_kind(r.get(name))}" for r in records for name in FIGURES)
    odd = [k for k in kinds if k.split(": ")[1] not in ("int", "float", "str(number)", "null")]
    verdict: Verdict = "contradicts" if odd else "confirms"
    return Finding("figure-types", verdict, f"{where}: {_counted(kinds)}")


def _timestamp_finding(records: list[dict[str, Any]], where: str) -> Finding:
    forms = Counter(
        _date_form(r[name])
        for r in records
        for name in TIMESTAMP_FIELDS
        if isinstance(r.get(name), str) and r[name]
    )
    if not forms:
        return Finding("timestamps", "not shown", f"no timestamp in {where}")
    odd = [f for f in forms if "no zone" in f or not f.startswith("YYYY-MM-DD") or f == "YYYY-MM-DD"]
    verdict: Verdict = "contradicts" if odd else "confirms"
    return Finding("timestamps", verdict, f"{where}: {_counted(forms)}")


def _stream_key_finding(items: list[dict[str, Any]], where: str) -> Finding:
    keys = [i.get("stream_key") for i in items if "stream_key" in i]
    if not keys:
        return Finding("stream-key", "not shown", f"no stream_key in {where}")
    clear = [k for k in keys if k not in (None, "") and not (isinstance(k, str) and REDACTED.match(k))]
    if clear:
        return Finding("stream-key", "contradicts", f"{len(clear)} stream_key(s) in {where} not redacted")
    return Finding(
        "stream-key", "confirms", f"stream_key on {len(keys)} of {len(items)} in {where}, every one redacted"
    )


# --- over every read -------------------------------------------------------------------------------------


def _over_all_reads(responses: list[dict[str, Any]], reads: list[Read], settings: Settings) -> list[Finding]:
    """The Date and Ratelimit headers, the error envelopes, and the normalization's parse issues."""
    from streamledger.transforms.normalize import normalize_responses

    findings = []
    answered = [r for r in reads if r.http_status is not None]
    if not answered:
        return [Finding("date-header", "not shown", "no answer")]
    dated = [r for r in responses if r["server_date"] is not None]
    if dated:
        skews = [(r["server_date"] - r["fetched_at"]).total_seconds() for r in dated]
        skew = sorted(skews)[len(skews) // 2]
        text = f"Date on {len(dated)} of {len(responses)} answers; the API's clock is {skew:+.0f} s from ours"
        findings.append(
            Finding("date-header", "confirms" if len(dated) == len(responses) else "contradicts", text)
        )
    else:
        findings.append(
            Finding("date-header", "contradicts", "no Date header: readings take our receive time")
        )
    limited = [r.headers["ratelimit"] for r in answered if "ratelimit" in r.headers]
    policies = sorted({r.headers["ratelimit-policy"] for r in answered if "ratelimit-policy" in r.headers})
    if limited:
        text = f"Ratelimit on {len(limited)} of {len(answered)} answers, last {limited[-1]}"
        findings.append(Finding("ratelimit-headers", "confirms", text))
    else:
        findings.append(
            Finding("ratelimit-headers", "contradicts", "no Ratelimit header: the budget counts alone")
        )
    findings += _policy_findings(policies, settings)
    shown = [_envelope(_decoded(r.body)) for r in reads if r.outcome in ("error", "none") and r.body]
    envelopes = Counter(e for e in shown if e != "no error envelope")
    if envelopes:
        known = all(e in ("errors[] (v4)", "error{} (RealtimeKit)") for e in envelopes)
        findings.append(
            Finding("error-envelope", "confirms" if known else "contradicts", _counted(envelopes))
        )
    else:
        findings.append(Finding("error-envelope", "not shown", "no read failed with a body"))
    # The analytics reads without times are shape checks: a poll always sends its window.
    polled = [
        r
        for r in responses
        if not (
            r["endpoint"] in (ANALYTICS_DAYWISE, ANALYTICS_OVERALL) and "start_time=" not in r["request_path"]
        )
    ]
    issues = normalize_responses(polled).issues
    if issues.height:
        seen = Counter(f"{f}: {r}" for f, r in issues.select("field", "reason").iter_rows())
        findings.append(Finding("parse", "contradicts", f"{issues.height} parse issue(s): {_counted(seen)}"))
    else:
        findings.append(
            Finding("parse", "confirms", f"the normalization read {len(polled)} answers without an issue")
        )
    return findings


def _policy_findings(policies: list[str], settings: Settings) -> list[Finding]:
    """Whether the API's Ratelimit-Policy states our budget window and the 250 per 10 s burst cap."""
    ours = (settings.budget_requests, settings.budget_window_seconds)
    stated = [(int(m["q"]), float(m["w"])) for p in policies for m in _POLICY_ITEM.finditer(p)]
    if not stated:
        text = f"no Ratelimit-Policy quota (our budget: {ours[0]} per {ours[1]:g} s)"
        return [Finding("budget", "not shown", text), Finding("burst", "not shown", text)]
    said = "; ".join(policies)
    budget: Verdict = "confirms" if ours in stated else "contradicts"
    burst: Verdict = "confirms" if (250, 10.0) in stated else "not shown"
    return [
        Finding(
            "budget",
            budget,
            f"Ratelimit-Policy {said}; our budget {ours[0]} per {ours[1]:g} s "
            "(STREAMLEDGER_BUDGET_REQUESTS, STREAMLEDGER_BUDGET_WINDOW_SECONDS)",
        ),
        Finding("burst", burst, f"Ratelimit-Policy {said}"),
    ]


# --- the one line that says what is wrong --------------------------------------------------------------


def _problem(diagnosis: Diagnosis, settings: Settings) -> str | None:
    failed = [r for r in diagnosis.reads if r.failed]
    if not failed:
        return None
    first = next((r for r in failed if r.outcome == "error"), failed[0])
    more = f" ({len(failed) - 1} more read(s) failed)" if len(failed) > 1 else ""
    return f"doctor --api: {first.name}: {first.error}; {fix_for(first, settings)}{more}"


def what_failed(error: ApiError) -> str:
    """An API error without the endpoint and subject the read's name already gives."""
    what = f"HTTP {error.status}" if error.status is not None else "no response"
    if error.code is not None:
        what += f", code {error.code}"
    return f"{what}: {error.api_message}"


def fix_for(read: Read, settings: Settings) -> str:
    """The setting (or step) that fixes a failed read."""
    error = read.failure
    status = error.status if error is not None else None
    if error is not None and error.is_auth_error:
        if status == 400:
            return "CLOUDFLARE_API_TOKEN is not a well-formed token (a space, quote or newline in it?)"
        return (
            "set CLOUDFLARE_API_TOKEN to a token with the Realtime or Realtime Admin permission on account "
            "CLOUDFLARE_ACCOUNT_ID (and check CLOUDFLARE_ACCOUNT_ID)"
        )
    if error is not None and "STREAMLEDGER_MAX_BODY_BYTES" in error.api_message:
        return "the answer is larger than a poll reads either; report its size (--save DIR keeps the others)"
    if error is not None and "STREAMLEDGER_REQUEST_DEADLINE_SECONDS" in error.api_message:
        return "raise --timeout, or check CLOUDFLARE_BASE_URL and the network (the answer came too slowly)"
    if status is None:
        if error is not None and "timed out" in error.api_message:
            return "raise --timeout, or check CLOUDFLARE_BASE_URL and the network"
        return f"check CLOUDFLARE_BASE_URL ({settings.base_url}) and the network"
    if status == 404 and read.endpoint == LIST_APPS:
        return "check CLOUDFLARE_ACCOUNT_ID (the account has no RealtimeKit apps path)"
    if status == 404 and settings.app_ids and read.endpoint in (LIST_LIVESTREAMS, ANALYTICS_DAYWISE):
        return "check REALTIMEKIT_APP_ID (its first app is the one read)"
    if status == 429:
        return (
            "the token's budget is spent (by another user of it?): wait for Retry-After; "
            "see STREAMLEDGER_BUDGET_REQUESTS"
        )
    if status >= 500:
        return "the API failed: try again later"
    if 200 <= status < 300:
        return "the answer is in a shape streamledger does not read: --save DIR keeps it for a bug report"
    return "see docs/api-assumptions.md; --save DIR keeps the answers for a bug report"


# --- small readers ---------------------------------------------------------------------------------------


def shape_of(value: Any, depth: int = 0) -> str:
    """A compact structural summary of a decoded JSON value: keys and JSON types, no values."""
    if isinstance(value, dict):
        if depth >= 4:
            return "{...}"
        return "{" + ", ".join(f"{k}: {shape_of(v, depth + 1)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(isinstance(item, dict) for item in value):
            merged: dict[str, list[str]] = {}
            for item in value:
                for key, member in item.items():
                    kinds = merged.setdefault(key, [])
                    if (kind := shape_of(member, depth + 2)) not in kinds:
                        kinds.append(kind)
            inner = "{" + ", ".join(f"{k}: {'|'.join(v)}" for k, v in merged.items()) + "}"
        else:
            inner = "|".join(dict.fromkeys(shape_of(item, depth + 1) for item in value))
        return f"[{len(value)} x {inner}]"
    return _json_kind(value)


def _json_kind(value: Any) -> str:
    """A scalar's JSON type; strings say whether they hold a timestamp, a number or a redaction."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        if REDACTED.match(value):
            return "str(redacted)"
        if value.strip().lower() in ("true", "false"):
            return "str(true/false)"
        if _ISO.match(value.strip()):
            return f"str({_date_form(value)})"
        try:
            float(value)
        except ValueError:
            return "str"
        return "str(number)"
    return "object" if isinstance(value, dict) else "array"


def _date_form(value: Any) -> str:
    """A timestamp's layout, e.g. YYYY-MM-DDThh:mm:ss.fffZ, without its digits."""
    if not isinstance(value, str):
        return _json_kind(value)
    matched = _ISO.match(value.strip())
    if matched is None:
        return "not ISO 8601"
    if matched["sep"] is None:
        return "YYYY-MM-DD"
    form = f"YYYY-MM-DD{matched['sep'].upper()}hh:mm"
    if ":" in value.strip()[14:]:
        form += ":ss"
    if matched["fraction"]:
        form += "." + "f" * (len(matched["fraction"]) - 1)
    zone = matched["zone"]
    form += ("Z" if zone.upper() == "Z" else "+hh:mm") if zone else " (no zone)"
    if value.strip()[11:19] == "00:00:00" and form.startswith("YYYY-MM-DDT"):
        form += " (midnight)"
    return form


def _envelope(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        return "errors[] (v4)"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return "error{} (RealtimeKit)"
    if isinstance(body, dict) and "message" in body:
        return "{message}"
    return "no error envelope"


def _data_form(data: Any) -> str:
    if isinstance(data, dict):
        return "an object with " + (", ".join(data) or "no keys")
    return {type(None): "null or absent", list: "an array", str: "a string"}.get(
        type(data), type(data).__name__
    )


def _counted(counts: Counter[str]) -> str:
    return ", ".join(f"{key} x{n}" for key, n in counts.most_common())


def _status(item: dict[str, Any]) -> str:
    return str(item.get("status") or "").strip().upper()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _is_last_page(body: Any) -> bool:
    paging = list_items(body)[1]
    return paging is not None and paging.is_last_page()


def _decoded(text: str | None) -> Any:
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _api_now(responses: Iterable[dict[str, Any]]) -> datetime:
    """The API's clock (the last Date header seen), else ours: analytics ranges are on the API's days."""
    dates = [r["server_date"] for r in responses if r["server_date"] is not None]
    return dates[-1] if dates else datetime.now(UTC)


def run_doctor(settings: Settings, *, timeout_seconds: float, as_json: bool, save: Path | None) -> int:
    """Diagnose, print the result (text or JSON), save the bodies if asked; raise the problem, if any."""
    if not timeout_seconds > 0:
        raise StreamledgerError(f"--timeout must be a positive number of seconds, got {timeout_seconds:g}")
    diagnosis = diagnose(settings.with_api(), timeout_seconds=timeout_seconds)
    if as_json:
        print(orjson.dumps(diagnosis.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        print("\n".join(diagnosis.lines()))
    if save is not None:
        written = diagnosis.save(save)
        print(f"saved {len(written)} files (bodies redacted) to {save}", file=sys.stderr)
    if diagnosis.problem is not None:
        raise StreamledgerError(diagnosis.problem)
    return 0
