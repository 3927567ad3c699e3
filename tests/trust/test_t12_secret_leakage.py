"""T12: no secret leaks into logs or responses.

Defence: secrets only from the environment or files; logs redacted; generic 401 bodies.
After a suite of forged requests (each carrying a secret or a correct signature somewhere
it should not be), neither the answers nor the server's log contain a secret, a token or a
signature. Without the redaction and the fixed refusal phrases, the log would repeat the
headers or the verifier's messages.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from cibot.adapters import webhooks
from tests.support import slack_requests as slack_req
from tests.support.ci import body_of
from tests.support.shop import SECRET
from tests.support.trust import IMAGE, Shared, unique

pytestmark = pytest.mark.kubernetes

BOT_TOKEN = "xoxb-fake"


async def test_T12_after_forged_requests_no_secret_token_or_signature_is_in_logs_or_answers(
    shared: Shared,
) -> None:
    body = body_of(project="shop", image=IMAGE, type="branch", target=unique("t12"))
    signed = webhooks.headers(SECRET, body)
    signature = signed["webhook-signature"].split(",", 1)[1]
    other_body = body.replace(b"1.0", b"6.6")
    forged = [
        (body.replace(b"t12", b"t13"), signed),  # a correct signature on another body
        (other_body, {**signed, "webhook-signature": f"v1,{signature} v1,{SECRET}"}),
        (body, {**signed, "webhook-timestamp": "1"}),
        (json.dumps({"project": "shop", "secret": SECRET}).encode(), {"webhook-id": SECRET}),
        (body, {**signed, "authorization": f"Bearer {BOT_TOKEN}", "webhook-id": "x" * 300}),
    ]
    answers = [
        httpx.post(
            f"{shared.url}/build-complete",
            content=b,
            headers={**h, "content-type": "application/json"},
            timeout=10,
        )
        for b, h in forged
    ]
    slack_body = slack_req.encode(slack_req.block_actions("U0X", "close_build", "b", "D0X"))
    slack_headers = slack_req.signed_headers(slack_body, secret="wrong")
    answers.append(
        httpx.post(f"{shared.url}/slack/events", content=slack_body, headers=slack_headers)
    )
    answers.append(httpx.get(f"{shared.url}/metrics"))
    await asyncio.sleep(0.5)

    assert [r.status_code for r in answers[:-1]] == [401] * (len(answers) - 1)
    secrets = [
        SECRET,
        slack_req.SIGNING_SECRET,
        BOT_TOKEN,
        signature,
        slack_headers["x-slack-signature"],
    ]
    for response in answers:
        for secret in secrets:
            assert secret not in response.text
            assert all(secret not in v for v in response.headers.values())
    log = shared.cibot.logs()
    assert log, "the server logs something"
    leaked = [s for s in secrets if s in log]
    assert leaked == [], "found in the log"
