"""T3: a forged or stale Slack request changes nothing.

Defence: the Slack signature (`v0=` HMAC over `v0:timestamp:body`, 5-minute window), checked
before Bolt parses anything, any verifier exception a 401; `team.id` and `api_app_id` checked
against the configuration. Without them, each of these clicks would be taken: the control at
the end shows that a correctly signed one is (it leaves an audit row).
"""

from __future__ import annotations

import math
import time

import httpx
import pytest

from tests.support import slack_requests as slack_req
from tests.support.flow import report_build
from tests.support.shop import OWNERS, SECRET
from tests.support.trust import IMAGE, Shared, unique

pytestmark = pytest.mark.kubernetes


def _raw(url: str, body: str, headers: dict[str, str] | list[tuple[bytes, bytes]]) -> int:
    return httpx.post(f"{url}/slack/events", content=body, headers=headers, timeout=10).status_code


async def test_T3_wrong_secret_stale_reencoded_junk_or_foreign_clicks_get_401_and_change_nothing(
    shared: Shared,
) -> None:
    accepted = report_build(
        shared.url, SECRET, project="shop", image=IMAGE, type="branch", target=unique()
    )
    build_id = accepted.json()["build_id"]
    payload = slack_req.block_actions(OWNERS[0], "close_build", build_id, "D0T3")
    body = slack_req.encode(payload)
    reencoded = body.replace("%22", '"')  # the same form, encoded differently: other bytes
    assert reencoded != body
    await shared.rows.idle()
    before = shared.rows.counts()

    # The header carries whole seconds: round away from now, or +301 can land at +300.4.
    now = time.time()
    answers = {
        "wrong secret": slack_req.post(shared.url, payload, secret="not-the-secret").status_code,
        "stale": slack_req.post(shared.url, payload, at=math.floor(now) - 301).status_code,
        "from the future": slack_req.post(shared.url, payload, at=math.ceil(now) + 301).status_code,
        "alias, wrong secret": slack_req.post(
            shared.url, payload, secret="nope", path="/slack-interactions"
        ).status_code,
        "re-encoded body": _raw(shared.url, reencoded, slack_req.signed_headers(body)),
        "unsigned": _raw(shared.url, body, {"content-type": "application/x-www-form-urlencoded"}),
        "junk headers": _raw(
            shared.url,
            body,
            [
                (b"x-slack-request-timestamp", "\uff11\uff12\uff13".encode()),
                (b"x-slack-signature", b"v0=zz"),
            ],
        ),
        "huge timestamp": _raw(
            shared.url,
            body,
            {**slack_req.signed_headers(body), "x-slack-request-timestamp": "9" * 300},
        ),
        "other team": slack_req.post(
            shared.url,
            slack_req.block_actions(OWNERS[0], "close_build", build_id, "D0T3", team="T0OTHER"),
        ).status_code,
        "other app": slack_req.post(shared.url, {**payload, "api_app_id": "A0OTHER"}).status_code,
    }

    assert answers == dict.fromkeys(answers, 401)
    await shared.rows.idle()
    assert shared.rows.counts() == before
    assert shared.rows.build(build_id)["state"] != "closed"

    control = slack_req.post(shared.url, payload)  # the same click, correctly signed
    assert control.status_code == 200
    await shared.rows.idle()
    assert shared.rows.counts()["audit_events"] > before["audit_events"]
