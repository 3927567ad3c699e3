"""T1: a forged `/build-complete` is refused before anything is believed or stored.

Defence: Standard Webhooks HMAC over `id.timestamp.body`, verified on the raw bytes before
anything else; any exception is a 401. Without it a forgery would get a 202 and a build
row; without the "any exception" rule a junk header or body would get a 500.
The property test over arbitrary headers and bodies is in tests/unit/test_webhooks.py
(`test_T1_arbitrary_headers_and_bodies_are_refused_with_the_one_error_type`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from cibot.adapters import webhooks
from tests.support.ci import body_of
from tests.support.shop import SECRET
from tests.support.trust import IMAGE, Shared, unique

pytestmark = pytest.mark.kubernetes

Forge = Callable[[bytes, dict[str, str]], tuple[bytes, list[tuple[bytes, bytes]]]]


def _as_list(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in headers.items()]


def _flip_a_byte(body: bytes, h: dict[str, str]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    return body[:-3] + bytes([body[-3] ^ 0x01]) + body[-2:], _as_list(h)


def _wrong_secret(body: bytes, h: dict[str, str]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    return body, _as_list(webhooks.headers("not-the-secret", body))


def _without(name: str) -> Forge:
    def forge(body: bytes, h: dict[str, str]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        return body, _as_list({k: v for k, v in h.items() if k != name})

    return forge


def _header(name: str, value: bytes) -> Forge:
    def forge(body: bytes, h: dict[str, str]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        return body, [(k.encode(), value if k == name else v.encode()) for k, v in h.items()]

    return forge


def _twice(body: bytes, h: dict[str, str]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    return body, [*_as_list(h), (b"Webhook-Signature", b"v1,AAAA")]


FORGERIES: dict[str, Forge] = {
    "one flipped byte": _flip_a_byte,
    "wrong secret": _wrong_secret,
    "no webhook-id": _without("webhook-id"),
    "no webhook-timestamp": _without("webhook-timestamp"),
    "no webhook-signature": _without("webhook-signature"),
    "non-ASCII timestamp": _header("webhook-timestamp", "\uff11\uff12\uff13".encode()),
    "huge timestamp": _header("webhook-timestamp", b"9" * 400),
    "negative timestamp": _header("webhook-timestamp", b"-1"),
    "non-ASCII signature": _header("webhook-signature", "v1,\u00e9\u00e9".encode()),
    "huge signature": _header("webhook-signature", b"v1," + b"A" * 20000),
    "junk signature": _header("webhook-signature", b"v1,!!!! v2 ,,,"),
    "non-ASCII id": _header("webhook-id", "msg_\u2603".encode()),
    "signature header twice": _twice,
}


def _post(url: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> httpx.Response:
    headers = [*headers, (b"content-type", b"application/json")]
    return httpx.post(f"{url}/build-complete", content=body, headers=headers, timeout=30)


async def test_T1_a_valid_signature_gets_202_and_every_forgery_401_with_nothing_stored(
    shared: Shared,
) -> None:
    body = body_of(project="shop", image=IMAGE, type="branch", target=unique("t1"))
    await shared.rows.idle()
    before = shared.rows.counts()

    answers = {}
    for why, forge in FORGERIES.items():
        forged_body, headers = forge(body, webhooks.headers(SECRET, body))
        answers[why] = _post(shared.url, forged_body, headers)

    assert {why: r.status_code for why, r in answers.items()} == dict.fromkeys(FORGERIES, 401)
    assert all(
        r.json() == {"error": "invalid or missing webhook signature"} for r in answers.values()
    )
    await shared.rows.idle()
    assert shared.rows.counts() == before, "a forged request stored something"

    valid = _post(shared.url, body, _as_list(webhooks.headers(SECRET, body)))
    assert valid.status_code == 202, valid.text
    assert shared.rows.build(valid.json()["build_id"])["state"] in {
        "accepted",
        "deploying",
        "ready",
    }


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[" * 16_000, "application/json"),  # past the parser's recursion limit, within 16 KiB
        (b"\xff\xfe\x00junk", "application/json"),
        (b"project=shop&project=shop", "application/x-www-form-urlencoded"),
        (b"%%%=&&&", "application/x-www-form-urlencoded"),
        (b'{"project": "shop"}', "text/plain; charset=\xff"),
    ],
    ids=["deep-json", "not-utf8", "field-twice", "bad-form", "odd-content-type"],
)
async def test_T1_an_unsigned_junk_body_is_a_401_never_a_500(
    shared: Shared, body: bytes, content_type: str
) -> None:
    before = shared.rows.counts()["builds"]
    headers = [
        (b"webhook-id", b"msg_junk"),
        (b"webhook-timestamp", str(int(time.time())).encode()),
        (b"webhook-signature", b"v1,AAAA"),
        (b"content-type", content_type.encode("latin-1")),
    ]
    response = httpx.post(f"{shared.url}/build-complete", content=body, headers=headers, timeout=30)

    assert response.status_code == 401, response.text
    assert shared.rows.counts()["builds"] == before
