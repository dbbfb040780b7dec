"""The published response schema (tests/fixtures/api/schema, copied from the published OpenAPI file) as
JSON Schema validators, with the one list of relaxations for its known defects.

The published schema contradicts its own examples; its `known_spec_defects` (in
shared/reference/realtimekit-openapi.json, `info.x-streamledger-provenance`) list where. RELAXATIONS
relaxes exactly those, and nothing more (docs/testing.md lists them):

- nulls_as_sent: `name`, `meeting_id`, `err_message`, `invoked_time`, `stopped_time` may be null
  (the defect "nulls are sent but almost nothing is marked nullable", realtimekit-api.md section 8);
- disabled_boolean: `disabled` may be a boolean ("disabled is typed string in the GET schemas but every
  example sends a JSON boolean");
- list_as_array: the list's `data` may be an array with `paging` at the top level ("GET .../livestreams:
  the schema says data is ONE livestream object with paging inside it; the example ... sends an ARRAY");
- details_sessions: the details' `sessions` array is checked as the schema's `session`, and `paging` may
  sit at the top level ("GET .../livestreams/{livestream_id}: the schema says data.session ...; the example
  sends data.sessions (array) and top-level paging"); it relaxes nothing the schema checks, it checks the
  array the schema ignores;
- active_figures_numbers: active-session figures may be numbers ("Active-session figures typed string;
  Dyte's example sends numbers");
- fractional_figures: session-by-id figures may be fractional ("ingest_seconds and viewer_seconds typed
  integer while examples elsewhere show fractional viewer_seconds").

tests/api/test_fixtures.py shows each is needed by a published example or recorded body, and
tests/simulator/test_schema.py that each is needed by some simulator response.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

from jsonschema import Draft4Validator, FormatChecker, ValidationError

from tests.helpers import fixture

SUBSET = fixture("schema/openapi-subset.json")
V4_FAILURE = fixture("schema/v4-failure-envelope.json")
KIT = "/accounts/{account_id}/realtime/kit"
# Fixture name prefix (the endpoint, as the client names it in SOURCES.md) -> the operation's path.
OPERATIONS = {
    "apps": f"{KIT}/apps",
    "livestreams": f"{KIT}/{{app_id}}/livestreams",
    "livestream_sessions": f"{KIT}/{{app_id}}/livestreams/{{livestream_id}}",
    "active_session": f"{KIT}/{{app_id}}/livestreams/{{livestream_id}}/active-livestream-session",
    "session_by_id": f"{KIT}/{{app_id}}/livestreams/sessions/{{livestream-session-id}}",
    "analytics_daywise": f"{KIT}/{{app_id}}/analytics/livestreams/daywise",
}
Failures = set[tuple[tuple[str | int, ...], str]]
Path = tuple[str | int, ...]
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def example(path: str, name: str, *inside: str | int, method: str = "get", status: str = "200") -> Path:
    """Where an example of an operation's response lies in SUBSET (and where in it, if `inside`)."""
    content = ("content", "application/json", "examples", name, "value")
    return ("paths", path, method, "responses", status, *content, *inside)


def at(document: Any, path: Path) -> Any:
    """The value at a path of keys and indexes in a document."""
    for step in path:
        document = document[step]
    return document


# --- from the published schema to a validator ---------------------------------------------------------


def json_schema(openapi: Any) -> Any:
    """An OpenAPI 3.0 schema object as JSON Schema: `nullable: true` becomes a "null" type."""
    if isinstance(openapi, list):
        return [json_schema(item) for item in openapi]
    if not isinstance(openapi, dict):
        return openapi
    schema = {key: json_schema(value) for key, value in openapi.items()}
    if schema.pop("nullable", False) and isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
    return schema


def published(endpoint: str) -> Any:
    """The 200 response schema of an endpoint, exactly as published (as JSON Schema)."""
    operation = SUBSET["paths"][OPERATIONS[endpoint]]["get"]
    return json_schema(operation["responses"]["200"]["content"]["application/json"]["schema"])


