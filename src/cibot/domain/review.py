"""The review of a preview: QA verdicts, owner decisions, and who may make which.

`authorise` is the single gate every Slack click on a build passes through (a rollback has
its own, `authorise_rollback`). It is fail-closed: a user is allowed only by being in the
project's role as resolved *now* (`Roster`), only on a build in a state where the action
means something, and a deploy only as the project's `Policy` allows (quorum, four eyes,
expiry, freeze, one production deploy at a time). A refusal carries a sentence for the user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cibot.domain.build import Build, BuildState
from cibot.domain.policy import Freeze, Quorum, UnknownAuthor, quorum
from cibot.domain.project import Project, Roster
from cibot.domain.release import Release
from cibot.domain.verdicts import Verdict, VerdictRecord

__all__ = [
    "Action",
    "Decision",
    "Outcome",
    "Refusal",
    "Situation",
    "Tally",
    "Verdict",
    "VerdictRecord",
    "author_unknown",
    "authorise",
    "authorise_rollback",
    "unknown_author_refusal",
]


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    DEPLOY = "deploy"
    OVERRIDE = "override"  # deploy without the quorum, with a reason (when the policy allows)
    CLOSE = "close"
    ROLLBACK = "rollback"  # production back to the release before the current one


QA_ACTIONS = frozenset({Action.APPROVE, Action.REJECT})
OWNER_ACTIONS = frozenset({Action.DEPLOY, Action.OVERRIDE, Action.CLOSE, Action.ROLLBACK})
PRODUCTION_ACTIONS = frozenset({Action.DEPLOY, Action.OVERRIDE, Action.ROLLBACK})

VERDICT_OF = {Action.APPROVE: Verdict.APPROVED, Action.REJECT: Verdict.REJECTED}


class Outcome(StrEnum):
    DEPLOYED = "deployed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Decision:
    """An owner's decision on a build: deploy it (or roll back to it), or close it."""

    build_id: str
    action: Action  # DEPLOY, OVERRIDE, ROLLBACK or CLOSE
    actor: str
    at: datetime
    id: int | None = None  # set by the store
    outcome: Outcome | None = None  # production: None while running, then deployed or failed
    reason: str | None = None  # why a production deploy failed
    note: str | None = None  # the owner's reason for an override, or why ci-bot closed it


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


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything besides the build that a click is judged on, read in its transaction."""

    roster: Roster
    now: datetime
    verdicts: tuple[VerdictRecord, ...] = ()
    freeze: Freeze | None = None  # the freeze in force, if any
    busy_with: str | None = None  # the build a running production deploy is deploying

    def quorum(self, project: Project, build: Build) -> Quorum:
        return quorum(project.policy, self.roster.qa, build.author_id, self.verdicts)


_STATE_WORDS = {
    BuildState.ACCEPTED: "is still being deployed",
    BuildState.DEPLOYING: "is still being deployed",
    BuildState.FAILED: "failed to deploy",
    BuildState.SUPERSEDED: "was superseded by a newer build",
    BuildState.STALE: "was never deployed: a newer build came first",
    BuildState.CLOSED: "was closed",
    BuildState.PROMOTING: "is being deployed to production right now",
    BuildState.PROMOTED: "is already in production",
    BuildState.EXPIRED: "expired before anyone decided on it",
}

# The states in which each action on a build means something.
_VALID_IN = {
    Action.APPROVE: frozenset({BuildState.READY}),
    Action.REJECT: frozenset({BuildState.READY}),
    Action.DEPLOY: frozenset({BuildState.READY}),
    Action.OVERRIDE: frozenset({BuildState.READY}),
    Action.CLOSE: frozenset(
        {BuildState.READY, BuildState.FAILED, BuildState.PROMOTED, BuildState.EXPIRED}
    ),
}


def _role_refusal(project: Project, roster: Roster, user: str, action: Action) -> Refusal | None:
    if action in QA_ACTIONS and user not in roster.qa:
        words = f"only the QA members of {project.name} may approve or reject"
        return Refusal(_with_doubts(words, roster.doubts(project.qa)), denied=True)
    if action in OWNER_ACTIONS and user not in roster.owners:
        verbs = {Action.CLOSE: "close builds", Action.ROLLBACK: "roll back production"}
        verb = verbs.get(action, "deploy to production")
        words = f"only the owners of {project.name} may {verb}"
        return Refusal(_with_doubts(words, roster.doubts(project.owners)), denied=True)
    return None


def _with_doubts(words: str, doubts: str) -> str:
    """A role refusal, with why a group's members may be missing from the role (fail-closed)."""
    return f"{words} ({doubts})" if doubts else words


def authorise(
    project: Project, build: Build, user: str, action: Action, situation: Situation
) -> Refusal | None:
    """None when `user` may take `action` on `build` now; else the reason they may not."""
    if action is Action.ROLLBACK:
        raise ValueError("a rollback is judged on releases: use authorise_rollback")
    rules: tuple[Callable[[_Ask], Refusal | None], ...] = (
        _same_project,
        _in_role,
        _valid_state,
        _not_expired,
    )
    if action in QA_ACTIONS:
        rules += (_first_verdict, _four_eyes)
    if action in PRODUCTION_ACTIONS:
        rules += (
            _author_may_deploy,
            _approver_may_deploy,
            _known_author,
            _not_frozen,
            _production_free,
            _quorum_rule,
        )
    ask = _Ask(project, build, user, action, situation)
    return next((r for rule in rules if (r := rule(ask)) is not None), None)


