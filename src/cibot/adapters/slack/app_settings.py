"""The Slack app's own settings, read from its manifest, against what ci-bot needs.

Some of the app's settings decide whether ci-bot works at all, and the bot token cannot see
them: with App Home's Messages tab off, Slack refuses every DM (`messages_tab_disabled`); with
Socket Mode on, or interactivity off or pointed elsewhere, clicks never reach
`POST /slack/events`. An app configuration token can read them through
`apps.manifest.export` (https://docs.slack.dev/reference/methods/apps.manifest.export), so
`cibot check` reads them ahead of time instead of the first review failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SLACK_PATHS = ("/slack/events", "/slack-interactions")  # where ci-bot takes clicks

# What to do when Slack refuses to export the manifest.
EXPORT_REFUSALS = {
    "not_allowed_token_type": "slack.app_config_token must be an app configuration token "
    "(xoxe.xoxp-…, from api.slack.com/apps > Your App Configuration Tokens), not a bot token",
    "token_expired": "app configuration tokens last 12 hours: generate a new one, or rotate "
    "it with its refresh token (tooling.tokens.rotate)",
    "invalid_auth": "slack.app_config_token is not a valid app configuration token",
    "not_authed": "slack.app_config_token is empty",
    "token_revoked": "slack.app_config_token was revoked: generate a new one",
    "invalid_app_id": "slack.app_id is not an app id: copy it from the app's Basic Information",
    "app_not_found": "slack.app_id names no app this token can read: the token must be one of "
    "a collaborator on that app",
}


@dataclass(frozen=True, slots=True)
class Finding:
    ok: bool
    text: str


def findings(
    manifest: Mapping[str, Any], public_url: str | None, *, socket_mode: bool = False
) -> list[Finding]:
    """What the manifest says about the Messages tab, Socket Mode and interactivity, for
    ci-bot taking clicks over HTTP or (`socket_mode`, `slack.mode: socket`) a WebSocket."""
    features = _section(manifest, "features")
    settings = _section(manifest, "settings")
    home = _section(features, "app_home")
    found = []
    if home.get("messages_tab_enabled") is True:
        found.append(Finding(True, "App Home: the Messages tab is on"))
    else:
        found.append(
            Finding(
                False,
                "App Home: the Messages tab is off, so Slack refuses every DM "
                "(messages_tab_disabled): turn on App Home > Show Tabs > Messages Tab",
            )
        )
    socket_on = settings.get("socket_mode_enabled") is True
    if socket_mode:
        found.append(_socket_mode(socket_on))
        found.append(_interactivity(_section(settings, "interactivity"), None))
        return found
    if socket_on:
        found.append(
            Finding(
                False,
                "Socket Mode is on: Slack sends clicks over a WebSocket, and ci-bot takes "
                "them over HTTP at /slack/events: turn Socket Mode off, or set slack.mode: "
                "socket",
            )
        )
    found.append(_interactivity(_section(settings, "interactivity"), public_url))
    return found


def _socket_mode(on: bool) -> Finding:
    if on:
        return Finding(True, "Socket Mode is on (slack.mode: socket)")
    return Finding(
        False,
        "Socket Mode is off: Slack posts clicks to the Request URL, and ci-bot (slack.mode: "
        "socket) takes them over a WebSocket: turn on Settings > Socket Mode",
    )


def _interactivity(interactivity: Mapping[str, Any], public_url: str | None) -> Finding:
    if interactivity.get("is_enabled") is not True:
        return Finding(
            False,
            "interactivity is off: buttons do nothing; turn on Interactivity & Shortcuts "
            "with the Request URL <server.public_url>/slack/events",
        )
    url = str(interactivity.get("request_url") or "")
    if public_url is None or not url:
        return Finding(True, f"interactivity: on{f', {url}' if url else ''}")
    expected = [public_url.rstrip("/") + path for path in SLACK_PATHS]
    if url in expected:
        return Finding(True, f"interactivity: {url}")
    return Finding(
        False,
        f"interactivity: clicks go to {url}, not to ci-bot at {expected[0]} "
        "(server.public_url): change the Request URL",
    )


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    found = data.get(name)
    return found if isinstance(found, Mapping) else {}
