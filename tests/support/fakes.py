"""In-memory fakes of the ports, for use-case tests that read like a specification.

The store's fake lives in `tests.support.memory` (one module per repository); it is named
here too, so a test takes all its fakes from one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cibot.domain.environment import Environment
from cibot.service.errors import ChatRejected, ClusterRejected
from cibot.service.ports import (
    MessageRef,
    RolloutOutcome,
)
from tests.support.memory import MemoryStore, MemoryTransaction


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


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


__all__ = ["FakeChat", "FakeClock", "FakeCluster", "MemoryStore", "MemoryTransaction"]
