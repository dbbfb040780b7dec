"""Secret redaction for raw response text: stream keys become fingerprints, tokens disappear.

A stream key is learnt from any field named like one (`stream_key`, `streamKey`, `stream-key`, `Stream Key`,
any case, any nesting: the name holds "streamkey" once case, separators and compatibility forms are set
aside), and is then replaced wherever it appears, in whatever field, by its fingerprint's marker
`[redacted sha256:<12 hex>]`: in a playback URL, an ingest path, a name, an error message, a field of any
name. A Redactor keeps the keys it learnt, so that every later text it redacts (bodies, headers, error
messages) loses them too; RealtimeKitClient keeps one per poll. Keys are known in clear only while the poll
that read them runs: the warehouse stores fingerprints alone, by which a key of an earlier poll is known
again when a text without a key field of its own shows it as a word (see docs/poll.md).
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import orjson

REDACTED = "[redacted]"
WITHHELD = "[body withheld: it holds a stream key that could not be redacted in place]"
# A key shorter than this is redacted in its own field only: searched for everywhere, a short value ("1",
# "live") would cut through ordinary text. Stream keys are 32 characters or more.
KEY_MIN_CHARS = 8
_MARKER = re.compile(r"^\[redacted (sha256:[0-9a-f]{12})\]$")
# A key field's complete JSON string value, or one cut off by a truncated body (even mid-escape: the prefix
# would leak). Written as an unrolled loop: a 20 MB key is matched in 0.2 s instead of 7 s. Used where the
# text is redacted in place: the value of a key too short to search for, and bodies that are not JSON.
_STREAM_KEY = re.compile(r'("stream[_-]?key"\s*:\s*)"([^"\\]*(?:\\.[^"\\]*)*)("|\\?$)', re.IGNORECASE)
# Any name and string value, for bodies that are not JSON (truncated, malformed): their key-like names.
_NAME_VALUE = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)("|\\?$)')
# Characters a key may hold and still be found by scanning runs of them (everything printable in ASCII but
# the space, the quote and the backslash, which JSON writes escaped or which end a run anyway).
_SCANNABLE = frozenset(string.printable) - frozenset(string.whitespace) - {'"', "\\"}
# A key made of these, with at least one character no JSON number or literal holds, can only appear inside
# a JSON string: replacing it in the text cannot change the body's structure.
_SAFE_KEY = re.compile(r"[A-Za-z0-9._~+/=%-]*[A-DF-Za-df-z_~/=%][A-Za-z0-9._~+/=%-]*")
_PLAIN_FIELD = re.compile(r'"stream[_-]?key"\s*:\s*(?:(null)\b|"([^"]*)")', re.IGNORECASE | re.ASCII)
_KEY_LETTERS = re.compile(r"k[^a-z0-9]*e[^a-z0-9]*y")  # in the lowered text: three times faster
_NOT_PARSED = object()
_SEPARATOR = "\x00"
_RUN = re.compile("a+")
_BYTES_RUN = re.compile(b"a+")
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")
# Runs longer than this are searched with one pattern of every key, not window by window.
_LONG_RUN = 1024
# Spellings longer than this are searched with str.replace: no stream key is that long.
_MAX_SCANNED = 256


def fingerprint(secret: str) -> str:
    """Return a short, stable fingerprint of a secret: 'sha256:' and 12 hex digits."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def stream_key_fingerprint(value: str) -> str:
    """Return the fingerprint of a stream key, whether given in clear or already redacted."""
    marker = _MARKER.match(value)
    return marker.group(1) if marker else fingerprint(value)


_NAMES: dict[str, bool] = {}


def is_key_name(name: str) -> bool:
    """Whether a field name names a stream key: 'streamkey' in it, whatever the case and separators."""
    known = _NAMES.get(name)
    if known is None:
        folded = unicodedata.normalize("NFKC", name).casefold()
        known = "streamkey" in "".join(c for c in folded if c.isalnum())
        if len(_NAMES) < 10_000:  # names repeat: a body of ten fields per item asks about ten names
            _NAMES[name] = known
    return known


