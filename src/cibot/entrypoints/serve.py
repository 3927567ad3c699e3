"""`cibot serve`: one process with the HTTP server and the job workers.

When no Slack token is configured, a local fake Slack is started beside it (seeded with the
projects' channels and people) so ci-bot runs end to end on a laptop; its admin pages show
what each person would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from types import FrameType

import structlog
import uvicorn
from lightkube.core.exceptions import ConfigError as LightkubeConfigError

from cibot import crashpoints
from cibot.adapters.store import migrate
from cibot.config import Settings
from cibot.domain.project import Project
from cibot.entrypoints import logs, process
from cibot.fakeslack import Channel, FakeSlackServer, User

log = structlog.get_logger(__name__)


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in the settings, for the log redactor."""
    slack = settings.slack
    values = [slack.bot_token, slack.signing_secret, slack.app_config_token]
    values += settings.webhooks.secrets
    for project in settings.projects:
        values.extend(project.own_webhook_secrets)
    from sqlalchemy.engine import make_url

    values.append(make_url(settings.database.async_url).password)
    return [v for v in values if v]


def fake_workspace(projects: list[Project], port: int = 0) -> FakeSlackServer:
    people = sorted({u for p in projects for u in (*p.qa, *p.owners)})
    users = [User(id=u, name=u.lower()) for u in people]
    channels = [
        Channel(id=p.channel, name=p.id, members=frozenset((*p.qa, *p.owners))) for p in projects
    ]
    return FakeSlackServer(users=users, channels=channels, port=port)


@contextlib.contextmanager
def local_slack(settings: Settings) -> Iterator[tuple[str | None, str | None]]:
    """(api_url, token) of a fake Slack when none is configured, else (None, None)."""
    if settings.slack.configured:
        yield None, None
        return
    from cibot.config import to_domain

    port = int(os.environ.get("CIBOT_FAKE_SLACK_PORT", "0") or 0)
    with fake_workspace(list(to_domain(settings)), port) as fake:
        log.warning(
            "slack.fake",
            message="no Slack configured: using a local fake Slack",
            api_url=fake.api_url,
            see_messages=f"{fake.admin_url}state",
        )
        yield fake.api_url, "xoxb-fake"


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


async def _serve(settings: Settings, api_url: str | None, token: str | None) -> int:
    try:
        service = process.build(
            settings,
            slack_api_url=api_url,
            slack_token=token,
            # A new secret each run: nobody outside this process could sign a click with it.
            slack_signing_secret=secrets.token_urlsafe(32) if api_url else None,
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
            timeout_keep_alive=5,
            timeout_graceful_shutdown=10,
            lifespan="on",
        )
        server = DrainingServer(config, on_exit=service.runner.drain)
        log.info("serve.start", host=settings.server.host, port=settings.server.port)
        await server.serve()
        return 0 if server.started else 1
    finally:
        await service.aclose()


def run(settings: Settings) -> int:
    logs.configure(settings.logging.level, settings.logging.format, secrets_of(settings))
    crashpoints.arm(os.environ.get("CIBOT_CRASH_AT"))  # crash tests only; see crashpoints.py
    with local_slack(settings) as (api_url, token):
        return asyncio.run(_serve(settings, api_url, token))
