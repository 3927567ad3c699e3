"""What Slack sends the app when a person acts: the payloads, field for field.

Pure functions of the workspace's records: a click on a button of a message or a view
(`block_actions`), a modal's submission (`view_submission`), a slash command's form, and the
`app_home_opened` event. The fields are those of Slack's real payloads
(https://docs.slack.dev/reference/interaction-payloads/block_actions-payload,
https://docs.slack.dev/reference/interaction-payloads/view-interactions-payload,
https://docs.slack.dev/interactivity/implementing-slash-commands,
https://docs.slack.dev/reference/events/app_home_opened), so the bot reads them as it reads
Slack's.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping

from cibot.fakeslack.config import WorkspaceConfig
from cibot.fakeslack.records import JsonDict, Message, User, ViewRecord

VERIFICATION_TOKEN = "fake-verification-token"  # noqa: S105 - Slack's deprecated `token` field


def find_element(blocks: tuple[JsonDict, ...], block_id: str, action_id: str) -> JsonDict | None:
    """The interactive element `action_id` of block `block_id` (a section's accessory too)."""
    for block in blocks:
        if str(block.get("block_id", "")) != block_id:
            continue
        candidates = [*block.get("elements", ()), block.get("accessory") or {}]
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    return None


def block_id_of(blocks: tuple[JsonDict, ...], index: int) -> str:
    """A block's id as Slack reports it: the one sent, or one Slack made up for it."""
    given = blocks[index].get("block_id")
    return str(given) if given else f"b{index}"


def with_block_ids(blocks: tuple[JsonDict, ...]) -> tuple[JsonDict, ...]:
    """The blocks as Slack stores them: every block has a `block_id`."""
    return tuple({**b, "block_id": block_id_of(blocks, i)} for i, b in enumerate(blocks))


def _team(config: WorkspaceConfig) -> JsonDict:
    return {"id": config.team_id, "domain": config.team_domain}


def _user(user: User, config: WorkspaceConfig) -> JsonDict:
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": config.team_id}


def _action(element: JsonDict, block_id: str) -> JsonDict:
    action: JsonDict = {
        "action_id": element.get("action_id"),
        "block_id": block_id,
        "text": element.get("text"),
        "value": element.get("value"),
        "type": element.get("type", "button"),
        "action_ts": f"{time.time():.6f}",
    }
    if "style" in element:
        action["style"] = element["style"]
    return action


def _click(
    config: WorkspaceConfig,
    user: User,
    container: JsonDict,
    element: JsonDict,
    *,
    block_id: str,
    trigger_id: str,
) -> JsonDict:
    """The fields of every `block_actions`, wherever the button was."""
    return {
        "type": "block_actions",
        "user": _user(user, config),
        "api_app_id": config.app_id,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id,
        "team": _team(config),
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": {}},
        "actions": [_action(element, block_id)],
    }


def block_actions_on_message(
    config: WorkspaceConfig,
    user: User,
    message: Message,
    element: JsonDict,
    block_id: str,
    *,
    channel_name: str,
    trigger_id: str,
    response_url: str,
) -> JsonDict:
    """A click on a button of a message in a channel or DM."""
    api_message = message.to_api(team_id=config.team_id, app_id=config.app_id)
    api_message["blocks"] = list(with_block_ids(message.blocks))
    container = {
        "type": "message",
        "message_ts": message.ts,
        "channel_id": message.channel,
        "is_ephemeral": False,
    }
    return {
        **_click(config, user, container, element, block_id=block_id, trigger_id=trigger_id),
        "channel": {"id": message.channel, "name": channel_name},
        "message": api_message,
        "response_url": response_url,
    }


def block_actions_on_view(
    config: WorkspaceConfig,
    user: User,
    view: ViewRecord,
    element: JsonDict,
    block_id: str,
    *,
    trigger_id: str,
) -> JsonDict:
    """A click on a button of a view (the Home tab, a modal): no channel, no response_url."""
    payload = {**view.payload, "app_installed_team_id": config.team_id}
    payload["blocks"] = list(with_block_ids(view.blocks))
    container = {"type": "view", "view_id": view.id}
    return {
        **_click(config, user, container, element, block_id=block_id, trigger_id=trigger_id),
        "view": payload,
    }


def state_values(view: ViewRecord, typed: Mapping[str, Mapping[str, str]]) -> JsonDict:
    """`view.state.values` for the inputs of a modal: block id -> action id -> its value."""
    values: JsonDict = {}
    blocks = view.blocks
    for index, block in enumerate(blocks):
        element = block.get("element")
        if block.get("type") != "input" or not isinstance(element, dict):
            continue
        block_id, action_id = block_id_of(blocks, index), str(element.get("action_id", ""))
        text = typed.get(block_id, {}).get(action_id)
        values[block_id] = {
            action_id: {"type": element.get("type"), "value": text if text else None}
        }
    return values


def view_submission(
    config: WorkspaceConfig,
    user: User,
    view: ViewRecord,
    typed: Mapping[str, Mapping[str, str]],
    *,
    trigger_id: str,
) -> JsonDict:
    """A modal's Submit: the view as shown, with what the person typed in `state.values`."""
    payload = {**view.payload, "app_installed_team_id": config.team_id}
    payload["blocks"] = list(with_block_ids(view.blocks))
    payload["state"] = {"values": state_values(view, typed)}
    return {
        "type": "view_submission",
        "team": _team(config),
        "user": _user(user, config),
        "api_app_id": config.app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": payload,
        "response_urls": [],
        "enterprise": None,
        "is_enterprise_install": False,
    }


def slash_command(
    config: WorkspaceConfig,
    user: User,
    channel_id: str,
    channel_name: str,
    typed: str,
    *,
    trigger_id: str,
    response_url: str,
) -> dict[str, str]:
    """The form Slack posts for `/command text` typed in a conversation."""
    command, _, text = typed.strip().partition(" ")
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": config.team_id,
        "team_domain": config.team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user.id,
        "user_name": user.name,
        "command": command,
        "text": text.strip(),
        "api_app_id": config.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def app_home_opened(
    config: WorkspaceConfig, user: User, dm_id: str, view: ViewRecord | None
) -> JsonDict:
    """The Events API envelope of `app_home_opened` (with the Home view once published)."""
    event: JsonDict = {
        "type": "app_home_opened",
        "user": user.id,
        "channel": dm_id,
        "tab": "home",
        "event_ts": f"{time.time():.6f}",
    }
    if view is not None:
        event["view"] = view.payload
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": config.team_id,
        "api_app_id": config.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": config.team_id,
                "user_id": config.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_hex(16)}",
    }


def channel_name(name: str | None, is_dm: bool) -> str:
    """The `channel.name` Slack puts in a payload: `directmessage` for a DM."""
    return "directmessage" if is_dm else name or ""
