import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamledger.transforms.redact import Redactor, fingerprint, redact_body, stream_key_fingerprint


def test_stream_key_is_replaced_by_its_fingerprint_and_the_rest_is_byte_identical() -> None:
    body = '{"data":{"livestream":{"id":"ls1","stream_key":"sk_secret_1","name":"x"}},"success":true}'
    redacted = redact_body(body)
    assert "sk_secret_1" not in redacted
    assert redacted == body.replace("sk_secret_1", f"[redacted {fingerprint('sk_secret_1')}]")
    assert orjson.loads(redacted)["data"]["livestream"]["name"] == "x"


def test_escaped_and_spaced_keys_are_redacted_by_their_decoded_value() -> None:
    body = '{"stream_key" :  "a\\"b"}'
    assert redact_body(body) == f'{{"stream_key" :  "[redacted {fingerprint(chr(97) + chr(34) + "b")}]"}}'


def test_a_truncated_body_does_not_leak_the_key_prefix() -> None:
    assert "sk_abc" not in redact_body('{"data":{"stream_key":"sk_abcdef')


def test_redaction_is_idempotent() -> None:
    once = redact_body('{"stream_key":"k1"}')
    assert redact_body(once) == once
    assert stream_key_fingerprint(orjson.loads(once)["stream_key"]) == fingerprint("k1")


def test_secrets_are_removed_wherever_they_appear() -> None:
    assert redact_body('{"echo":"Bearer tok-9"}', ["tok-9"]) == '{"echo":"Bearer [redacted]"}'


def test_null_stream_key_is_left_alone() -> None:
    assert redact_body('{"stream_key":null}') == '{"stream_key":null}'


def test_odd_spellings_of_the_key_name_are_redacted_by_parsing() -> None:
    for name in ("_stream__key_", "STREAM_KEY_", "stream\u212aey"):
        body = f'{{"data":{{"livestream":{{"{name}":"sk_live_1","id":"ls-1"}}}}}}'
        redacted = redact_body(body)
        assert "sk_live_1" not in redacted
        assert fingerprint("sk_live_1") in redacted


def test_a_body_without_a_key_to_redact_is_kept_byte_for_byte() -> None:
    body = '{"data":{"livestream":{"id":"ls-1","stream_key":null,"livestream_id":"x"},  "n": 1.50}}'
    assert redact_body(body) == body


def test_a_fingerprint_lookalike_in_another_case_is_not_taken_for_one() -> None:
    for value in ("[REDACTED SHA256:ABCDEF123456]", "[redacted sha256:ABCDEF123456]"):
        body = f'{{"x":{{"STREAM__KEY":"{value}"}}}}'
        assert value not in redact_body(body)
        assert fingerprint(value) in redact_body(body)


# --- a key wherever it hides ----------------------------------------------------------------------------

KEY = "sk_ap-south-1_x3lKBdJa8UDN_3q6PPLMJnqnbnhyrkXrOG504MUsxnZ"
MARK = f"[redacted {fingerprint(KEY)}]"


def livestream_body(**fields: object) -> str:
    return orjson.dumps({"success": True, "data": {"id": "ls-1", "stream_key": KEY, **fields}}).decode()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("playback_url", f"https://customer-x.cloudflarestream.com/abc/manifest/video.m3u8?key={KEY}&x=1"),
        ("ingest_server", f"rtmps://live.cloudflare.com:443/live/{KEY}"),
        ("name", f"Main stage ({KEY})"),
        ("err_message", f"ingest refused for stream key {KEY}: wrong region"),
        ("x_meta", {"publish": {"targets": [{"credentials": KEY}, KEY]}}),
        (KEY, "the key as a field name"),
    ],
)
def test_a_stream_key_copied_into_another_field_is_redacted_there_too(field: str, value: object) -> None:
    redacted = redact_body(livestream_body(**{field: value}))
    assert KEY not in redacted
    assert redacted.count(MARK) == 1 + orjson.dumps({field: value}).decode().count(
        KEY
    )  # its field, the copies
    assert orjson.loads(redacted)["data"]["id"] == "ls-1"


@pytest.mark.parametrize(
    "name",
    ["stream-key", "streamKey", "StreamKey", "Stream Key", "stream.key", "STREAM__KEY_", "x_stream_key_2"],
)
def test_a_key_under_any_spelling_of_its_field_is_redacted_with_its_copies(name: str) -> None:
    body = orjson.dumps(
        {"data": {"livestream": {name: KEY, "playback_url": f"https://x/{KEY}/m3u8"}}}
    ).decode()
    redacted = redact_body(body)
    assert KEY not in redacted
    assert redacted.count(MARK) == 2


def test_a_key_learnt_from_one_body_is_redacted_from_later_bodies_and_other_texts() -> None:
    redactor = Redactor(["tok-secret-1"])
    redactor.body(livestream_body())
    # A session read by id shows no livestream, and so no key field: the key is known from the listing.
    later = orjson.dumps({"data": {"id": "s1", "err_message": f"bad key {KEY}"}}).decode()
    assert redactor.body(later) == later.replace(KEY, MARK)
    assert redactor.text(f'"default";r=5;t=30;k="{KEY}";echo="Bearer tok-secret-1"') == (
        f'"default";r=5;t=30;k="{MARK}";echo="Bearer [redacted]"'
    )
    assert redactor.text(None) is None


