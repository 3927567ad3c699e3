"""`cibot slack-manifest`: the Slack app ci-bot needs, as one manifest to paste.

Creating the app by hand means a dozen settings pages (scopes, interactivity, the slash
command, App Home) that must all agree with what ci-bot calls and serves; one missed scope
only shows up when the first DM fails. The manifest is built from the same facts the code
uses: the slash command ci-bot listens to, the events it subscribes to (`app_home_opened`:
the Home tab) and the path Slack must post to, or (Socket Mode, `slack.mode: socket`) no
path at all: Slack then sends everything over the WebSocket ci-bot opens. Its shape follows
Slack's app manifest reference (https://docs.slack.dev/reference/app-manifest) and the
published schema (github.com/slackapi/manifest-schema, schemas/manifest.schema.1.0.0.json).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from cibot.entrypoints.web.slack_payload import APP_HOME_OPENED

SLACK_PATH = "/slack/events"  # Slack's one Request URL: interactivity, the command, events

# Bot scopes, each for the Web API methods ci-bot calls (adapters/slack/chat.py, check.py).
BOT_SCOPES: tuple[tuple[str, str], ...] = (
    ("chat:write", "chat.postMessage, chat.update, chat.postEphemeral: cards, DMs, replies"),
    ("im:write", "conversations.open: the DM channel of each QA member and owner"),
    ("users:read", "users.info (is an author a member?) and users.lookupByEmail need it"),
    ("users:read.email", "users.lookupByEmail: the build's author, when CI sends an email"),
    ("usergroups:read", "usergroups.users.list: roles given to a user group"),
    ("commands", "the /cibot slash command"),
    ("channels:history", "conversations.history: find a post cut off by a crash (public)"),
    ("groups:history", "conversations.history: the same in private channels"),
    ("im:history", "conversations.replies: the same in DMs"),
)

NAME_MAX, DESCRIPTION = 35, "Deploys each build to a preview; QA approves in Slack, owners ship."


class ManifestError(ValueError):
    """The manifest cannot be made as asked: `option` is the command-line option at fault."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


def request_url(public_url: str) -> str:
    """Where Slack posts clicks and commands, for ci-bot reachable at `public_url`."""
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ManifestError("--url", f"{public_url!r} is not an http(s) URL")
    return f"{public_url.rstrip('/')}{SLACK_PATH}"


def manifest(
    *, public_url: str | None, socket_mode: bool, name: str, command: str
) -> dict[str, Any]:
    """The app manifest; `public_url` is required unless `socket_mode`, and refused with it
    (over Socket Mode Slack posts nothing to a URL: one in the manifest would only mislead)."""
    if not 1 <= len(name) <= NAME_MAX:
        raise ManifestError("--name", f"1 to {NAME_MAX} characters, as Slack allows")
    if socket_mode and public_url is not None:
        raise ManifestError(
            "--url",
            "Socket Mode (--socket-mode, or slack.mode: socket in the config) takes no "
            "Request URL: Slack sends everything over the WebSocket; drop --url, or give "
            "--no-socket-mode",
        )
    url = None if socket_mode else request_url(public_url or "")
    slash: dict[str, Any] = {
        "command": command,
        "description": "Freeze or unfreeze production, show a project's history",
        "usage_hint": "help",
        "should_escape": False,
    }
    interactivity: dict[str, Any] = {"is_enabled": True}
    # The bot events ci-bot listens to: someone opened its Home tab (no scope needed).
    events: dict[str, Any] = {"bot_events": [APP_HOME_OPENED]}
    if url:
        slash["url"] = url
        interactivity["request_url"] = url
        events["request_url"] = url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {"name": name, "description": DESCRIPTION},
        "features": {
            # DMs are how QA and owners hear of a build: the Messages tab must be on. Nobody
            # writes to ci-bot there, so it is read-only. The Home tab is each person's
            # dashboard (what waits for them, each project's environments).
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [slash],
        },
        "oauth_config": {"scopes": {"bot": [scope for scope, _why in BOT_SCOPES]}},
        "settings": {
            "interactivity": interactivity,
            "event_subscriptions": events,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
