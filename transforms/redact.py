"""Secret redaction for raw response text: stream keys become fingerprints, tokens disappear."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import orjson

REDACTED = "[redacted]"
_MARKER = re.compile(r"^\[redacted (sha256:[0-9a-f]{12})\]$")
# A complete JSON string value, or one cut off by a truncated body (the fault still leaks the prefix).
_STREAM_KEY = re.compile(r'("stream_?key"\s*:\s*)"((?:[^"\\]|\\.)*)("|$)', re.IGNORECASE)


def fingerprint(secret: str) -> str:
    """Return a short, stable fingerprint of a secret: 'sha256:' and 12 hex digits."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def stream_key_fingerprint(value: str) -> str:
    """Return the fingerprint of a stream key, whether given in clear or already redacted."""
    marker = _MARKER.match(value)
    return marker.group(1) if marker else fingerprint(value)


def redact_body(text: str, secrets: Iterable[str] = ()) -> str:
    """Return the body with every stream key replaced by its fingerprint and every secret removed."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _STREAM_KEY.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    escaped = match.group(2)
    if _MARKER.match(escaped):
        return match.group(0)
    try:
        value = orjson.loads(f'"{escaped}"')
    except orjson.JSONDecodeError:
        value = escaped
    return f'{match.group(1)}"[redacted {fingerprint(value)}]"'