def redact_body(text: str, secrets: Iterable[str] = ()) -> str:
    """Return one body redacted on its own: every stream key it shows fingerprinted, every secret removed."""
    return Redactor(secrets).body(text)


class Redactor:
    """Redacts the secrets and every stream key it has learnt from the bodies it redacted, in any text."""

    def __init__(self, secrets: Iterable[str] = (), fingerprints: Iterable[str] = ()) -> None:
        """`fingerprints`: those of the keys earlier polls showed ('sha256:<12 hex>', as the warehouse keeps
        them): a word of the text whose fingerprint is one of them is that key, learnt and redacted."""
        self._unseen = set(fingerprints)  # fingerprints no key learnt yet has
        self._not_keys: set[str] = set()  # words whose fingerprint was looked up in vain
        self._secrets = [
            (variant, REDACTED) for secret in secrets if secret for variant in _variants(secret, escaped=True)
        ]
        self.keys: dict[str, str] = {}  # each key learnt (long enough to search for) -> its marker
        self._scanned: dict[str, str] = {}  # every spelling found by scanning runs -> marker
        self._replaced: dict[str, str] = {}  # the other spellings (spaces, non-ASCII, huge) -> marker
        self._lengths: list[int] = []  # the lengths of the scanned spellings, longest first
        self._chars: set[str] = set()  # the characters they hold
        self._mask: dict[int, str] = {}  # str.translate table: those characters to "a", the rest to " "
        self._bytes_mask = b""  # the same for bytes.translate
        self._long: tuple[int, re.Pattern[str]] | None = None  # (len(keys) when built, the pattern)

    # --- what is redacted -----------------------------------------------------------------------------

    def body(self, text: str) -> str:
        """Return a response body with every key it shows, and every key learnt before, redacted.

        The text is kept as received except for what is redacted. Only when a key hides where the text
        cannot be changed in place (a spelling with JSON escapes, a value that is not a string) is the body
        written anew from its parsed JSON: a secret in clear is worse than a reformatted body.
        """
        text = self._without_secrets(text)
        values = _plain_key_values(text)
        root: Any = _NOT_PARSED
        if values is None:
            try:
                root = orjson.loads(text)
            except orjson.JSONDecodeError:
                return self._unparsed(text)
            values = _key_values(root)
        short, rewrite, shows_key = False, False, False
        for value in values:
            if isinstance(value, str):
                if value == "":
                    continue
                shows_key = True
                if _MARKER.match(value):
                    continue
                if len(value) >= KEY_MIN_CHARS:
                    self.learn(value)
                else:
                    short = True
            elif value is not None:
                rewrite = True  # a number, object or array as the key: only a rewrite can replace it
        redacted, replaced = self._scan(text)
        # A body that shows a key in its own field is its livestream's: its copies are that key. One that
        # shows none (a session read by id) may quote the key of a livestream this poll did not list.
        if not shows_key and self._recognized(redacted):
            redacted, more = self._scan(redacted)
            replaced |= more
        if short:
            redacted = _STREAM_KEY.sub(_redact_match, redacted)
        unsafe = any(not _SAFE_KEY.fullmatch(key) for key in replaced)
        if rewrite or short or unsafe or "\\" in text:
            # An escape may spell a key or a secret differently, a short key may sit under an odd name, or
            # a replacement may have touched the structure: the result is checked as JSON.
            if root is _NOT_PARSED:
                try:
                    root = orjson.loads(text)
                except orjson.JSONDecodeError:  # a cut body: redacted in place as far as it goes
                    return redacted
            if rewrite or not self._is_clean(redacted):
                return self._rewritten(root)
        return redacted

    def text(self, text: str | None) -> str | None:
        """Return any other text (a header, an error message, a URL) without the secrets and learnt keys."""
        if not text:
            return text
        text, _ = self._scan(self._without_secrets(text))
        return self._scan(text)[0] if self._recognized(text) else text

    def learn(self, key: str) -> None:
        """Remember a stream key, so that it is redacted from every text from now on."""
        if key in self.keys:
            return
        key_print = fingerprint(key)
        self._unseen.discard(key_print)
        marker = f"[redacted {key_print}]"
        self.keys[key] = marker
        for variant in _variants(key):
            if KEY_MIN_CHARS <= len(variant) <= _MAX_SCANNED and _SCANNABLE.issuperset(variant):
                self._scanned[variant] = marker
                if len(variant) not in self._lengths:
                    self._lengths = sorted({*self._lengths, len(variant)}, reverse=True)
                if not self._chars.issuperset(variant):
                    self._chars.update(variant)
                    self._mask, self._bytes_mask = _masks(self._chars)
            else:
                self._replaced[variant] = marker

    # --- how ------------------------------------------------------------------------------------------

    def _without_secrets(self, text: str) -> str:
        for variant, replacement in self._secrets:
            if variant in text:
                text = text.replace(variant, replacement)
        return text

    def _scan(self, text: str) -> tuple[str, set[str]]:
        """Return the text with every spelling of a learnt key replaced, and the keys' spellings found."""
        found: set[str] = set()
        if not self.keys:
            return text, found
        pieces: list[str] = []
        last = 0
        for start, end, variant in self._occurrences(text):
            pieces += (text[last:start], self._scanned[variant])
            found.add(variant)
            last = end
        if pieces:
            text = "".join((*pieces, text[last:]))
        for variant, marker in self._replaced.items():
            if variant in text:
                text = text.replace(variant, marker)
                found.add(variant)
        return text, found

    def _occurrences(self, text: str) -> Iterator[tuple[int, int, str]]:
        """(start, end, spelling) of each scanned spelling of a key in the text, left to right, apart."""
        if not self._scanned:
            return
        # A key lies within one run of the characters keys hold.
        for start, end in _runs(text, self._mask, self._bytes_mask, self._lengths[-1]):
            value = text[start:end]
            if value in self._scanned:
                yield start, end, value
            elif end - start > _LONG_RUN:
                for match in self._long_pattern().finditer(value):
                    yield start + match.start(), start + match.end(), match.group()
            else:
                yield from self._within(value, start)

    def _recognized(self, text: str) -> bool:
        """Learn each key of an earlier poll that the text shows as a word; True if it showed one.

        A word is a run of letters, digits, '-' and '_' (or of letters and digits alone) of 16 to 256
        characters: its fingerprint is looked up among those the warehouse keeps.
        """
        if not self._unseen:
            return False
        learnt = False
        for start, end in _runs(text, _WORD_MASK, _WORD_BYTES_MASK, _WORD_MIN):
            word = text[start:end]
            if word in self._not_keys or len(word) > _MAX_SCANNED:
                continue
            pieces = _ALNUM_RUN.findall(word) if "_" in word or "-" in word else []
            found = [key for key in (word, *pieces) if fingerprint(key) in self._unseen]
            for key in found:
                self.learn(key)
            if found:
                learnt = True
            elif len(self._not_keys) < 100_000:  # ids repeat from body to body
                self._not_keys.add(word)
        return learnt

    def _within(self, run: str, offset: int) -> Iterator[tuple[int, int, str]]:
        position, last_start = 0, len(run) - self._lengths[-1]
        while position <= last_start:
            for length in self._lengths:
                candidate = run[position : position + length]
                if len(candidate) == length and candidate in self._scanned:
                    yield offset + position, offset + position + length, candidate
                    position += length
                    break
            else:
                position += 1

    def _long_pattern(self) -> re.Pattern[str]:
        """One pattern matching every scanned spelling (a trie, longest first), built again as keys come."""
        if self._long is None or self._long[0] != len(self._scanned):
            self._long = (len(self._scanned), re.compile(_trie(self._scanned)))
        return self._long[1]

    def _is_clean(self, text: str) -> bool:
        """Whether a redacted body parses and shows no key or secret in any decoded name or value."""
        try:
            root = orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
        for value in _key_values(root):
            if value is not None and value != "" and not (isinstance(value, str) and _MARKER.match(value)):
                return False
        every = _SEPARATOR.join(_strings(root))
        self._recognized(every)
        return self._without_secrets(every) == every and self._scan(every)[0] == every

    def _rewritten(self, root: Any) -> str:
        """The parsed body written anew with every key field and every other string redacted."""
        try:
            return orjson.dumps(self._redact_parsed(root)).decode()
        except (TypeError, RecursionError):
            # Nested deeper than orjson writes (or Python walks): the key cannot be cut out, so nothing stays.
            return WITHHELD

    def _redact_parsed(self, root: Any) -> Any:
        def clean(value: str) -> str:
            return self._scan(self._without_secrets(value))[0]

        def cleaned(node: Any) -> Any:
            if isinstance(node, str):
                return clean(node)
            if isinstance(node, list):
                return [cleaned(item) for item in node]
            if not isinstance(node, dict):
                return node
            result = {}
            for name, value in node.items():
                if is_key_name(name) and value is not None and value != "":
                    if not isinstance(value, str):
                        value = f"[redacted {fingerprint(_json_text(value))}]"
                    elif not _MARKER.match(value):
                        value = f"[redacted {fingerprint(value)}]"
                    result[clean(name)] = value
                else:
                    result[clean(name)] = cleaned(value)
            return result

        return cleaned(root)

    def _unparsed(self, text: str) -> str:
        """A body that is not JSON (truncated, malformed, a page): key fields in place, then learnt keys."""

        def field(match: re.Match[str], value_at: int) -> str:
            value = _decoded(match.group(2))
            if match.group(3) == '"' and len(value) >= KEY_MIN_CHARS and not _MARKER.match(value):
                self.learn(value)
            return _redact_match(match, value_at - match.start(0))

        def by_name(match: re.Match[str]) -> str:
            if not is_key_name(_decoded(match.group(1))):
                return match.group(0)
            return field(match, match.start(2) - 1)

        text = _STREAM_KEY.sub(lambda match: field(match, match.end(1)), text)
        text = _NAME_VALUE.sub(by_name, text)
        self._recognized(text)
        return self._scan(text)[0]


