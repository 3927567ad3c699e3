"""The app's own settings, as `apps.manifest.export` shows them to an app configuration token.

A bot token cannot read how the app is set up, yet some settings decide whether the bot works
at all: with App Home's Messages tab off Slack refuses every DM (`messages_tab_disabled`),
with Socket Mode on clicks go to a WebSocket rather than the Request URL. Slack exports them
in the app's manifest (https://docs.slack.dev/reference/methods/apps.manifest.export: "Export
an app manifest from an existing app", an app configuration token, Tier 3; fields as in
https://docs.slack.dev/reference/app-manifest: `features.app_home.messages_tab_enabled`,
`settings.socket_mode_enabled`, `settings.interactivity.is_enabled` and `request_url`). With
the Home tab off, `views.publish` is refused (`not_enabled`, on the method's page of errors).

The Messages tab is not kept here: it is the workspace's `messages_tab_disabled` refusal, so
one switch turns the DMs' refusal and the manifest's setting off together.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

from cibot.fakeslack.config import WorkspaceConfig


@dataclass(frozen=True, slots=True)
class AppSettings:
    """The settings a test may change (Slack's defaults for an app that works over HTTP)."""

    socket_mode_enabled: bool = False
    interactivity_enabled: bool = True
    home_tab_enabled: bool = True  # off: `views.publish` is refused (`not_enabled`)
    request_url: str | None = None  # where Slack sends clicks; None: not shown

    @classmethod
    def from_json(cls, data: dict[str, Any], base: AppSettings) -> AppSettings:
        known = {"socket_mode_enabled", "interactivity_enabled", "request_url", "home_tab_enabled"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown app settings: {', '.join(sorted(unknown))}")
        return replace(base, **data)


class App:
    """The fake app's settings, changed by tests, read by `apps.manifest.export`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings = AppSettings()

    @property
    def settings(self) -> AppSettings:
        with self._lock:
            return self._settings

    def change(self, **changes: Any) -> AppSettings:
        with self._lock:
            self._settings = AppSettings.from_json(changes, self._settings)
            return self._settings

    def reset(self) -> None:
        with self._lock:
            self._settings = AppSettings()

    def manifest(self, config: WorkspaceConfig, *, messages_tab: bool) -> dict[str, Any]:
        """The manifest as Slack exports it (the parts a ci-bot app has)."""
        settings = self.settings
        interactivity: dict[str, Any] = {"is_enabled": settings.interactivity_enabled}
        if settings.request_url is not None:
            interactivity["request_url"] = settings.request_url
        return {
            "_metadata": {"major_version": 1, "minor_version": 1},
            "display_information": {"name": config.bot_name},
            "features": {
                "app_home": {
                    "home_tab_enabled": settings.home_tab_enabled,
                    "messages_tab_enabled": messages_tab,
                    "messages_tab_read_only_enabled": False,
                },
                "bot_user": {"display_name": config.bot_name, "always_online": True},
            },
            "oauth_config": {"scopes": {"bot": ["chat:write", "im:history", "commands"]}},
            "settings": {
                "interactivity": interactivity,
                "org_deploy_enabled": False,
                "socket_mode_enabled": settings.socket_mode_enabled,
                "token_rotation_enabled": False,
            },
        }
