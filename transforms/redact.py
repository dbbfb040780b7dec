"""Secret redaction for raw response text: stream keys become fingerprints, tokens disappear."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import orjson

REDACTED = "[redacted]"
WITHHELD = "[body withheld: it holds a stream key that could not be redacted in place]"
_MARKER = re.compile(r"^\[redacted (sha256:[0-9a-f]{12})\]$")
# A complete JSON string value, or one cut off by a truncated body (even mid-escape: the prefix would
# leak). Written as an unrolled loop: a 20 MB key is matched in 0.2 s instead of 7 s.
# What the pattern above cannot redact in place: a key named with extra underscores or another case whose
# value is neither null, "" nor a fingerprint. Only a body with such a key (or with a JSON escape, which
# could spell a key name) is parsed and walked; every other body is done after one substitution.
_SUSPECT_KEY = re.compile(
    r'"_*s_*t_*r_*e_*a_*m_*k_*e_*y_*"\s*:\s*(?-i:(?!null\b|""|"\[redacted sha256:[0-9a-f]{12}\]"))',
    re.IGNORECASE,
)
# Its tail, searched in the lowered text: three times faster (see _may_hide_a_key).
_SUSPECT_TAIL = re.compile(r'k_*e_*y_*"\s*:\s*(?!null\b|""|"\[redacted sha256:[0-9a-f]{12}\]")')
_FINGERPRINT = re.compile(r"\[redacted sha256:[0-9a-f]{12}\]")
_STREAM_KEY = re.compile(r'("stream_?key"\s*:\s*)"([^"\\]*(?:\\.[^"\\]*)*)("|\\?$)', re.IGNORECASE)


def fingerprint(secret: str) -> str:
    """Return a short, stable fingerprint of a secret: 'sha256:' and 12 hex digits."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def stream_key_fingerprint(value: str) -> str:
    """Return the fingerprint of a stream key, whether given in clear or already redacted."""
    marker = _MARKER.match(value)
    return marker.group(1) if marker else fingerprint(value)


def redact_body(text: str, secrets: Iterable[str] = ()) -> str:
    """Return the body with every stream key replaced by its fingerprint and every secret removed.

    The text is kept as received except for the keys. Only when a key escapes the pattern (a key name
    spelled with JSON escapes, a value that is not a string) is the body written anew from its parsed
    JSON, with every key replaced: a secret in clear is worse than a reformatted body.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _STREAM_KEY.sub(_redact_match, text)
    if _may_hide_a_key(text):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
        if _redact_parsed(parsed):
            try:
                text = orjson.dumps(parsed).decode()
            except TypeError:  # nested deeper than orjson writes: the key cannot be cut out, so nothing stays
                text = WITHHELD
    return text


def _may_hide_a_key(text: str) -> bool:
    """Whether the text may still hold a stream key in clear that only parsing can find."""
    if "\\u" in text:  # an escape may spell a key name
        return True
    lowered = text.lower()
    # Any match of _SUSPECT_KEY leaves its tail in the lowered text, unless its value is a fingerprint in
    # another case, which makes the lowered text hold more fingerprints than the text.
    if _SUSPECT_TAIL.search(lowered) is None and len(_FINGERPRINT.findall(lowered)) == len(
        _FINGERPRINT.findall(text)
    ):
        return False
    return _SUSPECT_KEY.search(text) is not None


def _redact_parsed(root: object) -> bool:
    """Replace, in place, every stream key value of a parsed body that is still in clear; True if any."""
    changed = False
    pending = [root]
    while pending:  # a loop, not recursion: bodies may nest a thousand levels deep
        node = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        if isinstance(node, dict):
            for name, value in node.items():
                if name.lower().replace("_", "") != "streamkey" or value is None or value == "":
                    continue
                if isinstance(value, str) and _MARKER.match(value):
                    continue
                try:
                    secret = value if isinstance(value, str) else orjson.dumps(value).decode()
                except TypeError:
                    secret = "a value nested too deep to write"
                node[name] = f"[redacted {fingerprint(secret)}]"
                changed = True
        pending.extend(child for child in children if isinstance(child, dict | list))
    return changed


def _redact_match(match: re.Match[str]) -> str:
    escaped = match.group(2)
    # An empty key hides nothing, and left as "" it still reads as "no key", like null.
    if _MARKER.match(escaped) or (escaped == "" and match.group(3) == '"'):
        return match.group(0)
    try:
        value = orjson.loads(f'"{escaped}"')
    except orjson.JSONDecodeError:
        value = escaped
    return f'{match.group(1)}"[redacted {fingerprint(value)}]"'