# --- helpers ------------------------------------------------------------------------------------------


def _masks(characters: Iterable[str]) -> tuple[dict[int, str], bytes]:
    """str.translate and bytes.translate tables: the characters to "a", every other ASCII one to " "."""
    chosen = set(characters)
    masked = ["a" if chr(c) in chosen else " " for c in range(128)]
    return str.maketrans(dict(zip(map(chr, range(128)), masked, strict=True))), "".join(
        masked
    ).encode() + b" " * 128


def _runs(text: str, mask: dict[int, str], bytes_mask: bytes, shortest: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of masked characters (see _masks) at least `shortest` long, in order.

    Runs long enough are found at the speed of str.find in the masked text (bytes.translate, ten times
    faster than str.translate, when the text is ASCII); only they cost a step in Python.
    """
    masked: Any
    needle: Any
    run: Any
    if text.isascii():
        masked, needle, run = text.encode().translate(bytes_mask), b"a", _BYTES_RUN
    else:  # characters past ASCII stay as they are: never "a", so they end runs
        masked, needle, run = text.translate(mask), "a", _RUN
    needle *= shortest
    position = 0
    while (start := masked.find(needle, position)) >= 0:
        position = run.match(masked, start).end()
        yield start, position


_WORD_MIN = 16
_WORD_MASK, _WORD_BYTES_MASK = _masks(string.ascii_letters + string.digits + "-_")
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]{16,}")


def _variants(secret: str, *, escaped: bool = False) -> set[str]:
    """The spellings of a secret a text may hold: as is, URL-encoded, and (`escaped`) JSON-escaped.

    A key's escaped spellings need no search: a body with an escape is checked as parsed JSON (see body).
    """
    if _UNRESERVED.fullmatch(secret):  # the usual key: JSON and URLs write it as it is
        return {secret}
    spellings = {secret, quote(secret, safe=""), quote(secret, safe="/"), quote_plus(secret)}
    if escaped:
        json_escaped = orjson.dumps(secret).decode()[1:-1]
        spellings |= {json_escaped, json.dumps(secret)[1:-1], json_escaped.replace("/", "\\/")}
    return spellings - {""}


def _plain_key_values(text: str) -> list[str | None] | None:
    """The values of a body's key fields read from its text, or None when they cannot be read there.

    Only an ASCII body without escapes is read as text: each of its quotes delimits a string, and a field
    named like a key holds "k", "e", "y" apart only by separators. When every such run lies in a field named
    `stream_key`, `streamkey` or `stream-key` (any case) whose value is a string or null, those are all its
    key fields; otherwise (another spelling, another value, the letters elsewhere) the body is parsed.
    """
    if "\\" in text or not text.isascii():
        return None
    fields = _PLAIN_FIELD.findall(text)
    if len(_KEY_LETTERS.findall(text.lower())) != len(fields):
        return None
    return [None if null else value for null, value in fields]


def _key_values(root: Any) -> list[Any]:
    """The value of every field named like a stream key, at any depth."""
    values = []
    names = _NAMES
    pending = [root]
    while pending:  # a loop, not recursion: bodies may nest a thousand levels deep
        node = pending.pop()
        if type(node) is dict:
            for name, value in node.items():
                known = names.get(name)
                if known or (known is None and is_key_name(name)):
                    values.append(value)
                if type(value) is dict or type(value) is list:
                    pending.append(value)
        elif type(node) is list:
            pending.extend(item for item in node if type(item) is dict or type(item) is list)
    return values


def _strings(root: Any) -> Iterator[str]:
    """Every string of a parsed body, names included."""
    pending = [root]
    while pending:
        node = pending.pop()
        if type(node) is str:
            yield node
        elif type(node) is dict:
            yield from node
            pending.extend(node.values())
        elif type(node) is list:
            pending.extend(node)


def _trie(spellings: Iterable[str]) -> str:
    """A regular expression matching any of the spellings, built as a trie so that it scans fast."""
    trie: dict[str, Any] = {}
    for spelling in spellings:
        node = trie
        for character in spelling:
            node = node.setdefault(character, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = []
        for character, child in sorted(node.items()):
            if not character:
                continue
            chain = [character]
            while len(child) == 1 and "" not in child:  # a chain of single children: one literal, no group
                ((following, child),) = child.items()
                chain.append(following)
            branches.append(re.escape("".join(chain)) + emit(child))
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return "a value nested too deep to write"


def _decoded(escaped: str) -> str:
    try:
        value = orjson.loads(f'"{escaped}"')
    except orjson.JSONDecodeError:
        return escaped
    return value if isinstance(value, str) else escaped


def _redact_match(match: re.Match[str], value_at: int | None = None) -> str:
    """A key field's value (group 2, its opening quote at `value_at` within the match, by default where group
    1 ends) replaced by its fingerprint's marker; an empty or redacted value is kept."""
    whole = match.group(0)
    escaped = match.group(2)
    # An empty key hides nothing, and left as "" it still reads as "no key", like null.
    if _MARKER.match(escaped) or (escaped == "" and match.group(3) == '"'):
        return whole
    start = len(match.group(1)) if value_at is None else value_at
    return f'{whole[:start]}"[redacted {fingerprint(_decoded(escaped))}]"'
