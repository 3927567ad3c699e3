"""Who the fake workspace and its bot are, and which tokens it accepts.

Its own module because the response shapes, the state and the seed file all need it, and none of
them should import the others just for that.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkspaceConfig:
    """Who the bot is and which tokens the fake accepts."""

    team_id: str = "T00000FAKE"
    team_name: str = "Fake Workspace"
    team_domain: str = "fake-workspace"
    bot_user_id: str = "U00000CIBOT"
    bot_id: str = "B00000CIBOT"
    app_id: str = "A00000CIBOT"
    bot_name: str = "cibot"
    tokens: frozenset[str] = frozenset({"xoxb-fake"})
    # App configuration tokens (`apps.manifest.*`): they read the app's settings, a bot token
    # cannot (https://docs.slack.dev/app-manifests/configuring-apps-with-app-manifests).
    config_tokens: frozenset[str] = frozenset({"xoxe.xoxp-1-fake-config"})
    # App-level tokens (`xapp-…`): only `apps.connections.open` takes one, and only one
    # (https://docs.slack.dev/reference/methods/apps.connections.open).
    app_tokens: frozenset[str] = frozenset({"xapp-1-fake"})
    # What the fake signs requests to the app's Request URL with (`delivery`).
    signing_secret: str = "fake-signing-secret"  # noqa: S105 (a fake's, known to tests)
    # Socket Mode: an envelope not acked within this long goes again to another connection
    # (Slack waits about 3 s; tests make it short).
    socket_ack_seconds: float = 3.0
    # Slack knows only the trigger ids it issued (views.open: `invalid_trigger_id`,
    # https://docs.slack.dev/reference/methods/views.open, errors): a test obtains one as a
    # click carries it (`Workspace.new_trigger_id`, `POST /_fake/trigger_ids`).
    trigger_id_ttl: float = 3.0  # seconds a trigger id stays usable, as on Slack

    @property
    def url(self) -> str:
        return f"https://{self.team_domain}.slack.com/"
