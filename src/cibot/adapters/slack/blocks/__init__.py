"""Block Kit for each view ci-bot shows, built with slack_sdk's models: view in, JSON out.

One module per kind of message: `card` (the channel card), `review` (owner and QA DMs and
the replies under them), `production` (the channel's production and freeze
announcements), `history` (`/cibot history`), `notice` (a short answer to one person),
`modals` and `home` (the Home tab); `lines` and `parts` hold what they share.

`render` dispatches on the view's type with a `match` that ends in `assert_never`: a view
added to `MessageView` without a renderer here is a mypy error, not a `TypeError` at run
time. The JSON is the models' `to_dict()`, so the SDK checks each block's shape as it goes.
"""

from __future__ import annotations

from typing import Any

from cibot.adapters.slack.blocks.card import card
from cibot.adapters.slack.blocks.history import history
from cibot.adapters.slack.blocks.home import home_view
from cibot.adapters.slack.blocks.lines import mention
from cibot.adapters.slack.blocks.modals import modal, override_modal, reject_modal
from cibot.adapters.slack.blocks.notice import notice
from cibot.adapters.slack.blocks.parts import FALLBACK_LIMIT, Message, unrenderable
from cibot.adapters.slack.blocks.production import freeze_notice, production_notice
from cibot.adapters.slack.blocks.review import (
    idle_warning,
    owner_dm,
    qa_dm,
    review_reminder,
    verdict_reply,
)
from cibot.service.views import (
    BuildCard,
    FreezeNotice,
    History,
    IdleWarning,
    MessageView,
    Notice,
    OwnerDM,
    ProductionNotice,
    QaDM,
    ReviewReminder,
    VerdictReply,
)

__all__ = [
    "FALLBACK_LIMIT",
    "home_view",
    "mention",
    "message",
    "modal",
    "override_modal",
    "reject_modal",
    "render",
]

Blocks = list[dict[str, Any]]


def render(view: MessageView) -> tuple[str, Blocks]:
    """The fallback text and the blocks of a message, as `chat.postMessage` takes them."""
    text, blocks = message(view)
    return text, [block.to_dict() for block in blocks]


def message(view: MessageView) -> Message:  # noqa: PLR0911 - one renderer per view kind
    """The message for `view`, as slack_sdk's block models."""
    match view:
        case BuildCard():
            return card(view)
        case OwnerDM():
            return owner_dm(view)
        case QaDM():
            return qa_dm(view)
        case VerdictReply():
            return verdict_reply(view)
        case IdleWarning():
            return idle_warning(view)
        case ReviewReminder():
            return review_reminder(view)
        case ProductionNotice():
            return production_notice(view)
        case FreezeNotice():
            return freeze_notice(view)
        case Notice():
            return notice(view)
        case History():
            return history(view)
        case _:
            raise unrenderable(view)
