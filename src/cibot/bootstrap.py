"""The composition root: the one place where concrete classes are built and wired together.

`build(settings)` returns a `Service` with every part ready but nothing started; the CLI
starts it (`serve`), tests start it in-process, and `aclose()` releases what it holds.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
import httpx2
import sqlalchemy as sa
import structlog
from fastapi import FastAPI
from lightkube import AsyncClient
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from cibot.adapters.clock import SystemClock
from cibot.adapters.kubernetes import manifests
from cibot.adapters.kubernetes.client import kube_config
from cibot.adapters.kubernetes.cluster import FIELD_MANAGER, KubeCluster
from cibot.adapters.retry import RetryPolicy
from cibot.adapters.slack.chat import SlackChat, web_client
from cibot.adapters.slack.pacing import Pacer
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.sql import SqlStore
from cibot.config import Settings, to_domain
from cibot.domain.build import Build
from cibot.domain.project import Project
from cibot.entrypoints.periodic import Keeper, Schedule
from cibot.entrypoints.web.app import create_app
from cibot.entrypoints.web.metrics import Metrics
from cibot.entrypoints.web.signed import Intake
from cibot.entrypoints.web.slack import SlackGuard, slack_app
from cibot.entrypoints.worker import Handler, JobRunner, WorkerSettings
from cibot.service import (
    authors,
    branches,
    cards,
    expiry,
    groups,
    home,
    idle,
    messages,
    preview,
    production,
    reconcile,
    reminders,
    retention,
)
from cibot.service.jobs import (
    AnnounceDecision,
    AnnounceFreeze,
    CheckIdlePreview,
    DeleteBranchPreview,
    DeletePreview,
    DeployPreview,
    DeployProduction,
    ExpireReview,
    JobPayload,
    NotifyUser,
    PostVerdictReplies,
    PruneRetention,
    PublishHome,
    Reconcile,
    RedrawReview,
    RefreshGroups,
    RemindReviewers,
    RepublishHomes,
    ResolveAuthor,
    RollbackProduction,
    SyncBuildCard,
    SyncReviewDMs,
    WarnIdlePreview,
)
from cibot.service.ports import Clock

log = structlog.get_logger(__name__)


def render_preview(project: Project, build: Build) -> list[dict[str, Any]]:
    spec = manifests.EnvironmentSpec.preview(
        project, build_type=build.type, target=build.target, image=build.image, build_id=build.id
    )
    return manifests.render(spec)


def render_production(project: Project, build: Build) -> list[dict[str, Any]]:
    spec = manifests.EnvironmentSpec.production(
        project,
        build_type=build.type,
        target=build.target,
        image=build.image,
        build_id=build.id,
        digest=build.digest,
    )
    return manifests.render(spec)


@dataclass
class Service:
    settings: Settings
    database: Database
    store: SqlStore
    runner: JobRunner
    app: FastAPI
    metrics: Metrics
    projects: Mapping[str, Project]
    kube: AsyncClient
    slack: AsyncWebClient
    bolt: AsyncApp | None = None  # the Slack listeners, for Socket Mode (entrypoints/socket_mode)

    async def aclose(self) -> None:
        await self.runner.stop()
        await self.kube.close()
        if self.slack.session is not None:
            await self.slack.session.close()
        await self.database.dispose()


def _slack_listeners(
    settings: Settings,
    *,
    secret: str | None,
    client: AsyncWebClient,
    token: str,
    store: SqlStore,
    clock: Clock,
    chat: SlackChat,
    projects: Mapping[str, Project],
) -> tuple[AsyncApp | None, list[tuple[str, Any]]]:
    """The Bolt app and its HTTP routes. No routes without a signing secret (nothing could be
    verified); in Socket Mode the app is built all the same, for the socket."""
    if not secret and settings.slack.mode != "socket":
        return None, []
    bolt = slack_app(
        token=token,
        # Socket Mode without a signing secret: one nobody knows, as no HTTP route uses it.
        signing_secret=secret or secrets.token_urlsafe(32),
        client=client,
        store=store,
        clock=clock,
        chat=chat,
        projects=projects,
        team_id=settings.slack.team_id,
        app_id=settings.slack.app_id,
    )
    if not secret:
        return bolt, []
    guard = SlackGuard(secret, settings.server.max_body_bytes, bolt)
    return bolt, [("/slack/events", guard), ("/slack-interactions", guard)]


def periodic_schedules(
    settings: Settings, store: SqlStore, clock: Clock, projects: Mapping[str, Project]
) -> list[tuple[str, float, Schedule]]:
    """Each periodic job's scheduler and how often every replica calls it (`Keeper`)."""
    period = settings.slack.group_refresh_seconds
    reconcile_every = settings.jobs.reconcile_seconds
    return [
        ("refresh_groups", period, partial(groups.schedule, store, clock, projects, period)),
        ("prune_retention", 3600.0, partial(retention.schedule, store, clock)),
        ("reconcile", reconcile_every, partial(reconcile.schedule, store, clock, reconcile_every)),
    ]


def retention_of(settings: Settings) -> retention.Retention:
    r = settings.retention
    return retention.Retention(r.deliveries, r.finished_jobs, r.slack_messages)


def retry_policy(settings: Settings) -> RetryPolicy:
    r = settings.retry
    return RetryPolicy(attempts=r.attempts, base_seconds=r.base_seconds, max_seconds=r.max_seconds)


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


