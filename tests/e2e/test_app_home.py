"""App Home: ci-bot's dashboard in Slack, against the real `cibot serve`.

A signed `app_home_opened` event (the Events API, on the one Request URL) makes ci-bot
publish the person's Home tab (`views.publish`, which the fake Slack keeps per person): the
builds waiting for their verdict or decision, with the DMs' buttons, and each project's
environments. A click on the Home tab goes through the same listeners as one in a DM, and
whatever it changes is published again.
"""

from __future__ import annotations

from typing import Any

import pytest

from cibot.fakeslack import FakeSlackServer
from cibot.fakeslack.records import ViewRecord
from tests.support import flow
from tests.support import slack_requests as slack_req
from tests.support.flow import IMAGE, action_ids, dm, press, until
from tests.support.service import CibotProcess
from tests.support.shop import OWNERS, QA

pytestmark = pytest.mark.kubernetes

QA1, QA2 = QA
OWNER1, _ = OWNERS


@pytest.fixture
def cibot_config(cibot_config: dict[str, Any]) -> dict[str, Any]:
    cibot_config["projects"][0]["policy"] = {"approvals_required": 1}
    return cibot_config


def home(slack: FakeSlackServer, user: str) -> ViewRecord:
    view = slack.state.home_view(user)
    assert view is not None, f"{user} has no Home view"
    return view


def offers(slack: FakeSlackServer, user: str, action_id: str, value: str) -> bool:
    view = slack.state.home_view(user)
    return view is not None and any(
        b.action_id == action_id and b.value == value for b in view.buttons
    )


def production(slack: FakeSlackServer, user: str) -> str:
    """What the Home tab says production runs (its Production section)."""
    lines = home(slack, user).visible_text.splitlines()
    start = next((i for i, line in enumerate(lines) if "*Production*" in line), None)
    return "\n".join(lines[start : start + 3]) if start is not None else ""


def open_home(cibot: CibotProcess, slack: FakeSlackServer, user: str) -> None:
    shown = slack.state.home_view(user)
    event = slack_req.app_home_opened(user, view=shown.payload if shown else None)
    response = slack_req.post_event(cibot.url, event)
    assert response.status_code == 200, response.text


def click_on_home(
    cibot: CibotProcess, slack: FakeSlackServer, user: str, action_id: str, value: str
) -> None:
    trigger_id = slack_req.issued(slack, user)
    payload = slack_req.home_click(
        user, action_id, value, home(slack, user).payload, trigger_id=trigger_id
    )
    response = slack_req.post(cibot.url, payload)
    assert response.status_code == 200, response.text


async def test_a_qa_member_who_opens_the_home_tab_sees_their_review_and_approving_there_updates_it(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    build_id = await flow.ready_build(cibot.url, fake_slack, (*QA, *OWNERS))

    open_home(cibot, fake_slack, QA1)

    await until(fake_slack, lambda s: offers(fake_slack, QA1, "qa_approve", build_id))
    shown = home(fake_slack, QA1)
    assert offers(fake_slack, QA1, "qa_reject", build_id)
    assert "https://main." in shown.visible_text, "the preview's link"
    assert fake_slack.state.home_view(QA2) is None, "nobody else opened theirs"

    click_on_home(cibot, fake_slack, QA1, "qa_approve", build_id)

    await until(fake_slack, lambda s: not offers(fake_slack, QA1, "qa_approve", build_id))
    await until(fake_slack, lambda s: "Approved" in dm(fake_slack, QA1).visible_text)
    assert action_ids(dm(fake_slack, QA1)) == [], "the same click as in the DM"
    assert "verdict.approved" in home(fake_slack, QA1).visible_text, "the latest audit lines"


async def test_a_click_refused_on_the_home_tab_is_answered_in_the_persons_dm(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    build_id = await flow.ready_build(cibot.url, fake_slack, (*QA, *OWNERS))
    open_home(cibot, fake_slack, QA2)
    await until(fake_slack, lambda s: offers(fake_slack, QA2, "qa_approve", build_id))

    click_on_home(cibot, fake_slack, QA2, "deploy_production", build_id)

    def answered(_: object) -> bool:
        return any("Not allowed" in m.visible_text for m in fake_slack.state.dm_messages(QA2))

    await until(fake_slack, answered)


async def test_an_owners_home_tab_shows_what_production_runs_after_each_deploy(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    first = await flow.ready_build(cibot.url, fake_slack, (*QA, *OWNERS))
    press(cibot.url, fake_slack, QA1, "qa_approve", first)
    open_home(cibot, fake_slack, OWNER1)
    await until(fake_slack, lambda s: offers(fake_slack, OWNER1, "deploy_production", first))
    assert "No production release yet" in home(fake_slack, OWNER1).visible_text

    click_on_home(cibot, fake_slack, OWNER1, "deploy_production", first)

    await until(fake_slack, lambda s: f"build `{first}`" in production(fake_slack, OWNER1))
    shown = production(fake_slack, OWNER1)
    assert "@sha256:" in shown, "production runs the digest"
    assert f"<@{OWNER1}>" in shown, "who deployed it"
    assert not offers(fake_slack, OWNER1, "deploy_production", first)

    second = await flow.ready_build(
        cibot.url, fake_slack, (*QA, *OWNERS), target="feature/next", image=f"{IMAGE}-next"
    )
    press(cibot.url, fake_slack, QA1, "qa_approve", second)
    await until(fake_slack, lambda s: offers(fake_slack, OWNER1, "deploy_production", second))
    click_on_home(cibot, fake_slack, OWNER1, "deploy_production", second)

    def second_in_production(_: object) -> bool:
        text = production(fake_slack, OWNER1)
        return f"build `{second}`" in text and "Before it" in text

    await until(fake_slack, second_in_production, within=60)
    assert offers(fake_slack, OWNER1, "rollback_production", "2"), "roll back from Home"
