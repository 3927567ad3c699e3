"""QA verdicts and owners' decisions on builds, each settled at most once (compare-and-set)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from cibot.adapters.store import statements as q
from cibot.adapters.store import tables as t
from cibot.adapters.store.sql.base import SqlRepository
from cibot.domain.review import Action, Decision, Outcome, Verdict, VerdictRecord


class SqlReviews(SqlRepository):
    async def verdicts_of(self, build_id: str) -> Sequence[VerdictRecord]:
        rows = await self._conn.execute(q.verdicts_of, {"p_build": build_id})
        return [
            VerdictRecord(r.build_id, r.user_id, Verdict(r.verdict), r.at, r.reason) for r in rows
        ]

    async def add_verdict(self, verdict: VerdictRecord) -> bool:
        row = {
            "build_id": verdict.build_id,
            "user_id": verdict.user,
            "verdict": verdict.verdict.value,
            "reason": verdict.reason,
            "at": verdict.at,
        }
        result = await self._conn.execute(q.add_verdict(self._conn.dialect.name), row)
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
