"""The JSON objects Slack's Web API answers with (users, conversations, bot messages).

Kept apart from the handlers so the shapes can be compared with Slack's documentation in one
place; code under test parses these, so fields it might read are present with Slack's names.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from cibot.fakeslack.config import WorkspaceConfig
from cibot.fakeslack.records import Channel, JsonDict, Message, User


def user_object(user: User, config: WorkspaceConfig) -> JsonDict:
    """A `users.info` / `users.lookupByEmail` user."""
    profile: JsonDict = {
        "real_name": user.real_name,
        "real_name_normalized": user.real_name,
        "display_name": user.name,
        "display_name_normalized": user.name,
        "team": config.team_id,
        "image_48": f"https://avatars.example.invalid/{user.id}_48.png",
    }
    if user.email is not None:
        profile["email"] = user.email
    if user.is_bot:
        profile["bot_id"] = config.bot_id
        profile["api_app_id"] = config.app_id
    return {
        "id": user.id,
        "team_id": config.team_id,
        "name": user.name,
        "deleted": False,
        "real_name": user.real_name,
        "tz": "Europe/Berlin",
        "tz_label": "Europe/Berlin",
        "tz_offset": 3600,
        "profile": profile,
        "is_admin": False,
        "is_owner": False,
        "is_bot": user.is_bot,
        "is_app_user": False,
        "updated": 1700000000,
    }


def channel_object(channel: Channel) -> JsonDict:
    """A `conversations.info` channel."""
    return {
        "id": channel.id,
        "name": channel.name,
        "is_channel": True,
        "is_group": False,
        "is_im": False,
        "is_private": False,
        "is_archived": False,
        "is_member": True,
        "num_members": len(channel.members),
        "created": 1700000000,
    }


def dm_object(dm_id: str, user_id: str) -> JsonDict:
    """A `conversations.info` direct-message conversation."""
    return {
        "id": dm_id,
        "is_im": True,
        "is_channel": False,
        "is_group": False,
        "is_private": True,
        "is_archived": False,
        "user": user_id,
        "created": 1700000000,
    }


def bot_message_object(message: Message, config: WorkspaceConfig) -> JsonDict:
    """The `message` a `chat.postMessage` / `chat.update` answer carries."""
    out = message.to_api(team_id=config.team_id, app_id=config.app_id)
    if message.bot_id is not None:
        out["bot_profile"] = {
            "id": config.bot_id,
            "app_id": config.app_id,
            "name": config.bot_name,
            "deleted": False,
            "team_id": config.team_id,
        }
    return out


def view_payload(view_id: str, view: Mapping[str, Any], config: WorkspaceConfig) -> JsonDict:
    """A view as Slack echoes it back: the sent fields plus ids, a fresh hash and empty state."""
    payload: JsonDict = {
        "id": view_id,
        "team_id": config.team_id,
        "type": view.get("type"),
        "blocks": [],
        "private_metadata": "",
        "callback_id": "",
        "external_id": "",
        "state": {"values": {}},
        "clear_on_close": False,
        "notify_on_close": False,
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": config.app_id,
        "bot_id": config.bot_id,
    }
    payload.update(view)
    payload["id"] = view_id
    payload["hash"] = f"{int(time.time())}.{secrets.token_hex(4)}"
    return payload