@dataclass(frozen=True, slots=True)
class _Ask:
    """One click being judged: the rules below each look at one side of it."""

    project: Project
    build: Build
    user: str
    action: Action
    situation: Situation


def _same_project(ask: _Ask) -> Refusal | None:
    if ask.build.project_id != ask.project.id:
        return Refusal(f"this build belongs to another project than {ask.project.name}", True)
    return None


def _in_role(ask: _Ask) -> Refusal | None:
    return _role_refusal(ask.project, ask.situation.roster, ask.user, ask.action)


def _valid_state(ask: _Ask) -> Refusal | None:
    state = ask.build.state
    if state not in _VALID_IN[ask.action]:
        return Refusal(f"this build {_STATE_WORDS.get(state, state)}", denied=False)
    return None


def _not_expired(ask: _Ask) -> Refusal | None:
    expires_at = ask.project.policy.expires_at(ask.build.ready_at)
    if ask.action is Action.CLOSE or expires_at is None or ask.situation.now < expires_at:
        return None
    return Refusal(f"this build {_STATE_WORDS[BuildState.EXPIRED]}", denied=False)


def _first_verdict(ask: _Ask) -> Refusal | None:
    mine = next((v for v in ask.situation.verdicts if v.user == ask.user), None)
    if mine is not None:
        return Refusal(f"you already {mine.verdict} this build", denied=False)
    return None


_LOOKING_UP = Refusal("ci-bot is still looking up who wrote this build; try again", False)


def _four_eyes(ask: _Ask) -> Refusal | None:
    if ask.action is not Action.APPROVE or not ask.project.policy.four_eyes:
        return None
    if ask.build.author_pending:
        return _LOOKING_UP
    if ask.build.author_id == ask.user:
        return Refusal("you wrote this build, so your approval cannot count", denied=True)
    return None


def _author_may_deploy(ask: _Ask) -> Refusal | None:
    if ask.project.policy.author_may_deploy:
        return None
    if ask.build.author_pending:
        return _LOOKING_UP
    if ask.build.author_id == ask.user:
        return Refusal("you wrote this build, so someone else must deploy it", denied=True)
    return None


def _approver_may_deploy(ask: _Ask) -> Refusal | None:
    if ask.project.policy.approver_may_deploy:
        return None
    if any(v.user == ask.user and v.verdict is Verdict.APPROVED for v in ask.situation.verdicts):
        return Refusal("you approved this build, so an owner who did not must deploy it", True)
    return None


def author_unknown(build: Build) -> str | None:
    """Why ci-bot cannot tell who wrote `build` in Slack; None when it can (or still looks)."""
    if build.author is None:
        return "CI did not say who wrote it"
    if build.author_user == "":
        return "its author is unknown to Slack"
    return None


def unknown_author_refusal(project: Project, build: Build) -> Refusal | None:
    """`policy.unknown_author: block`: no production for a build whose author is unknown."""
    if project.policy.unknown_author is not UnknownAuthor.BLOCK:
        return None
    if build.author_pending:
        return _LOOKING_UP
    why = author_unknown(build)
    if why is None:
        return None
    words = f"this build cannot go to production: {why}, so four eyes cannot be checked"
    return Refusal(words, denied=False)


def _known_author(ask: _Ask) -> Refusal | None:
    return unknown_author_refusal(ask.project, ask.build)


def _not_frozen(ask: _Ask) -> Refusal | None:
    freeze = ask.situation.freeze
    return Refusal(freeze.describe(), denied=False) if freeze is not None else None


def _production_free(ask: _Ask) -> Refusal | None:
    busy_with = ask.situation.busy_with
    return None if busy_with is None else Refusal(_busy_words(busy_with, ask.build.id), False)


def _quorum_rule(ask: _Ask) -> Refusal | None:
    review = ask.situation.quorum(ask.project, ask.build)
    if ask.action is Action.OVERRIDE:
        if not ask.project.policy.allow_override:
            name = ask.project.name
            return Refusal(f"{name} does not allow deploying without the quorum", denied=True)
        if review.met:
            return Refusal("the quorum is reached: use Deploy to production", denied=False)
        return None
    if not review.met:
        return Refusal(f"this build cannot go to production yet: {review.missing()}", False)
    return None


def _busy_words(busy_with: str, build_id: str | None) -> str:
    if busy_with == build_id:
        return "someone else has just started deploying this build"
    return f"another production deployment (build {busy_with}) is in progress; try again after it"


def authorise_rollback(
    project: Project,
    user: str,
    situation: Situation,
    *,
    release: Release | None,
    current: Release | None,
    previous: Release | None,
) -> Refusal | None:
    """None when `user` may roll production back from `release` to `previous` now.

    A rollback is offered on one release's announcement; it means something only while
    that release is what production runs, and only if there is an earlier one to go to.
    A freeze does not stop it: it repairs production to what ran there before.
    """
    if release is None or release.project_id != project.id:
        return Refusal(f"this release is not one of {project.name}", denied=True)
    if refusal := _role_refusal(project, situation.roster, user, Action.ROLLBACK):
        return refusal
    if current is None or current.id != release.id:
        return Refusal("production has changed since this release; nothing to undo here", False)
    if previous is None:
        return Refusal("there is no earlier production release to roll back to", denied=False)
    if situation.busy_with is not None:
        return Refusal(_busy_words(situation.busy_with, None), denied=False)
    return None
