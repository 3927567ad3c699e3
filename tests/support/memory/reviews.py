"""QA verdicts and owners' decisions, in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from cibot.domain.review import Decision, Outcome, VerdictRecord
from tests.support.memory.base import MemoryRepository


class MemoryReviews(MemoryRepository):
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
