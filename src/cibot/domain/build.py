"""A build reported by CI and the life it leads: the state machine that guards it.

Every change of state goes through `Build.moved_to`, which refuses moves the flow does not
allow; the store then writes it as a compare-and-set on the old state, so two workers or
two clicks can never both make the same move.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from cibot.domain.errors import InvalidTransition


class BuildType(StrEnum):
    BRANCH = "branch"
    TAG = "tag"


class BuildState(StrEnum):
    ACCEPTED = "accepted"  # recorded; its preview deploy is queued
    DEPLOYING = "deploying"  # objects applied, waiting for the rollout
    READY = "ready"  # preview is up; QA and owners decide
    FAILED = "failed"  # the preview rollout failed; reason recorded
    SUPERSEDED = "superseded"  # a newer build of the same target replaced it
    STALE = "stale"  # arrived after a newer build number of the same target; never deployed
    CLOSED = "closed"  # an owner (or ci-bot: idle, branch deleted) closed it; preview removed
    PROMOTING = "promoting"  # going to production
    PROMOTED = "promoted"  # running in production
    EXPIRED = "expired"  # ready, but undecided for longer than the policy allows


# Builds a newer build of the same target supersedes.
LIVE = frozenset({BuildState.ACCEPTED, BuildState.DEPLOYING, BuildState.READY, BuildState.FAILED})

_ALLOWED: dict[BuildState, frozenset[BuildState]] = {
    # A build not yet deployed is closed only by ci-bot, when CI says its branch is gone.
    BuildState.ACCEPTED: frozenset({BuildState.DEPLOYING, BuildState.FAILED, BuildState.CLOSED}),
    BuildState.DEPLOYING: frozenset({BuildState.READY, BuildState.FAILED, BuildState.CLOSED}),
    BuildState.READY: frozenset(
        {BuildState.CLOSED, BuildState.PROMOTING, BuildState.DEPLOYING, BuildState.EXPIRED}
    ),
    BuildState.FAILED: frozenset({BuildState.DEPLOYING, BuildState.CLOSED}),
    # A failed production deploy makes the build promotable again (READY), unless a newer
    # build of its target arrived meanwhile: then it is superseded, as it would have been.
    BuildState.PROMOTING: frozenset({BuildState.PROMOTED, BuildState.READY, BuildState.SUPERSEDED}),
    BuildState.PROMOTED: frozenset({BuildState.CLOSED, BuildState.PROMOTING}),
    BuildState.SUPERSEDED: frozenset(),
    BuildState.STALE: frozenset(),
    BuildState.CLOSED: frozenset(),
    BuildState.EXPIRED: frozenset({BuildState.CLOSED}),
}
# Any live build may be superseded by a newer build of its target.
for _state in (BuildState.ACCEPTED, BuildState.DEPLOYING, BuildState.READY, BuildState.FAILED):
    _ALLOWED[_state] = _ALLOWED[_state] | {BuildState.SUPERSEDED}


def can_move(source: BuildState, target: BuildState) -> bool:
    return target in _ALLOWED[source]


def still_applies(read: BuildState, current: BuildState) -> bool:
    """Whether a move decided on a build as it was read may still be made on it as it is now.

    Between the read and the write a deploy job may have moved it along the live states
    (accepted → deploying → ready); superseding or closing a live build holds for any of
    them. Any other change (promoting, closed, superseded) means someone else has decided.
    """
    return current is read or (read in LIVE and current in LIVE)


@dataclass(frozen=True, slots=True)
class Build:
    """One image CI built for one target (branch or tag) of one project."""

    id: str
    project_id: str
    type: BuildType
    target: str
    image: str
    state: BuildState
    created_at: datetime
    updated_at: datetime
    commit: str | None = None
    author: str | None = None
    build_number: int | None = None
    ci_url: str | None = None
    digest: str | None = None  # sha256:… of the image the preview actually ran
    preview_url: str | None = None
    reason: str | None = None  # why it failed (plain words), or other note
    superseded_by: str | None = None
    author_user: str | None = None  # the author's Slack id; "" when the email matched nobody
    ready_at: datetime | None = None  # when the preview last became ready
    active_at: datetime | None = None  # the last ready, verdict or decision: idle since then
    idle_warned_for: datetime | None = None  # the idle period the owners were warned about
    removal_at: datetime | None = None  # when that warning said the preview would go

    @property
    def author_pending(self) -> bool:
        """CI named the author by email and ci-bot has not yet looked them up in Slack."""
        return self.author is not None and self.author_user is None

    @property
    def author_id(self) -> str | None:
        """The author as a Slack user id, when known."""
        return self.author_user or None

    @property
    def environment_key(self) -> tuple[str, BuildType, str]:
        """Builds with the same key share one preview environment."""
        return (self.project_id, self.type, self.target)

    def moved_to(self, state: BuildState, now: datetime, **changes: object) -> Build:
        """This build in `state`, or InvalidTransition if the flow does not allow the move."""
        if not can_move(self.state, state):
            raise InvalidTransition(self.id, self.state, state)
        return replace(self, state=state, updated_at=now, **changes)  # type: ignore[arg-type]
