"""What ci-bot shows people, as data. The Slack adapter turns each view into Block Kit.

Keeping views free of Block Kit lets the use cases decide *what* to say (and unit tests
check it) while the adapter alone knows *how* Slack draws it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cibot.domain.build import Build
from cibot.domain.project import Project


@dataclass(frozen=True, slots=True)
class BuildCard:
    """The one channel message per build: deploying → ready / failed / superseded."""

    project: Project
    build: Build
    superseded_by: Build | None = None
    note: str | None = None  # a passing remark, e.g. "Kubernetes unreachable, retrying"
