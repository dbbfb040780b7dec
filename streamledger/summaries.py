"""What the Prefect UI shows of a run: the hint beside a failure, and the markdown summaries of a poll, a
reconcile's differences and an export. Pure text from what the stages returned; the flows publish it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from streamledger.errors import (
    ApiError,
    ConfigError,
    DatabaseBusy,
    DatabaseUnusable,
    StorageError,
    StreamledgerError,
    WarehouseError,
)
from streamledger.poll import FetchedPoll, PollRun

DOCTOR = "`streamledger doctor` checks the settings, the database and the API"
MAX_PROBLEMS = 20  # lines of a poll's problems a summary lists
MAX_DIFFERENCES = 40  # reconciliation rows a summary lists
_STATUS = re.compile(r"\bHTTP (\d{3})\b")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>|#])")
# What each of a poll's reads is, in the order the poll spends its allowance (poll.PLAN_COUNTS).
READS = (
    ("final", "sessions to finalize"),
    ("live", "live sessions"),
    ("sweep", "livestream sweeps"),
    ("list", "listing pages"),
)


def hint(cause: BaseException | str) -> str:
    """Return what to do about a failure: the setting or command that fixes it, in one sentence."""
    if isinstance(cause, DatabaseBusy):
        return (
            "another process held the database longer than `STREAMLEDGER_LOCK_WAIT_SECONDS`: the poll stays "
            "landed and the next run loads it"
        )
    if isinstance(cause, DatabaseUnusable):
        return (
            "fix what the message names (the database file, or the disk under it); polls wait landed until "
            f"it can be used and are loaded then. {DOCTOR}"
        )
    if isinstance(cause, StorageError):
        return (
            "free space on, or fix the folder the message names (or point its setting elsewhere); "
            f"nothing half-written is kept. {DOCTOR}"
        )
    if isinstance(cause, WarehouseError):
        return f"the message names the database file; {DOCTOR}, `streamledger status --check` its contents"
    if isinstance(cause, ConfigError):
        return f"change the setting the message names (see docs/settings.md); {DOCTOR}"
    if isinstance(cause, ApiError):
        return _api_hint(cause.status, cause.is_auth_error)
    text = str(cause)
    if text.startswith("stale:"):
        return (
            "no poll has succeeded for that long: the runs before this one say why; `streamledger status` "
            "shows the last polls"
        )
    if isinstance(cause, StreamledgerError):
        return DOCTOR
    status = _STATUS.search(text)
    if status is not None:
        code = int(status.group(1))
        return _api_hint(code, code in (401, 403))
    if "no response" in text:
        return _api_hint(None, False)
    return DOCTOR


def _api_hint(status: int | None, auth: bool) -> str:
    if auth:
        return (
            "the API refused the token or the account: check `CLOUDFLARE_API_TOKEN` (Realtime read access) "
            f"and `CLOUDFLARE_ACCOUNT_ID`; {DOCTOR}"
        )
    if status == 404:
        return (
            "the API does not know what was asked for: check `CLOUDFLARE_BASE_URL` (it ends in /client/v4), "
            f"`CLOUDFLARE_ACCOUNT_ID` and `REALTIMEKIT_APP_ID`; {DOCTOR}"
        )
    if status is None:
        return f"the API did not answer: check `CLOUDFLARE_BASE_URL` and the network; {DOCTOR}"
    return f"the API kept failing; the next run tries again. {DOCTOR}"


def poll_facts(poll: PollRun | FetchedPoll) -> dict[str, Any]:
    """Return what a summary says of a poll: its ledger row, or, for a poll that was not loaded, what its
    fetch recorded (no counts of livestreams, sessions or parse issues: those come from the load)."""
    if isinstance(poll, PollRun):
        return {name: getattr(poll, name) for name in poll.__dataclass_fields__}
    problems = [poll.fatal] if poll.fatal else []
    return {
        "poll_id": poll.poll_id,
        "kind": poll.kind,
        "started_at": poll.started_at,
        "app_ids": poll.app_ids,
        "outcome": poll.outcome,
        "message": "\n".join([*problems, *(e for e in poll.errors if e != poll.fatal)]) or None,
        "requests": poll.requests,
        "retries": poll.retries,
        "rate_limited": poll.rate_limited,
        "transport_errors": poll.transport_errors,
        "failed_calls": poll.failed_calls,
        "allowance": poll.allowance,
        "discovery_requests": poll.discovery_requests,
        "listing": poll.listing,
        "budget": poll.budget,
        "network_seconds": round(poll.network_seconds, 4),
        **poll.plan,
    }


def poll_markdown(facts: Mapping[str, Any], *, cause: str | None = None, note: str | None = None) -> str:
    """Return a poll's summary: outcome, the cause and what to do when it failed, counts, budget, the reads
    planned and deferred, and its problems."""
    outcome = "not loaded" if cause is not None and facts["outcome"] != "failed" else facts["outcome"]
    lines = [f"## {facts['kind'].capitalize()} poll `{facts['poll_id']}`: **{outcome}**", ""]
    problems = (facts.get("message") or "").splitlines()
    why = cause or (problems[0] if facts["outcome"] == "failed" and problems else None)
    if why is not None:
        lines += [f"**Cause:** {text(why)}", "", f"**What to do:** {hint(why)}", ""]
    if note:
        lines += [text(note), ""]
    lines += [
        "| | |",
        "|:--|:--|",
        f"| apps | {text(', '.join(facts['app_ids']) or 'none found')} |",
        *(
            f"| {label} | {facts[name]:,} |"
            for name, label in (
                ("livestreams", "livestreams seen"),
                ("sessions", "sessions read"),
                ("parse_issues", "parse issues"),
            )
            if facts.get(name) is not None and facts["kind"] == "snapshot"
        ),
        f"| requests | {_requests(facts)} |",
        f"| budget | {text(facts.get('budget') or 'none')} |",
        f"| listing | {_listing(facts.get('listing'))} |",
        f"| started | {_instant(facts['started_at'])} |",
        f"| took | {_took(facts)} |",
        "",
    ]
    if facts["kind"] == "snapshot":
        lines += _reads(facts)
    if problems:
        shown = problems[:MAX_PROBLEMS]
        lines += [f"**Problems** ({len(problems)}):", "", *(f"- {text(line)}" for line in shown)]
        if len(problems) > len(shown):
            lines.append(f"- ... and {len(problems) - len(shown)} more (poll_runs.message)")
        lines.append("")
    return "\n".join(lines)


def failure_markdown(kind: str, cause: BaseException | str) -> str:
    """Return the summary of a run that failed before it had a poll to describe."""
    return "\n".join(
        [
            f"## {kind.capitalize()}: **failed**",
            "",
            f"**Cause:** {text(str(cause))}",
            "",
            f"**What to do:** {hint(cause)}",
            "",
        ]
    )


def _requests(facts: Mapping[str, Any]) -> str:
    # Without an allowance (a reconcile: its few reads are not planned against one) discovery is not told
    # apart from the rest.
    planned = bool(facts["allowance"])
    parts = [
        f"{facts[name]:,} {label}"
        for name, label in (
            ("discovery_requests", "to discover"),
            ("retries", "retried"),
            ("rate_limited", "rate-limited"),
            ("transport_errors", "transport errors"),
            ("failed_calls", "failed"),
        )
        if facts.get(name) and (planned or name != "discovery_requests")
    ]
    allowance = f" of an allowance of {facts['allowance']:,}" if planned else ""
    return f"{facts['requests']:,}{allowance}" + (f" ({', '.join(parts)})" if parts else "")


def _listing(listing: str | None) -> str:
    if listing == "fallback":
        return "every page (the API ignored the status filter)"
    return listing or "none"


def _took(facts: Mapping[str, Any]) -> str:
    steps = [
        f"{facts[name]:.2f} s {label}"
        for name, label in (
            ("network_seconds", "network"),
            ("normalize_seconds", "normalize"),
            ("load_seconds", "load"),
        )
        if facts.get(name) is not None
    ]
    return ", ".join(steps)


def _reads(facts: Mapping[str, Any]) -> list[str]:
    lines = ["| reads | planned | deferred to the next poll |", "|:--|--:|--:|"]
    lines += [
        f"| {label} | {facts.get(f'planned_{name}', 0):,} | {facts.get(f'deferred_{name}', 0):,} |"
        for name, label in READS
    ]
    deferred = sum(facts.get(f"deferred_{name}", 0) for name, _ in READS)
    if deferred:
        lines += ["", f"{deferred:,} reads did not fit in this poll's allowance; the next polls make them."]
    return [*lines, ""]


def reconcile_markdown(
    facts: Mapping[str, Any],
    days: Sequence[Mapping[str, Any]],
    *,
    first_day: date,
    last_day: date,
    unread: str | None = None,
) -> str:
    """Return a reconcile's summary: its poll, then Cloudflare's daywise totals beside the warehouse's for
    the days it read (rows of sql/reports/reconciliation.sql): verdicts counted, each difference listed;
    `unread` says why the rows could not be read."""
    heading = f"### Cloudflare against the warehouse, {first_day} to {last_day} (UTC)"
    lines = [poll_markdown(facts), heading, ""]
    if unread is not None:
        return "\n".join([*lines, f"The comparison could not be read: {text(unread)}", ""])
    if not days:
        return "\n".join([*lines, "No day of the period has Cloudflare's totals or a session.", ""])
    counts = {verdict: sum(1 for day in days if day["verdict"] == verdict) for verdict in _VERDICTS}
    lines += ["App-days: " + ", ".join(f"{n} {_VERDICTS[v]}" for v, n in counts.items() if n), ""]
    differing = sorted(
        (day for day in days if day["verdict"] != "agrees"),
        key=lambda day: (list(_VERDICTS).index(day["verdict"]), str(day["day"]), day["app_id"]),
    )
    if not differing:
        return "\n".join([*lines, "Every day agrees within its tolerance.", ""])
    lines += [
        "| app | day | sessions (Cloudflare / warehouse) | ingest s, warehouse minus Cloudflare "
        "| viewer s, warehouse minus Cloudflare | tolerance s | verdict | why |",
        "|:--|:--|--:|--:|--:|--:|:--|:--|",
    ]
    for day in differing[:MAX_DIFFERENCES]:
        cells = [
            text(day["app_id"]),
            str(day["day"]),
            f"{_figure(day['cloudflare_sessions'])} / {_figure(day['warehouse_sessions'])}",
            _figure(day["ingest_difference_seconds"]),
            _figure(day["viewer_difference_seconds"]),
            _figure(day["tolerance_seconds"]),
            day["verdict"],
            text(day["verdict_reason"] or ""),
        ]
        lines.append(f"| {' | '.join(cells)} |")
    if len(differing) > MAX_DIFFERENCES:
        more = len(differing) - MAX_DIFFERENCES
        lines.append(f"\n... and {more} more: `streamledger report reconciliation`")
    return "\n".join([*lines, ""])


_VERDICTS = {"differs": "differ", "not final": "not final", "agrees": "agree"}  # verdict: the plural verb


def export_markdown(manifest: Mapping[str, Any], directory: str) -> str:
    """Return an export's summary: where it is, whether it is complete and why not, its totals, the
    cross-check with Cloudflare and the files."""
    coverage, totals = manifest["coverage"], manifest["totals"]
    cross = manifest["cloudflare_cross_check"]
    apps = cross["apps"]
    state = "complete" if coverage["complete"] else "not complete"
    lines = [
        f"## Export of {manifest['month']}: **{state}**",
        "",
        f"**Folder:** `{directory}`",
        "",
        *(f"- {text(note)}" for note in coverage["notes"]),
        *([""] if coverage["notes"] else []),
        "| totals | |",
        "|:--|--:|",
        f"| sessions | {totals['sessions']:,} ({totals['sessions_not_final']:,} not final) |",
        f"| ingest minutes | {totals['ingest_minutes']} |",
        f"| viewer minutes | {totals['viewer_minutes']} |",
        f"| estimated cost | {totals['estimated_cost_usd']} USD at {manifest['price_per_ingest_minute_usd']} "
        "per ingest minute |",
        f"| snapshot polls | {coverage['polls']['snapshot_polls']:,} |",
        "",
        f"**Cloudflare's totals:** {cross['verdict']}"
        + "".join(f"; {text(app['app_id'])}: {text(app['verdict_reason'] or 'agrees')}" for app in apps)
        + (f". {text(cross['note'])}" if cross.get("note") else ""),
        "",
        "| file | rows | bytes | sha256 |",
        "|:--|--:|--:|:--|",
        *(
            f"| {file['name']} | {file['rows']:,} | {file['bytes']:,} | `{file['sha256'][:16]}…` |"
            for file in manifest["files"]
        ),
        "",
    ]
    return "\n".join(lines)


def text(value: object) -> str:
    """Return `value` as one line of markdown text: its markup characters escaped, line breaks as spaces."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(value).split()))


def _figure(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return f"{value:,}" if isinstance(value, int) else str(value)


def _instant(value: datetime | None) -> str:
    return "unknown" if value is None else f"{value:%Y-%m-%d %H:%M:%S} UTC"


def tags_of(kind: str, app_ids: Iterable[str]) -> list[str]:
    """Return a run's tags: its kind, and one `app:<id>` per app it read."""
    return [kind, *(f"app:{app}" for app in app_ids)]
