"""The Slack-facing names of ci-bot's interactive parts: a public contract (DESIGN.md §2).

Button `action_id`s map to the domain's `Action`; a button's `value` is only ever a build id.
"""

from __future__ import annotations

from enum import StrEnum

from cibot.domain.review import Action


class ActionId(StrEnum):
    QA_APPROVE = "qa_approve"
    QA_REJECT = "qa_reject"
    DEPLOY_PRODUCTION = "deploy_production"
    CLOSE_BUILD = "close_build"

    @property
    def action(self) -> Action:
        return _ACTIONS[self]


_ACTIONS = {
    ActionId.QA_APPROVE: Action.APPROVE,
    ActionId.QA_REJECT: Action.REJECT,
    ActionId.DEPLOY_PRODUCTION: Action.DEPLOY,
    ActionId.CLOSE_BUILD: Action.CLOSE,
}

REJECT_MODAL_CALLBACK = "qa_reject_reason"  # view_submission of the reject-reason modal
REJECT_REASON_BLOCK = "reason"
REJECT_REASON_INPUT = "reason_input"
REASON_MAX = 500
