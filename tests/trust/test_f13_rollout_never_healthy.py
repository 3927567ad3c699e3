"""F13: a rollout that never becomes healthy fails after the progress deadline, with the
pod's reason, and the build gets no production button.

An image from `unpullable.invalid/…` stays in `ImagePullBackOff` (the local control plane's
test hook). Without ci-bot's deadline the build would stay "deploying"; without reading the
pods, the card would only say "timed out".
"""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from tests.support.flow import card_saying, press, report_build, until
from tests.support.shop import EVERYONE, SECRET
from tests.support.trust import OTHER_CHANNEL, OTHER_OWNER, Shared, unique

pytestmark = pytest.mark.kubernetes

BAD = "unpullable.invalid/shop/web:1.0"


async def test_F13_an_image_that_never_pulls_fails_with_the_pods_reason_and_no_production_button(
    shared: Shared,
) -> None:
    slack = shared.slack
    response = report_build(
        shared.url, SECRET, project="shop", image=BAD, type="branch", target=unique("f13")
    )
    assert response.status_code == 422, "the allow-list refuses it first"

    response = report_build(
        shared.url, SECRET, project="other", image=BAD, type="branch", target=unique("f13")
    )
    assert response.status_code == 202, response.text
    build_id = response.json()["build_id"]

    card = await card_saying(slack, OTHER_CHANNEL, build_id, "failed", within=120)
    assert "ImagePullBackOff" in card.visible_text
    assert "is ready" not in card.visible_text
    await shared.rows.idle()
    assert shared.rows.build(build_id)["state"] == "failed"
    assert not any(
        b.action_id == "deploy_production"
        for u in (*EVERYONE, OTHER_OWNER)
        for m in slack.state.dm_messages(u)
        for b in m.buttons
        if b.value == build_id
    )
    WebClient("xoxb-fake", base_url=slack.api_url).conversations_open(users=OTHER_OWNER)
    told = len(slack.state.ephemerals(OTHER_OWNER))
    press(shared.url, slack, OTHER_OWNER, "deploy_production", build_id)
    await until(slack, lambda s: len(s.ephemerals(OTHER_OWNER)) > told)
    assert "failed to deploy" in slack.state.ephemerals(OTHER_OWNER)[-1].visible_text