def _objects(schema: Any) -> Iterator[dict[str, Any]]:
    """Every `properties` mapping in a schema."""
    if isinstance(schema, dict):
        if isinstance(schema.get("properties"), dict):
            yield schema["properties"]
        for value in schema.values():
            yield from _objects(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _objects(value)


def _allow(field: dict[str, Any], *types: str) -> None:
    current = field["type"]
    assert current in types, f"relaxing a field typed {current}, not {types}"
    field["type"] = list(types)


def _nulls_as_sent(schema: Any, endpoint: str) -> None:
    """Spec defect: the examples send null where almost nothing is marked nullable."""
    for properties in _objects(schema):
        for name in ("name", "meeting_id", "err_message", "invoked_time", "stopped_time"):
            if name in properties and properties[name].get("type") == "string":
                _allow(properties[name], "string", "null")


def _disabled_boolean(schema: Any, endpoint: str) -> None:
    """Spec defect: disabled is typed string in the GET schemas; every example sends a JSON boolean."""
    for properties in _objects(schema):
        if "disabled" in properties:
            _allow(properties["disabled"], "string", "boolean")


def _list_as_array(schema: Any, endpoint: str) -> None:
    """Spec defect: the list's data is typed one object with paging inside; every example is an array of
    those objects with paging at the top level."""
    if endpoint == "livestreams":
        data = schema["properties"]["data"]
        item = copy.deepcopy(data)
        paging = item["properties"].pop("paging")
        data["type"] = ["object", "array"]  # `properties` checks the object form, `items` the array
        data["items"] = item
        schema["properties"]["paging"] = paging


def _details_sessions(schema: Any, endpoint: str) -> None:
    """Spec defect: details are typed data.session (one object) and data.paging; the example sends
    data.sessions (an array) and top-level paging. Checking the array is a relaxation and a tightening."""
    if endpoint == "livestream_sessions":
        data = schema["properties"]["data"]["properties"]
        data["sessions"] = {"type": "array", "items": copy.deepcopy(data["session"])}
        schema["properties"]["paging"] = copy.deepcopy(data["paging"])


def _active_figures_numbers(schema: Any, endpoint: str) -> None:
    """Spec defect: active-session figures are typed string; the example sends numbers."""
    if endpoint == "active_session":
        session = schema["properties"]["data"]["properties"]["session"]["properties"]
        for name in ("ingest_seconds", "viewer_seconds"):
            _allow(session[name], "string", "number")


def _fractional_figures(schema: Any, endpoint: str) -> None:
    """Spec defect: session-by-id figures are typed integer; a published session has viewer_seconds
    116.11599994199997."""
    if endpoint == "session_by_id":
        session = schema["properties"]["data"]["properties"]
        for name in ("ingest_seconds", "viewer_seconds"):
            assert session[name]["type"] == "integer"
            session[name]["type"] = "number"


RELAXATIONS: dict[str, Callable[[Any, str], None]] = {
    "nulls_as_sent": _nulls_as_sent,
    "disabled_boolean": _disabled_boolean,
    "list_as_array": _list_as_array,
    "details_sessions": _details_sessions,
    "active_figures_numbers": _active_figures_numbers,
    "fractional_figures": _fractional_figures,
}


def relaxed(endpoint: str, without: str | None = None) -> Any:
    """The published schema with exactly the RELAXATIONS applied (all but `without`, if named)."""
    schema = published(endpoint)
    for name, relax in RELAXATIONS.items():
        if name != without:
            relax(schema, endpoint)
    return schema


FORMATS = FormatChecker(formats=["uuid"])


@FORMATS.checks("date-time")
def _is_rfc3339(value: object) -> bool:
    return not isinstance(value, str) or RFC3339.fullmatch(value) is not None


def failures(body: Any, schema: Any) -> Failures:
    """Where a body breaks a schema: (JSON path, keyword) of every error."""
    errors: list[ValidationError] = list(Draft4Validator(schema, format_checker=FORMATS).iter_errors(body))
    return {(tuple(error.absolute_path), str(error.validator)) for error in errors}


def error_schema(name: str) -> Any:
    """An error body's schema: "v4" (the gateway's envelope) or a component of SUBSET, as JSON Schema."""
    return V4_FAILURE if name == "v4" else json_schema(SUBSET["components"]["schemas"][name])
