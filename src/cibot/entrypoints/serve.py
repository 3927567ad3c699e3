"""`cibot serve`: one process with the HTTP server and the job workers.

When no Slack token is configured, a local fake Slack is started beside it (seeded with the
projects' channels and people) so ci-bot runs end to end on a laptop; its playground (a
web client at its root) shows what each person sees and lets them click. The fake is
imported only then: a ci-bot with a Slack configured does not load it. Likewise Socket Mode
(entrypoints/socket_mode.py, with Bolt's and slack_sdk's socket clients) is imported only with
`slack.mode: socket`.

Start-up runs with the garbage collector paused, from the top of the `serve` command until
the service is built and its server made; then the objects of start-up are frozen and
collection resumes, before the first request (entrypoints/startup.py says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

import structlog
import uvicorn
from lightkube.core.exceptions import ConfigError as LightkubeConfigError

from cibot import crashpoints
from cibot.adapters.store import migrate
from cibot.config import Settings
from cibot.domain.project import Project
from cibot.entrypoints import logs, process, startup

if TYPE_CHECKING:
    from cibot.entrypoints.socket_mode import SocketMode
    from cibot.fakeslack import FakeSlackServer

log = structlog.get_logger(__name__)


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in the settings, for the log redactor."""
    slack = settings.slack
    values = [slack.bot_token, slack.signing_secret, slack.app_config_token, slack.app_token]
    values += settings.webhooks.secrets
    for project in settings.projects:
        values.extend(project.own_webhook_secrets)
    from sqlalchemy.engine import make_url

    values.append(make_url(settings.database.async_url).password)
    return [v for v in values if v]


STRANGER = "U0STRANGER"  # in the playground: in the channels, in no project's roles


def _role_names(projects: list[Project]) -> dict[str, str]:
    """Each person's name in the playground's switcher says what they are."""
    roles: dict[str, list[str]] = {}
    for project in projects:
        for user in sorted(project.qa):
            roles.setdefault(user, []).append(f"QA of {project.id}")
        for user in sorted(project.owners):
            roles.setdefault(user, []).append(f"owner of {project.id}")
    return {user: f"{user} ({', '.join(said)})" for user, said in roles.items()}


def fake_workspace(projects: list[Project], port: int = 0) -> FakeSlackServer:
    """A fake Slack with the projects' channels and people, and one stranger in each channel
    (the playground acts as anyone, to show a click that is refused)."""
    from cibot.fakeslack import Channel, FakeSlackServer, User

    named = _role_names(projects)
    users = [User(id=u, name=u.lower(), real_name=named[u]) for u in sorted(named)]
    users.append(User(id=STRANGER, name="stranger", real_name=f"{STRANGER} (in no project)"))
    channels = [
        Channel(id=p.channel, name=p.id, members=frozenset((*p.qa, *p.owners, STRANGER)))
        for p in projects
    ]
    return FakeSlackServer(users=users, channels=channels, port=port)


@dataclass(frozen=True)
class LocalSlack:
    """The fake Slack `cibot serve` runs when no Slack is configured: its Web API, the token
    it accepts, the signing secret with which its playground signs clicks, and the app-level
    token its Socket Mode takes."""

    api_url: str | None = None
    token: str | None = None
    signing_secret: str | None = None
    app_token: str | None = None


@contextlib.contextmanager
def local_slack(settings: Settings) -> Iterator[LocalSlack]:
    """A fake Slack when none is configured (connected to this ci-bot), else an empty one."""
    if settings.slack.configured:
        yield LocalSlack()
        return
    from cibot.config import to_domain
    from cibot.fakeslack import Bot, WorkspaceConfig

    port = int(os.environ.get("CIBOT_FAKE_SLACK_PORT", "0") or 0)
    projects = list(to_domain(settings))
    # A new secret each run: nobody outside this process could sign a click with it.
    signing_secret = secrets.token_urlsafe(32)
    host = settings.server.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a bind-all is reached on loopback
    bot = Bot(
        url=f"http://{host}:{settings.server.port}",
        signing_secret=signing_secret,
        webhook_secret=settings.webhooks.secrets[0] if settings.webhooks.secrets else None,
        projects=tuple(p.id for p in projects),
    )
    with fake_workspace(projects, port).connect(bot) as fake:
        if settings.slack.mode == "socket":  # the demo over Socket Mode (scripts/run)
            fake.state.set_app_settings(socket_mode_enabled=True)
        log.warning(
            "slack.fake",
            message="no Slack configured: using a local fake Slack",
            api_url=fake.api_url,
            playground=f"{fake.url}/",
        )
        app_token = min(WorkspaceConfig().app_tokens)
        yield LocalSlack(fake.api_url, "xoxb-fake", signing_secret, app_token)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, which also tells the job runner the moment SIGTERM (or Ctrl-C)
    arrives: the runner claims nothing more while HTTP requests drain, and hands back what
    is still running when `jobs.drain_seconds` are up, within the pod's grace period."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._on_exit()  # only schedules the drain on the event loop: safe in a handler


async def _serve(settings: Settings, slack: LocalSlack) -> int:
    try:
        service = process.build(
            settings,
            slack_api_url=slack.api_url,
            slack_token=slack.token,
            slack_signing_secret=slack.signing_secret,
        )
    except (OSError, ValueError, LightkubeConfigError) as exc:
        log.error("kubernetes.config", message=f"cannot use the Kubernetes configuration: {exc}")
        return 2
    try:
        try:
            schema = await migrate.ensure_migrated(service.parts.database)
        except migrate.NotMigrated as exc:
            log.error("database.not_migrated", message=str(exc))
            return 2
        if schema.newer:  # a rolling update or a rollback: see migrate.py
            log.warning("database.newer_schema", message=f"the database is {schema.describe()}")
        config = uvicorn.Config(
            service.app,
            host=settings.server.host,
            port=settings.server.port,
            log_config=None,
            access_log=False,
            ws="none",  # no WebSocket route: uvicorn need not load its WebSocket protocols
            timeout_keep_alive=5,
            timeout_graceful_shutdown=10,
            lifespan="on",
        )
        socket: SocketMode | None = None
        if settings.slack.mode == "socket":  # Bolt's and slack_sdk's sockets load only then
            from cibot.entrypoints import socket_mode

            # The local fake Slack (no Slack configured) takes its own app-level token.
            app_token = settings.slack.app_token or slack.app_token
            try:
                socket = await socket_mode.connect(
                    settings.slack.mode, service.bolt, app_token, service.parts.slack
                )
            except socket_mode.AppTokenRefused as exc:
                log.error("slack.app_token", message=str(exc))
                return 2

        def on_exit() -> None:
            service.runner.drain()
            if socket is not None:
                socket.close_soon()  # envelopes go to other replicas while this one drains

        server = DrainingServer(config, on_exit=on_exit)
        startup.resume_collection()  # built: what exists now lives as long as the process
        log.info("serve.start", host=settings.server.host, port=settings.server.port)
        try:
            await server.serve()
        finally:
            if socket is not None:
                await socket.close()
        return 0 if server.started else 1
    finally:
        await service.aclose()


def run(settings: Settings) -> int:
    logs.configure(settings.logging.level, settings.logging.format, secrets_of(settings))
    crashpoints.arm(os.environ.get("CIBOT_CRASH_AT"))  # crash tests only; see crashpoints.py
    with local_slack(settings) as slack:
        return asyncio.run(_serve(settings, slack))
