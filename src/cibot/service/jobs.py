"""The durable work items: each side effect of ci-bot is a job row committed with its cause.

A job payload is a small frozen dataclass naming what to do and for which build; the job
runner finds the handler by the payload's type. Payloads carry ids only: a handler always
reloads the current state, so a job that runs twice, or late, acts on the truth.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class JobPayload:
    """Base of every job payload. `queue` serialises jobs that must not overlap."""

    kind: ClassVar[str] = ""

    @property
    def queue(self) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class DeployPreview(JobPayload):
    """Apply a build's preview objects and wait for the rollout."""

    kind: ClassVar[str] = "deploy_preview"
    build_id: str
    environment: str  # namespace/name: deploys of one environment run one at a time

    @property
    def queue(self) -> str | None:
        return f"env:{self.environment}"


@dataclass(frozen=True, slots=True)
class SyncBuildCard(JobPayload):
    """Post the build's channel card, or bring the posted one up to date."""

    kind: ClassVar[str] = "sync_build_card"
    build_id: str

    @property
    def queue(self) -> str | None:
        return f"card:{self.build_id}"


@dataclass(frozen=True, slots=True)
class SyncReviewDMs(JobPayload):
    """Post the owners' and QA members' DMs of a ready build, or redraw the posted ones.

    `user` limits the redraw to one person's DMs (after their verdict); None means everyone.
    """

    kind: ClassVar[str] = "sync_review_dms"
    build_id: str
    user: str | None = None

    @property
    def queue(self) -> str | None:
        return f"dm:{self.build_id}"


@dataclass(frozen=True, slots=True)
class RedrawReview(JobPayload):
    """Redraw a build's DMs at a later time (when a freeze window ends); no queue of its own,
    so waiting for that time holds nothing else up."""

    kind: ClassVar[str] = "redraw_review"
    build_id: str


@dataclass(frozen=True, slots=True)
class PostVerdictReplies(JobPayload):
    """Tell each owner, in their DM's thread, what one QA member decided."""

    kind: ClassVar[str] = "post_verdict_replies"
    build_id: str
    qa_user: str

    @property
    def queue(self) -> str | None:
        return f"dm:{self.build_id}"


@dataclass(frozen=True, slots=True)
class DeployProduction(JobPayload):
    """Deploy a build's image, pinned by digest, to its project's production environment."""

    kind: ClassVar[str] = "deploy_production"
    build_id: str
    decision_id: int
    environment: str  # namespace/name of production: one deploy at a time

    @property
    def queue(self) -> str | None:
        return f"env:{self.environment}"


@dataclass(frozen=True, slots=True)
class RollbackProduction(JobPayload):
    """Put the release before `from_release` back into production, for an owner's decision."""

    kind: ClassVar[str] = "rollback_production"
    decision_id: int
    from_release: int
    to_release: int
    environment: str  # namespace/name of production: one deploy at a time
    build_id: str = ""  # the build rolled back to (for the logs); "" in jobs queued before

    @property
    def queue(self) -> str | None:
        return f"env:{self.environment}"


@dataclass(frozen=True, slots=True)
class AnnounceDecision(JobPayload):
    """Announce a production deploy or rollback (or its failure) in the project's channel.

    Posted once, then redrawn in place: when a newer release replaces it, its **Roll back**
    button goes away. The announcements of one production environment run one at a time,
    so two runs for one decision (a redraw queued while the post is still under way) cannot
    both find it unposted and post it twice.
    """

    kind: ClassVar[str] = "announce_decision"
    decision_id: int
    build_id: str
    environment: str = ""  # namespace/name of production; "" in jobs queued before it was kept

    @property
    def queue(self) -> str | None:
        return f"announce:{self.environment or self.decision_id}"


@dataclass(frozen=True, slots=True)
class DeletePreview(JobPayload):
    """Remove a closed build's preview objects (only ci-bot's, only if still its own)."""

    kind: ClassVar[str] = "delete_preview"
    build_id: str
    environment: str

    @property
    def queue(self) -> str | None:
        return f"env:{self.environment}"


@dataclass(frozen=True, slots=True)
class ResolveAuthor(JobPayload):
    """Find the Slack user behind the email CI gave as a build's author (four eyes)."""

    kind: ClassVar[str] = "resolve_author"
    build_id: str


@dataclass(frozen=True, slots=True)
class RefreshGroups(JobPayload):
    """Re-read the members of the Slack user groups named in roles; runs again periodically.

    `slot` numbers the refresh period, so each period has one job (a dedupe key) however
    many replicas schedule it.
    """

    kind: ClassVar[str] = "refresh_groups"
    slot: int


@dataclass(frozen=True, slots=True)
class PruneRetention(JobPayload):
    """Once a day: delete deliveries, finished jobs and message slots past their retention.

    `day` numbers the day (UTC), so each day has one job however many replicas schedule it.
    """

    kind: ClassVar[str] = "prune_retention"
    day: int


@dataclass(frozen=True, slots=True)
class AnnounceFreeze(JobPayload):
    """Tell a project's channel that an owner froze (or unfroze) production deploys."""

    kind: ClassVar[str] = "announce_freeze"
    project_id: str
    actor: str
    frozen: bool
    reason: str | None = None
    # Names this announcement's message, so it is posted once; stored with the job, so a
    # retry keeps it.
    key: str = field(default_factory=lambda: secrets.token_hex(8))


