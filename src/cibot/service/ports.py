"""The ports: what the use cases need from the outside world, as Protocols.

Adapters (SQL store, Kubernetes, Slack) implement these; unit tests use in-memory fakes of
the same shape. Nothing here knows SQL, HTTP or Block Kit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.environment import Environment
from cibot.domain.policy import Freeze
from cibot.domain.project import GroupSnapshot
from cibot.domain.release import Release
from cibot.domain.review import Decision, Outcome, VerdictRecord
from cibot.service.audit import AuditAction
from cibot.service.jobs import Job, JobPayload, JobRecord

if TYPE_CHECKING:  # the views name AuditEvent from here; the port names the views
    from cibot.service.views import HomeView, MessageView, ModalView


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """The first answer given to a CI webhook id, replayed for repeats of that id."""

    project_id: str
    webhook_id: str
    body_sha256: str
    build_id: str  # "" for a request that records no build (a deleted branch)
    answer: Mapping[str, Any] | None = None  # the first answer, when it is more than a build id


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where a posted Slack message lives, so later changes are updates, never re-posts."""

    channel: str
    ts: str


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at: datetime
    # Written: always an AuditAction (the trail refuses a free string). Read back: a plain
    # string for an action this version does not know, written by a newer one (a rolling
    # update), so the history, `cibot audit` and the Home tab show it rather than fail.
    action: AuditAction | str
    project_id: str | None = None
    build_id: str | None = None
    actor: str | None = None
    detail: Mapping[str, Any] | None = None
    id: int | None = None  # set by the store


@dataclass(frozen=True, slots=True)
class TargetSummary:
    """Over the builds of one target not recorded as stale (a stale build is never deployed)."""

    newest_build_id: str | None = None
    highest_build_number: int | None = None


@dataclass(frozen=True, slots=True)
class HomeMark:
    """A person whose Home tab needs publishing, and when its last publish began (if ever)."""

    user: str
    last_started: datetime | None = None


