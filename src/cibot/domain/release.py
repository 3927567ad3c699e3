"""What production runs: a history of releases per project, newest last.

A release is written when a production deploy (a promotion, an override or a rollback)
has rolled out. The newest is what runs now; the one before it is what **Roll back** goes
back to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ReleaseKind(StrEnum):
    PROMOTION = "promotion"  # an approved build, by an owner
    OVERRIDE = "override"  # an owner deployed without the quorum, with a reason
    ROLLBACK = "rollback"  # an owner went back to the release before the current one


@dataclass(frozen=True, slots=True)
class Release:
    project_id: str
    build_id: str
    image: str  # repository@sha256:… as production runs it
    digest: str
    kind: ReleaseKind
    actor: str
    at: datetime
    decision_id: int | None = None
    rolled_back_from: int | None = None  # ROLLBACK: the release it replaced
    id: int | None = None  # set by the store; grows with time


def pinned(image: str, digest: str) -> str:
    """`repository@sha256:…`: the image reference without its tag, pinned to `digest`."""
    repository = image.split("@", 1)[0]
    if repository.rfind(":") > repository.rfind("/"):
        repository = repository[: repository.rfind(":")]
    return f"{repository}@{digest}"
