"""The Slack-facing names of ci-bot's interactive parts: a public contract (DESIGN.md §2).

Button `action_id`s map to the domain's `Action`; a button's `value` is only ever an id: a
build id, or for **Roll back** the id of the production release it undoes.
"""

from __future__ import annotations

from enum import StrEnum

from cibot.domain.review import Action


class ActionId(StrEnum):
    QA_APPROVE = "qa_approve"
    QA_REJECT = "qa_reject"
    DEPLOY_PRODUCTION = "deploy_production"
    DEPLOY_OVERRIDE = "deploy_override"  # opens the modal that asks for the reason
    CLOSE_BUILD = "close_build"
    ROLLBACK_PRODUCTION = "rollback_production"  # its value is a release id, not a build id

    @property
    def action(self) -> Action:
        return _ACTIONS[self]


_ACTIONS = {
    ActionId.QA_APPROVE: Action.APPROVE,
    ActionId.QA_REJECT: Action.REJECT,
    ActionId.DEPLOY_PRODUCTION: Action.DEPLOY,
    ActionId.DEPLOY_OVERRIDE: Action.OVERRIDE,
    ActionId.CLOSE_BUILD: Action.CLOSE,
    ActionId.ROLLBACK_PRODUCTION: Action.ROLLBACK,
}

REJECT_MODAL_CALLBACK = "qa_reject_reason"  # view_submission of the reject-reason modal
REJECT_REASON_BLOCK = "reason"
REJECT_REASON_INPUT = "reason_input"
REASON_MAX = 500
OVERRIDE_MODAL_CALLBACK = "deploy_override_reason"  # view_submission of the override modal
OVERRIDE_REASON_BLOCK = "override_reason"
OVERRIDE_REASON_INPUT = "override_reason_input"
HOME_CALLBACK = "cibot_home"  # the callback_id of every Home tab ci-bot publishes
