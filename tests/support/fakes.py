"""In-memory fakes of the ports, for use-case tests that read like a specification.

`MemoryStore` keeps committed state in dicts; a transaction works on a copy and publishes it
on success only, so a use case that fails half-way leaves nothing behind, as with SQL.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cibot.domain.build import LIVE, Build, BuildState, BuildType
from cibot.domain.environment import Environment
from cibot.domain.policy import Freeze
from cibot.domain.project import GroupSnapshot
from cibot.domain.release import Release
from cibot.domain.review import Decision, Outcome, VerdictRecord
from cibot.service.errors import ChatRejected, ClusterRejected
from cibot.service.jobs import JobPayload
from cibot.service.ports import (
    AuditEvent,
    Delivery,
    HomeMark,
    MessageRef,
    RolloutOutcome,
    TargetSummary,
)


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class _State:
    builds: dict[str, Build] = field(default_factory=dict)
    deliveries: dict[tuple[str, str], Delivery] = field(default_factory=dict)
    jobs: list[tuple[JobPayload, datetime | None]] = field(default_factory=list)
    dedupe_keys: set[str] = field(default_factory=set)
    audit: list[AuditEvent] = field(default_factory=list)
    messages: dict[tuple[str, str, str], MessageRef] = field(default_factory=dict)
    verdicts: dict[tuple[str, str], VerdictRecord] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    groups: dict[str, frozenset[str]] = field(default_factory=dict)
    groups_read_at: dict[str, datetime] = field(default_factory=dict)
    freezes: dict[str, Freeze] = field(default_factory=dict)
    slots: dict[str, tuple[str, int]] = field(default_factory=dict)  # project -> build, decision
    releases: list[Release] = field(default_factory=list)
    posting: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)  # decisions whose deploy job has begun
    homes: dict[str, _Home] = field(default_factory=dict)  # people who opened the Home tab


@dataclass
class _Home:
    opened_at: datetime
    event_id: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None


class MemoryTransaction:
    def __init__(self, state: _State) -> None:
        self.state = state
        self.audited: list[AuditEvent] = []  # this transaction's audit rows (before_commit)

    async def lock_target(self, project_id: str, build_type: BuildType, target: str) -> None:
        return None

    async def get_build(self, build_id: str) -> Build | None:
        return self.state.builds.get(build_id)

    async def lock_build(self, build_id: str) -> Build | None:
        return self.state.builds.get(build_id)  # one transaction at a time in memory

    async def add_build(self, build: Build) -> None:
        self.state.builds[build.id] = build

    async def move_build(self, before: Build, after: Build) -> bool:
        current = self.state.builds.get(before.id)
        if current is None or current.state is not before.state:
            return False
        changed = {
            name: getattr(after, name)
            for name in Build.__slots__
            if getattr(after, name) != getattr(before, name)
        }
        self.state.builds[after.id] = replace(current, **changed)
        return True

    def _set_build(self, build_id: str, **values: Any) -> None:
        if build_id in self.state.builds:
            self.state.builds[build_id] = replace(self.state.builds[build_id], **values)

    async def touch_build(self, build_id: str, at: datetime) -> None:
        self._set_build(build_id, active_at=at)

    async def set_author_user(self, build_id: str, user: str) -> None:
        self._set_build(build_id, author_user=user)

    async def mark_idle_warning(
        self, build_id: str, idle_since: datetime, removal_at: datetime
    ) -> None:
        self._set_build(build_id, idle_warned_for=idle_since, removal_at=removal_at)

    async def builds_of_project(
        self, project_id: str, states: Iterable[BuildState]
    ) -> Sequence[Build]:
        wanted = frozenset(states)
        found = [
            b
            for b in self.state.builds.values()
            if b.project_id == project_id and b.state in wanted
        ]
        return sorted(found, key=lambda b: (b.created_at, b.id))

    def _of_target(self, project_id: str, build_type: BuildType, target: str) -> list[Build]:
        found = [
            b
            for b in self.state.builds.values()
            if (b.project_id, b.type, b.target) == (project_id, build_type, target)
        ]
        return sorted(found, key=lambda b: (b.created_at, b.id))

    async def live_builds_of_target(
        self, project_id: str, build_type: BuildType, target: str
    ) -> Sequence[Build]:
        return [b for b in self._of_target(project_id, build_type, target) if b.state in LIVE]

    async def target_summary(
        self, project_id: str, build_type: BuildType, target: str
    ) -> TargetSummary:
        builds = [
            b
            for b in self._of_target(project_id, build_type, target)
            if b.state is not BuildState.STALE
        ]
        numbers = [b.build_number for b in builds if b.build_number is not None]
        return TargetSummary(builds[-1].id if builds else None, max(numbers, default=None))

    async def get_delivery(self, project_id: str, webhook_id: str) -> Delivery | None:
        return self.state.deliveries.get((project_id, webhook_id))

    async def add_delivery(self, delivery: Delivery) -> None:
        self.state.deliveries[(delivery.project_id, delivery.webhook_id)] = delivery

    async def enqueue(
        self, payload: JobPayload, run_at: datetime | None = None, dedupe_key: str | None = None
    ) -> None:
        if dedupe_key is not None:
            if dedupe_key in self.state.dedupe_keys:
                return
            self.state.dedupe_keys.add(dedupe_key)
        self.state.jobs.append((payload, run_at))

    async def job_waiting(self, payload: JobPayload) -> bool:
        """Every enqueued job waits here (none is run): one due now with this payload."""
        return any(job == payload and at is None for job, at in self.state.jobs)

    async def audit(self, event: AuditEvent) -> None:
        self.state.audit.append(event)
        self.audited.append(event)

    async def get_message(self, build_id: str, role: str, user: str = "") -> MessageRef | None:
        return self.state.messages.get((build_id, role, user))

    async def save_message(self, build_id: str, role: str, ref: MessageRef, user: str = "") -> None:
        self.state.messages[(build_id, role, user)] = ref
        self.state.posting.pop((build_id, role, user), None)

    async def begin_post(self, build_id: str, role: str, user: str, at: datetime) -> None:
        self.state.posting.setdefault((build_id, role, user), at)

    async def post_begun(self, build_id: str, role: str, user: str) -> datetime | None:
        return self.state.posting.get((build_id, role, user))

    async def verdicts_of(self, build_id: str) -> Sequence[VerdictRecord]:
        return [v for (b, _), v in self.state.verdicts.items() if b == build_id]

    async def add_verdict(self, verdict: VerdictRecord) -> bool:
        key = (verdict.build_id, verdict.user)
        if key in self.state.verdicts:
            return False
        self.state.verdicts[key] = verdict
        return True

    async def add_decision(self, decision: Decision) -> Decision:
        stored = replace(decision, id=len(self.state.decisions) + 1)
        self.state.decisions.append(stored)
        return stored

    async def latest_decision(self, build_id: str) -> Decision | None:
        return next((d for d in reversed(self.state.decisions) if d.build_id == build_id), None)

    async def get_decision(self, decision_id: int) -> Decision | None:
        return next((d for d in self.state.decisions if d.id == decision_id), None)

    async def settle_decision(self, decision_id: int, outcome: Outcome, reason: str | None) -> bool:
        index = decision_id - 1
        if self.state.decisions[index].outcome is not None:
            return False
        self.state.decisions[index] = replace(
            self.state.decisions[index], outcome=outcome, reason=reason
        )
        return True

    async def start_decision(self, decision_id: int, at: datetime) -> bool:
        if decision_id in self.state.started:
            return False
        self.state.started.add(decision_id)
        return True

    async def messages_of(self, build_id: str, role: str) -> dict[str, MessageRef]:
        return {
            u: ref for (b, r, u), ref in self.state.messages.items() if (b, r) == (build_id, role)
        }

    async def group_members(self, group_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        return {g: self.state.groups[g] for g in group_ids if g in self.state.groups}

    async def open_home(self, user: str, event_id: str, at: datetime) -> bool:
        home = self.state.homes.setdefault(user, _Home(opened_at=at))
        if home.event_id == event_id:
            return False
        home.event_id = event_id
        return True

    async def mark_homes(
        self, users: Iterable[str], at: datetime, stale_before: datetime
    ) -> Sequence[HomeMark]:
        marked = []
        for user in sorted(set(users)):
            home = self.state.homes.get(user)
            if home is not None and (home.queued_at is None or home.queued_at < stale_before):
                home.queued_at = at
                marked.append(HomeMark(user, home.started_at))
        return marked

    async def take_home(self, user: str, at: datetime) -> bool:
        home = self.state.homes.get(user)
        if home is None:
            return False
        home.queued_at, home.started_at = None, at
        return True

    # Retention is tested on the real store; the memory one keeps no row times to prune by.
    async def prune_deliveries(self, before: datetime, limit: int) -> int:
        return 0

    async def prune_finished_jobs(self, before: datetime, limit: int) -> int:
        return 0

    async def prune_message_slots(self, before: datetime, limit: int) -> int:
        return 0

    async def group_snapshots(self, group_ids: Iterable[str]) -> dict[str, GroupSnapshot]:
        return {
            g: GroupSnapshot(self.state.groups[g], self.state.groups_read_at[g])
            for g in group_ids
            if g in self.state.groups
        }

    async def save_group(self, group_id: str, members: frozenset[str], at: datetime) -> None:
        self.state.groups[group_id] = members
        self.state.groups_read_at[group_id] = at

    async def freeze_of(self, project_id: str) -> Freeze | None:
        return self.state.freezes.get(project_id)

    async def set_freeze(self, project_id: str, freeze: Freeze) -> bool:
        if project_id in self.state.freezes:
            return False
        self.state.freezes[project_id] = freeze
        return True

    async def lift_freeze(self, project_id: str) -> Freeze | None:
        return self.state.freezes.pop(project_id, None)

    async def claim_production(
        self, project_id: str, build_id: str, decision_id: int, at: datetime
    ) -> bool:
        if project_id in self.state.slots:
            return False
        self.state.slots[project_id] = (build_id, decision_id)
        return True

    async def production_busy_with(self, project_id: str) -> str | None:
        slot = self.state.slots.get(project_id)
        return slot[0] if slot else None

    async def free_production(self, project_id: str, decision_id: int) -> None:
        slot = self.state.slots.get(project_id)
        if slot is not None and slot[1] == decision_id:
            del self.state.slots[project_id]

    async def production_holder(self, project_id: str) -> int | None:
        slot = self.state.slots.get(project_id)
        return slot[1] if slot else None

    async def add_release(self, release: Release) -> Release:
        stored = replace(release, id=len(self.state.releases) + 1)
        self.state.releases.append(stored)
        return stored

    async def get_release(self, release_id: int) -> Release | None:
        return next((r for r in self.state.releases if r.id == release_id), None)

    async def release_of_decision(self, decision_id: int) -> Release | None:
        return next((r for r in self.state.releases if r.decision_id == decision_id), None)

    async def releases_of(self, project_id: str, limit: int = 20) -> Sequence[Release]:
        mine = [r for r in reversed(self.state.releases) if r.project_id == project_id]
        return mine[:limit]

    async def release_before(self, release: Release) -> Release | None:
        earlier = [
            r
            for r in self.state.releases
            if r.project_id == release.project_id and (r.id or 0) < (release.id or 0)
        ]
        return earlier[-1] if earlier else None

    async def audit_events(
        self, project_id: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> Sequence[AuditEvent]:
        rows = [
            replace(e, id=i + 1)
            for i, e in enumerate(self.state.audit)
            if (project_id is None or e.project_id == project_id)
            and (since is None or e.at >= since)
        ]
        return rows[::-1][:limit]


class MemoryStore:
    def __init__(self) -> None:
        self.state = _State()
        # As SqlStore's: called before a commit with the transaction's audit rows.
        self.before_commit: Callable[[Any, Sequence[AuditEvent]], Awaitable[None]] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryTransaction]:
        draft = copy.deepcopy(self.state)
        tx = MemoryTransaction(draft)
        yield tx
        if self.before_commit is not None and tx.audited:
            await self.before_commit(tx, tuple(tx.audited))
        self.state = draft

    def jobs_of(self, kind: type[JobPayload]) -> list[Any]:
        return [payload for payload, _ in self.state.jobs if isinstance(payload, kind)]


@dataclass
class FakeCluster:
    """Applies nothing; the next rollout ends as `outcome` (or per image in `outcomes`)."""

    outcome: RolloutOutcome = field(
        default_factory=lambda: RolloutOutcome(ready=True, digest="sha256:" + "a" * 64)
    )
    reject_with: str | None = None
    applied: list[Mapping[str, Any]] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    waited: list[tuple[str, str]] = field(default_factory=list)
    before_wait: Callable[[], Awaitable[None]] | None = None

    async def apply(self, manifests: Sequence[Mapping[str, Any]]) -> None:
        if self.reject_with:
            raise ClusterRejected(self.reject_with)
        self.applied.extend(manifests)

    async def wait_for_rollout(
        self,
        namespace: str,
        name: str,
        timeout_seconds: float,
        keep_waiting: Callable[[], Awaitable[bool]],
        *,
        build_id: str,
    ) -> RolloutOutcome:
        self.waited.append((namespace, name))
        if self.before_wait is not None:
            await self.before_wait()
        if not await keep_waiting():
            return RolloutOutcome(ready=False, abandoned=True)
        return self.outcome

    async def delete_environment(self, preview: Environment) -> None:
        self.deleted.append((preview.namespace, preview.name))


@dataclass
class FakeChat:
    """Records posts and updates; `ts` values count up. Keys of posts can be found again."""

    posts: list[tuple[str, object]] = field(default_factory=list)
    keyed: dict[str, MessageRef] = field(default_factory=dict)
    updates: list[tuple[MessageRef, object]] = field(default_factory=list)
    replies: list[tuple[MessageRef, object]] = field(default_factory=list)
    ephemerals: list[tuple[str, str, object]] = field(default_factory=list)
    modals: list[tuple[str, object]] = field(default_factory=list)
    homes: list[tuple[str, object]] = field(default_factory=list)  # (user, view) published
    emails: dict[str, str] = field(default_factory=dict)  # email -> user id
    users: set[str] = field(default_factory=set)  # user ids Slack knows (besides the emails')
    groups: dict[str, frozenset[str]] = field(default_factory=dict)

    async def post(self, channel: str, view: object, key: str | None = None) -> MessageRef:
        self.posts.append((channel, view))
        ref = MessageRef(channel=channel, ts=f"1700000000.{len(self.posts):06d}")
        if key is not None:
            self.keyed[key] = ref
        return ref

    async def update(self, ref: MessageRef, view: object) -> None:
        self.updates.append((ref, view))

    async def post_dm(self, user: str, view: object, key: str | None = None) -> MessageRef:
        return await self.post(f"D{user}", view, key)

    async def reply(self, ref: MessageRef, view: object, key: str | None = None) -> MessageRef:
        self.replies.append((ref, view))
        posted = MessageRef(ref.channel, f"{ref.ts}{len(self.replies)}")
        if key is not None:
            self.keyed[key] = posted
        return posted

    async def find_posted(
        self, where: str, key: str, since: datetime, thread: MessageRef | None = None
    ) -> MessageRef | None:
        return self.keyed.get(key)

    async def post_ephemeral(self, channel: str, user: str, view: object) -> None:
        self.ephemerals.append((channel, user, view))

    async def open_modal(self, trigger_id: str, view: object) -> None:
        self.modals.append((trigger_id, view))

    async def publish_home(self, user: str, view: object) -> None:
        self.homes.append((user, view))

    async def user_by_email(self, email: str) -> str | None:
        return self.emails.get(email.lower())

    async def user_exists(self, user_id: str) -> bool:
        return user_id in self.users or user_id in self.emails.values()

    async def group_members(self, group_id: str) -> frozenset[str]:
        if group_id not in self.groups:
            raise ChatRejected(f"Slack usergroups.users.list: no_such_subteam ({group_id})")
        return self.groups[group_id]
