"""What ci-bot shows people, as data. The Slack adapter turns each view into Block Kit.

Keeping views free of Block Kit lets the use cases decide *what* to say (and unit tests
check it) while the adapter alone knows *how* Slack draws it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cibot.domain.build import Build, BuildState
from cibot.domain.project import Project
from cibot.domain.review import Decision, Tally, VerdictRecord


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
    """An owner's DM about a ready preview: link, who does QA, the tally, Deploy / Close."""

    project: Project
    build: Build
    tally: Tally
    decision: Decision | None = None  # the latest owner decision, if any
    superseded_by: Build | None = None

    @property
    def actionable(self) -> bool:
        """Buttons are shown only while the build can still be deployed or closed."""
        return self.build.state is BuildState.READY


@dataclass(frozen=True, slots=True)
class QaDM:
    """A QA member's DM: link and Approve / Reject, until they have given their verdict."""

    project: Project
    build: Build
    user: str
    verdict: VerdictRecord | None = None
    decision: Decision | None = None
    superseded_by: Build | None = None

    @property
    def actionable(self) -> bool:
        return self.verdict is None and self.build.state is BuildState.READY


@dataclass(frozen=True, slots=True)
class VerdictReply:
    """The thread reply under each owner DM: "<@U> has *approved* this build"."""

    verdict: VerdictRecord


@dataclass(frozen=True, slots=True)
class ProductionNotice:
    """The channel announcement of a production deployment, or of its failure."""

    project: Project
    build: Build
    decision: Decision


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
