"""F19: a Slack workspace that refuses (Messages tab off, free plan, edit window closed): a
clear, logged failure, nothing retried for ever.

The fake workspace is switched to refuse as a real one would (cibot/fakeslack/refusals.py).
The DM job fails once, with an error that says what to change, and is not tried again; the
channel card, which Slack still takes, is posted.
"""

from __future__ import annotations

from cibot.domain.project import Project
from cibot.fakeslack import Channel, FakeSlackServer, User
from tests.support.inprocess import running_bot

CHANNEL = "C0F19DEPLOY"
QA, OWNER = "U0F19QA", "U0F19OWN"
PROJECT = Project(
    id="shop",
    name="Shop",
    url="https://shop.example.com",
    channel=CHANNEL,
    qa=frozenset({QA}),
    owners=frozenset({OWNER}),
    namespace="shop",
)


async def test_F19_dms_refused_for_the_messages_tab_fail_once_with_what_to_change(
    sqlite_url: str,
) -> None:
    users = [User(QA, "qa"), User(OWNER, "owner")]
    with FakeSlackServer(users=users, channels=[Channel(CHANNEL, "deploys")]) as slack:
        slack.state.refusals.switch_on("messages_tab_disabled")
        async with running_bot(sqlite_url, slack, {PROJECT.id: PROJECT}) as bot:
            await bot.report(PROJECT, "f19")
            await slack.state.wait_for_async(
                lambda s: any("ready" in m.visible_text for m in s.messages(CHANNEL)), within=30
            )
            await bot.idle()
            dead = await bot.jobs("dead")
            refused = [c for c in slack.state.calls("chat.postMessage") if c.error]

    assert [(j["kind"], j["attempts"]) for j in dead] == [("sync_review_dms", 1)]
    assert "messages_tab_disabled" in dead[0]["last_error"]
    assert "Messages Tab" in dead[0]["last_error"], "the error says what to change"
    assert {c.error for c in refused} == {"messages_tab_disabled"}
    assert len(refused) == 2, "each DM was tried once, not again"
    assert slack.state.dm_messages(QA) == slack.state.dm_messages(OWNER) == []