def job_handlers(
    *,
    store: SqlStore,
    cluster: KubeCluster,
    chat: SlackChat,
    clock: Clock,
    projects: Mapping[str, Project],
    group_refresh_seconds: float = 300,
    keep: retention.Retention | None = None,
) -> dict[type[JobPayload], Handler]:
    """Which use case runs each kind of job, with its ports bound."""
    c, p = cluster, projects

    def deploying(use_case: Callable[..., Coroutine[Any, Any, None]], render: Any) -> Handler:
        return partial(use_case, store=store, cluster=c, clock=clock, projects=p, render=render)

    return {
        DeployPreview: deploying(preview.deploy_preview, render_preview),
        SyncBuildCard: partial(
            cards.sync_build_card, store=store, clock=clock, chat=chat, projects=p
        ),
        SyncReviewDMs: partial(
            messages.sync_review_dms, store=store, clock=clock, chat=chat, projects=p
        ),
        PostVerdictReplies: partial(
            messages.post_verdict_replies, store=store, clock=clock, chat=chat, projects=p
        ),
        AnnounceDecision: partial(
            messages.announce_decision, store=store, clock=clock, chat=chat, projects=p
        ),
        NotifyUser: partial(messages.notify_user, chat=chat),
        DeployProduction: deploying(production.deploy_production, render_production),
        RollbackProduction: deploying(production.roll_back, render_production),
        DeletePreview: partial(production.delete_preview, store=store, cluster=c, projects=p),
        ResolveAuthor: partial(authors.resolve_author, store=store, chat=chat, clock=clock),
        RefreshGroups: partial(
            groups.refresh_groups,
            store=store,
            chat=chat,
            clock=clock,
            projects=p,
            period=group_refresh_seconds,
        ),
        PruneRetention: partial(
            retention.prune_retention,
            store=store,
            clock=clock,
            retention=keep or retention.Retention(),
        ),
        AnnounceFreeze: partial(
            messages.announce_freeze, store=store, clock=clock, chat=chat, projects=p
        ),
        RedrawReview: partial(messages.redraw_review, store=store),
        ExpireReview: partial(expiry.expire_review, store=store, clock=clock, projects=p),
        CheckIdlePreview: partial(idle.check_idle_preview, store=store, clock=clock, projects=p),
        WarnIdlePreview: partial(
            idle.warn_idle_preview, store=store, clock=clock, chat=chat, projects=p
        ),
        RemindReviewers: partial(
            reminders.remind_reviewers, store=store, clock=clock, chat=chat, projects=p
        ),
        DeleteBranchPreview: partial(
            branches.delete_branch_preview, store=store, cluster=c, projects=p
        ),
        PublishHome: partial(home.publish_home, store=store, clock=clock, chat=chat, projects=p),
        RepublishHomes: partial(home.republish_homes, store=store, clock=clock, projects=p),
    }


def build(
    settings: Settings,
    *,
    slack_api_url: str | None = None,
    slack_token: str | None = None,
    slack_signing_secret: str | None = None,
    clock: Clock | None = None,
) -> Service:
    """Wire everything; the `slack_*` arguments point at a local fake Slack when given."""
    clock = clock or SystemClock()
    projects = {p.id: p for p in to_domain(settings)}
    database = Database(settings.database.async_url)
    store = SqlStore(database, clock)
    # Whatever a transaction audits publishes the Home tabs of the people concerned.
    store.before_commit = partial(home.audited, projects=projects, clock=clock)
    kube = AsyncClient(
        config=kube_config(settings.kubernetes.kubeconfig, settings.kubernetes.context),
        field_manager=FIELD_MANAGER,
        timeout=httpx2.Timeout(30.0),
    )
    policy = retry_policy(settings)
    cluster = KubeCluster(kube, policy)
    token = slack_token or settings.slack.bot_token or ""
    # One session for every Slack call: connections are kept alive (closed in `aclose`).
    session = aiohttp.ClientSession()
    slack = web_client(token, slack_api_url or settings.slack.api_url, policy, session=session)
    chat = SlackChat(slack, pacer=Pacer(), policy=policy)  # one pacer for every worker

    handlers = job_handlers(
        store=store,
        cluster=cluster,
        chat=chat,
        clock=clock,
        projects=projects,
        group_refresh_seconds=settings.slack.group_refresh_seconds,
        keep=retention_of(settings),
    )
    queue = SqlJobQueue(database)
    reconcile_every = settings.jobs.reconcile_seconds
    handlers[Reconcile] = partial(
        reconcile.reconcile,
        store=store,
        clock=clock,
        projects=projects,
        ledger=queue,
        period=reconcile_every,
    )
    metrics = Metrics()
    runner = JobRunner(
        queue,
        clock,
        handlers,
        worker_settings(settings),
        observe=lambda kind, outcome: metrics.jobs.labels(kind, outcome).inc(),
        on_dead=partial(reconcile.settle_dead, store=store, clock=clock, projects=projects),
    )
    store.on_commit = runner.wake

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
            await reconcile.sweep(store=store, clock=clock, projects=projects, ledger=queue)
        except Exception:  # the periodic sweep tries again; starting must not fail for it
            log.exception("reconcile.failed")

    keeper = Keeper(periodic_schedules(settings, store, clock, projects))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        if settings.jobs.workers:
            await reconcile_now()
            keeper.start()
        runner.start()
        try:
            yield
        finally:
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
    bolt, slack_routes = _slack_listeners(
        settings,
        secret=secret,
        client=slack,
        token=token,
        store=store,
        clock=clock,
        chat=chat,
        projects=projects,
    )
    app = create_app(intake, metrics, ready, lifespan=lifespan, extra_routes=slack_routes)
    return Service(settings, database, store, runner, app, metrics, projects, kube, slack, bolt)
