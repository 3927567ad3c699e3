"""The review of a preview: QA verdicts, owner decisions, and who may make which.

`authorise` is the single gate every Slack click passes through. It is fail-closed: a user
is allowed only by being listed in the project's configured role, and only on a build in a
state where that action means something. A refusal carries a sentence for the user.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cibot.domain.build import Build, BuildState
from cibot.domain.project import Project


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    DEPLOY = "deploy"
    CLOSE = "close"


QA_ACTIONS = frozenset({Action.APPROVE, Action.REJECT})
OWNER_ACTIONS = frozenset({Action.DEPLOY, Action.CLOSE})


class Verdict(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


VERDICT_OF = {Action.APPROVE: Verdict.APPROVED, Action.REJECT: Verdict.REJECTED}


@dataclass(frozen=True, slots=True)
class VerdictRecord:
    """One QA member's verdict on one build. There is at most one per (build, user)."""

    build_id: str
    user: str
    verdict: Verdict
    at: datetime
    reason: str | None = None


class Outcome(StrEnum):
    DEPLOYED = "deployed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Decision:
    """An owner's decision on a build: deploy it to production, or close it."""

    build_id: str
    action: Action  # DEPLOY or CLOSE
    actor: str
    at: datetime
    id: int | None = None  # set by the store
    outcome: Outcome | None = None  # DEPLOY: None while running, then deployed or failed
    reason: str | None = None  # why a production deploy failed


@dataclass(frozen=True, slots=True)
class Tally:
    approved: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()

    @classmethod
    def of(cls, verdicts: Iterable[VerdictRecord]) -> Tally:
        ordered = sorted(verdicts, key=lambda v: (v.at, v.user))
        return cls(
            approved=tuple(v.user for v in ordered if v.verdict is Verdict.APPROVED),
            rejected=tuple(v.user for v in ordered if v.verdict is Verdict.REJECTED),
        )


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a click changes nothing, in words for the person who clicked."""

    reason: str
    denied: bool  # True: not allowed (audited as a denial); False: a stale or repeated click


_STATE_WORDS = {
    BuildState.ACCEPTED: "is still being deployed",
    BuildState.DEPLOYING: "is still being deployed",
    BuildState.FAILED: "failed to deploy",
    BuildState.SUPERSEDED: "was superseded by a newer build",
    BuildState.STALE: "was never deployed: a newer build came first",
    BuildState.CLOSED: "was closed",
    BuildState.PROMOTING: "is being deployed to production right now",
    BuildState.PROMOTED: "is already in production",
}

# The states in which each action means something.
_VALID_IN = {
    Action.APPROVE: frozenset({BuildState.READY}),
    Action.REJECT: frozenset({BuildState.READY}),
    Action.DEPLOY: frozenset({BuildState.READY}),
    Action.CLOSE: frozenset({BuildState.READY, BuildState.FAILED, BuildState.PROMOTED}),
}


def authorise(
    project: Project,
    build: Build,
    user: str,
    action: Action,
    verdicts: Iterable[VerdictRecord] = (),
) -> Refusal | None:
    """None when `user` may take `action` on `build` now; else the reason they may not."""
    if build.project_id != project.id:
        return Refusal(f"this build belongs to another project than {project.name}", denied=True)
    if action in QA_ACTIONS and user not in project.qa:
        return Refusal(f"only the QA members of {project.name} may approve or reject", denied=True)
    if action in OWNER_ACTIONS and user not in project.owners:
        verb = "deploy to production" if action is Action.DEPLOY else "close builds"
        return Refusal(f"only the owners of {project.name} may {verb}", denied=True)
    if build.state not in _VALID_IN[action]:
        words = _STATE_WORDS.get(build.state, f"is {build.state}")
        return Refusal(f"this build {words}", denied=False)
    if action in QA_ACTIONS:
        mine = next((v for v in verdicts if v.user == user and v.build_id == build.id), None)
        if mine is not None:
            return Refusal(f"you already {mine.verdict} this build", denied=False)
    return None
