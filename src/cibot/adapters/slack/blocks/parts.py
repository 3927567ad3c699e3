"""The Block Kit pieces every message is made of, as slack_sdk's models.

Each helper builds a model (`SectionBlock`, `ButtonElement`, …) rather than a dict, so the
SDK checks what Slack checks of its shape when it is turned into JSON (`to_dict`); the text
that goes in is cut here first to the sizes Slack takes, so that check never fails on text
that came from outside.
"""

from __future__ import annotations

from typing import Never

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from cibot.adapters.slack.actions import ActionId
from cibot.adapters.slack.text import escape, truncate

SECTION_LIMIT = 3000
FALLBACK_LIMIT = 300  # notification text: a short summary, the blocks carry the rest
CONFIRM_TEXT_LIMIT = 300
HEADER_LIMIT = 150

Message = tuple[str, list[Block]]  # the fallback text and the blocks of one message


def unrenderable(view: Never) -> TypeError:
    """`assert_never` with our own error, for the last `case` of a dispatch on a view union:
    mypy refuses the call wherever a view can reach it, that is, a view type in the union
    that no `case` before it renders."""
    return TypeError(f"no Block Kit renderer for {type(view).__name__}")


def fallback(text: str) -> str:
    return truncate(text, FALLBACK_LIMIT)


def section(markdown: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(markdown, SECTION_LIMIT)))


def context(*parts: str) -> ContextBlock:
    """A context line of mrkdwn parts; the empty ones are left out."""
    elements = [MarkdownTextObject(text=truncate(p, SECTION_LIMIT)) for p in parts if p]
    return ContextBlock(elements=elements)


def plain(text: str) -> PlainTextObject:
    """plain_text without the SDK's `emoji: true` default for strings: as Slack's default."""
    return PlainTextObject(text=text)


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=plain(truncate(escape(text), HEADER_LIMIT)))


def divider() -> DividerBlock:
    return DividerBlock()


def confirm(title: str, words: str, ok: str, *, danger: bool = False) -> ConfirmObject:
    """A confirmation dialog: every text in it is plain_text, as Slack requires
    (https://docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object);
    Slack's `&`, `<`, `>` escaping applies to plain text too, so outside text is `escape`d."""
    return ConfirmObject(
        title=plain(title),
        text=plain(truncate(words, CONFIRM_TEXT_LIMIT)),
        confirm=plain(ok),
        deny=plain("Cancel"),
        style="danger" if danger else None,
    )


def button(
    label: str,
    action: ActionId,
    value: str,
    style: str | None = None,
    confirmation: ConfirmObject | None = None,
) -> ButtonElement:
    """A button whose value is only ever an id (DESIGN §2): never state to trust."""
    return ButtonElement(
        text=plain(label), action_id=action.value, value=value, style=style, confirm=confirmation
    )


def actions(*elements: ButtonElement) -> ActionsBlock:
    return ActionsBlock(elements=list(elements))
