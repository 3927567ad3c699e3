"""The fake Slack behaves like Slack for the real `slack_sdk` clients, sync and async.

Every test talks HTTP to a running fake through `slack_sdk`'s own `WebClient` or
`AsyncWebClient`, and reads what each person would see from the fake's state.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from cibot.fakeslack import Channel, FakeSlackAdmin, FakeSlackServer, User

TOKEN = "xoxb-fake"
QA = User("U01QA", "quinn", "Quinn QA", "quinn@example.com")
OWNER = User("U03OWNER", "olga", "Olga Owner", "olga@example.com")
OUTSIDER = User("U09OUT", "otto", "Otto Outsider", "otto@example.com")
DEPLOYS = Channel("C0123456789", "shop-deploys", frozenset({QA.id, OWNER.id}))

APPROVE_BUTTONS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*main* is ready for QA"}},
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "qa_approve",
                "value": "42",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
            },
            {
                "type": "button",
                "action_id": "qa_reject",
                "value": "42",
                "style": "danger",
                "text": {"type": "plain_text", "text": "Reject"},
            },
        ],
    },
]
APPROVED: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*main* is ready for QA"}},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": ":white_check_mark: Approved"}]},
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlackServer]:
    with FakeSlackServer(users=[QA, OWNER, OUTSIDER], channels=[DEPLOYS]) as running:
        yield running


@pytest.fixture
def slack(server: FakeSlackServer) -> Iterator[FakeSlackServer]:
    """The shared server, emptied of messages, calls and faults for each test."""
    server.state.reset()
    server.faults.clear()
    yield server
    server.faults.clear()


@pytest.fixture
def client(slack: FakeSlackServer) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])


@pytest.fixture
def async_client(slack: FakeSlackServer) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])


def slack_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> Any:
    return excinfo.value.response["error"]


# -- messages -------------------------------------------------------------------------------


def test_a_posted_message_can_be_read_back(slack: FakeSlackServer, client: WebClient) -> None:
    posted = client.chat_postMessage(channel=DEPLOYS.id, text="New build", blocks=APPROVE_BUTTONS)

    [message] = slack.state.messages(DEPLOYS.id)
    assert posted["channel"] == DEPLOYS.id
    assert posted["ts"] == message.ts
    assert posted["message"]["bot_id"] == slack.state.config.bot_id
    assert message.text == "New build"
    assert "*main* is ready for QA" in message.visible_text
    assert [b.action_id for b in message.buttons] == ["qa_approve", "qa_reject"]
    assert all(block.get("block_id") for block in message.blocks)


async def test_the_async_client_posts_and_reads_back_too(
    slack: FakeSlackServer, async_client: AsyncWebClient
) -> None:
    first = await async_client.chat_postMessage(channel=DEPLOYS.id, text="one")
    second = await async_client.chat_postMessage(channel=DEPLOYS.id, text="two")

    assert float(first["ts"]) < float(second["ts"])
    assert [m.text for m in slack.state.messages(DEPLOYS.id)] == ["one", "two"]


def test_a_dm_via_conversations_open_and_via_the_user_id_land_in_the_same_conversation(
    slack: FakeSlackServer, client: WebClient
) -> None:
    opened = client.conversations_open(users=QA.id)["channel"]["id"]
    via_dm = client.chat_postMessage(channel=opened, text="via the DM id")
    via_user = client.chat_postMessage(channel=QA.id, text="via the user id")

    assert opened.startswith("D")
    assert via_dm["channel"] == via_user["channel"] == opened
    assert client.conversations_open(users=QA.id)["channel"]["id"] == opened
    assert [m.text for m in slack.state.dm_messages(QA.id)] == ["via the DM id", "via the user id"]
    assert slack.state.dm_messages(OWNER.id) == []


def test_a_thread_reply_appears_under_its_parent(slack: FakeSlackServer, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=OWNER.id, text="build 42")
    reply = client.chat_postMessage(
        channel=parent["channel"], thread_ts=parent["ts"], text="<@U01QA> has *approved* this build"
    )
    nested = client.chat_postMessage(channel=parent["channel"], thread_ts=reply["ts"], text="2nd")

    [top] = slack.state.dm_messages(OWNER.id)
    assert top.ts == parent["ts"]
    assert [r.text for r in top.replies] == ["<@U01QA> has *approved* this build", "2nd"]
    assert nested["message"]["thread_ts"] == parent["ts"]
    assert slack.state.thread(parent["channel"], parent["ts"]) == list(top.replies)


def test_a_reply_to_an_unknown_thread_is_refused(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=DEPLOYS.id, thread_ts="1.000001", text="lost")
    assert slack_error(excinfo) == "thread_not_found"


def test_chat_update_changes_the_message_in_place_and_counts_the_edits(
    slack: FakeSlackServer, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel=QA.id, text="QA please", blocks=APPROVE_BUTTONS)
    updated = client.chat_update(
        channel=posted["channel"], ts=posted["ts"], text="Approved", blocks=APPROVED
    )

    [message] = slack.state.dm_messages(QA.id)
    assert updated["ts"] == posted["ts"] == message.ts
    assert message.update_count == 1
    assert "Approved" in message.visible_text
    assert message.buttons == []
    assert message.history[0].text == "QA please"


def test_an_update_without_blocks_keeps_them_and_an_empty_list_removes_them(
    slack: FakeSlackServer, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel=DEPLOYS.id, text="card", blocks=APPROVE_BUTTONS)
    client.chat_update(channel=DEPLOYS.id, ts=posted["ts"], text="new fallback")
    kept = slack.state.message(DEPLOYS.id, posted["ts"])
    client.chat_update(channel=DEPLOYS.id, ts=posted["ts"], text="plain now", blocks=[])
    removed = slack.state.message(DEPLOYS.id, posted["ts"])

    assert kept is not None
    assert len(kept.buttons) == 2
    assert removed is not None
    assert removed.blocks == ()
    assert removed.visible_text == "plain now"
    assert removed.update_count == 2


def test_chat_update_needs_the_channel_id_the_post_returned(client: WebClient) -> None:
    posted = client.chat_postMessage(channel=QA.id, text="hi")
    with pytest.raises(SlackApiError) as by_user:
        client.chat_update(channel=QA.id, ts=posted["ts"], text="edited")
    with pytest.raises(SlackApiError) as wrong_ts:
        client.chat_update(channel=posted["channel"], ts="1.000001", text="edited")

    assert slack_error(by_user) == "channel_not_found"
    assert slack_error(wrong_ts) == "message_not_found"


def test_a_message_someone_else_wrote_cannot_be_updated(
    slack: FakeSlackServer, client: WebClient
) -> None:
    theirs = slack.state.post_message(DEPLOYS.id, text="human words", user=QA.id)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel=DEPLOYS.id, ts=theirs.ts, text="bot words")
    assert slack_error(excinfo) == "cant_update_message"


def test_an_ephemeral_message_is_seen_only_by_its_user(
    slack: FakeSlackServer, client: WebClient
) -> None:
    answer = client.chat_postEphemeral(channel=DEPLOYS.id, user=QA.id, text="You may not deploy")
    with pytest.raises(SlackApiError) as outsider:
        client.chat_postEphemeral(channel=DEPLOYS.id, user=OUTSIDER.id, text="not a member")

    [seen] = slack.state.ephemerals(QA.id)
    assert seen.ts == answer["message_ts"]
    assert seen.visible_text == "You may not deploy"
    assert slack.state.ephemerals(OWNER.id) == []
    assert slack.state.messages(DEPLOYS.id) == []
    assert slack_error(outsider) == "user_not_in_channel"


def test_posting_to_an_unknown_channel_or_user_fails_with_channel_not_found(
    client: WebClient,
) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C_NOPE", text="hi")
    assert slack_error(excinfo) == "channel_not_found"


# -- Block Kit validation -------------------------------------------------------------------


GO = {"type": "plain_text", "text": "Go"}


def _actions(element: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "actions", "elements": [element]}]


@pytest.mark.parametrize(
    ("blocks", "complaint"),
    [
        (_actions({"type": "button", "action_id": "qa_approve", "value": "1"}), "text"),
        ([{"type": "divider"}] * 51, "no more than 50 items"),
        ([{"type": "carrousel"}], "unsupported type"),
        ([{"type": "divider", "colour": "red"}], "unknown property 'colour'"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "*x*"}}], "plain_text"),
        (_actions({"type": "button", "action_id": "a", "text": "Go"}), "must be an object"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "3000"),
        (_actions({"type": "button", "action_id": "a", "value": "v" * 2001, "text": GO}), "2000"),
    ],
    ids=[
        "button-without-text",
        "51-blocks",
        "unknown-block-type",
        "unknown-property",
        "mrkdwn-header",
        "string-as-text-object",
        "section-text-too-long",
        "button-value-too-long",
    ],
)
def test_invalid_blocks_are_rejected_with_the_reasons(
    slack: FakeSlackServer, client: WebClient, blocks: list[dict[str, Any]], complaint: str
) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=DEPLOYS.id, text="x", blocks=blocks)

    assert slack_error(excinfo) == "invalid_blocks"
    assert any(complaint in error for error in excinfo.value.response["errors"])
    assert slack.state.messages(DEPLOYS.id) == []


def test_blocks_sent_form_encoded_are_decoded_and_validated(
    slack: FakeSlackServer, client: WebClient
) -> None:
    good = '[{"type": "section", "text": {"type": "mrkdwn", "text": "form"}}]'
    client.api_call("chat.postMessage", data={"channel": DEPLOYS.id, "blocks": good})
    with pytest.raises(SlackApiError) as bad:
        client.api_call("chat.postMessage", data={"channel": DEPLOYS.id, "blocks": '[{"type": 1'})

    assert [m.visible_text for m in slack.state.messages(DEPLOYS.id)] == ["form"]
    assert slack.state.calls()[0].args["blocks"][0]["type"] == "section"
    assert slack_error(bad) == "invalid_blocks_format"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_a_message_needs_text_or_blocks_and_at_most_40000_characters(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as empty:
        client.chat_postMessage(channel=DEPLOYS.id)
    with pytest.raises(SlackApiError) as too_long:
        client.chat_postMessage(channel=DEPLOYS.id, text="x" * 40_001)

    assert slack_error(empty) == "no_text"
    assert slack_error(too_long) == "msg_too_long"


# -- auth, users, views ----------------------------------------------------------------------


def test_a_bad_token_is_refused_with_invalid_auth_and_none_with_not_authed(
    slack: FakeSlackServer,
) -> None:
    with pytest.raises(SlackApiError) as bad:
        WebClient(token="xoxb-wrong", base_url=slack.api_url).chat_postMessage(
            channel=DEPLOYS.id, text="hi"
        )
    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=slack.api_url).auth_test()

    assert slack_error(bad) == "invalid_auth"
    assert slack_error(missing) == "not_authed"
    assert slack.state.messages(DEPLOYS.id) == []


def test_auth_test_names_the_bot_and_its_workspace(
    slack: FakeSlackServer, client: WebClient
) -> None:
    me = client.auth_test()
    assert me["user_id"] == slack.state.config.bot_user_id
    assert me["team_id"] == slack.state.config.team_id
    assert me["bot_id"] == slack.state.config.bot_id


def test_an_unknown_method_answers_unknown_method(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.teleport")
    assert slack_error(excinfo) == "unknown_method"


async def test_users_are_found_by_id_and_by_email(async_client: AsyncWebClient) -> None:
    by_id = await async_client.users_info(user=QA.id)
    by_email = await async_client.users_lookupByEmail(email="OLGA@example.com")
    with pytest.raises(SlackApiError) as no_id:
        await async_client.users_info(user="U_NOBODY")
    with pytest.raises(SlackApiError) as no_email:
        await async_client.users_lookupByEmail(email="nobody@example.com")

    assert by_id["user"]["profile"]["email"] == QA.email
    assert by_id["user"]["real_name"] == QA.real_name
    assert by_email["user"]["id"] == OWNER.id
    assert no_id.value.response["error"] == "user_not_found"
    assert no_email.value.response["error"] == "users_not_found"


async def test_a_user_groups_members_are_listed_and_can_change(
    slack: FakeSlackServer, async_client: AsyncWebClient
) -> None:
    slack.state.set_group("S0QA", [QA.id])
    first = await async_client.usergroups_users_list(usergroup="S0QA")
    slack.state.set_group("S0QA", [QA.id, OWNER.id])
    second = await async_client.usergroups_users_list(usergroup="S0QA")
    with pytest.raises(SlackApiError) as unknown:
        await async_client.usergroups_users_list(usergroup="S0NOPE")

    assert first["users"] == [QA.id]
    assert second["users"] == [QA.id, OWNER.id]
    assert unknown.value.response["error"] == "no_such_subteam"


def test_a_modal_is_validated_and_opened_and_a_home_tab_published(
    slack: FakeSlackServer, client: WebClient
) -> None:
    trigger_id = slack.state.new_trigger_id(OWNER.id)
    modal = {
        "type": "modal",
        "callback_id": "rollback",
        "title": {"type": "plain_text", "text": "Roll back"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Sure?"}}],
    }
    opened = client.views_open(trigger_id=trigger_id, view=modal)
    client.views_publish(user_id=OWNER.id, view={"type": "home", "blocks": APPROVED})
    with pytest.raises(SlackApiError) as bad:
        client.views_open(trigger_id=trigger_id, view={**modal, "title": "a string"})

    [view] = slack.state.views(OWNER.id)
    home = slack.state.home_view(OWNER.id)
    assert opened["view"]["id"] == view.id
    assert view.id.startswith("V")
    assert view.visible_text == "Sure?"
    assert home is not None
    assert "Approved" in home.visible_text
    assert slack_error(bad) == "invalid_arguments"


# -- faults -----------------------------------------------------------------------------------


def test_a_429_is_retried_by_the_sync_client_after_retry_after(slack: FakeSlackServer) -> None:
    client = WebClient(
        token=TOKEN, base_url=slack.api_url, retry_handlers=[RateLimitErrorRetryHandler()]
    )
    slack.faults.rate_limit(retry_after=1, method="chat.postMessage")

    client.chat_postMessage(channel=DEPLOYS.id, text="after the limit")

    first, second = slack.state.calls("chat.postMessage")
    assert (first.status, first.fault, second.status) == (429, "ratelimit", 200)
    assert second.time - first.time >= 0.95
    assert [m.text for m in slack.state.messages(DEPLOYS.id)] == ["after the limit"]


async def test_a_429_is_retried_by_the_async_client_after_retry_after(
    slack: FakeSlackServer,
) -> None:
    client = AsyncWebClient(
        token=TOKEN, base_url=slack.api_url, retry_handlers=[AsyncRateLimitErrorRetryHandler()]
    )
    slack.faults.rate_limit(retry_after=1)

    await client.chat_postMessage(channel=DEPLOYS.id, text="after the limit")

    first, second = slack.state.calls("chat.postMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.time - first.time >= 0.95
    assert len(slack.state.messages(DEPLOYS.id)) == 1


def test_without_a_retry_handler_a_429_surfaces_with_its_retry_after(
    slack: FakeSlackServer, client: WebClient
) -> None:
    slack.faults.rate_limit(retry_after=7)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=DEPLOYS.id, text="hi")

    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["retry-after"] == "7"
    assert slack_error(excinfo) == "ratelimited"


def test_a_fault_for_one_method_leaves_the_others_alone(
    slack: FakeSlackServer, client: WebClient
) -> None:
    slack.faults.server_error(method="chat.update")
    client.chat_postMessage(channel=DEPLOYS.id, text="fine")
    assert [f.method for f in slack.faults.pending()] == ["chat.update"]


def test_a_5xx_is_retried_by_the_server_error_handler(slack: FakeSlackServer) -> None:
    quick = FixedValueRetryIntervalCalculator(0.05)
    handler = ServerErrorRetryHandler(max_retry_count=2, interval_calculator=quick)
    client = WebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[handler])
    slack.faults.server_error(count=2, status=503)

    client.chat_postMessage(channel=DEPLOYS.id, text="third time lucky")

    assert [c.status for c in slack.state.calls()] == [503, 503, 200]
    assert len(slack.state.messages(DEPLOYS.id)) == 1


async def test_a_500_is_retried_by_the_async_server_error_handler(
    slack: FakeSlackServer,
) -> None:
    quick = FixedValueRetryIntervalCalculator(0.05)
    handler = AsyncServerErrorRetryHandler(interval_calculator=quick)
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[handler])
    slack.faults.server_error(status=500)

    await client.chat_postMessage(channel=DEPLOYS.id, text="second time")

    assert [c.status for c in slack.state.calls()] == [500, 200]


def test_a_stalled_call_is_answered_late_and_still_takes_effect(
    slack: FakeSlackServer, client: WebClient
) -> None:
    slack.faults.stall(0.5)
    started = time.monotonic()
    client.chat_postMessage(channel=DEPLOYS.id, text="slow")
    assert time.monotonic() - started >= 0.5

    short = WebClient(token=TOKEN, base_url=slack.api_url, timeout=1, retry_handlers=[])
    slack.faults.stall(1.3)
    with pytest.raises(TimeoutError):
        short.chat_postMessage(channel=DEPLOYS.id, text="timed out, posted anyway")
    slack.state.wait_for(lambda s: len(s.messages(DEPLOYS.id)) == 2, within=1.0)


def test_a_dropped_connection_is_a_connection_error_for_the_client(
    slack: FakeSlackServer, client: WebClient
) -> None:
    slack.faults.drop()
    with pytest.raises(ConnectionError):
        client.auth_test()
    client.auth_test()
    assert [c.fault for c in slack.state.calls()] == ["drop", None]


def test_latency_slows_every_call(slack: FakeSlackServer, client: WebClient) -> None:
    slack.faults.set_latency(0.2)
    started = time.monotonic()
    client.auth_test()
    client.auth_test()
    assert time.monotonic() - started >= 0.4


# -- admin API and standalone process --------------------------------------------------------


def test_the_admin_api_arms_faults_and_reads_what_users_see(
    slack: FakeSlackServer, client: WebClient
) -> None:
    with FakeSlackAdmin(slack.url) as admin:
        posted = client.chat_postMessage(channel=QA.id, text="QA", blocks=APPROVE_BUTTONS)
        client.chat_update(channel=posted["channel"], ts=posted["ts"], text="ok", blocks=APPROVED)
        client.chat_postEphemeral(channel=DEPLOYS.id, user=OWNER.id, text="not allowed")
        admin.server_error(method="auth.test", status=502)

        [dm] = admin.dm_messages(QA.id)
        [ephemeral] = admin.ephemerals(OWNER.id)
        with pytest.raises(SlackApiError):
            client.auth_test()
        calls = admin.calls("auth.test")
        admin.reset()
        after_reset = admin.dm_messages(QA.id)

    assert (dm.update_count, dm.buttons) == (1, [])
    assert "Approved" in dm.visible_text
    assert ephemeral.text == "not allowed"
    assert [c.status for c in calls] == [502]
    assert after_reset == []


def test_the_standalone_process_prints_its_url_and_serves_the_seeded_workspace(
    tmp_path: Path,
) -> None:
    seed = tmp_path / "workspace.yaml"
    seed.write_text(
        "tokens: [xoxb-standalone]\n"
        "users:\n  - {id: U1, name: ann, email: ann@example.com}\n"
        "channels:\n  - {id: C1, name: general, members: [U1]}\n",
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "cibot.fakeslack", "--seed", str(seed)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            api_url = process.stdout.readline().strip()
            client = WebClient(token="xoxb-standalone", base_url=api_url)
            client.chat_postMessage(channel="U1", text="hello from afar")
            with FakeSlackAdmin(api_url) as admin:
                [message] = admin.dm_messages("U1")
        finally:
            process.terminate()
        assert process.wait(timeout=10) == 0

    assert api_url.startswith("http://127.0.0.1:")
    assert api_url.endswith("/api/")
    assert message.text == "hello from afar"
