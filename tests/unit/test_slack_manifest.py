"""The Slack app manifest has the shape Slack accepts, and names what ci-bot really uses.

Slack's published schema (github.com/slackapi/manifest-schema) cannot be fetched here, so
`SLACK_MANIFEST` below restates, in our own words, the constraints Slack documents for the
parts of a manifest ci-bot writes: unknown keys refused at every level, the lengths of names
and descriptions, URLs that start with http(s), slash commands that start with `/`.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cibot.entrypoints.process import SLACK_PATHS
from cibot.entrypoints.slack_manifest import BOT_SCOPES, SLACK_PATH, ManifestError, manifest
from cibot.entrypoints.web.slack import COMMAND
from cibot.entrypoints.web.slack_payload import APP_HOME_OPENED

ROOT = Path(__file__).resolve().parents[2]
URL = {"type": "string", "pattern": "^https?://", "maxLength": 3500}


def closed(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": list(required),
    }


def text(low: int, high: int) -> dict[str, Any]:
    return {"type": "string", "minLength": low, "maxLength": high}


BOOL = {"type": "boolean"}
SLACK_MANIFEST = closed(
    {
        "_metadata": closed(
            {"major_version": {"type": "integer"}, "minor_version": {"type": "integer"}}
        ),
        "display_information": closed(
            {"name": text(1, 35), "description": text(1, 140), "long_description": text(175, 4000)},
            "name",
        ),
        "features": closed(
            {
                "app_home": closed(
                    {
                        "home_tab_enabled": BOOL,
                        "messages_tab_enabled": BOOL,
                        "messages_tab_read_only_enabled": BOOL,
                    }
                ),
                "bot_user": closed(
                    {"display_name": text(1, 80), "always_online": BOOL}, "display_name"
                ),
                "slash_commands": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 50,
                    "items": closed(
                        {
                            "command": {**text(2, 32), "pattern": "^/"},
                            "url": {**URL, "maxLength": 3000},
                            "description": text(1, 2000),
                            "usage_hint": text(1, 1000),
                            "should_escape": BOOL,
                        },
                        "command",
                        "description",
                    ),
                },
            }
        ),
        "oauth_config": closed(
            {
                "scopes": closed(
                    {
                        "bot": {
                            "type": "array",
                            "maxItems": 255,
                            "items": text(1, 50),
                            "uniqueItems": True,
                        }
                    }
                )
            }
        ),
        "settings": closed(
            {
                "interactivity": closed(
                    {"is_enabled": BOOL, "request_url": URL, "message_menu_options_url": URL},
                    "is_enabled",
                ),
                "event_subscriptions": closed(
                    {
                        "request_url": URL,
                        "bot_events": {
                            "type": "array",
                            "maxItems": 100,
                            "items": {"type": "string", "pattern": "^[a-z_.]+$"},
                            "uniqueItems": True,
                        },
                    }
                ),
                "org_deploy_enabled": BOOL,
                "socket_mode_enabled": BOOL,
                "token_rotation_enabled": BOOL,
            }
        ),
    },
    "display_information",
)


def made(**overrides: Any) -> dict[str, Any]:
    """A manifest; in Socket Mode without a URL unless one is given."""
    args: dict[str, Any] = {
        "public_url": None if overrides.get("socket_mode") else "https://cibot.example.com",
        "socket_mode": False,
        "name": "ci-bot",
        "command": COMMAND,
    }
    return manifest(**{**args, **overrides})


@pytest.mark.parametrize("socket_mode", [False, True])
def test_the_manifest_has_the_shape_slack_documents(socket_mode: bool) -> None:
    jsonschema.validate(made(socket_mode=socket_mode), SLACK_MANIFEST)


def test_the_restated_schema_refuses_what_slack_refuses() -> None:
    """The schema above is strict enough to catch a mistake (else the test above proves nothing)."""
    wrong = made()
    wrong["features"]["slash_commands"][0]["command"] = "cibot"
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        jsonschema.validate(wrong, SLACK_MANIFEST)
    wrong = made()
    wrong["settings"]["interactivity"]["url"] = "https://x.example.com"
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        jsonschema.validate(wrong, SLACK_MANIFEST)


def test_every_url_slack_calls_is_the_one_path_ci_bot_serves_slack_on() -> None:
    manifest_ = made(public_url="https://ci.example.com/bot/")
    url = "https://ci.example.com/bot/slack/events"
    assert manifest_["settings"]["interactivity"]["request_url"] == url
    assert manifest_["features"]["slash_commands"][0]["url"] == url
    assert manifest_["settings"]["event_subscriptions"]["request_url"] == url
    assert SLACK_PATH in SLACK_PATHS, "the process mounts Slack on another path"


def test_the_scopes_cover_every_web_api_method_ci_bot_calls() -> None:
    """Each method the Slack adapter names needs the scope Slack documents for it."""
    needs = {
        "chat.postMessage": "chat:write",
        "chat.update": "chat:write",
        "chat.postEphemeral": "chat:write",
        "conversations.open": "im:write",
        "conversations.history": "channels:history",
        "conversations.replies": "im:history",
        "users.lookupByEmail": "users:read.email",
        "users.info": "users:read",
        "usergroups.users.list": "usergroups:read",
        "views.open": None,
        "views.publish": None,
        "auth.test": None,
    }
    source = (ROOT / "src/cibot/adapters/slack/chat.py").read_text()
    # The slack_sdk typed methods the adapter calls (`self._client.chat_postMessage(…)`):
    # their name is the Web API method's, with dots as underscores.
    called = {
        node.func.attr.replace("_", ".")
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr in {"_client", "_fast"}
    }
    assert called, "the adapter names no Web API method: has it moved?"
    unknown = called - needs.keys()
    assert not unknown, f"methods with no known scope: {unknown}; add them here and to BOT_SCOPES"
    scopes = {scope for scope, _why in BOT_SCOPES}
    assert {needs[m] for m in called if needs[m]} <= scopes
    assert {"commands", "groups:history"} <= scopes


@pytest.mark.parametrize("socket_mode", [False, True])
def test_the_app_has_its_home_tab_and_hears_when_someone_opens_it(socket_mode: bool) -> None:
    manifest_ = made(socket_mode=socket_mode)
    assert manifest_["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest_["features"]["app_home"]["messages_tab_enabled"] is True, "the DMs"
    assert manifest_["settings"]["event_subscriptions"]["bot_events"] == [APP_HOME_OPENED]
    has_url = "request_url" in manifest_["settings"]["event_subscriptions"]
    assert has_url is not socket_mode, "events come over the socket in Socket Mode"


def test_a_manifest_needs_a_url_unless_in_socket_mode() -> None:
    with pytest.raises(ManifestError) as refused:
        made(public_url=None)
    assert refused.value.option == "--url"
    assert "request_url" not in made(public_url=None, socket_mode=True)["settings"]["interactivity"]


def test_a_url_in_socket_mode_is_refused_naming_the_option() -> None:
    with pytest.raises(ManifestError) as refused:
        made(public_url="https://cibot.example.com", socket_mode=True)
    assert refused.value.option == "--url"
    assert "Socket Mode" in str(refused.value)


def test_a_name_slack_would_refuse_is_refused_naming_the_option() -> None:
    with pytest.raises(ManifestError) as refused:
        made(name="x" * 36)
    assert refused.value.option == "--name"
