"""Which use case runs each kind of job: one table, its dependencies typed.

Every entry goes through `_entry(kind, run)`, which ties a payload class to a function of
that class: mypy rejects a handler wired to another kind of job, a dependency at the wrong
port, or a keyword the use case does not take (each handler is a lambda of the class
`kind` names). The job runner looks a job's handler up by its payload's class, so the
table it gets is erased to `Handler`; `_entry` is the one place that erases it.

The composition root builds the adapters and hands them in as `Dependencies`; nothing
else is decided there.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeVar

from cibot.domain.project import Project
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
from cibot.service.ports import Chat, Clock, Cluster, JobLedger, Store

P = TypeVar("P", bound=JobPayload)

# What the runner holds: a handler of some payload class, picked by the job's payload class.
Handler = Callable[[Any], Coroutine[Any, Any, None]]
Handlers = dict[type[JobPayload], Handler]


@dataclass(frozen=True, slots=True)
class Renderers:
    """How a build becomes Kubernetes objects (the Kubernetes adapter's manifests)."""

    preview: preview.RenderPreview
    production: production.RenderProduction


@dataclass(frozen=True, slots=True)
class Dependencies:
    store: Store
    cluster: Cluster
    chat: Chat
    clock: Clock
    projects: Mapping[str, Project]
    render: Renderers
    group_refresh_seconds: float = 300.0
    keep: retention.Retention = field(default_factory=retention.Retention)


def _entry(
    kind: type[P], run: Callable[[P], Coroutine[Any, Any, None]]
) -> tuple[type[JobPayload], Handler]:
    return kind, run


class _Slack(TypedDict):
    """What a use case that talks to Slack takes (unpacked with `**`: mypy checks each key)."""

    store: Store
    clock: Clock
    chat: Chat
    projects: Mapping[str, Project]


class _Cluster(TypedDict):
    """What a use case that changes the cluster takes."""

    store: Store
    cluster: Cluster
    projects: Mapping[str, Project]


def job_handlers(d: Dependencies) -> Handlers:
    """Every job kind but `Reconcile` (it needs the queue's ledger: `with_reconcile`)."""
    store, chat, clock, p = d.store, d.chat, d.clock, d.projects
    slack = _Slack(store=store, clock=clock, chat=chat, projects=p)
    kube = _Cluster(store=store, cluster=d.cluster, projects=p)
    table: list[tuple[type[JobPayload], Handler]] = [
        # Kubernetes: deploy, roll back, delete
        _entry(
            DeployPreview,
            lambda job: preview.deploy_preview(job, **kube, clock=clock, render=d.render.preview),
        ),
        _entry(
            DeployProduction,
            lambda job: production.deploy_production(
                job, **kube, clock=clock, render=d.render.production
            ),
        ),
        _entry(
            RollbackProduction,
            lambda job: production.roll_back(job, **kube, clock=clock, render=d.render.production),
        ),
        _entry(DeletePreview, lambda job: production.delete_preview(job, **kube)),
        _entry(DeleteBranchPreview, lambda job: branches.delete_branch_preview(job, **kube)),
        # Slack: the card, the DMs, announcements, Home tabs
        _entry(SyncBuildCard, lambda job: cards.sync_build_card(job, **slack)),
        _entry(SyncReviewDMs, lambda job: messages.sync_review_dms(job, **slack)),
        _entry(PostVerdictReplies, lambda job: messages.post_verdict_replies(job, **slack)),
        _entry(AnnounceDecision, lambda job: messages.announce_decision(job, **slack)),
        _entry(AnnounceFreeze, lambda job: messages.announce_freeze(job, **slack)),
        _entry(NotifyUser, lambda job: messages.notify_user(job, chat=chat)),
        _entry(RedrawReview, lambda job: messages.redraw_review(job, store=store)),
        _entry(WarnIdlePreview, lambda job: idle.warn_idle_preview(job, **slack)),
        _entry(RemindReviewers, lambda job: reminders.remind_reviewers(job, **slack)),
        _entry(PublishHome, lambda job: home.publish_home(job, **slack)),
        _entry(
            ResolveAuthor,
            lambda job: authors.resolve_author(job, store=store, chat=chat, clock=clock),
        ),
        _entry(
            RefreshGroups,
            lambda job: groups.refresh_groups(job, **slack, period=d.group_refresh_seconds),
        ),
        # Timers and housekeeping
        _entry(
            RepublishHomes,
            lambda job: home.republish_homes(job, store=store, clock=clock, projects=p),
        ),
        _entry(
            ExpireReview,
            lambda job: expiry.expire_review(job, store=store, clock=clock, projects=p),
        ),
        _entry(
            CheckIdlePreview,
            lambda job: idle.check_idle_preview(job, store=store, clock=clock, projects=p),
        ),
        _entry(
            PruneRetention,
            lambda job: retention.prune_retention(job, store=store, clock=clock, retention=d.keep),
        ),
    ]
    return dict(table)


def with_reconcile(
    handlers: Handlers, d: Dependencies, *, ledger: JobLedger, period: float
) -> Handlers:
    """The table with the periodic sweep, which reads the queue's ledger of held jobs."""
    sweep = _entry(
        Reconcile,
        lambda job: reconcile.reconcile(
            job, store=d.store, clock=d.clock, projects=d.projects, ledger=ledger, period=period
        ),
    )
    return {**handlers, sweep[0]: sweep[1]}
