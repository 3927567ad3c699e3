"""The gate to production, end to end: quorum, override, four eyes, allow-list, freezes, groups.

Each test starts the real `cibot serve` with the project's `policy` as a user would write it,
sends real signed builds and clicks, and reads what people see in the fake Slack and what
runs on the local control plane.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment

from cibot.fakeslack import FakeSlackServer, User
from tests.support import slack_requests as slack_req
from tests.support.flow import (
    action_ids,
    dm,
    dm_of,
    dms_of,
    press,
    ready_build,
    send_build,
    slash,
    until,
)
from tests.support.service import run_cli
from tests.support.shop import CHANNEL, EVERYONE, OWNERS, QA, Launch

pytestmark = pytest.mark.kubernetes

QA1, QA2 = QA
OWNER1, OWNER2 = OWNERS


def owner_dm_says(slack: FakeSlackServer, build_id: str, text: str) -> Callable[[Any], bool]:
    def check(_: Any) -> bool:
        return any(text in m.visible_text for m in dms_of(slack, OWNER1, build_id))

    return check


def told(slack: FakeSlackServer, user: str, text: str) -> Callable[[Any], bool]:
    return lambda s: any(text in e.visible_text for e in s.ephemerals(user))


async def production_deployment(kube: AsyncClient, namespace: str) -> Deployment | None:
    try:
        return await kube.get(Deployment, "shop", namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise


async def test_by_default_one_qa_approval_unlocks_the_deploy_button(
    launch: Launch, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    cibot = launch()
    build_id = await ready_build(cibot.url, fake_slack, EVERYONE)
    owner = dm(fake_slack, OWNER1)
    assert action_ids(owner) == ["close_build"], "no Deploy before the quorum"
    assert "it needs 1 more QA approval (0 of 1)" in owner.visible_text

    press(cibot.url, fake_slack, OWNER1, "deploy_production", build_id)  # a stale or forged click
    await until(fake_slack, told(fake_slack, OWNER1, "cannot go to production yet"))
    press(cibot.url, fake_slack, QA1, "qa_approve", build_id)

    await until(fake_slack, lambda s: action_ids(dm(fake_slack, OWNER1))[0] == "deploy_production")
    assert "Approvals: 1 of 1" in dm(fake_slack, OWNER1).visible_text
    press(cibot.url, fake_slack, OWNER1, "deploy_production", build_id)
    await until(fake_slack, lambda s: len(s.messages(CHANNEL)) == 2, within=60)
    assert "deployed to production" in fake_slack.state.messages(CHANNEL)[1].visible_text
    assert await production_deployment(kube, namespace) is not None


async def test_a_rejection_after_the_quorum_takes_the_deploy_button_away_again(
    launch: Launch, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    cibot = launch(policy={"approvals_required": 1})
    build_id = await ready_build(cibot.url, fake_slack, EVERYONE)
    press(cibot.url, fake_slack, QA1, "qa_approve", build_id)
    await until(fake_slack, lambda s: "deploy_production" in action_ids(dm(fake_slack, OWNER2)))

    press(cibot.url, fake_slack, QA2, "qa_reject", build_id)  # no modal answer: rejected as is
    await until(fake_slack, lambda s: len(s.views()) == 1)
    modal = fake_slack.state.views()[0]
    submission = slack_req.view_submission(
        QA2, "qa_reject_reason", modal.payload["private_metadata"], {}
    )
    assert slack_req.post(cibot.url, submission).status_code == 200

    await until(fake_slack, owner_dm_says(fake_slack, build_id, f"rejected by <@{QA2}>"))
    assert action_ids(dm(fake_slack, OWNER1)) == ["close_build"]
    press(cibot.url, fake_slack, OWNER1, "deploy_production", build_id)
    await until(fake_slack, told(fake_slack, OWNER1, "it was rejected by"))
    await asyncio.sleep(1)
    assert await production_deployment(kube, namespace) is None


async def test_two_approvals_required_wait_for_the_second_one(
    launch: Launch, fake_slack: FakeSlackServer
) -> None:
    cibot = launch(policy={"approvals_required": 2})
    build_id = await ready_build(cibot.url, fake_slack, EVERYONE)

    press(cibot.url, fake_slack, QA1, "qa_approve", build_id)
    await until(fake_slack, owner_dm_says(fake_slack, build_id, "Approvals: 1 of 2"))
    assert "it needs 1 more QA approval (1 of 2)" in dm(fake_slack, OWNER1).visible_text
    assert action_ids(dm(fake_slack, OWNER1)) == ["close_build"]

    press(cibot.url, fake_slack, QA2, "qa_approve", build_id)
    await until(fake_slack, owner_dm_says(fake_slack, build_id, "Approvals: 2 of 2"))
    await until(fake_slack, lambda s: "deploy_production" in action_ids(dm(fake_slack, OWNER1)))


async def test_an_owner_may_override_the_quorum_with_a_reason_that_goes_to_audit_and_channel(
    launch: Launch, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    cibot = launch(policy={"approvals_required": 2, "allow_override": True})
    build_id = await ready_build(cibot.url, fake_slack, EVERYONE)
    assert action_ids(dm(fake_slack, OWNER1)) == ["deploy_override", "close_build"]

    press(cibot.url, fake_slack, OWNER1, "deploy_override", build_id)
    await until(fake_slack, lambda s: len(s.views()) == 1)
    modal = fake_slack.state.views()[0]
    assert modal.payload["callback_id"] == "deploy_override_reason"
    empty = slack_req.view_submission(
        OWNER1, "deploy_override_reason", modal.payload["private_metadata"], {}
    )
    refused = slack_req.post(cibot.url, empty)
    assert refused.json()["response_action"] == "errors", "a reason is required"
    values = {
        "override_reason": {"override_reason_input": {"value": "hotfix for <!channel> outage"}}
    }
    submitted = slack_req.view_submission(
        OWNER1, "deploy_override_reason", modal.payload["private_metadata"], values
    )
    assert slack_req.post(cibot.url, submitted).status_code == 200

    await until(fake_slack, lambda s: len(s.messages(CHANNEL)) == 2, within=60)
    announcement = fake_slack.state.messages(CHANNEL)[1].visible_text
    assert "without the required approvals" in announcement
    assert "hotfix for" in announcement and "<!channel>" not in announcement
    assert await production_deployment(kube, namespace) is not None
    audit = run_cli("audit", "--config", str(cibot.path), "--json")
    assert audit.returncode == 0, audit.stderr
    assert '"production.override"' in audit.stdout and "hotfix for" in audit.stdout


async def test_four_eyes_the_authors_approval_never_counts(
    launch: Launch, fake_slack: FakeSlackServer
) -> None:
    fake_slack.state.add_user(User(QA1, "qa1", email="Qa1@Example.com"))
    cibot = launch()

    build_id = await ready_build(cibot.url, fake_slack, EVERYONE, author="qa1@example.com")

    await until(fake_slack, lambda s: "You wrote this build" in dm(fake_slack, QA1).visible_text)
    assert action_ids(dm(fake_slack, QA1)) == ["qa_reject"], "the author may only reject"
    press(cibot.url, fake_slack, QA1, "qa_approve", build_id)  # forged: the button is not there
    await until(fake_slack, told(fake_slack, QA1, "Not allowed: you wrote this build"))
    press(cibot.url, fake_slack, QA2, "qa_approve", build_id)
    await until(fake_slack, lambda s: "deploy_production" in action_ids(dm(fake_slack, OWNER1)))


async def test_an_author_who_may_not_deploy_their_own_build_is_refused_but_another_owner_may(
    launch: Launch, fake_slack: FakeSlackServer
) -> None:
    cibot = launch(policy={"approvals_required": 0, "author_may_deploy": False})
    build_id = await ready_build(cibot.url, fake_slack, EVERYONE, author=OWNER1)

    press(cibot.url, fake_slack, OWNER1, "deploy_production", build_id)
    await until(fake_slack, told(fake_slack, OWNER1, "someone else must deploy it"))
    press(cibot.url, fake_slack, OWNER2, "deploy_production", build_id)
    await until(fake_slack, lambda s: len(s.messages(CHANNEL)) == 2, within=60)
    assert f"by <@{OWNER2}>" in fake_slack.state.messages(CHANNEL)[1].visible_text


async def test_an_author_id_slack_does_not_know_is_not_believed_and_block_keeps_it_back(
    launch: Launch, fake_slack: FakeSlackServer
) -> None:
    """It looks like a Slack id, so it used to be taken as the author: QA1 could then have
    approved their own build under a made-up id. Now Slack is asked, and says nobody."""
    cibot = launch(policy={"approvals_required": 1, "unknown_author": "block"})
    build_id = await ready_build(cibot.url, fake_slack, EVERYONE, author="U0MADEUP")
    press(cibot.url, fake_slack, QA1, "qa_approve", build_id)

    blocked = "its author is unknown to Slack, so four eyes cannot be checked"
    await until(fake_slack, owner_dm_says(fake_slack, build_id, blocked))
    assert action_ids(dm(fake_slack, OWNER1)) == ["close_build"]
    assert (
        "U0MADEUP (author unknown to Slack)" in fake_slack.state.messages(CHANNEL)[0].visible_text
    )
    press(cibot.url, fake_slack, OWNER1, "deploy_production", build_id)  # forged: no such button
    await until(fake_slack, told(fake_slack, OWNER1, blocked))


async def test_an_owner_who_approved_may_not_deploy_when_the_policy_wants_another(
    launch: Launch, fake_slack: FakeSlackServer
) -> None:
    cibot = launch(qa=[QA1, OWNER1], policy={"approver_may_deploy": False})
    build_id = await ready_build(cibot.url, fake_slack, (QA1, *OWNERS))
    press(cibot.url, fake_slack, OWNER1, "qa_approve", build_id)
    await until(fake_slack, lambda s: "deploy_production" in action_ids(dm(fake_slack, OWNER2)))

    press(cibot.url, fake_slack, OWNER1, "deploy_production", build_id)
    await until(fake_slack, told(fake_slack, OWNER1, "you approved this build"))
    press(cibot.url, fake_slack, OWNER2, "deploy_production", build_id)
    await until(fake_slack, lambda s: len(s.messages(CHANNEL)) == 2, within=60)
    assert f"by <@{OWNER2}>" in fake_slack.state.messages(CHANNEL)[1].visible_text


async def test_an_image_from_outside_the_allow_list_is_refused_before_anything_is_contacted(
    launch: Launch, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    cibot = launch(policy={"allowed_images": ["registry.example.test/shop/*"]})

    refused = send_build(cibot.url, image="evil.example.com/shop/web:1")
    allowed = send_build(cibot.url, image="registry.example.test/shop/api:1", target="api")

    assert refused.status_code == 422
    assert refused.json()["field"] == "image"
    assert "evil.example.com/shop/web:1" in refused.json()["error"]
    assert allowed.status_code == 202
    await until(fake_slack, lambda s: len(s.messages(CHANNEL)) == 1)
    await asyncio.sleep(1)
    cards = fake_slack.state.messages(CHANNEL)
    assert len(cards) == 1 and "api" in cards[0].visible_text, "no card for the refused build"
    images = [
        c.image
        async for d in kube.list(Deployment, namespace=namespace)
        if d.spec and d.spec.template.spec
        for c in d.spec.template.spec.containers
    ]
    assert images == ["registry.example.test/shop/api:1"]
    audit = run_cli("audit", "--config", str(cibot.path), "--json")
    assert '"build.refused"' in audit.stdout and "evil.example.com" in audit.stdout


async def test_a_configured_freeze_window_explains_itself_and_stops_deploys(
    launch: Launch, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    window = {
        "start": "2020-01-01T00:00:00Z",
        "end": "2099-01-01T00:00:00Z",
        "reason": "the big migration",
    }
    cibot = launch(policy={"approvals_required": 0, "freeze_windows": [window]})
    build_id = await ready_build(cibot.url, fake_slack, EVERYONE)

    owner = dm(fake_slack, OWNER1)
    assert (
        "Production is frozen until 2099-01-01 00:00 UTC: the big migration" in owner.visible_text
    )
    assert action_ids(owner) == ["close_build"]
    press(cibot.url, fake_slack, OWNER1, "deploy_production", build_id)
    await until(fake_slack, told(fake_slack, OWNER1, "production is frozen"))
    await asyncio.sleep(1)
    assert await production_deployment(kube, namespace) is None


async def test_an_owner_freezes_and_unfreezes_production_from_slack(
    launch: Launch, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    cibot = launch(policy={"approvals_required": 0})
    build_id = await ready_build(cibot.url, fake_slack, EVERYONE)
    assert "deploy_production" in action_ids(dm(fake_slack, OWNER1))

    assert "Not allowed: only the owners" in slash(cibot.url, QA1, "freeze shop because")
    answer = slash(cibot.url, OWNER1, "freeze shop release week")
    assert "frozen until an owner unfreezes them" in answer
    assert "already frozen" in slash(cibot.url, OWNER2, "freeze")  # in the project's channel

    await until(fake_slack, lambda s: "are frozen by" in s.messages(CHANNEL)[-1].visible_text)
    assert "release week" in fake_slack.state.messages(CHANNEL)[-1].visible_text
    await until(fake_slack, owner_dm_says(fake_slack, build_id, "Production is frozen by"))
    # each owner's DM is redrawn by its own job: wait for the second one too, not only the first
    await until(fake_slack, lambda s: action_ids(dm(fake_slack, OWNER2)) == ["close_build"])
    press(cibot.url, fake_slack, OWNER2, "deploy_production", build_id)
    await until(fake_slack, told(fake_slack, OWNER2, "production is frozen by U0OWNER1"))

    assert "may go ahead again" in slash(cibot.url, OWNER2, "unfreeze shop")
    await until(fake_slack, lambda s: "deploy_production" in action_ids(dm(fake_slack, OWNER1)))
    press(cibot.url, fake_slack, OWNER1, "deploy_production", build_id)
    announced = "deployed to production"
    await until(fake_slack, lambda s: announced in s.messages(CHANNEL)[-1].visible_text, within=60)
    assert await production_deployment(kube, namespace) is not None
    history = slash(cibot.url, QA2, "history shop 20")
    for action in ("production.frozen", "production.unfrozen", "production.deployed"):
        assert action in history


async def test_qa_given_as_a_slack_user_group_are_its_members(
    launch: Launch, fake_slack: FakeSlackServer
) -> None:
    fake_slack.state.set_group("S0QAGROUP", [QA2])
    cibot = launch(qa=["S0QAGROUP"])

    build_id = await ready_build(cibot.url, fake_slack, (QA2, *OWNERS))

    assert fake_slack.state.dm_messages(QA1) == [], "not in the group: no DM"
    assert f"QA: <@{QA2}>" in dm(fake_slack, OWNER1).visible_text
    press(cibot.url, fake_slack, QA1, "qa_approve", build_id, channel=CHANNEL)
    await until(fake_slack, told(fake_slack, QA1, "Not allowed: only the QA members"))
    press(cibot.url, fake_slack, QA2, "qa_approve", build_id)
    await until(fake_slack, lambda s: "deploy_production" in action_ids(dm(fake_slack, OWNER1)))


async def test_an_approver_removed_from_the_config_no_longer_counts(
    launch: Launch, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    first = launch()
    build_id = await ready_build(first.url, fake_slack, EVERYONE)
    press(first.url, fake_slack, QA1, "qa_approve", build_id)
    await until(fake_slack, lambda s: "deploy_production" in action_ids(dm(fake_slack, OWNER1)))
    first.stop()

    again = launch(qa=[QA2])
    press(again.url, fake_slack, OWNER1, "deploy_production", build_id)

    await until(fake_slack, told(fake_slack, OWNER1, "it needs 1 more QA approval (0 of 1)"))
    await asyncio.sleep(1)
    assert await production_deployment(kube, namespace) is None


async def test_a_change_to_a_groups_members_reaches_the_roles_at_the_next_refresh(
    launch: Launch, fake_slack: FakeSlackServer, cibot_config: dict[str, Any]
) -> None:
    fake_slack.state.set_group("S0QAGROUP", [QA1])
    cibot_config["slack"]["group_refresh_seconds"] = 1
    cibot = launch(qa=["S0QAGROUP"])
    build_id = await ready_build(cibot.url, fake_slack, (QA1, *OWNERS))

    fake_slack.state.set_group("S0QAGROUP", [QA2])

    await until(fake_slack, lambda s: bool(dms_of(fake_slack, QA2, build_id)))
    assert action_ids(dm_of(fake_slack, QA2, build_id)) == ["qa_approve", "qa_reject"]
    await until(fake_slack, lambda s: not dm(fake_slack, QA1).buttons)
    assert "no longer in QA" in dm(fake_slack, QA1).visible_text
    press(cibot.url, fake_slack, QA1, "qa_approve", build_id)
    await until(fake_slack, told(fake_slack, QA1, "Not allowed: only the QA members"))
