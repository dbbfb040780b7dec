import orjson

from streamledger.transforms.redact import fingerprint, redact_body, stream_key_fingerprint


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
