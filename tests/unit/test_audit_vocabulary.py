"""The audit vocabulary's strings are stored and printed: they must never change."""

from __future__ import annotations

from cibot.service.audit import AuditAction

STORED = {
    "author.resolved", "branch.deleted", "build.accepted", "build.closed", "build.refused",
    "build.repeated", "build.stale", "build.superseded", "click.denied", "click.ignored",
    "command.denied", "preview.failed", "preview.idle_warning", "preview.ready",
    "preview.removed", "production.deployed", "production.failed", "production.frozen",
    "production.override", "production.requested", "production.unfrozen", "retention.pruned",
    "review.expired", "rollback.deployed", "rollback.failed", "rollback.requested",
    "verdict.approved", "verdict.rejected",
}  # fmt: skip


def test_every_action_keeps_the_string_rows_already_hold() -> None:
    assert {str(action) for action in AuditAction} == STORED
