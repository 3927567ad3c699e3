"""Steps 5 to 8 of the flow: DMs, QA verdicts, closing, and promotion to production.

Real signed `block_actions` payloads go to the real `cibot serve`; the fake Slack shows what
each person sees and the local control plane holds the objects.
"""

from __future__ import annotations

from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service
from lightkube.resources.networking_v1 import Ingress

from cibot.fakeslack import FakeSlackServer
from tests.support import flow
from tests.support import slack_requests as slack_req
from tests.support.flow import IMAGE, action_ids, dm, press, until
from tests.support.kube import is_gone, only_deployment
from tests.support.service import CibotProcess
from tests.support.shop import CHANNEL, OWNERS, QA

pytestmark = pytest.mark.kubernetes


@pytest.fixture
def cibot_config(cibot_config: dict[str, Any]) -> dict[str, Any]:
    """The original flow, as `approvals_required: 0` keeps it: owners may deploy at once.

    The quorum and the other policies have their own tests (test_policies.py).
    """
    cibot_config["projects"][0]["policy"] = {"approvals_required": 0}
    return cibot_config


QA1, QA2 = QA
OWNER1, OWNER2 = OWNERS


async def ready_build(
    cibot: CibotProcess, slack: FakeSlackServer, target: str = "main", image: str = IMAGE
) -> str:
    return await flow.ready_build(cibot.url, slack, (*QA, *OWNERS), target=target, image=image)


async def test_a_ready_preview_sends_each_owner_and_qa_member_exactly_one_dm_with_their_buttons(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    build_id = await ready_build(cibot, fake_slack)

    for owner in OWNERS:
        message = dm(fake_slack, owner)
        assert action_ids(message) == ["deploy_production", "close_build"]
        assert {b.value for b in message.buttons} == {build_id}
        assert "https://main." in message.visible_text
        assert f"<@{QA1}>" in message.visible_text, "owners see who does QA"
    for qa in QA:
        message = dm(fake_slack, qa)
        assert action_ids(message) == ["qa_approve", "qa_reject"]
        assert {b.value for b in message.buttons} == {build_id}


async def test_an_approval_updates_the_qa_dm_replies_under_each_owner_dm_and_tallies_the_card(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    build_id = await ready_build(cibot, fake_slack)

    press(cibot.url, fake_slack, QA1, "qa_approve", build_id)

    await until(fake_slack, lambda s: all(len(dm(fake_slack, o).replies) == 1 for o in OWNERS))
    await until(fake_slack, lambda s: not dm(fake_slack, QA1).buttons)
    assert "Approved" in dm(fake_slack, QA1).visible_text
    assert action_ids(dm(fake_slack, QA2)) == ["qa_approve", "qa_reject"], "others keep theirs"
    for owner in OWNERS:
        reply = dm(fake_slack, owner).replies[0]
        assert f"<@{QA1}> has *approved* this build" in reply.visible_text
    await until(fake_slack, lambda s: "1 approved" in s.messages(CHANNEL)[0].visible_text)


async def test_the_first_click_after_a_start_is_answered_without_a_call_to_slack(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    build_id = await ready_build(cibot, fake_slack)
    calls_before = len(fake_slack.state.calls())

    press(cibot.url, fake_slack, QA1, "qa_approve", build_id)

    await until(fake_slack, lambda s: not dm(fake_slack, QA1).buttons)
    assert len(fake_slack.state.calls()) > calls_before, "the click's effects reached Slack"
    # Those calls are the jobs' (DM updates, replies); none was made to answer the click
    # (Bolt's default authorisation would have called auth.test before the ack).
    assert fake_slack.state.calls("auth.test") == []


async def test_a_rejection_asks_for_a_reason_and_shows_it_to_the_owners(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    build_id = await ready_build(cibot, fake_slack)
    press(cibot.url, fake_slack, QA2, "qa_reject", build_id)
    await until(fake_slack, lambda s: len(s.views()) == 1)
    modal = fake_slack.state.views()[0]
    values = {
        "reason": {
            "reason_input": {
                "type": "plain_text_input",
                "value": "the *login* page 500s <!channel>",
            }
        }
    }

    response = slack_req.post(
        cibot.url,
        slack_req.view_submission(
            QA2, "qa_reject_reason", modal.payload["private_metadata"], values
        ),
    )

    assert response.status_code == 200
    await until(fake_slack, lambda s: all(len(dm(fake_slack, o).replies) == 1 for o in OWNERS))
    reply = dm(fake_slack, OWNER1).replies[0].visible_text
    assert f"<@{QA2}> has *rejected* this build" in reply
    assert "login" in reply and "<!channel>" not in reply
    await until(fake_slack, lambda s: "Rejected" in dm(fake_slack, QA2).visible_text)
    assert not dm(fake_slack, QA2).buttons


async def test_deploy_to_production_pins_the_previews_digest_and_announces_it(
    cibot: CibotProcess, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    build_id = await ready_build(cibot, fake_slack)
    preview = await only_deployment(kube, namespace)

    press(cibot.url, fake_slack, OWNER2, "deploy_production", build_id)

    await until(fake_slack, lambda s: len(s.messages(CHANNEL)) == 2, within=60)
    announcement = fake_slack.state.messages(CHANNEL)[1].visible_text
    assert "deployed to production" in announcement and f"<@{OWNER2}>" in announcement
    production = await kube.get(Deployment, "shop", namespace=namespace)
    assert production.metadata is not None and production.metadata.labels is not None
    assert production.metadata.labels["cibot/environment"] == "production"
    assert production.spec is not None and production.spec.template.spec is not None
    image = production.spec.template.spec.containers[0].image
    assert image is not None and image.startswith("registry.example.test/shop/web@sha256:")
    pods = await _preview_image_ids(kube, namespace, preview)
    assert image.split("@")[1] in {i.split("@")[1] for i in pods}
    ingress = await kube.get(Ingress, "shop", namespace=namespace)
    assert ingress.spec is not None and ingress.spec.rules is not None
    assert ingress.spec.rules[0].host == "shop.example.com"

    def told(owner: str) -> bool:
        message = dm(fake_slack, owner)
        return "Deployed to production by" in message.visible_text and not message.buttons

    await until(fake_slack, lambda s: all(told(o) for o in OWNERS))


async def _preview_image_ids(kube: AsyncClient, namespace: str, preview: Deployment) -> set[str]:
    from lightkube.resources.core_v1 import Pod

    assert preview.metadata is not None
    labels: dict[str, Any] = {"app.kubernetes.io/instance": preview.metadata.name or ""}
    pods = [p async for p in kube.list(Pod, namespace=namespace, labels=labels)]
    return {
        cs.imageID
        for p in pods
        if p.status
        for cs in p.status.containerStatuses or []
        if cs.imageID
    }


async def test_close_removes_the_preview_and_every_button_of_the_build(
    cibot: CibotProcess, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    build_id = await ready_build(cibot, fake_slack)
    preview = await only_deployment(kube, namespace)
    assert preview.metadata is not None and preview.metadata.name is not None
    name = preview.metadata.name

    press(cibot.url, fake_slack, OWNER1, "close_build", build_id)

    await until(fake_slack, lambda s: all(not dm(fake_slack, u).buttons for u in (*QA, *OWNERS)))
    assert f"Closed by <@{OWNER1}>" in dm(fake_slack, OWNER2).visible_text
    for kind in (Deployment, Service, Ingress):
        assert await is_gone(kube, kind, name, namespace), f"{kind.__name__} {name} is still there"
