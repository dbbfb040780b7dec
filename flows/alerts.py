"""The alerts `serve` sets up: Prefect automations on a failed snapshot run, on no completed snapshot run for
STREAMLEDGER_ALERT_AFTER_SECONDS, and on a monthly export still incomplete on its last scheduled day, each
notifying STREAMLEDGER_ALERT_URL (an apprise URL) through a notification block."""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import cast
from urllib.parse import urlsplit
from uuid import UUID

from prefect.blocks.notifications import SlackWebhook
from prefect.client.orchestration import get_client
from prefect.events.actions import ActionTypes as Action
from prefect.events.actions import DoNothing, SendNotification, UnknownAction
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.settings import PREFECT_UI_URL
from pydantic import SecretStr

from streamledger.errors import ConfigError
from streamledger.flows.export import INCOMPLETE_EVENT
from streamledger.settings import Settings

BLOCK = "streamledger-alerts"
SNAPSHOT_FAILED = "streamledger: a snapshot run failed"
NO_SNAPSHOT = "streamledger: no completed snapshot run"
EXPORT_INCOMPLETE = "streamledger: the monthly export is incomplete on its last day"
NAMES = (SNAPSHOT_FAILED, NO_SNAPSHOT, EXPORT_INCOMPLETE)
SNAPSHOT_FLOW: dict[str, str | list[str]] = {
    "prefect.resource.role": "flow",
    "prefect.resource.name": "snapshot",
}


def ensure_automations(settings: Settings) -> list[str]:
    """Create or update (by name, so that a restart does not add copies) the three automations and the
    block they notify through; return one line per automation, saying where it notifies."""
    actions = _actions(settings)
    with get_client(sync_client=True) as client:
        for automation in _automations(settings, actions):
            existing = client.read_automations_by_name(automation.name)
            if not existing:
                client.create_automation(automation)
                continue
            client.update_automation(existing[0].id, automation)
            for copy in existing[1:]:
                client.delete_automation(copy.id)
    target = _target(settings) or "nobody (STREAMLEDGER_ALERT_URL is not set)"
    return [f"alert: {name}: notifies {target}" for name in NAMES]


def _automations(settings: Settings, actions: list[Action | UnknownAction]) -> list[AutomationCore]:
    after = timedelta(seconds=settings.alert_after_seconds)
    return [
        AutomationCore(
            name=SNAPSHOT_FAILED,
            description="A snapshot flow run failed or crashed: its poll failed, polling is stale, or the "
            "setup is broken. The run's message says why; its logs say what to do.",
            trigger=EventTrigger(
                expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
                match_related=SNAPSHOT_FLOW,
                posture=Posture.Reactive,
                threshold=1,
            ),
            actions=actions,
        ),
        AutomationCore(
            name=NO_SNAPSHOT,
            description=f"No snapshot flow run completed within {settings.alert_after_seconds:g} s "
            "(STREAMLEDGER_ALERT_AFTER_SECONDS): nothing is polling, or every poll fails.",
            trigger=EventTrigger(
                expect={"prefect.flow-run.Completed"},
                match_related=SNAPSHOT_FLOW,
                posture=Posture.Proactive,
                threshold=1,
                within=after,
            ),
            actions=actions,
        ),
        AutomationCore(
            name=EXPORT_INCOMPLETE,
            description="The scheduled monthly export found its month still incomplete (or Cloudflare's "
            "totals not final) on the last day it runs.",
            trigger=EventTrigger(
                expect={INCOMPLETE_EVENT},
                match={"prefect.resource.id": "streamledger.export.*"},
                posture=Posture.Reactive,
                threshold=1,
            ),
            actions=actions,
        ),
    ]


# What each notification says; Prefect renders the templates when the automation fires. (Its ui_url filter
# gives nothing for the flow run of a template in 3.9, so the link is made from the UI's address here.)
SUBJECT = "{{ automation.name }}"
BODY = """{{ automation.description }}
{% if flow_run %}
Flow run {{ flow_run.name }}: {{ flow_run.state.name }}. {{ flow_run.state.message or '' }}
LINK{% endif %}{% if event and event.event == 'streamledger.export.incomplete' %}
Export of {{ event.payload.month }} in {{ event.payload.folder }}, day {{ event.payload.day }}:
{% for note in event.payload.notes %}- {{ note }}
{% endfor %}{% endif %}"""


def _actions(settings: Settings) -> list[Action | UnknownAction]:
    """Return the automations' action: a notification through the saved block, or nothing without a URL."""
    url = settings.alert_url.reveal()
    if not url:
        return [DoNothing()]
    _check_url(url)
    # Prefect's Slack webhook block hands any URL that is not a Slack one to apprise as it is, and the
    # server knows the block type without streamledger installed: a block type of our own would not load.
    block_id = cast(UUID, SlackWebhook(url=SecretStr(url)).save(BLOCK, overwrite=True))
    ui_url = PREFECT_UI_URL.value()  # the server's UI, derived from PREFECT_API_URL
    link = f"{ui_url.rstrip('/')}/runs/flow-run/{{{{ flow_run.id }}}}\n" if ui_url else ""
    return [SendNotification(block_document_id=block_id, subject=SUBJECT, body=BODY.replace("LINK", link))]


def _check_url(url: str) -> None:
    """Refuse, in one line that never shows the URL (it may hold a token), one apprise cannot send to."""
    import apprise

    with warnings.catch_warnings():  # its plugins import the standard library's deprecated imghdr
        warnings.simplefilter("ignore", DeprecationWarning)
        usable = apprise.Apprise().add(url)
    if not usable:
        scheme = urlsplit(url).scheme or "none"
        raise ConfigError(
            f"STREAMLEDGER_ALERT_URL is not a URL apprise can send to (scheme {scheme!r}): use e.g. "
            "json://host:port/path for a JSON POST to a webhook (jsons:// for https), or a Slack, Discord "
            "or mailto:// URL (https://github.com/caronc/apprise/wiki)"
        )


def _target(settings: Settings) -> str | None:
    """Where the alerts go, without the URL's path or credentials: its scheme and host."""
    url = settings.alert_url.reveal()
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
