"""The Store port on SQLAlchemy: one `Transaction` per unit of work.

Every state change is a compare-and-set (`UPDATE … WHERE state = :expected`) in the same
transaction as the audit row and the jobs it causes, so either all of it happened or none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from cibot.adapters.store import homes, retention
from cibot.adapters.store import statements as q
from cibot.adapters.store import tables as t
from cibot.adapters.store.database import Conn, Database
from cibot.adapters.store.rows import build_from_row, build_to_row
from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.policy import Freeze
from cibot.domain.project import GroupSnapshot
from cibot.domain.release import Release, ReleaseKind
from cibot.domain.review import Action, Decision, Outcome, Verdict, VerdictRecord
from cibot.service import jobs
from cibot.service.errors import StoreConflict, StoreUnavailable
from cibot.service.ports import (
    AuditEvent,
    Clock,
    Delivery,
    HomeMark,
    MessageRef,
    TargetSummary,
    Transaction,
)


class SqlTransaction(Transaction):
    def __init__(self, conn: Conn, clock: Clock) -> None:
        self._conn = conn
        self._clock = clock
        self._jobs: list[dict[str, object]] = []
        self._audit: list[dict[str, object]] = []
        self.audited: list[AuditEvent] = []  # this transaction's audit rows (before_commit)
        self.due_now = 0  # jobs added that may run at once: the workers worth waking

    async def flush(self) -> None:
        """Write the buffered jobs and audit rows, one statement each (before commit)."""
        if self._jobs:
            await self._conn.execute(q.add_job, self._jobs)
            self._jobs = []
        if self._audit:
            await self._conn.execute(q.add_audit, self._audit)
            self._audit = []

    async def lock_target(self, project_id: str, build_type: BuildType, target: str) -> None:
        if self._conn.dialect.name != "postgresql":
            return  # SQLite: this transaction already holds the database's write lock
        row = {
            "project_id": project_id,
            "type": build_type.value,
            "target": target,
            "touched_at": self._clock.now(),
        }
        await self._conn.execute(q.lock_target, row)

    async def get_build(self, build_id: str) -> Build | None:
        row = (await self._conn.execute(q.get_build, {"p_id": build_id})).first()
        return build_from_row(row._mapping) if row else None

    async def lock_build(self, build_id: str) -> Build | None:
        if self._conn.dialect.name != "postgresql":
            return await self.get_build(build_id)  # SQLite: the write lock is held already
        row = (await self._conn.execute(q.lock_build, {"p_id": build_id})).first()
        return build_from_row(row._mapping) if row else None

    async def add_build(self, build: Build) -> None:
        await self._conn.execute(q.add_build, build_to_row(build))

    async def move_build(self, before: Build, after: Build) -> bool:
        """Compare-and-set on the state, writing only the fields this move changes.

        Fields the move leaves alone are not written back, so a concurrent update of one of
        them (the author's Slack id, the time of the last verdict) is never lost.
        """
        old, new = build_to_row(before), build_to_row(after)
        values = {k: v for k, v in new.items() if k != "id" and v != old[k]}
        values["state"] = new["state"]
        statement = t.builds.update().where(
            t.builds.c.id == before.id, t.builds.c.state == before.state.value
        )
        result = await self._conn.execute(statement.values(**values))
        return result.rowcount == 1

    async def _set_build(self, build_id: str, **values: object) -> None:
        await self._conn.execute(t.builds.update().where(t.builds.c.id == build_id).values(values))

    async def touch_build(self, build_id: str, at: datetime) -> None:
        await self._set_build(build_id, active_at=at)

    async def set_author_user(self, build_id: str, user: str) -> None:
        await self._set_build(build_id, author_user=user)

    async def mark_idle_warning(
        self, build_id: str, idle_since: datetime, removal_at: datetime
    ) -> None:
        await self._set_build(build_id, idle_warned_for=idle_since, removal_at=removal_at)

    async def builds_of_project(
        self, project_id: str, states: Iterable[BuildState]
    ) -> Sequence[Build]:
        b = t.builds
        query = (
            b.select()
            .where(b.c.project_id == project_id, b.c.state.in_([s.value for s in states]))
            .order_by(b.c.created_at, b.c.id)
        )
        return [build_from_row(r._mapping) for r in await self._conn.execute(query)]

    @staticmethod
    def _target(project_id: str, build_type: BuildType, target: str) -> dict[str, str]:
        return {"p_project": project_id, "p_type": build_type.value, "p_target": target}

    async def live_builds_of_target(
        self, project_id: str, build_type: BuildType, target: str
    ) -> Sequence[Build]:
        rows = await self._conn.execute(
            q.live_builds_of_target, self._target(project_id, build_type, target)
        )
        return [build_from_row(r._mapping) for r in rows]

    async def target_summary(
        self, project_id: str, build_type: BuildType, target: str
    ) -> TargetSummary:
        params = self._target(project_id, build_type, target)
        row = (await self._conn.execute(q.target_summary, params)).one()
        return TargetSummary(newest_build_id=row.newest, highest_build_number=row.highest)

    async def get_delivery(self, project_id: str, webhook_id: str) -> Delivery | None:
        params = {"p_project": project_id, "p_webhook": webhook_id}
        row = (await self._conn.execute(q.get_delivery, params)).first()
        return Delivery(**row._mapping) if row else None

    async def add_delivery(self, delivery: Delivery) -> None:
        row = {
            "project_id": delivery.project_id,
            "webhook_id": delivery.webhook_id,
            "body_sha256": delivery.body_sha256,
            "build_id": delivery.build_id,
            "created_at": self._clock.now(),
            "answer": dict(delivery.answer) if delivery.answer is not None else None,
        }
        await self._conn.execute(q.add_delivery, row)

    async def enqueue(
        self,
        payload: jobs.JobPayload,
        run_at: datetime | None = None,
        dedupe_key: str | None = None,
    ) -> None:
        now = self._clock.now()
        kind, data = jobs.encode(payload)
        row = self._job_row(kind, data, payload.queue, run_at or now, now)
        due = run_at is None or run_at <= now
        if dedupe_key is None:
            self._jobs.append(row)
            self.due_now += due
            return
        statement = self._insert()(t.jobs).values(**row, dedupe_key=dedupe_key)
        result = await self._conn.execute(
            statement.on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        self.due_now += result.rowcount if due else 0

    async def job_waiting(self, payload: jobs.JobPayload) -> bool:
        kind, data = jobs.encode(payload)
        j = t.jobs
        found = await self._conn.execute(
            sa.select(j.c.id)
            .where(
                j.c.state == jobs.JobState.PENDING.value,
                j.c.kind == kind,
                j.c.payload == data,
                j.c.run_at <= self._clock.now(),
            )
            .limit(1)
        )
        return found.first() is not None

    @staticmethod
    def _job_row(
        kind: str, data: str, queue: str | None, run_at: datetime, now: datetime
    ) -> dict[str, object]:
        return {
            "kind": kind,
            "payload": data,
            "queue": queue,
            "state": jobs.JobState.PENDING.value,
            "run_at": run_at,
            "attempts": 0,
            "lease_owner": None,
            "lease_expires_at": None,
            "last_error": None,
            "created_at": now,
            "updated_at": now,
        }

    async def audit(self, event: AuditEvent) -> None:
        self.audited.append(event)
        self._audit.append(
            {
                "at": event.at,
                "action": event.action,
                "project_id": event.project_id,
                "build_id": event.build_id,
                "actor": event.actor,
                "detail": dict(event.detail) if event.detail else None,
            }
        )

    async def get_message(self, build_id: str, role: str, user: str = "") -> MessageRef | None:
        m = t.slack_messages
        row = (
            await self._conn.execute(
                sa.select(m.c.channel, m.c.ts).where(
                    m.c.build_id == build_id, m.c.role == role, m.c.user_id == user
                )
            )
        ).first()
        return MessageRef(channel=row.channel, ts=row.ts) if row else None

    async def save_message(self, build_id: str, role: str, ref: MessageRef, user: str = "") -> None:
        await self._conn.execute(
            t.slack_messages.insert().values(
                build_id=build_id,
                role=role,
                user_id=user,
                channel=ref.channel,
                ts=ref.ts,
                created_at=self._clock.now(),
            )
        )
        p = t.slack_posting
        await self._conn.execute(
            p.delete().where(p.c.build_id == build_id, p.c.role == role, p.c.user_id == user)
        )

    async def begin_post(self, build_id: str, role: str, user: str, at: datetime) -> None:
        statement = self._insert()(t.slack_posting).values(
            build_id=build_id, role=role, user_id=user, since=at
        )
        await self._conn.execute(statement.on_conflict_do_nothing())

    async def post_begun(self, build_id: str, role: str, user: str) -> datetime | None:
        p = t.slack_posting
        query = sa.select(p.c.since).where(
            p.c.build_id == build_id, p.c.role == role, p.c.user_id == user
        )
        since: datetime | None = (await self._conn.execute(query)).scalar()
        return since

    async def verdicts_of(self, build_id: str) -> Sequence[VerdictRecord]:
        v = t.verdicts
        rows = await self._conn.execute(v.select().where(v.c.build_id == build_id))
        return [
            VerdictRecord(r.build_id, r.user_id, Verdict(r.verdict), r.at, r.reason) for r in rows
        ]

    async def add_verdict(self, verdict: VerdictRecord) -> bool:
        result = await self._conn.execute(
            self._insert()(t.verdicts)
            .values(
                build_id=verdict.build_id,
                user_id=verdict.user,
                verdict=verdict.verdict.value,
                reason=verdict.reason,
                at=verdict.at,
            )
            .on_conflict_do_nothing(index_elements=["build_id", "user_id"])
        )
        return result.rowcount == 1

    async def add_decision(self, decision: Decision) -> Decision:
        result = await self._conn.execute(
            t.decisions.insert()
            .values(
                build_id=decision.build_id,
                action=decision.action.value,
                actor=decision.actor,
                at=decision.at,
                outcome=decision.outcome.value if decision.outcome else None,
                reason=decision.reason,
                note=decision.note,
            )
            .returning(t.decisions.c.id)
        )
        return replace(decision, id=result.scalar_one())

    async def latest_decision(self, build_id: str) -> Decision | None:
        d = t.decisions
        query = d.select().where(d.c.build_id == build_id).order_by(d.c.id.desc()).limit(1)
        return _decision((await self._conn.execute(query)).first())

    async def get_decision(self, decision_id: int) -> Decision | None:
        query = t.decisions.select().where(t.decisions.c.id == decision_id)
        return _decision((await self._conn.execute(query)).first())

    async def settle_decision(self, decision_id: int, outcome: Outcome, reason: str | None) -> bool:
        """Compare-and-set on `outcome IS NULL`. The UPDATE locks the row: on PostgreSQL a
        concurrent settle waits for this one to commit, then finds the outcome set."""
        d = t.decisions
        result = await self._conn.execute(
            d.update()
            .where(d.c.id == decision_id, d.c.outcome.is_(None))
            .values(outcome=outcome.value, reason=reason)
        )
        return result.rowcount == 1

    async def start_decision(self, decision_id: int, at: datetime) -> bool:
        d = t.decisions
        result = await self._conn.execute(
            d.update().where(d.c.id == decision_id, d.c.started_at.is_(None)).values(started_at=at)
        )
        return result.rowcount == 1

    async def messages_of(self, build_id: str, role: str) -> dict[str, MessageRef]:
        m = t.slack_messages
        rows = await self._conn.execute(
            sa.select(m.c.user_id, m.c.channel, m.c.ts).where(
                m.c.build_id == build_id, m.c.role == role
            )
        )
        return {r.user_id: MessageRef(r.channel, r.ts) for r in rows}

    async def open_home(self, user: str, event_id: str, at: datetime) -> bool:
        return await homes.open_home(self._conn, self._insert(), user, event_id, at)

    async def mark_homes(
        self, users: Iterable[str], at: datetime, stale_before: datetime
    ) -> Sequence[HomeMark]:
        return await homes.mark(self._conn, users, at, stale_before)

    async def take_home(self, user: str, at: datetime) -> bool:
        return await homes.take(self._conn, user, at)

    def _insert(self) -> Callable[..., Any]:
        return postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert

    async def group_members(self, group_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        g, wanted = t.slack_groups, sorted(set(group_ids))
        if not wanted:
            return {}
        rows = await self._conn.execute(sa.select(g).where(g.c.group_id.in_(wanted)))
        return {r.group_id: frozenset(r.members) for r in rows}

    async def prune_deliveries(self, before: datetime, limit: int) -> int:
        return await retention.prune_deliveries(self._conn, before, limit)

    async def prune_finished_jobs(self, before: datetime, limit: int) -> int:
        return await retention.prune_finished_jobs(self._conn, before, limit)

    async def prune_message_slots(self, before: datetime, limit: int) -> int:
        return await retention.prune_message_slots(self._conn, before, limit)

    async def group_snapshots(self, group_ids: Iterable[str]) -> dict[str, GroupSnapshot]:
        g, wanted = t.slack_groups, sorted(set(group_ids))
        if not wanted:
            return {}
        rows = await self._conn.execute(sa.select(g).where(g.c.group_id.in_(wanted)))
        return {r.group_id: GroupSnapshot(frozenset(r.members), r.refreshed_at) for r in rows}

    async def save_group(self, group_id: str, members: frozenset[str], at: datetime) -> None:
        statement = self._insert()(t.slack_groups).values(
            group_id=group_id, members=sorted(members), refreshed_at=at
        )
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["group_id"],
                set_={"members": statement.excluded.members, "refreshed_at": at},
            )
        )

    async def freeze_of(self, project_id: str) -> Freeze | None:
        f = t.freezes
        row = (await self._conn.execute(f.select().where(f.c.project_id == project_id))).first()
        return Freeze(row.reason, by=row.actor, since=row.at) if row else None

    async def set_freeze(self, project_id: str, freeze: Freeze) -> bool:
        statement = self._insert()(t.freezes).values(
            project_id=project_id, reason=freeze.reason, actor=freeze.by or "", at=freeze.since
        )
        result = await self._conn.execute(
            statement.on_conflict_do_nothing(index_elements=["project_id"])
        )
        return result.rowcount == 1

    async def lift_freeze(self, project_id: str) -> Freeze | None:
        f = t.freezes
        row = (
            await self._conn.execute(
                f.delete()
                .where(f.c.project_id == project_id)
                .returning(f.c.reason, f.c.actor, f.c.at)
            )
        ).first()
        return Freeze(row.reason, by=row.actor, since=row.at) if row else None

    async def claim_production(
        self, project_id: str, build_id: str, decision_id: int, at: datetime
    ) -> bool:
        p = t.production_slots
        await self._conn.execute(
            self._insert()(p).values(project_id=project_id).on_conflict_do_nothing()
        )
        result = await self._conn.execute(
            p.update()
            .where(p.c.project_id == project_id, p.c.build_id.is_(None))
            .values(build_id=build_id, decision_id=decision_id, since=at)
        )
        return result.rowcount == 1

    async def production_busy_with(self, project_id: str) -> str | None:
        p = t.production_slots
        query = sa.select(p.c.build_id).where(p.c.project_id == project_id)
        found: str | None = (await self._conn.execute(query)).scalar()
        return found

    async def free_production(self, project_id: str, decision_id: int) -> None:
        p = t.production_slots
        await self._conn.execute(
            p.update()
            .where(p.c.project_id == project_id, p.c.decision_id == decision_id)
            .values(build_id=None, decision_id=None, since=None)
        )

    async def production_holder(self, project_id: str) -> int | None:
        p = t.production_slots
        query = sa.select(p.c.decision_id).where(p.c.project_id == project_id)
        found: int | None = (await self._conn.execute(query)).scalar()
        return found

    async def add_release(self, release: Release) -> Release:
        result = await self._conn.execute(
            t.releases.insert()
            .values(
                project_id=release.project_id,
                build_id=release.build_id,
                decision_id=release.decision_id,
                image=release.image,
                digest=release.digest,
                kind=release.kind.value,
                actor=release.actor,
                at=release.at,
                rolled_back_from=release.rolled_back_from,
            )
            .returning(t.releases.c.id)
        )
        return replace(release, id=result.scalar_one())

    async def _releases(self, where: sa.ColumnElement[bool], limit: int) -> list[Release]:
        r = t.releases
        query = r.select().where(where).order_by(r.c.id.desc()).limit(limit)
        return [_release(row) for row in await self._conn.execute(query)]

    async def get_release(self, release_id: int) -> Release | None:
        found = await self._releases(t.releases.c.id == release_id, 1)
        return found[0] if found else None

    async def release_of_decision(self, decision_id: int) -> Release | None:
        found = await self._releases(t.releases.c.decision_id == decision_id, 1)
        return found[0] if found else None

    async def releases_of(self, project_id: str, limit: int = 20) -> Sequence[Release]:
        return await self._releases(t.releases.c.project_id == project_id, limit)

    async def release_before(self, release: Release) -> Release | None:
        r = t.releases
        assert release.id is not None
        found = await self._releases(
            sa.and_(r.c.project_id == release.project_id, r.c.id < release.id), 1
        )
        return found[0] if found else None

    async def audit_events(
        self, project_id: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> Sequence[AuditEvent]:
        a = t.audit_events
        query = a.select().order_by(a.c.id.desc()).limit(limit)
        if project_id is not None:
            query = query.where(a.c.project_id == project_id)
        if since is not None:
            # Rows since then have ids from the first of them on: the bound on the id lets
            # the newest-first walk stop there instead of reading all history before it.
            # (`id + 0`: SQLite would otherwise find the minimum by walking ids from the
            # oldest row until one is recent enough, all of history, instead of the time index.)
            first = sa.select(sa.func.min(a.c.id + 0)).where(a.c.at >= since).scalar_subquery()
            query = query.where(a.c.at >= since, a.c.id >= first)
        return [
            AuditEvent(
                at=r.at,
                action=r.action,
                project_id=r.project_id,
                build_id=r.build_id,
                actor=r.actor,
                detail=r.detail,
                id=r.id,
            )
            for r in await self._conn.execute(query)
        ]


def _release(row: Any) -> Release:
    return Release(
        project_id=row.project_id,
        build_id=row.build_id,
        image=row.image,
        digest=row.digest,
        kind=ReleaseKind(row.kind),
        actor=row.actor,
        at=row.at,
        decision_id=row.decision_id,
        rolled_back_from=row.rolled_back_from,
        id=row.id,
    )


def _decision(row: Any) -> Decision | None:
    if row is None:
        return None
    return Decision(
        build_id=row.build_id,
        action=Action(row.action),
        actor=row.actor,
        at=row.at,
        id=row.id,
        outcome=Outcome(row.outcome) if row.outcome else None,
        reason=row.reason,
        note=row.note,
    )


# SQLSTATE classes and codes that mean "try again": connection exceptions (08), operator
# intervention such as a server shutting down or starting up (57), lock not available
# (55P03), serialization failure and deadlock (40). asyncpg reports several of them as a
# plain DBAPIError, not an OperationalError.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "57", "40")
_TRANSIENT_SQLSTATES = frozenset({"55P03"})


def is_transient(exc: DBAPIError) -> bool:
    state = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
    return state in _TRANSIENT_SQLSTATES or state[:2] in _TRANSIENT_SQLSTATE_CLASSES


BeforeCommit = Callable[[Transaction, Sequence[AuditEvent]], Awaitable[None]]


class SqlStore:
    """The Store port: hands out transactions on one engine."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self._clock = clock
        # Called after a commit with the number of jobs it made due: e.g. wake that many workers.
        self.on_commit: Callable[[int], None] | None = None
        # Called before a commit, in the transaction, with the audit rows it wrote: what they
        # changed may queue more work with them (the Home tabs of the people concerned).
        self.before_commit: BeforeCommit | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        try:
            async with self.database.begin() as conn:
                tx = SqlTransaction(conn, self._clock)
                yield tx
                if self.before_commit is not None and tx.audited:
                    await self.before_commit(tx, tuple(tx.audited))
                await tx.flush()
        except IntegrityError as exc:
            raise StoreConflict(str(exc.orig)) from exc
        except (OperationalError, InterfaceError, OSError) as exc:
            raise StoreUnavailable(f"database unavailable: {type(exc).__name__}") from exc
        except DBAPIError as exc:
            if not (exc.connection_invalidated or is_transient(exc)):
                raise
            raise StoreUnavailable(f"database unavailable: {type(exc).__name__}") from exc
        if self.on_commit is not None and tx.due_now:
            self.on_commit(tx.due_now)
