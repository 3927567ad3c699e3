"""Roll back, end to end: production goes back to the previous release's digest, and only then.

The original flow (`approvals_required: 0`) keeps these short: the quorum has its own tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment

from cibot.fakeslack import FakeSlackServer, Message
from tests.support.flow import press, ready_build, until
from tests.support.service import CibotProcess
from tests.support.shop import CHANNEL, EVERYONE, OWNERS, QA

pytestmark = pytest.mark.kubernetes

OWNER1, OWNER2 = OWNERS


@pytest.fixture
def cibot_config(cibot_config: dict[str, Any]) -> dict[str, Any]:
    cibot_config["projects"][0]["policy"] = {"approvals_required": 0}
    return cibot_config


def announcements(slack: FakeSlackServer) -> list[Message]:
    """The channel's production announcements (the build cards name their build id)."""
    return [m for m in slack.state.messages(CHANNEL) if "ci-bot build id" not in m.visible_text]


def now(slack: FakeSlackServer, message: Message) -> Message:
    """The message as it reads now (it is updated in place)."""
    current = slack.state.message(CHANNEL, message.ts)
    assert current is not None
    return current


def rollback_buttons(message: Message) -> list[str]:
    return [b.value or "" for b in message.buttons if b.action_id == "rollback_production"]


async def production_image(kube: AsyncClient, namespace: str) -> str:
    deployment = await kube.get(Deployment, "shop", namespace=namespace)
    assert deployment.spec is not None and deployment.spec.template.spec is not None
    image = deployment.spec.template.spec.containers[0].image
    assert image is not None
    return image


async def promote(cibot: CibotProcess, slack: FakeSlackServer, target: str, image: str) -> None:
    build_id = await ready_build(cibot.url, slack, EVERYONE, target=target, image=image)
    count = len(announcements(slack))
    press(cibot.url, slack, OWNER1, "deploy_production", build_id)
    await until(
        slack,
        lambda s: (
            len(announcements(slack)) == count + 1
            and "deployed to production" in announcements(slack)[-1].visible_text
        ),
        within=60,
    )


async def test_roll_back_returns_production_to_the_previous_digest_once(
    cibot: CibotProcess, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    await promote(cibot, fake_slack, "one", "registry.example.test/shop/web:1")
    first_image = await production_image(kube, namespace)
    first = announcements(fake_slack)[0]
    assert rollback_buttons(first) == [], "the first release has nothing to go back to"
    assert "nothing earlier to roll back to" in first.visible_text

    await promote(cibot, fake_slack, "two", "registry.example.test/shop/web:2")
    second = announcements(fake_slack)[1]
    assert await production_image(kube, namespace) != first_image
    (release,) = rollback_buttons(second)

    press(cibot.url, fake_slack, OWNER2, "rollback_production", release, channel=CHANNEL)

    await until(
        fake_slack, lambda s: "rolled" in announcements(fake_slack)[-1].visible_text, within=60
    )
    rolled = announcements(fake_slack)[-1]
    assert f"<@{OWNER2}> rolled *Shop* production back" in rolled.visible_text
    assert await production_image(kube, namespace) == first_image
    await until(fake_slack, lambda s: not rollback_buttons(now(fake_slack, second)))
    assert "No longer in production" in now(fake_slack, second).visible_text

    press(cibot.url, fake_slack, OWNER1, "rollback_production", release, channel=CHANNEL)  # again
    await until(
        fake_slack,
        lambda s: any("production has changed" in e.visible_text for e in s.ephemerals(OWNER1)),
    )


async def test_a_rollback_with_no_earlier_release_changes_nothing(
    cibot: CibotProcess, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    await promote(cibot, fake_slack, "one", "registry.example.test/shop/web:1")
    deployment = await kube.get(Deployment, "shop", namespace=namespace)
    assert deployment.metadata is not None
    generation = deployment.metadata.generation

    press(cibot.url, fake_slack, OWNER1, "rollback_production", "1", channel=CHANNEL)  # forged

    await until(
        fake_slack,
        lambda s: any(
            "no earlier production release" in e.visible_text for e in s.ephemerals(OWNER1)
        ),
    )
    again = await kube.get(Deployment, "shop", namespace=namespace)
    assert again.metadata is not None and again.metadata.generation == generation
    assert len(announcements(fake_slack)) == 1


async def test_only_owners_may_roll_back(cibot: CibotProcess, fake_slack: FakeSlackServer) -> None:
    await promote(cibot, fake_slack, "one", "registry.example.test/shop/web:1")
    await promote(cibot, fake_slack, "two", "registry.example.test/shop/web:2")
    (release,) = rollback_buttons(announcements(fake_slack)[1])

    press(cibot.url, fake_slack, QA[0], "rollback_production", release, channel=CHANNEL)

    await until(
        fake_slack,
        lambda s: any("only the owners" in e.visible_text for e in s.ephemerals(QA[0])),
    )
    assert len(announcements(fake_slack)) == 2
