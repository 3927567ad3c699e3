"""What ci-bot shows people, as data. The Slack adapter turns each view into Block Kit.

Keeping views free of Block Kit lets the use cases decide *what* to say (and unit tests
check it) while the adapter alone knows *how* Slack draws it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeAlias

from cibot.domain.build import Build, BuildState
from cibot.domain.policy import Freeze, Quorum
from cibot.domain.project import Project
from cibot.domain.release import Release
from cibot.domain.review import Decision, Refusal, Tally, VerdictRecord, unknown_author_refusal
from cibot.service.ports import AuditEvent


@dataclass(frozen=True, slots=True)
class BuildCard:
    """The one channel message per build: deploying → ready / failed / superseded."""

    project: Project
    build: Build
    superseded_by: Build | None = None
    note: str | None = None  # a passing remark, e.g. "Kubernetes unreachable, retrying"
    tally: Tally = field(default_factory=Tally)
    decision: Decision | None = None


@dataclass(frozen=True, slots=True)
class OwnerDM:
    """An owner's DM about a ready preview: link, who does QA, the quorum, Deploy / Close.

    The Deploy button is there only when the quorum is met, production is not frozen and
    the policy does not hold the build back for its unknown author; otherwise the DM says
    what is missing (and offers the override, where the policy allows it). A production
    deploy of another build running meanwhile does not hide it: that passes, and a click
    meanwhile is told to wait.
    """

    project: Project
    build: Build
    tally: Tally
    decision: Decision | None = None  # the latest owner decision, if any
    superseded_by: Build | None = None
    quorum: Quorum = field(default_factory=lambda: Quorum(required=0))
    qa: tuple[str, ...] | None = None  # the QA members as resolved now; None: as configured
    freeze: Freeze | None = None
    expires_at: datetime | None = None
    former: bool = False  # drawn for someone who is no longer an owner: no buttons

    @property
    def actionable(self) -> bool:
        """Buttons are shown only while the build can still be deployed or closed."""
        return self.build.state is BuildState.READY and not self.former

    @property
    def author_block(self) -> Refusal | None:
        """`policy.unknown_author: block` holding this build back, as the gate would."""
        return unknown_author_refusal(self.project, self.build)

    @property
    def deployable(self) -> bool:
        free = self.freeze is None and self.author_block is None
        return self.actionable and self.quorum.met and free

    @property
    def overridable(self) -> bool:
        allowed = self.project.policy.allow_override and not self.quorum.met
        return self.actionable and allowed and self.freeze is None and self.author_block is None


@dataclass(frozen=True, slots=True)
class QaDM:
    """A QA member's DM: link and Approve / Reject, until they have given their verdict."""

    project: Project
    build: Build
    user: str
    verdict: VerdictRecord | None = None
    decision: Decision | None = None
    superseded_by: Build | None = None
    is_author: bool = False  # four eyes: this QA member wrote the build; approving cannot count
    expires_at: datetime | None = None
    former: bool = False  # drawn for someone who is no longer in QA: no buttons

    @property
    def actionable(self) -> bool:
        return self.verdict is None and self.build.state is BuildState.READY and not self.former


@dataclass(frozen=True, slots=True)
class VerdictReply:
    """The thread reply under each owner DM: "<@U> has *approved* this build"."""

    verdict: VerdictRecord


@dataclass(frozen=True, slots=True)
class IdleWarning:
    """The thread reply that warns the owners an idle preview is about to be removed."""

    project: Project
    build: Build
    idle_since: datetime
    removal_at: datetime


@dataclass(frozen=True, slots=True)
class ReviewReminder:
    """The one thread reply under a QA member's DM when their review is still awaited."""

    project: Project
    build: Build
    waiting_since: datetime


@dataclass(frozen=True, slots=True)
class ProductionNotice:
    """The channel announcement of a production deployment or rollback, or of its failure.

    While its release is what production runs and an earlier one exists, it offers
    **Roll back** (to `previous`); once a newer release replaces it, it says so instead.
    """

    project: Project
    build: Build
    decision: Decision
    release: Release | None = None  # the release this decision produced, once deployed
    previous: Release | None = None  # the release before it: where a rollback would go
    replaced_by: Release | None = None  # the newest release, when it is not this one
    rolled_back_from: Release | None = None  # a rollback: the release it undid

    @property
    def can_roll_back(self) -> bool:
        return self.release is not None and self.replaced_by is None and self.previous is not None


@dataclass(frozen=True, slots=True)
class Notice:
    """A short ephemeral answer to one person's click ("not allowed: …")."""

    text: str


@dataclass(frozen=True, slots=True)
class RejectReasonModal:
    """The modal that asks a QA member why they reject (optional)."""

    build: Build
    project: Project
    channel: str | None = None  # where the Reject button was, for answers after the modal


@dataclass(frozen=True, slots=True)
class OverrideReasonModal:
    """The modal that asks an owner why they deploy without the quorum (required)."""

    build: Build
    project: Project
    quorum: Quorum
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class FreezeNotice:
    """The channel message when an owner freezes or unfreezes production deploys."""

    project: Project
    actor: str
    frozen: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class History:
    """The latest audit entries of a project, for `/cibot history` (newest first)."""

    project: Project
    events: tuple[AuditEvent, ...]


@dataclass(frozen=True, slots=True)
class ProjectHome:
    """One project on a person's Home tab: what production runs and ran before, its
    previews (one per target, newest first), and the freeze in force."""

    project: Project
    roles: tuple[str, ...]  # "QA", "owner": what the person is in this project
    previews: tuple[Build, ...] = ()
    release: Release | None = None  # what production runs now
    release_build: Build | None = None
    previous: Release | None = None  # what it ran before (where a rollback goes)
    freeze: Freeze | None = None
    busy_with: str | None = None  # the build a production deploy is deploying now
    may_roll_back: bool = False  # an owner, and a rollback could be asked for now


@dataclass(frozen=True, slots=True)
class HomeView:
    """A person's Home tab: the builds waiting for their verdict or decision (drawn as their
    DMs are, with the same buttons), their projects, and the latest audit lines of those."""

    user: str
    at: datetime  # when it was drawn
    waiting: tuple[OwnerDM | QaDM, ...] = ()
    projects: tuple[ProjectHome, ...] = ()
    events: tuple[AuditEvent, ...] = ()


# Every view the Chat port takes, by where it goes. The Slack adapter renders each with a
# `match` ending in `assert_never`, so a view added here without a renderer fails mypy.
MessageView: TypeAlias = (
    BuildCard
    | OwnerDM
    | QaDM
    | VerdictReply
    | IdleWarning
    | ReviewReminder
    | ProductionNotice
    | Notice
    | FreezeNotice
    | History
)
ModalView: TypeAlias = RejectReasonModal | OverrideReasonModal
