"""What one `cibot serve` process runs, on the parts the composition root built: the HTTP
app (webhooks, Slack, health, metrics), the job runner and the keeper of periodic jobs.

`build(settings)` returns a `Service` with every part ready but nothing started; `serve`
starts it, tests start it in-process, and `aclose()` releases what it holds. The
composition root (`cibot.bootstrap`) knows nothing of this module: imports go one way.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import sqlalchemy as sa
import structlog
from fastapi import FastAPI
from slack_bolt.async_app import AsyncApp

from cibot import bootstrap
from cibot.adapters.retry import RetryPolicy
from cibot.adapters.store.signals import JobSignals
from cibot.config import Settings
from cibot.domain.project import Project
from cibot.entrypoints.periodic import Keeper, Schedule
from cibot.entrypoints.web.app import create_app
from cibot.entrypoints.web.metrics import Metrics
from cibot.entrypoints.web.signed import Intake
from cibot.entrypoints.web.slack import SlackGuard, slack_app
from cibot.entrypoints.worker import JobRunner, WorkerSettings
from cibot.service import groups, reconcile, retention
from cibot.service.ports import Clock, Store

log = structlog.get_logger(__name__)

SLACK_PATHS = ("/slack/events", "/slack-interactions")


@dataclass
class Service:
    parts: bootstrap.Parts
    runner: JobRunner
    app: FastAPI
    metrics: Metrics
    bolt: AsyncApp | None = None  # the Slack listeners, for Socket Mode (entrypoints/socket_mode)

    async def aclose(self) -> None:
        await self.runner.stop()
        await self.parts.aclose()


def _slack_listeners(
    parts: bootstrap.Parts, secret: str | None
) -> tuple[AsyncApp | None, list[tuple[str, Any]]]:
    """The Bolt app and its HTTP routes. No routes without a signing secret (nothing could be
    verified); in Socket Mode the app is built all the same, for the socket."""
    settings = parts.settings
    if not secret and settings.slack.mode != "socket":
        return None, []
    bolt = slack_app(
        token=parts.slack_token,
        # Socket Mode without a signing secret: one nobody knows, as no HTTP route uses it.
        signing_secret=secret or secrets.token_urlsafe(32),
        client=parts.slack,
        store=parts.store,
        clock=parts.clock,
        chat=parts.chat,
        projects=parts.projects,
        team_id=settings.slack.team_id,
        app_id=settings.slack.app_id,
    )
    if not secret:
        return bolt, []
    guard = SlackGuard(secret, settings.server.max_body_bytes, bolt)
    return bolt, [(path, guard) for path in SLACK_PATHS]


def periodic_schedules(
    settings: Settings, store: Store, clock: Clock, projects: Mapping[str, Project]
) -> list[tuple[str, float, Schedule]]:
    """Each periodic job's scheduler and how often every replica calls it (`Keeper`)."""
    period = settings.slack.group_refresh_seconds
    reconcile_every = settings.jobs.reconcile_seconds
    return [
        ("refresh_groups", period, partial(groups.schedule, store, clock, projects, period)),
        ("prune_retention", 3600.0, partial(retention.schedule, store, clock)),
        ("reconcile", reconcile_every, partial(reconcile.schedule, store, clock, reconcile_every)),
    ]


def worker_settings(settings: Settings) -> WorkerSettings:
    j = settings.jobs
    return WorkerSettings(
        workers=j.workers,
        lease_seconds=j.lease_seconds,
        max_attempts=j.max_attempts,
        backoff=RetryPolicy(j.max_attempts, j.backoff_base_seconds, j.backoff_max_seconds),
        poll_interval_seconds=j.poll_interval_seconds,
        drain_seconds=j.drain_seconds,
    )


def build(
    settings: Settings,
    *,
    slack_api_url: str | None = None,
    slack_token: str | None = None,
    slack_signing_secret: str | None = None,
    clock: Clock | None = None,
) -> Service:
    """Wire the front ends; the `slack_*` arguments point at a local fake Slack when given."""
    parts = bootstrap.build(
        settings, slack_api_url=slack_api_url, slack_token=slack_token, clock=clock
    )
    store, clock, projects, database = parts.store, parts.clock, parts.projects, parts.database
    metrics = Metrics()
    runner = JobRunner(
        parts.queue,
        clock,
        parts.handlers,
        worker_settings(settings),
        observe=lambda kind, outcome: metrics.jobs.labels(kind, outcome).inc(),
        on_dead=partial(reconcile.settle_dead, store=store, clock=clock, projects=projects),
    )
    store.on_commit = runner.wake
    # Other replicas' commits wake this one's workers at once, rather than at their poll
    # (this one's own commits have woken them already: their NOTIFYs are ignored).
    listening = database.backend == "postgresql" and settings.jobs.workers > 0
    sender = parts.sender
    own = sender.server_pid if sender is not None else lambda: None
    job_signals = JobSignals(database, runner.nudge, own) if listening else None

    async def ready() -> bool:
        try:
            async with database.begin() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Exception:
            return False
        return True

    async def reconcile_now() -> None:
        """At start: settle what jobs that died (in a process that died) left held."""
        try:
            await reconcile.sweep(store=store, clock=clock, projects=projects, ledger=parts.queue)
        except Exception:  # the periodic sweep tries again; starting must not fail for it
            log.exception("reconcile.failed")

    keeper = Keeper(periodic_schedules(settings, store, clock, projects))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        if settings.jobs.workers:
            await reconcile_now()
            keeper.start()
        runner.start()
        if job_signals is not None:
            job_signals.start()
        try:
            yield
        finally:
            if job_signals is not None:
                await job_signals.stop()
            await keeper.stop()
            await runner.stop()

    intake = Intake(
        store=store,
        clock=clock,
        projects=projects,
        global_secrets=settings.webhooks.secrets,
        max_body_bytes=settings.webhooks.max_body_bytes,
    )
    secret = slack_signing_secret or settings.slack.signing_secret
    bolt, routes = _slack_listeners(parts, secret)
    app = create_app(intake, metrics, ready, lifespan=lifespan, extra_routes=routes)
    return Service(parts, runner, app, metrics, bolt)
