"""Closing a build: by an owner's click, or by ci-bot itself (an idle preview, a deleted branch).

One way to close, whoever does it: a compare-and-set to CLOSED, a CLOSE decision naming
who (and why, when ci-bot did it), an audit row, and the redraw of the card and every DM,
all in the caller's transaction. Removing the preview's objects is the caller's to queue:
an owner's close removes the build's environment, a deleted branch the branch's.
"""

from __future__ import annotations

from datetime import datetime

from cibot.domain.build import Build, BuildState, still_applies
from cibot.domain.review import Action, Decision
from cibot.service.audit import AuditAction
from cibot.service.jobs import SyncBuildCard, SyncReviewDMs
from cibot.service.ports import AuditEvent, Transaction

CIBOT = "cibot"  # the actor of what ci-bot decides by itself


async def close(
    tx: Transaction,
    now: datetime,
    build: Build,
    *,
    actor: str,
    note: str | None = None,
    action: AuditAction = AuditAction.BUILD_CLOSED,
) -> bool:
    """Close `build` as read; False (and nothing written) when someone else decided meanwhile.

    A deploy job moving it on (accepted → deploying → ready) does not stop the close.
    `note` says why ci-bot closed it; it becomes the build's reason, shown on its card.
    """
    current = await tx.builds.lock(build.id)
    if current is None or not still_applies(build.state, current.state):
        return False
    changes = {"reason": note} if note is not None else {}
    if not await tx.builds.move(current, current.moved_to(BuildState.CLOSED, now, **changes)):
        return False
    await tx.reviews.add_decision(Decision(build.id, Action.CLOSE, actor, now, note=note))
    detail = {"reason": note} if note is not None else None
    await tx.audit.append(AuditEvent(now, action, build.project_id, build.id, actor, detail))
    await tx.jobs.enqueue(SyncReviewDMs(build.id))
    await tx.jobs.enqueue(SyncBuildCard(build.id))
    return True
