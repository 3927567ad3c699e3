"""The fake Slack enforces Slack's rules by default: rate-limit tiers, trigger ids, how each
method reads its arguments, history paging, and the refusals a workspace can give.

Each rule's source page is cited where the fake implements it (`cibot/fakeslack/limits.py`,
`refusals.py`, `api.py`); these tests drive it through the real `slack_sdk` over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from cibot.fakeslack import Channel, FakeSlackAdmin, FakeSlackServer, User, WorkspaceConfig

TOKEN = "xoxb-fake"
ANN = User("U0ANN", "ann", "Ann", "ann@example.com")
BOB = User("U0BOB", "bob", "Bob", "bob@example.com")
DEPLOYS = Channel("C0DEPLOYS", "deploys", frozenset({ANN.id, BOB.id}))
OTHER = Channel("C0OTHER", "other", frozenset({ANN.id}))
CONFIRM_BUTTON = {
    "type": "button",
    "action_id": "close_build",
    "value": "1",
    "text": {"type": "plain_text", "text": "Close"},
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlackServer]:
    config = WorkspaceConfig(trigger_id_ttl=0.5)  # Slack's is 3 s: shorter, so the test is quick
    with FakeSlackServer(users=[ANN, BOB], channels=[DEPLOYS, OTHER], config=config) as running:
        yield running


@pytest.fixture
def slack(server: FakeSlackServer) -> FakeSlackServer:
    server.state.reset()
    server.faults.clear()
    return server


@pytest.fixture
def client(slack: FakeSlackServer) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])


def error_of(call: Any) -> tuple[int, str, str | None]:
    """(HTTP status, error, Retry-After) of a call that Slack refuses."""
    with pytest.raises(SlackApiError) as excinfo:
        call()
    response = excinfo.value.response
    return response.status_code, response["error"], response.headers.get("retry-after")


# -- rate limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "per_minute"),
    [("usergroups.users.list", 20), ("conversations.info", 50), ("users.info", 100)],
    ids=["tier-2", "tier-3", "tier-4"],
)
def test_a_method_past_its_tiers_minute_gets_429_with_retry_after(
    slack: FakeSlackServer, client: WebClient, method: str, per_minute: int
) -> None:
    slack.state.set_group("S0QA", [ANN.id])
    args = {
        "usergroups.users.list": {"usergroup": "S0QA"},
        "conversations.info": {"channel": DEPLOYS.id},
        "users.info": {"user": ANN.id},
    }[method]
    for _ in range(per_minute):
        client.api_call(method, http_verb="GET", params=args)

    status, error, retry_after = error_of(
        lambda: client.api_call(method, http_verb="GET", params=args)
    )
    assert (status, error) == (429, "ratelimited")
    assert retry_after is not None and 1 <= int(retry_after) <= 60 // per_minute + 1
    client.auth_test()  # another method has its own limit


def test_chat_post_message_allows_a_short_burst_per_channel_then_one_a_second(
    slack: FakeSlackServer, client: WebClient
) -> None:
    for n in range(3):
        client.chat_postMessage(channel=DEPLOYS.id, text=f"burst {n}")
    status, error, retry_after = error_of(
        lambda: client.chat_postMessage(channel=DEPLOYS.id, text="too soon")
    )
    client.chat_postMessage(channel=OTHER.id, text="another channel is not limited")
    for n in range(3):
        client.chat_postMessage(channel=ANN.id, text=f"dm {n}")
    dm = slack.state.dm_channel(ANN.id)
    assert dm is not None
    dm_limited = error_of(lambda: client.chat_postMessage(channel=dm, text="same DM"))
    time.sleep(int(retry_after or 1))
    client.chat_postMessage(channel=DEPLOYS.id, text="after Retry-After")

    assert (status, error, retry_after) == (429, "ratelimited", "1")
    assert dm_limited[:2] == (429, "ratelimited"), "a user id and its DM id are one channel"
    assert [m.text for m in slack.state.messages(DEPLOYS.id)][-1] == "after Retry-After"
    assert len(slack.state.messages(DEPLOYS.id)) == 4, "nothing refused was stored"


def test_limits_can_be_relaxed_and_the_error_spelled_rate_limited(
    slack: FakeSlackServer, client: WebClient
) -> None:
    slack.state.limits.error = "rate_limited"
    for _ in range(3):
        client.chat_postMessage(channel=DEPLOYS.id, text="x")
    spelled = error_of(lambda: client.chat_postMessage(channel=DEPLOYS.id, text="x"))
    with FakeSlackAdmin(slack.url) as admin:
        admin.relax_rate_limits()
        for _ in range(10):
            client.chat_postMessage(channel=DEPLOYS.id, text="relaxed")
        admin.relax_rate_limits(1.0)  # Slack's again, for the next tests

    assert spelled[:2] == (429, "rate_limited")


# -- triggers -----------------------------------------------------------------------------------

MODAL = {
    "type": "modal",
    "callback_id": "why",
    "title": {"type": "plain_text", "text": "Why?"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Tell us"}}],
}


def test_a_trigger_id_opens_one_view_and_expires(slack: FakeSlackServer, client: WebClient) -> None:
    once = slack.state.new_trigger_id(ANN.id)
    client.views_open(trigger_id=once, view=MODAL)
    again = error_of(lambda: client.views_open(trigger_id=once, view=MODAL))
    late = slack.state.new_trigger_id(ANN.id)
    time.sleep(0.6)
    expired = error_of(lambda: client.views_open(trigger_id=late, view=MODAL))

    assert again[1] == "exchanged_trigger_id"
    assert expired[1] == "expired_trigger_id"
    assert len(slack.state.views(ANN.id)) == 1


def test_a_trigger_id_slack_never_issued_opens_nothing(
    slack: FakeSlackServer, client: WebClient
) -> None:
    made_up = "12345.67890.abcdef"
    refused = error_of(lambda: client.views_open(trigger_id=made_up, view=MODAL))
    with FakeSlackAdmin(slack.admin_url) as admin:
        issued = admin.new_trigger_id(BOB.id)  # as a click would carry it, over the admin API
    client.views_open(trigger_id=issued, view=MODAL)

    assert refused[1] == "invalid_trigger_id"
    assert [v.user for v in slack.state.views()] == [BOB.id], "the view opens for the clicker"


# -- encodings ----------------------------------------------------------------------------------


def test_read_methods_do_not_read_a_json_body(slack: FakeSlackServer, client: WebClient) -> None:
    slack.state.set_group("S0QA", [ANN.id])
    client.chat_postMessage(channel=DEPLOYS.id, text="lost post")

    by_email = error_of(lambda: client.api_call("users.lookupByEmail", json={"email": ANN.email}))
    members = error_of(lambda: client.api_call("usergroups.users.list", json={"usergroup": "S0QA"}))
    history = error_of(
        lambda: client.api_call("conversations.history", json={"channel": DEPLOYS.id})
    )

    assert by_email[1] == members[1] == "invalid_arguments"
    assert history[1] == "channel_not_found"
    assert client.users_lookupByEmail(email=str(ANN.email))["user"]["id"] == ANN.id
    assert client.usergroups_users_list(usergroup="S0QA")["users"] == [ANN.id]
    found = client.conversations_history(channel=DEPLOYS.id)["messages"]
    assert [m["text"] for m in found] == ["lost post"]
    assert client.api_call("chat.postMessage", json={"channel": OTHER.id, "text": "json"})["ok"]


# -- history ------------------------------------------------------------------------------------


def test_history_honours_oldest_latest_inclusive_limit_and_cursor(
    slack: FakeSlackServer, client: WebClient
) -> None:
    slack.state.limits.relax()  # six posts in one channel at once: not what this test is about
    posted = [client.chat_postMessage(channel=DEPLOYS.id, text=str(n))["ts"] for n in range(6)]

    def texts(**args: Any) -> list[str]:
        found = client.conversations_history(channel=DEPLOYS.id, **args)["messages"]
        return [m["text"] for m in found]

    pages, cursor = [], None
    while True:
        page = client.conversations_history(channel=DEPLOYS.id, limit=4, cursor=cursor)
        pages.append([m["text"] for m in page["messages"]])
        cursor = page["response_metadata"]["next_cursor"]
        if not page["has_more"]:
            break

    assert texts(oldest=posted[2]) == ["5", "4", "3"]
    assert texts(oldest=posted[2], inclusive=True) == ["5", "4", "3", "2"]
    assert texts(latest=posted[2]) == ["1", "0"]
    assert texts(oldest=posted[1], latest=posted[4], inclusive=True) == ["4", "3", "2", "1"]
    assert pages == [["5", "4", "3", "2"], ["1", "0"]]
    assert cursor == ""


def test_metadata_is_listed_only_with_include_all_metadata(
    slack: FakeSlackServer, client: WebClient
) -> None:
    metadata = {"event_type": "cibot_post", "event_payload": {"key": "k"}}
    client.chat_postMessage(channel=DEPLOYS.id, text="keyed", metadata=metadata)

    plain = client.conversations_history(channel=DEPLOYS.id)["messages"][0]
    full = client.conversations_history(channel=DEPLOYS.id, include_all_metadata=True)
    assert "metadata" not in plain
    assert full["messages"][0]["metadata"] == metadata


# -- refusals -----------------------------------------------------------------------------------


def test_a_workspace_with_the_messages_tab_off_refuses_dms_only(
    slack: FakeSlackServer, client: WebClient
) -> None:
    slack.state.refusals.switch_on("messages_tab_disabled")
    refused = error_of(lambda: client.chat_postMessage(channel=ANN.id, text="dm"))
    client.chat_postMessage(channel=DEPLOYS.id, text="channel posts still go")

    assert refused[:2] == (200, "messages_tab_disabled")
    assert slack.state.dm_messages(ANN.id) == []


CONFIG_TOKEN = "xoxe.xoxp-1-fake-config"


def test_the_apps_manifest_shows_its_messages_tab_and_settings_to_a_configuration_token(
    slack: FakeSlackServer,
) -> None:
    config = WebClient(token=CONFIG_TOKEN, base_url=slack.api_url, retry_handlers=[])
    app_id = slack.state.config.app_id
    before = config.apps_manifest_export(app_id=app_id)["manifest"]
    slack.state.refusals.switch_on("messages_tab_disabled")
    with FakeSlackAdmin(slack.url) as admin:
        admin.set_app_settings(socket_mode_enabled=True, request_url="https://x.example/slack")
    after = config.apps_manifest_export(app_id=app_id)["manifest"]

    assert before["features"]["app_home"]["messages_tab_enabled"] is True
    assert before["settings"]["socket_mode_enabled"] is False
    assert before["settings"]["interactivity"] == {"is_enabled": True}
    assert after["features"]["app_home"]["messages_tab_enabled"] is False
    assert after["settings"]["socket_mode_enabled"] is True
    assert after["settings"]["interactivity"] == {
        "is_enabled": True,
        "request_url": "https://x.example/slack",
    }


def test_the_manifest_export_refuses_as_slack_does(slack: FakeSlackServer) -> None:
    slack.state.expire_token("xoxe.xoxp-1-old")
    app_id = slack.state.config.app_id

    def export(token: str | None, app: str = app_id) -> str:
        web = WebClient(token=token, base_url=slack.api_url, retry_handlers=[])
        return error_of(lambda: web.apps_manifest_export(app_id=app))[1]

    assert export(TOKEN) == "not_allowed_token_type", "a bot token cannot read it"
    assert export(None) == "not_authed"
    assert export("xoxe.xoxp-1-nobody") == "invalid_auth"
    assert export("xoxe.xoxp-1-old") == "token_expired"
    assert export(CONFIG_TOKEN, "not an app") == "invalid_app_id"
    assert export(CONFIG_TOKEN, "A0SOMEOTHER") == "app_not_found"


def test_a_free_plan_refuses_user_groups_and_a_closed_edit_window_refuses_updates(
    slack: FakeSlackServer, client: WebClient
) -> None:
    slack.state.set_group("S0QA", [ANN.id])
    posted = client.chat_postMessage(channel=DEPLOYS.id, text="card")
    with FakeSlackAdmin(slack.url) as admin:
        admin.switch_on("free_plan")
        admin.switch_on("edit_window_closed")
        groups = error_of(lambda: client.usergroups_users_list(usergroup="S0QA"))
        update = error_of(
            lambda: client.chat_update(channel=DEPLOYS.id, ts=posted["ts"], text="edited")
        )
        admin.clear_refusals()
        client.chat_update(channel=DEPLOYS.id, ts=posted["ts"], text="edited")

    assert groups[1] == "plan_upgrade_required"
    assert update[1] == "edit_window_closed"


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("chat.postMessage", "not_in_channel"),
        ("chat.postMessage", "channel_not_found"),
        ("users.lookupByEmail", "users_not_found"),
        ("chat.postMessage", "invalid_blocks"),
    ],
)
def test_any_method_can_be_made_to_refuse_with_slacks_wording(
    slack: FakeSlackServer, client: WebClient, method: str, error: str
) -> None:
    slack.state.refusals.refuse(method, error)
    args = {"channel": DEPLOYS.id, "text": "x"} if method == "chat.postMessage" else {}
    args = args or {"email": str(ANN.email)}
    http_verb = "POST" if method == "chat.postMessage" else "GET"
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call(method, http_verb=http_verb, params=args)

    assert excinfo.value.response["error"] == error
    if error == "invalid_blocks":
        assert excinfo.value.response["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert slack.state.messages(DEPLOYS.id) == []


# -- Block Kit ----------------------------------------------------------------------------------


def test_a_confirm_dialogs_text_must_be_plain_text(client: WebClient) -> None:
    dialog = {
        "title": {"type": "plain_text", "text": "Sure?"},
        "text": {"type": "mrkdwn", "text": "*really*?"},
        "confirm": {"type": "plain_text", "text": "Yes"},
        "deny": {"type": "plain_text", "text": "No"},
    }
    blocks = [{"type": "actions", "elements": [{**CONFIRM_BUTTON, "confirm": dialog}]}]
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=DEPLOYS.id, text="x", blocks=blocks)

    assert excinfo.value.response["error"] == "invalid_blocks"
    assert any("confirm/text" in e for e in excinfo.value.response["errors"])


# -- App Home -----------------------------------------------------------------------------------

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "Waiting for you"}}


def test_views_publish_keeps_a_home_view_per_person_and_refuses_what_slack_refuses(
    slack: FakeSlackServer, client: WebClient
) -> None:
    home = {"type": "home", "callback_id": "cibot_home", "blocks": [SECTION]}
    first = client.views_publish(user_id=ANN.id, view=home)["view"]
    again = client.views_publish(user_id=ANN.id, view=home, hash=first["hash"])["view"]

    def refused(user_id: str = ANN.id, **view: Any) -> str:
        return error_of(lambda: client.views_publish(user_id=user_id, view={**home, **view}))[1]

    assert again["id"] == first["id"], "one Home view per person, replaced in place"
    assert refused(type="modal") == "invalid_arguments"
    assert refused(blocks=[SECTION] * 101) == "invalid_arguments", "100 blocks at most"
    assert refused(private_metadata="x" * 3001) == "invalid_arguments", "3000 characters"
    assert refused(callback_id="x" * 256) == "invalid_arguments", "255 characters"
    assert refused(submit={"type": "plain_text", "text": "Go"}) == "invalid_arguments"
    no_blocks = {"type": "home", "callback_id": "cibot_home"}
    missing = error_of(lambda: client.views_publish(user_id=ANN.id, view=no_blocks))
    assert missing[1] == "invalid_arguments", "blocks are required"
    assert refused(user_id="U0NOBODY") == "invalid_arguments", "Slack: invalid `user_id`"
    stale = error_of(lambda: client.views_publish(user_id=ANN.id, view=home, hash=first["hash"]))
    assert stale[1] == "hash_conflict"
    assert slack.state.home_view(BOB.id) is None


def test_a_home_tab_turned_off_in_the_apps_settings_refuses_views_publish(
    slack: FakeSlackServer, client: WebClient
) -> None:
    with FakeSlackAdmin(slack.url) as admin:
        manifest = admin.set_app_settings(home_tab_enabled=False)
    refused = error_of(
        lambda: client.views_publish(user_id=ANN.id, view={"type": "home", "blocks": [SECTION]})
    )

    assert manifest["features"]["app_home"]["home_tab_enabled"] is False
    assert refused[:2] == (200, "not_enabled")
    assert slack.state.home_view(ANN.id) is None
