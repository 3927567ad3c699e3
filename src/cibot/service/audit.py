"""The vocabulary of the audit trail: every action ci-bot records, in one place.

A `StrEnum`, so the stored strings (and what `cibot audit` prints) are the values below,
unchanged; a new kind of event is a new member here, never a string made up at a call site.
"""

from __future__ import annotations

from enum import StrEnum

from cibot.domain.review import Outcome
from cibot.domain.verdicts import Verdict


class AuditAction(StrEnum):
    # CI's webhooks and what became of their builds
    BUILD_ACCEPTED = "build.accepted"
    BUILD_STALE = "build.stale"  # a newer build number of the target arrived first
    BUILD_REPEATED = "build.repeated"  # CI sent a live build again under a new webhook id
    BUILD_REFUSED = "build.refused"  # a signed request refused (bad field, image not allowed)
    BUILD_SUPERSEDED = "build.superseded"
    BUILD_CLOSED = "build.closed"
    BRANCH_DELETED = "branch.deleted"
    AUTHOR_RESOLVED = "author.resolved"
    # the preview environment
    PREVIEW_READY = "preview.ready"
    PREVIEW_FAILED = "preview.failed"
    PREVIEW_IDLE_WARNING = "preview.idle_warning"
    PREVIEW_REMOVED = "preview.removed"
    # review
    VERDICT_APPROVED = "verdict.approved"
    VERDICT_REJECTED = "verdict.rejected"
    REVIEW_EXPIRED = "review.expired"
    CLICK_DENIED = "click.denied"  # the clicker may not do this
    CLICK_IGNORED = "click.ignored"  # it no longer applies (decided meanwhile, given twice)
    COMMAND_DENIED = "command.denied"
    # production
    PRODUCTION_REQUESTED = "production.requested"
    PRODUCTION_OVERRIDE = "production.override"  # requested without the quorum, with a reason
    PRODUCTION_DEPLOYED = "production.deployed"
    PRODUCTION_FAILED = "production.failed"
    PRODUCTION_FROZEN = "production.frozen"
    PRODUCTION_UNFROZEN = "production.unfrozen"
    ROLLBACK_REQUESTED = "rollback.requested"
    ROLLBACK_DEPLOYED = "rollback.deployed"
    ROLLBACK_FAILED = "rollback.failed"
    # housekeeping
    RETENTION_PRUNED = "retention.pruned"


VERDICT_GIVEN = {
    Verdict.APPROVED: AuditAction.VERDICT_APPROVED,
    Verdict.REJECTED: AuditAction.VERDICT_REJECTED,
}

# (is it a rollback, how it ended) -> what the trail says
SETTLED = {
    (False, Outcome.DEPLOYED): AuditAction.PRODUCTION_DEPLOYED,
    (False, Outcome.FAILED): AuditAction.PRODUCTION_FAILED,
    (True, Outcome.DEPLOYED): AuditAction.ROLLBACK_DEPLOYED,
    (True, Outcome.FAILED): AuditAction.ROLLBACK_FAILED,
}


def read_action(stored: str) -> AuditAction | str:
    """A stored action as the vocabulary's member; one this version does not know (a newer
    ci-bot wrote it during a rolling update) is kept as it was stored, not refused."""
    try:
        return AuditAction(stored)
    except ValueError:
        return stored


def audit_action(action: object) -> AuditAction:
    """`action` if it is one of the vocabulary's; a free string (even a known one) is refused,
    so a typo or a made-up action fails where it is written, not in someone's audit query."""
    if not isinstance(action, AuditAction):
        raise TypeError(f"audit action {action!r} is not an AuditAction")
    return action
