"""The Standard Webhooks check on `POST /build-complete` (TRUST T1, T2, T12, T15)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cibot.adapters import webhooks
from cibot.adapters.webhooks import WebhookVerificationError, decode_secret, sign, verify

# The reference vector of the Standard Webhooks specification: repository
# standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py, test_sign_function.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

NOW = 1_750_000_000
SECRET = "whsec_" + base64.b64encode(b"current secret, 32 bytes long!!!").decode()
OLD_SECRET = "a plain old secret used as raw bytes"
BODY = b'{"project": "shop", "image": "registry.example.com/shop:1.2.3"}'
NAMES = (webhooks.ID_HEADER, webhooks.TIMESTAMP_HEADER, webhooks.SIGNATURE_HEADER)


def signed(
    body: bytes = BODY, secret: str = SECRET, at: int = NOW, msg_id: str = "msg_1"
) -> dict[str, str]:
    return webhooks.headers(secret, body, msg_id=msg_id, now=at)


def refusal(headers: dict[str, str], body: bytes = BODY, secrets: list[str] | None = None) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        verify(secrets or [SECRET], headers, body, now=NOW)
    return str(caught.value)


# --- the reference vector and secret decoding ---------------------------------------------


def test_signing_reproduces_the_reference_vector_of_the_spec() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_the_reference_vector_verifies_and_yields_its_id() -> None:
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    assert verify([VECTOR_SECRET], headers, VECTOR_BODY, now=VECTOR_TIMESTAMP) == VECTOR_ID


def test_a_whsec_secret_is_the_base64_after_the_prefix() -> None:
    assert decode_secret(VECTOR_SECRET) == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")


def test_a_whsec_secret_without_its_base64_padding_is_accepted() -> None:
    padded = "whsec_" + base64.b64encode(b"sixteen byte key").decode()
    assert padded.endswith("=")
    assert decode_secret(padded.rstrip("=")) == b"sixteen byte key"


def test_a_secret_without_the_prefix_is_used_as_raw_utf8_bytes() -> None:
    raw = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signed_text = f"{VECTOR_ID}.{VECTOR_TIMESTAMP}.".encode() + VECTOR_BODY
    expected = base64.b64encode(hmac.new(raw.encode(), signed_text, hashlib.sha256).digest())
    signature = sign(raw, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
    assert decode_secret(raw) == raw.encode()
    assert signature == "v1," + expected.decode()
    assert signature != VECTOR_SIGNATURE


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_a", "whsec_Zm9v*", "whsec_é"])
def test_a_whsec_secret_that_is_not_base64_is_a_configuration_error(secret: str) -> None:
    with pytest.raises(ValueError, match="not valid base64") as caught:
        decode_secret(secret)
    assert secret not in str(caught.value)


@pytest.mark.parametrize("secret", ["", "whsec_"])
def test_an_empty_secret_is_a_configuration_error(secret: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        decode_secret(secret)


def test_verifying_without_any_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="no webhook secret"):
        verify([], signed(), BODY, now=NOW)


def test_one_string_passed_as_the_secrets_is_refused_rather_than_split_into_characters() -> None:
    with pytest.raises(TypeError):
        verify(SECRET, signed(), BODY, now=NOW)


# --- the headers the CI client sends --------------------------------------------------------


def test_headers_are_exactly_the_three_standard_webhooks_headers() -> None:
    headers = webhooks.headers(SECRET, BODY, now=NOW + 0.9)
    assert sorted(headers) == sorted(NAMES)
    assert headers["webhook-timestamp"] == str(NOW)


def test_headers_get_a_fresh_msg_id_each_time() -> None:
    first, second = webhooks.headers(SECRET, BODY), webhooks.headers(SECRET, BODY)
    assert re.fullmatch(r"msg_[0-9a-f]{32}", first["webhook-id"])
    assert first["webhook-id"] != second["webhook-id"]


def test_headers_default_to_the_current_time_and_verify_now() -> None:
    headers = webhooks.headers(SECRET, BODY)
    assert verify([SECRET], headers, BODY, now=time.time()) == headers["webhook-id"]


@pytest.mark.parametrize("msg_id", ["", "a.b", "has space", "é", "x" * 257])
def test_signing_refuses_an_id_that_could_not_be_verified(msg_id: str) -> None:
    with pytest.raises(ValueError, match="webhook id"):
        sign(SECRET, msg_id, NOW, BODY)


def test_signing_refuses_a_negative_timestamp() -> None:
    with pytest.raises(ValueError, match="negative"):
        sign(SECRET, "msg_1", -1, BODY)


# --- what is accepted -----------------------------------------------------------------------


def test_a_correctly_signed_request_yields_its_webhook_id() -> None:
    assert verify([SECRET], signed(msg_id="msg_42"), BODY, now=NOW) == "msg_42"


def test_an_empty_body_can_be_signed_and_verified() -> None:
    assert verify([SECRET], signed(body=b""), b"", now=NOW) == "msg_1"


def test_header_names_are_matched_case_insensitively() -> None:
    headers = {name.title(): value for name, value in signed().items()}
    assert verify([SECRET], headers, BODY, now=NOW) == "msg_1"


@pytest.mark.parametrize("skew", [-300, 300])
def test_a_timestamp_exactly_at_the_edge_of_the_window_is_accepted(skew: int) -> None:
    assert verify([SECRET], signed(at=NOW + skew), BODY, now=NOW) == "msg_1"


def test_one_matching_entry_among_several_signatures_is_enough() -> None:
    headers = signed()
    good = headers["webhook-signature"]
    headers["webhook-signature"] = " ".join(
        [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v1,not*base64",
            "junk",
            good,
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        ]
    )
    assert verify([SECRET], headers, BODY, now=NOW) == "msg_1"


def test_a_signature_under_another_version_tag_is_ignored() -> None:
    headers = signed()
    headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v1a,")
    assert refusal(headers) == "no matching signature"


# --- rotation (T15) ------------------------------------------------------------------------


@pytest.mark.parametrize("signer", [SECRET, OLD_SECRET])
def test_during_rotation_both_the_old_and_the_new_secret_are_accepted(signer: str) -> None:
    assert verify([SECRET, OLD_SECRET], signed(secret=signer), BODY, now=NOW) == "msg_1"


def test_after_rotation_the_old_secret_is_refused() -> None:
    assert refusal(signed(secret=OLD_SECRET), secrets=[SECRET]) == "no matching signature"


def test_a_sender_may_sign_with_both_secrets_at_once() -> None:
    headers = signed(secret=OLD_SECRET)
    new = sign(SECRET, "msg_1", NOW, BODY)
    headers["webhook-signature"] += " " + new
    assert verify([SECRET], headers, BODY, now=NOW) == "msg_1"


# --- which of several secrets signed (one per project, T19) ----------------------------------


def test_signed_by_names_the_secrets_that_signed_among_all_candidates() -> None:
    headers = signed(secret=OLD_SECRET)
    headers["webhook-signature"] += " " + sign("third", "msg_1", NOW, BODY)

    found = webhooks.signed_by([SECRET, OLD_SECRET, "third", "fourth"], headers, BODY, now=NOW)

    assert found == ("msg_1", frozenset({OLD_SECRET, "third"}))


def test_signed_by_with_no_candidate_refuses_the_request_instead_of_raising() -> None:
    with pytest.raises(WebhookVerificationError):
        webhooks.signed_by([], signed(), BODY, now=NOW)


def test_signed_by_refuses_a_request_none_of_the_candidates_signed() -> None:
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        webhooks.signed_by(["a", "b", OLD_SECRET], signed(), BODY, now=NOW)


# --- forgeries and junk (T1, T2) ------------------------------------------------------------


def test_one_flipped_byte_in_the_body_is_refused() -> None:
    tampered = bytearray(BODY)
    tampered[10] ^= 0x01
    assert refusal(signed(), body=bytes(tampered)) == "no matching signature"


def test_a_request_signed_with_another_secret_is_refused() -> None:
    assert refusal(signed(secret="whsec_" + "A" * 32)) == "no matching signature"


def test_a_signature_for_another_id_is_refused() -> None:
    headers = signed(msg_id="msg_1")
    headers["webhook-id"] = "msg_2"
    assert refusal(headers) == "no matching signature"


def test_a_signature_for_another_timestamp_is_refused() -> None:
    headers = signed(at=NOW)
    headers["webhook-timestamp"] = str(NOW + 1)
    assert refusal(headers) == "no matching signature"


@pytest.mark.parametrize("name", NAMES)
def test_a_request_missing_a_header_is_refused(name: str) -> None:
    headers = signed()
    del headers[name]
    assert refusal(headers) == f"missing {name} header"


@pytest.mark.parametrize("name", NAMES)
def test_a_request_with_an_empty_header_is_refused(name: str) -> None:
    headers = signed()
    headers[name] = ""
    assert refusal(headers) == f"missing {name} header"


@pytest.mark.parametrize("skew", [-301, 301, -86_400, 10**9])
def test_a_stale_or_future_timestamp_is_refused(skew: int) -> None:
    assert refusal(signed(at=NOW + skew)) == "timestamp outside the allowed window"


@pytest.mark.parametrize(
    "timestamp",
    [
        "",
        " 1750000000",
        "1750000000 ",
        "1750000000\n",
        "+1750000000",
        "-1750000000",
        "01750000000",
        "1750000000.0",
        "1.75e9",
        "1_750_000_000",
        "0x684ee180",
        "".join(chr(0xFF10 + int(d)) for d in "1750000000"),  # full-width digits: int() takes them
        "".join(chr(0x0660 + int(d)) for d in "1750000000"),  # Arabic-Indic digits, likewise
        "9" * 13,
        "9" * 5000,  # past int()'s digit limit
        "NaN",
    ],
)
def test_a_timestamp_that_is_not_a_plain_integer_is_refused(timestamp: str) -> None:
    headers = signed()
    headers["webhook-timestamp"] = timestamp
    assert refusal(headers) in (
        "invalid webhook-timestamp header",
        "missing webhook-timestamp header",
    )


@pytest.mark.parametrize(
    "msg_id", ["msg_é", "msg 1", "msg.1", "msg_1\n", "msg\x00", "x" * 257, "\u200bmsg"]
)
def test_a_malformed_webhook_id_is_refused(msg_id: str) -> None:
    headers = signed()
    headers["webhook-id"] = msg_id
    assert refusal(headers) == "invalid webhook-id header"


def test_a_webhook_id_of_256_characters_is_accepted() -> None:
    msg_id = "m" * 256
    assert verify([SECRET], signed(msg_id=msg_id), BODY, now=NOW) == msg_id


@pytest.mark.parametrize(
    "signature",
    [
        "v1",
        "v1,",
        ",",
        "v1,!!!!",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",  # unpadded
        "v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=",  # URL-safe alphabet
        "v1,ü",
        "v1,\u00a0",
        "v1,AAAA\tBBBB",
        "v1," + "A" * 5000,
        "   ",
    ],
)
def test_a_junk_signature_header_is_refused(signature: str) -> None:
    headers = signed()
    headers["webhook-signature"] = signature
    assert refusal(headers) in (
        "no matching signature",
        "invalid webhook-signature header",
    )


def test_a_valid_signature_next_to_non_ascii_junk_is_still_refused() -> None:
    headers = signed()
    headers["webhook-signature"] += " v1,ü"
    assert refusal(headers) == "invalid webhook-signature header"


def test_a_header_given_twice_in_different_case_is_refused() -> None:
    headers = signed()
    headers["Webhook-Id"] = "msg_other"
    assert refusal(headers) == "duplicate webhook-id header"


def test_a_non_ascii_header_name_that_lowercases_to_a_webhook_header_is_ignored() -> None:
    headers = signed()
    del headers["webhook-id"]
    headers["WEBHOO\u212a-ID"] = "msg_1"  # KELVIN SIGN lowercases to "k"
    assert refusal(headers) == "missing webhook-id header"


def test_a_body_that_is_not_bytes_is_refused_not_crashed_on() -> None:
    body: object = BODY.decode()
    with pytest.raises(WebhookVerificationError, match="malformed"):
        verify([SECRET], signed(), body, now=NOW)  # type: ignore[arg-type]


def test_refusals_never_mention_the_secret_or_the_expected_signature() -> None:
    expected = sign(SECRET, "msg_1", NOW, BODY).removeprefix("v1,")
    cases: list[dict[str, str]] = [signed(secret=OLD_SECRET), signed(at=NOW - 301), {}]
    for headers in cases:
        message = refusal(headers)
        for secret in (SECRET, SECRET.removeprefix("whsec_"), expected):
            assert secret not in message


# --- properties -----------------------------------------------------------------------------

header_names = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from(NAMES).map(str.upper),
    st.text(max_size=20),
)
header_values = st.one_of(
    st.text(max_size=80),
    st.integers().map(str),
    st.integers(-(10**40), 10**40).map(str),  # huge and negative timestamps
    st.binary(max_size=80).map(lambda b: b.decode("latin-1")),  # as Starlette decodes bytes
    st.from_regex(r"v1,[A-Za-z0-9+/]{43}=", fullmatch=True),
    st.lists(st.from_regex(r"v[0-9],[A-Za-z0-9+/=]{0,50}", fullmatch=True), max_size=30).map(
        " ".join
    ),
)
any_headers = st.dictionaries(header_names, header_values, max_size=6)


@settings(max_examples=500, deadline=None)
@given(headers=any_headers, body=st.binary(max_size=200))
def test_T1_arbitrary_headers_and_bodies_are_refused_with_the_one_error_type(
    headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(WebhookVerificationError):
        verify([SECRET, OLD_SECRET], headers, body, now=NOW)


@settings(max_examples=500, deadline=None)
@given(
    body=st.binary(max_size=200),
    name=st.sampled_from(NAMES),
    replacement=st.one_of(st.text(max_size=80), st.integers(0, 10**12).map(str)),
)
def test_replacing_any_header_of_a_signed_request_gets_it_refused(
    body: bytes, name: str, replacement: str
) -> None:
    headers = signed(body=body)
    if replacement == headers[name]:
        return
    headers[name] = replacement
    with pytest.raises(WebhookVerificationError):
        verify([SECRET], headers, body, now=NOW)


@settings(max_examples=500, deadline=None)
@given(body=st.binary(max_size=200), other=st.binary(max_size=200))
def test_a_signed_request_with_any_other_body_is_refused(body: bytes, other: bytes) -> None:
    if other == body:
        return
    with pytest.raises(WebhookVerificationError):
        verify([SECRET], signed(body=body), other, now=NOW)


@settings(max_examples=500, deadline=None)
@given(
    body=st.binary(max_size=200),
    msg_id=st.from_regex(r"[!-\-/-~]{1,256}", fullmatch=True),
    skew=st.integers(-300, 300),
)
def test_every_correctly_signed_request_within_the_window_is_accepted(
    body: bytes, msg_id: str, skew: int
) -> None:
    headers = signed(body=body, msg_id=msg_id, at=NOW + skew)
    assert verify([OLD_SECRET, SECRET], headers, body, now=NOW) == msg_id
