"""The composition root: the one place where the adapters are built and handed to the service.

`build(settings)` returns the `Parts` of a ci-bot: the store, the job queue, the Kubernetes
and Slack clients and the table of job handlers (`service.handlers`), nothing started. It
knows no front end: the entrypoints (`entrypoints/process.py`) put the HTTP app, the job
runner and the periodic keeper on these parts, so imports go one way, entrypoints to here
(an import-linter contract keeps it so). `aclose()` releases what the parts hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from cibot.adapters.clock import SystemClock
from cibot.adapters.kubernetes import manifests
from cibot.adapters.kubernetes.client import LazyClient, kube_config
from cibot.adapters.kubernetes.cluster import FIELD_MANAGER, KubeCluster
from cibot.adapters.retry import RetryPolicy
from cibot.adapters.slack.chat import SlackChat, web_client
from cibot.adapters.slack.pacing import Pacer
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.signal_sender import SignalSender
from cibot.adapters.store.sql import SqlStore
from cibot.config import Settings, to_domain
from cibot.domain.project import Project
from cibot.service import home, retention
from cibot.service.handlers import Dependencies, Handlers, Renderers, job_handlers, with_reconcile
from cibot.service.ports import Clock

# How builds become Kubernetes objects: the Kubernetes adapter's manifests.
RENDERERS = Renderers(preview=manifests.render_preview, production=manifests.render_production)


@dataclass
class Parts:
    settings: Settings
    clock: Clock
    projects: Mapping[str, Project]
    database: Database
    store: SqlStore
    queue: SqlJobQueue
    kube: LazyClient  # lightkube's client, made at the first call (kubernetes/client.py)
    slack: AsyncWebClient
    slack_token: str
    chat: SlackChat
    handlers: Handlers
    sender: SignalSender | None  # wakes the other replicas (PostgreSQL only)

    async def aclose(self) -> None:
        await self.kube.close()
        if self.slack.session is not None:
            await self.slack.session.close()
        if self.sender is not None:  # after the last commit: its signal goes out first
            await self.sender.aclose()
        await self.database.dispose()


def retention_of(settings: Settings) -> retention.Retention:
    r = settings.retention
    return retention.Retention(r.deliveries, r.finished_jobs, r.slack_messages)


def retry_policy(settings: Settings) -> RetryPolicy:
    r = settings.retry
    return RetryPolicy(attempts=r.attempts, base_seconds=r.base_seconds, max_seconds=r.max_seconds)


def build(
    settings: Settings,
    *,
    slack_api_url: str | None = None,
    slack_token: str | None = None,
    clock: Clock | None = None,
) -> Parts:
    """Build the adapters; the `slack_*` arguments point at a local fake Slack when given."""
    clock = clock or SystemClock()
    projects = {p.id: p for p in to_domain(settings)}
    database = Database(settings.database.async_url)
    store = SqlStore(database, clock)
    # Whatever a transaction audits publishes the Home tabs of the people concerned.
    store.before_commit = partial(home.audited, projects=projects, clock=clock)
    # Its commits that make jobs due wake the other replicas, workers or none here.
    sender = SignalSender(database) if database.backend == "postgresql" else None
    if sender is not None:
        store.signal_replicas = sender.signal
    kube = LazyClient(
        kube_config(settings.kubernetes.kubeconfig, settings.kubernetes.context),
        field_manager=FIELD_MANAGER,
        timeout=30.0,
    )
    policy = retry_policy(settings)
    token = slack_token or settings.slack.bot_token or ""
    # One session for every Slack call: connections are kept alive (closed in `aclose`).
    session = aiohttp.ClientSession()
    slack = web_client(token, slack_api_url or settings.slack.api_url, policy, session=session)
    chat = SlackChat(slack, pacer=Pacer(), policy=policy)  # one pacer for every worker
    queue = SqlJobQueue(database)
    needs = Dependencies(
        store=store,
        cluster=KubeCluster(kube, policy),
        chat=chat,
        clock=clock,
        projects=projects,
        render=RENDERERS,
        group_refresh_seconds=settings.slack.group_refresh_seconds,
        keep=retention_of(settings),
    )
    handlers = with_reconcile(
        job_handlers(needs), needs, ledger=queue, period=settings.jobs.reconcile_seconds
    )
    return Parts(
        settings,
        clock,
        projects,
        database,
        store,
        queue,
        kube,
        slack,
        token,
        chat,
        handlers,
        sender,
    )