class AuditTrail(Protocol):
    """The audit table: append-only (the database refuses updates and deletes)."""

    async def append(self, event: AuditEvent) -> None:
        """Record `event`; its action must be an `AuditAction` (a free string is refused)."""
        ...

    async def events(
        self, project_id: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> Sequence[AuditEvent]:
        """Audit rows, newest first."""
        ...


class Jobs(Protocol):
    """The durable job table, as a transaction adds to it (claiming is `JobQueue`'s)."""

    async def enqueue(
        self, payload: JobPayload, run_at: datetime | None = None, dedupe_key: str | None = None
    ) -> None:
        """Add a job; with a `dedupe_key`, only if no job ever had that key (else nothing)."""
        ...

    async def waiting(self, payload: JobPayload) -> bool:
        """A job with this very payload is pending and due: it runs later than any running
        one, and reads then what is true then."""
        ...

    async def prune_finished(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` done or dead jobs last changed before `before`; how many."""
        ...


class Deliveries(Protocol):
    """The first answer given to each CI webhook id (replayed for repeats of that id)."""

    async def get(self, project_id: str, webhook_id: str) -> Delivery | None: ...

    async def add(self, delivery: Delivery) -> None: ...

    async def claim(self, delivery: Delivery) -> Delivery | None:
        """Record `delivery` unless its webhook id was used before: None if it was recorded,
        else the delivery first recorded for that id (left as it was). One statement where
        the store can (insert unless present), so a first delivery costs no lookup."""
        ...

    async def set_build(self, project_id: str, webhook_id: str, build_id: str) -> None:
        """The build a delivery claimed in this transaction answers with, after all."""
        ...

    async def prune(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` webhook deliveries recorded before `before`; how many."""
        ...


class Builds(Protocol):
    """The builds CI reported, each moved through its states by compare-and-set."""

    async def lock_target(self, project_id: str, build_type: BuildType, target: str) -> None:
        """Serialise writers of one target's builds until this transaction ends."""
        ...

    async def get(self, build_id: str) -> Build | None: ...

    async def lock(self, build_id: str) -> Build | None:
        """The build, locked until this transaction ends: decisions about it are serialised.

        A click is judged on the build *and* its verdicts; holding the build's lock while
        judging makes a concurrent verdict and deploy click take turns, so a deploy is
        never judged on verdicts a rejection has just overtaken.
        """
        ...

    async def add(self, build: Build) -> None: ...

    async def move(self, before: Build, after: Build) -> bool:
        """Write `after` only if the stored state is still `before.state` (compare-and-set)."""
        ...

    async def live_of_target(
        self, project_id: str, build_type: BuildType, target: str
    ) -> Sequence[Build]:
        """The builds of one target still in play (accepted, deploying, ready, failed)."""
        ...

    async def target_summary(
        self, project_id: str, build_type: BuildType, target: str
    ) -> TargetSummary:
        """The newest build of one target and the highest build number CI gave it."""
        ...

    async def live_and_highest(
        self, project_id: str, build_type: BuildType, target: str
    ) -> tuple[Sequence[Build], int | None]:
        """What an intake reads of its target (one statement where the store can): its live
        builds, as `live_of_target`, and its highest build number, as `target_summary`."""
        ...

    async def touch(self, build_id: str, at: datetime) -> None:
        """Something happened to the build (a verdict, a decision): it is not idle since `at`."""
        ...

    async def set_author_user(self, build_id: str, user: str) -> None:
        """The author's Slack id, as looked up ("" when nobody in Slack has that email)."""
        ...

    async def mark_idle_warning(
        self, build_id: str, idle_since: datetime, removal_at: datetime
    ) -> None: ...

    async def of_project(
        self, project_id: str, states: Iterable[BuildState]
    ) -> Sequence[Build]: ...


class Reviews(Protocol):
    """QA verdicts (one per person and build) and owners' decisions (deploy, close, roll back)."""

    async def verdicts_of(self, build_id: str) -> Sequence[VerdictRecord]: ...

    async def add_verdict(self, verdict: VerdictRecord) -> bool:
        """False (and nothing written) when this user already has a verdict on this build."""
        ...

    async def add_decision(self, decision: Decision) -> Decision:
        """The decision with its id."""
        ...

    async def latest_decision(self, build_id: str) -> Decision | None: ...

    async def get_decision(self, decision_id: int) -> Decision | None: ...

    async def settle_decision(self, decision_id: int, outcome: Outcome, reason: str | None) -> bool:
        """Record how a production decision ended, once: False (and nothing written) when it
        was settled already (compare-and-set on an unset outcome, the row locked meanwhile)."""
        ...

    async def start_decision(self, decision_id: int, at: datetime) -> bool:
        """Record that the decision's deploy job has begun; False when a run began it before."""
        ...


class Releases(Protocol):
    """What ran in production, per project: each promotion and rollback, newest first."""

    async def add(self, release: Release) -> Release: ...

    async def get(self, release_id: int) -> Release | None: ...

    async def of_decision(self, decision_id: int) -> Release | None: ...

    async def of_project(self, project_id: str, limit: int = 20) -> Sequence[Release]:
        """The project's production history, newest first."""
        ...

    async def before(self, release: Release) -> Release | None:
        """The release production ran before `release`."""
        ...


class ProductionSlot(Protocol):
    """Each project's one production slot: one deploy or rollback at a time."""

    async def claim(self, project_id: str, build_id: str, decision_id: int, at: datetime) -> bool:
        """Take the project's one production slot (compare-and-set); False when it is taken."""
        ...

    async def busy_with(self, project_id: str) -> str | None:
        """The build a production deploy of this project is deploying now, if any."""
        ...

    async def free(self, project_id: str, decision_id: int) -> None:
        """Give the slot back, if `decision_id` still holds it."""
        ...

    async def holder(self, project_id: str) -> int | None:
        """The decision whose deploy or rollback holds the project's production slot, if any."""
        ...


class Freezes(Protocol):
    """The freezes owners set from Slack (not the configured windows): one per project at most."""

    async def get(self, project_id: str) -> Freeze | None:
        """The freeze an owner set from Slack (not the configured windows)."""
        ...

    async def set(self, project_id: str, freeze: Freeze) -> bool:
        """False (and nothing changed) when the project is already frozen."""
        ...

    async def lift(self, project_id: str) -> Freeze | None:
        """The freeze that was lifted; None when there was none."""
        ...


class Messages(Protocol):
    """Slack message slots: where each posted message lives, and posts begun but not yet landed."""

    async def get(self, build_id: str, role: str, user: str = "") -> MessageRef | None: ...

    async def save(self, build_id: str, role: str, ref: MessageRef, user: str = "") -> None:
        """Remember where a posted message lives (and forget that its post had begun)."""
        ...

    async def begin_post(self, build_id: str, role: str, user: str, at: datetime) -> None:
        """A post is about to be made; kept until `save` records where it landed."""
        ...

    async def post_begun(self, build_id: str, role: str, user: str) -> datetime | None:
        """When a post was begun whose landing was never recorded (None: there is none)."""
        ...

    async def of_role(self, build_id: str, role: str) -> dict[str, MessageRef]:
        """The posted messages of one role for a build, by user."""
        ...

    async def prune(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` message slots no job will redraw, older than `before`."""
        ...


class Groups(Protocol):
    """The members of Slack user groups, as last read from Slack."""

    async def members(self, group_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        """The last known members of each group that has been read from Slack."""
        ...

    async def snapshots(self, group_ids: Iterable[str]) -> dict[str, GroupSnapshot]:
        """The last known members of each group read from Slack, with when they were read."""
        ...

    async def save(self, group_id: str, members: frozenset[str], at: datetime) -> None: ...


class Homes(Protocol):
    """Who has ci-bot's Home tab, and whether a publish of it is queued (coalescing per person)."""

    async def open(self, user: str, event_id: str, at: datetime) -> bool:
        """The person opened their Home tab (Slack's event `event_id`): from now on what
        they care about is published there. False when this event was taken before (Slack
        sent it again)."""
        ...

    async def mark(
        self, users: Iterable[str], at: datetime, stale_before: datetime
    ) -> Sequence[HomeMark]:
        """Of `users`, those who have a Home tab and no publish queued (or one queued before
        `stale_before`, whose job is taken for lost): they now have one, queued at `at`.
        Concurrent callers take turns per person, so only one of them queues it."""
        ...

    async def take(self, user: str, at: datetime) -> bool:
        """A publish of the person's Home begins at `at`: a change from now on queues another
        one. False when they have no Home tab."""
        ...


class Transaction(Protocol):
    """One atomic unit of work: everything written in it commits together or not at all.

    Its repositories, one per aggregate or concern, all write in this one transaction.
    """

    @property
    def builds(self) -> Builds: ...

    @property
    def reviews(self) -> Reviews: ...

    @property
    def releases(self) -> Releases: ...

    @property
    def production(self) -> ProductionSlot: ...

    @property
    def freezes(self) -> Freezes: ...

    @property
    def messages(self) -> Messages: ...

    @property
    def deliveries(self) -> Deliveries: ...

    @property
    def groups(self) -> Groups: ...

    @property
    def homes(self) -> Homes: ...

    @property
    def jobs(self) -> Jobs: ...

    @property
    def audit(self) -> AuditTrail: ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A block whose writes are undone alone if it raises; the transaction goes on.

        How several units of work share one transaction (`service.group_commit`): one that
        fails is rolled back to its savepoint, and the others still commit.
        """
        ...


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A transaction that commits when the block ends normally, else rolls back."""
        ...


class JobQueue(Protocol):
    """Leased job claiming, separate from Transaction: a worker holds no transaction open."""

    async def claim(self, owner: str, now: datetime, lease_seconds: float) -> Job | None: ...

    async def extend(self, job: Job, now: datetime, lease_seconds: float) -> Job | None:
        """Renew the lease; None if this worker lost it (expired and claimed elsewhere)."""
        ...

    async def complete(self, job: Job) -> bool: ...

    async def retry(self, job: Job, run_at: datetime, error: str) -> bool: ...

    async def give_up(self, job: Job, error: str) -> bool: ...


class JobLedger(Protocol):
    """Reading the jobs table, not claiming from it: which jobs are still to run, which died."""

    async def unfinished(self, kinds: Iterable[str]) -> Sequence[JobRecord]:
        """The jobs of these kinds that are pending, running or dead, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class RolloutOutcome:
    """How a rollout ended: ready (with the digest the pods run), failed (why), or abandoned."""

    ready: bool
    reason: str | None = None
    digest: str | None = None
    abandoned: bool = False  # the caller stopped waiting (e.g. the build was superseded)


class Cluster(Protocol):
    """The Kubernetes side: apply objects, watch a rollout, remove an environment."""

    async def apply(self, manifests: Sequence[Mapping[str, Any]]) -> None:
        """Server-side apply, field manager `cibot`, forced; an object already there must be
        the same environment's (ci-bot's, same project, environment and target), never adopted.

        Raises ClusterRejected (the API refused, or the object is another's) or
        ClusterUnavailable (try later).
        """
        ...

    async def wait_for_rollout(
        self,
        namespace: str,
        name: str,
        timeout_seconds: float,
        keep_waiting: Callable[[], Awaitable[bool]],
        *,
        build_id: str,
    ) -> RolloutOutcome:
        """Wait as `kubectl rollout status` does, up to the timeout; read the reason on failure.

        The digest is the one the pods of `build_id`'s own ReplicaSet run (ready, not
        terminating).
        """
        ...

    async def delete_environment(self, preview: Environment) -> None:
        """Delete the objects of one preview: only those whose labels say they are ci-bot's
        preview of that project and target, and only as they were when checked."""
        ...


class Chat(Protocol):
    """The Slack side. Views are the service's own dataclasses; the adapter renders them."""

    async def post(self, channel: str, view: MessageView, key: str | None = None) -> MessageRef:
        """Post a message; `key` goes into its metadata, so `find_posted` can find it."""
        ...

    async def update(self, ref: MessageRef, view: MessageView) -> None: ...

    async def post_dm(self, user: str, view: MessageView, key: str | None = None) -> MessageRef:
        """Post into the bot's DM with `user`; the ref names the DM channel (D…)."""
        ...

    async def reply(self, ref: MessageRef, view: MessageView, key: str | None = None) -> MessageRef:
        """Post in the thread of the message at `ref`."""
        ...

    async def find_posted(
        self, where: str, key: str, since: datetime, thread: MessageRef | None = None
    ) -> MessageRef | None:
        """The message ci-bot posted with `key` since `since`, in channel (or DM with the
        user) `where`, or in the thread of `thread`; None when it never landed."""
        ...

    async def post_ephemeral(self, channel: str, user: str, view: MessageView) -> None: ...

    async def open_modal(self, trigger_id: str, view: ModalView) -> None: ...

    async def publish_home(self, user: str, view: HomeView) -> None:
        """Publish (create or replace) the person's Home tab (`views.publish`)."""
        ...

    async def user_by_email(self, email: str) -> str | None:
        """The Slack user id with this email; None when there is nobody with it."""
        ...

    async def user_exists(self, user_id: str) -> bool:
        """Whether Slack knows a user with this id (`users.info`)."""
        ...

    async def group_members(self, group_id: str) -> frozenset[str]:
        """The members of a Slack user group (ChatRejected when there is no such group)."""
        ...
