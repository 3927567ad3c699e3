"""T4: a double click, a replayed click and twenty concurrent clicks make one transition.

Defence: every transition is a compare-and-set; verdicts are unique per (build, user); the
project has one production slot. Without them the replay would count a second verdict and
post a second reply, and the concurrent clicks would start several production deploys.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment

from cibot.fakeslack import FakeSlackServer
from tests.support import slack_requests as slack_req
from tests.support.flow import dm_of, ready_build, until
from tests.support.service import CibotProcess
from tests.support.shop import CHANNEL, EVERYONE, OWNERS, QA
from tests.support.trust import IMAGE, Shared, unique

pytestmark = pytest.mark.kubernetes


async def test_T4_the_same_approval_payload_twice_is_one_verdict_and_one_reply_per_owner(
    shared: Shared,
) -> None:
    slack = shared.slack
    build_id = await ready_build(
        shared.url, slack, EVERYONE,
        project="shop", image=IMAGE, type="branch", target=unique("t4"),
    )  # fmt: skip
    payload = slack_req.block_actions(
        QA[0],
        "qa_approve",
        build_id,
        dm_of(slack, QA[0], build_id).channel,
        trigger_id=slack_req.issued(slack, QA[0]),
    )
    told = len(slack.state.ephemerals(QA[0]))  # the shared workspace keeps earlier tests' too

    first = slack_req.post(shared.url, payload)
    replay = slack_req.post(shared.url, payload)

    assert first.status_code == replay.status_code == 200
    await until(slack, lambda s: all(dm_of(slack, o, build_id).replies for o in OWNERS))
    await shared.rows.idle()
    assert all(len(dm_of(slack, o, build_id).replies) == 1 for o in OWNERS)
    verdicts = shared.rows.all("SELECT * FROM verdicts WHERE build_id = :b", b=build_id)
    assert len(verdicts) == 1
    assert any("already" in e.visible_text for e in slack.state.ephemerals(QA[0])[told:])


@pytest.fixture
def cibot_config(cibot_config: dict[str, Any]) -> dict[str, Any]:
    cibot_config["projects"][0]["policy"] = {"approvals_required": 0}
    return cibot_config


async def test_T4_twenty_concurrent_deploys_make_one_production_deploy(
    cibot: CibotProcess, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    build_id = await ready_build(
        cibot.url, fake_slack, EVERYONE,
        project="shop", image=IMAGE, type="branch", target="main",
    )  # fmt: skip

    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(*(
            slack_req.post_async(client, cibot.url, slack_req.block_actions(
                OWNERS[i % 2], "deploy_production", build_id,
                dm_of(fake_slack, OWNERS[i % 2], build_id).channel,
                trigger_id=slack_req.issued(fake_slack, OWNERS[i % 2]),
            ))
            for i in range(20)
        ))  # fmt: skip

    assert {r.status_code for r in responses} == {200}
    await until(fake_slack, lambda s: len(s.messages(CHANNEL)) == 2, within=90)
    await asyncio.sleep(1)
    assert len(fake_slack.state.messages(CHANNEL)) == 2, "one card and one announcement"
    production = await kube.get(Deployment, "shop", namespace=namespace)
    assert production.metadata is not None and production.metadata.generation == 1
    told = [e for o in OWNERS for e in fake_slack.state.ephemerals(o)]
    assert len(told) == 19, "every other click was told why nothing happened"
