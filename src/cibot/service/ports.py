"""The ports: what the use cases need from the outside world, as Protocols.

Adapters (SQL store, Kubernetes, Slack) implement these; unit tests use in-memory fakes of
the same shape. Nothing here knows SQL, HTTP or Block Kit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cibot.domain.build import Build, BuildType
from cibot.domain.review import Decision, Outcome, VerdictRecord
from cibot.service.jobs import Job, JobPayload


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
    build_id: str


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where a posted Slack message lives, so later changes are updates, never re-posts."""

    channel: str
    ts: str


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at: datetime
    action: str
    project_id: str | None = None
    build_id: str | None = None
    actor: str | None = None
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TargetSummary:
    newest_build_id: str | None = None
    highest_build_number: int | None = None  # over builds not recorded as stale


class Transaction(Protocol):
    """One atomic unit of work: everything written in it commits together or not at all."""

    async def lock_target(self, project_id: str, build_type: BuildType, target: str) -> None:
        """Serialise writers of one target's builds until this transaction ends."""
        ...

    async def get_build(self, build_id: str) -> Build | None: ...

    async def add_build(self, build: Build) -> None: ...

    async def move_build(self, before: Build, after: Build) -> bool:
        """Write `after` only if the stored state is still `before.state` (compare-and-set)."""
        ...

    async def live_builds_of_target(
        self, project_id: str, build_type: BuildType, target: str
    ) -> Sequence[Build]:
        """The builds of one target still in play (accepted, deploying, ready, failed)."""
        ...

    async def target_summary(
        self, project_id: str, build_type: BuildType, target: str
    ) -> TargetSummary:
        """The newest build of one target and the highest build number CI gave it."""
        ...

    async def get_delivery(self, project_id: str, webhook_id: str) -> Delivery | None: ...

    async def add_delivery(self, delivery: Delivery) -> None: ...

    async def enqueue(self, payload: JobPayload, run_at: datetime | None = None) -> None: ...

    async def audit(self, event: AuditEvent) -> None: ...

    async def get_message(self, build_id: str, role: str, user: str = "") -> MessageRef | None: ...

    async def save_message(
        self, build_id: str, role: str, ref: MessageRef, user: str = ""
    ) -> None: ...

    async def verdicts_of(self, build_id: str) -> Sequence[VerdictRecord]: ...

    async def add_verdict(self, verdict: VerdictRecord) -> bool:
        """False (and nothing written) when this user already has a verdict on this build."""
        ...

    async def add_decision(self, decision: Decision) -> Decision:
        """The decision with its id."""
        ...

    async def latest_decision(self, build_id: str) -> Decision | None: ...

    async def get_decision(self, decision_id: int) -> Decision | None: ...

    async def settle_decision(
        self, decision_id: int, outcome: Outcome, reason: str | None
    ) -> None: ...

    async def messages_of(self, build_id: str, role: str) -> dict[str, MessageRef]:
        """The posted messages of one role for a build, by user."""
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
        """Server-side apply, field manager `cibot`, forced.

        Raises ClusterRejected (the API refused) or ClusterUnavailable (try later).
        """
        ...

    async def wait_for_rollout(
        self,
        namespace: str,
        name: str,
        timeout_seconds: float,
        keep_waiting: Callable[[], Awaitable[bool]],
    ) -> RolloutOutcome:
        """Wait as `kubectl rollout status` does, up to the timeout; read the reason on failure."""
        ...

    async def delete_environment(self, namespace: str, name: str) -> None:
        """Delete the objects of one environment (only those carrying ci-bot's labels)."""
        ...


class Chat(Protocol):
    """The Slack side. Views are the service's own dataclasses; the adapter renders them."""

    async def post(self, channel: str, view: object) -> MessageRef: ...

    async def update(self, ref: MessageRef, view: object) -> None: ...

    async def post_dm(self, user: str, view: object) -> MessageRef:
        """Post into the bot's DM with `user`; the ref names the DM channel (D…)."""
        ...

    async def reply(self, ref: MessageRef, view: object) -> MessageRef:
        """Post in the thread of the message at `ref`."""
        ...

    async def post_ephemeral(self, channel: str, user: str, view: object) -> None: ...

    async def open_modal(self, trigger_id: str, view: object) -> None: ...
