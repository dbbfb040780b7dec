import orjson

from transforms.redact import fingerprint, redact_body, stream_key_fingerprint


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