@dataclass(frozen=True, slots=True)
class NotifyUser(JobPayload):
    """An ephemeral answer to one person's click, in the channel where they clicked; for a
    click on their Home tab (no channel) `channel` is their own user id: a message in their
    DM with ci-bot."""

    kind: ClassVar[str] = "notify_user"
    channel: str
    user: str
    text: str


@dataclass(frozen=True, slots=True)
class PublishHome(JobPayload):
    """Publish one person's Home tab (`views.publish`) as the state is when it runs.

    Queued when they open it, and for everyone concerned when something shown there changes
    (`service.home`): at most one waits per person, however many changes come meanwhile.
    All of them share one queue, so Home publishes run one at a time across replicas and
    never take more than one worker from deploys and messages.
    """

    kind: ClassVar[str] = "publish_home"
    user: str

    @property
    def queue(self) -> str | None:
        return "home"


@dataclass(frozen=True, slots=True)
class RepublishHomes(JobPayload):
    """Timed: a configured freeze window of the project ends, which its people's Home tabs
    show: publish them again then. No queue of its own: waiting holds nothing up."""

    kind: ClassVar[str] = "republish_homes"
    project_id: str


@dataclass(frozen=True, slots=True)
class ExpireReview(JobPayload):
    """Timed: at the end of a ready build's review time, expire it if nobody decided."""

    kind: ClassVar[str] = "expire_review"
    build_id: str


@dataclass(frozen=True, slots=True)
class CheckIdlePreview(JobPayload):
    """Timed: look at an idle preview; wait, warn the owners, or remove it. Reschedules itself."""

    kind: ClassVar[str] = "check_idle_preview"
    build_id: str


@dataclass(frozen=True, slots=True)
class WarnIdlePreview(JobPayload):
    """Tell the owners, in their DMs' threads (else the card's), that an idle preview will go."""

    kind: ClassVar[str] = "warn_idle_preview"
    build_id: str

    @property
    def queue(self) -> str | None:
        return f"dm:{self.build_id}"  # after the owners' DMs are posted


@dataclass(frozen=True, slots=True)
class RemindReviewers(JobPayload):
    """Timed: one reminder to each QA member who has not answered a build still in review."""

    kind: ClassVar[str] = "remind_reviewers"
    build_id: str


@dataclass(frozen=True, slots=True)
class DeleteBranchPreview(JobPayload):
    """Remove the preview of a branch CI says was deleted, unless a build of it lives again."""

    kind: ClassVar[str] = "delete_branch_preview"
    project_id: str
    branch: str
    environment: str

    @property
    def queue(self) -> str | None:
        return f"env:{self.environment}"


@dataclass(frozen=True, slots=True)
class Reconcile(JobPayload):
    """Settle what dead or lost jobs held (builds in progress, the production slot); runs
    again periodically. `slot` numbers the period (one job per period, like RefreshGroups)."""

    kind: ClassVar[str] = "reconcile"
    slot: int


PAYLOAD_TYPES: dict[str, type[JobPayload]] = {
    t.kind: t
    for t in (
        DeployPreview,
        SyncBuildCard,
        SyncReviewDMs,
        RedrawReview,
        PostVerdictReplies,
        DeployProduction,
        RollbackProduction,
        AnnounceDecision,
        DeletePreview,
        ResolveAuthor,
        RefreshGroups,
        PruneRetention,
        AnnounceFreeze,
        NotifyUser,
        PublishHome,
        RepublishHomes,
        ExpireReview,
        CheckIdlePreview,
        WarnIdlePreview,
        RemindReviewers,
        DeleteBranchPreview,
        Reconcile,
    )
}


def timed_key(kind: str, build_id: str, at: datetime) -> str:
    """The dedupe key of one timed look at one build: however often it is scheduled (a job
    that reschedules itself and runs twice, a restart), one job per build and moment."""
    return f"{kind}:{build_id}:{int(at.timestamp() * 1000)}"


def encode(payload: JobPayload) -> tuple[str, str]:
    """(kind, JSON) for the jobs table. Payload fields are plain values (ids, numbers, text),
    so a shallow dict of them is what `dataclasses.asdict` (a deep copy) would give."""
    fields = {f.name: getattr(payload, f.name) for f in dataclasses.fields(payload)}
    return payload.kind, json.dumps(fields, sort_keys=True)


def decode(kind: str, data: str) -> JobPayload:
    """The payload object back from its row; KeyError for a kind this version does not know."""
    fields: dict[str, Any] = json.loads(data)
    return PAYLOAD_TYPES[kind](**fields)


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"  # gave up after max attempts; kept for inspection


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed job: what to run, and the lease that makes this worker its only runner."""

    id: int
    payload: JobPayload
    attempts: int
    lease_owner: str
    lease_expires_at: datetime
    project_id: str | None = None  # the project of the build it is about, for the logs


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as the jobs table keeps it: what the reconciler and `cibot jobs` read."""

    id: int
    kind: str
    payload: JobPayload | None  # None: a kind (or shape) this version does not know
    state: JobState
    attempts: int
    run_at: datetime
    updated_at: datetime
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_error: str | None = None