def test_spellings_a_text_may_hold_are_redacted_escaped_and_url_encoded() -> None:
    key = "Ab+cd/ef=gh0123456789"
    escaped = '{"stream_key":"Ab+cd\\/ef=gh0123456789","n":"Ab\\u002bcd/ef=gh0123456789"}'
    redacted = redact_body(escaped)
    assert key not in orjson.dumps(orjson.loads(redacted)).decode()
    assert orjson.loads(redacted) == {"stream_key": f"[redacted {fingerprint(key)}]"} | {
        "n": f"[redacted {fingerprint(key)}]"
    }
    redactor = Redactor()
    redactor.learn(key)
    url = "https://x/live?k=Ab%2Bcd%2Fef%3Dgh0123456789&p=Ab%2Bcd/ef%3Dgh0123456789&q=Ab%2Bcd%2Fef%3Dgh0123456789"
    assert "0123456789" not in (redactor.text(url) or "")


def test_a_short_key_is_redacted_in_its_field_only() -> None:
    body = '{"stream_key":"live1","status":"live1 is up","x":{"stream-key":"k2"}}'
    redacted = orjson.loads(redact_body(body))
    assert redacted == {
        "stream_key": f"[redacted {fingerprint('live1')}]",
        "status": "live1 is up",
        "x": {"stream-key": f"[redacted {fingerprint('k2')}]"},
    }


def test_a_key_that_could_be_read_as_a_number_is_redacted_without_breaking_the_body() -> None:
    body = '{"data":{"stream_key":"1234567890","count":1234567890,"name":"n1234567890"}}'
    redacted = redact_body(body)
    assert orjson.loads(redacted) == {
        "data": {
            "stream_key": f"[redacted {fingerprint('1234567890')}]",
            "count": 1234567890,
            "name": "n" + f"[redacted {fingerprint('1234567890')}]",
        }
    }


def test_a_truncated_body_loses_the_copies_of_a_key_its_complete_field_shows() -> None:
    body = f'{{"data":[{{"name":"{KEY}","stream_key":"{KEY}"}},{{"name":"cut here'
    redacted = redact_body(body)
    assert KEY not in redacted
    assert redacted.count(MARK) == 2


def test_a_key_inside_a_long_run_of_key_characters_is_found() -> None:
    redactor = Redactor()
    redactor.learn(KEY)
    for filler in ("x" * 10, "x" * 5000):
        text = f"{filler}{KEY}{filler}"
        assert redactor.text(text) == f"{filler}{MARK}{filler}"


def test_a_key_with_characters_json_escapes_is_redacted_by_parsing() -> None:
    key = 'stream "key" é 1234'
    body = orjson.dumps({"stream_key": key, "echo": f"<{key}>"}).decode()
    ascii_body = json.dumps({"stream_key": key, "echo": f"<{key}>"})
    for text in (body, ascii_body):
        assert orjson.loads(redact_body(text)) == {
            "stream_key": f"[redacted {fingerprint(key)}]",
            "echo": f"<[redacted {fingerprint(key)}]>",
        }


def test_a_token_spelled_with_json_escapes_is_removed() -> None:
    assert orjson.loads(redact_body('{"echo":"Bearer tok\\/9x"}', ["tok/9x"])) == {
        "echo": "Bearer [redacted]"
    }
    assert orjson.loads(redact_body('{"echo":"Bearer t\\u006fk/9x"}', ["tok/9x"])) == {
        "echo": "Bearer [redacted]"
    }


KEYS = st.from_regex(r"[A-Za-z0-9_.~+/=-]{7,40}[G-Z_~]", fullmatch=True)
FILLER = st.text(st.characters(codec="utf-8"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    key=KEYS,
    name=st.sampled_from(["stream_key", "streamKey", "stream-key", "Stream_Key", "a_stream_key"]),
    copies=st.lists(st.tuples(FILLER, FILLER), max_size=4),
    ensure_ascii=st.booleans(),
    escape_slash=st.booleans(),
)
def test_no_spelling_of_a_key_survives_wherever_it_is_copied(
    key: str,
    name: str,
    copies: list[tuple[str, str]],
    ensure_ascii: bool,
    escape_slash: bool,
) -> None:
    document = {
        "data": {"livestream": {"id": "ls", name: key}, "copies": [f"{a}{key}{b}" for a, b in copies]}
    }
    text = json.dumps(document, ensure_ascii=ensure_ascii)
    if escape_slash:
        text = text.replace("/", "\\/")
    redacted = redact_body(text)
    parsed = orjson.loads(redacted)
    assert key not in redacted
    assert key not in orjson.dumps(parsed).decode()
    assert parsed["data"]["livestream"][name] == f"[redacted {fingerprint(key)}]"
    assert len(parsed["data"]["copies"]) == len(copies)
