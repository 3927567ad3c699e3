"""What a person would see in a message: its text as rendered, and its buttons.

Slack shows a message's blocks, not its `text` (that is only the notification fallback), so
tests that assert "the DM says Approved and has no buttons" need the blocks flattened the way a
reader sees them. Works on records and on plain JSON dicts alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class HasBlocks(Protocol):
    """Anything shown as a message: a fallback text and Block Kit blocks."""

    @property
    def text(self) -> str: ...

    @property
    def blocks(self) -> Sequence[Mapping[str, Any]]: ...


Shown = HasBlocks | Mapping[str, Any] | Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Button:
    """A button as a reader sees it and as a click would report it."""

    action_id: str | None
    value: str | None
    text: str
    style: str | None = None
    url: str | None = None
    block_id: str | None = None


def visible_text(shown: Shown) -> str:
    """The message as read on screen: block texts one per line, or the text without blocks."""
    text, blocks = _text_and_blocks(shown)
    if not blocks:
        return text
    return "\n".join(line for block in blocks for line in _block_lines(block) if line)


def buttons(shown: Shown) -> list[Button]:
    """Every button of the message, in reading order (section accessories and actions)."""
    _, blocks = _text_and_blocks(shown)
    found: list[Button] = []
    for block in blocks:
        block_id = block.get("block_id")
        for element in _interactive_elements(block):
            if element.get("type") == "button":
                found.append(_button(element, block_id))
    return found


def _text_and_blocks(shown: Shown) -> tuple[str, Sequence[Mapping[str, Any]]]:
    if isinstance(shown, Mapping):
        return str(shown.get("text") or ""), list(shown.get("blocks") or ())
    if isinstance(shown, Sequence):
        return "", shown
    return shown.text, shown.blocks


def _button(element: Mapping[str, Any], block_id: str | None) -> Button:
    return Button(
        action_id=element.get("action_id"),
        value=element.get("value"),
        text=_text_of(element.get("text")),
        style=element.get("style"),
        url=element.get("url"),
        block_id=block_id,
    )


def _interactive_elements(block: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    accessory = block.get("accessory")
    if isinstance(accessory, Mapping):
        yield accessory
    if block.get("type") == "actions":
        yield from (e for e in block.get("elements", ()) if isinstance(e, Mapping))


def _text_of(obj: Any) -> str:
    """The text of a text object (`{"type": "plain_text", "text": …}`) or of a bare string."""
    if isinstance(obj, Mapping):
        return str(obj.get("text") or "")
    if isinstance(obj, str):
        return obj
    return ""


def _block_lines(block: Mapping[str, Any]) -> Iterator[str]:
    kind = block.get("type")
    if kind in ("section", "header", "markdown"):
        yield _text_of(block.get("text"))
        yield from (_text_of(f) for f in block.get("fields", ()))
    elif kind == "context":
        yield " ".join(
            _text_of(e) for e in block.get("elements", ()) if e.get("type") != "image"
        ).strip()
    elif kind == "input":
        yield _text_of(block.get("label"))
    elif kind == "rich_text":
        yield "".join(_rich_text(block.get("elements", ()))).strip()
    for element in _interactive_elements(block):
        if element.get("type") == "button":
            yield _text_of(element.get("text"))


def _rich_text(elements: Sequence[Any]) -> Iterator[str]:
    for element in elements:
        if not isinstance(element, Mapping):
            continue
        kind = element.get("type")
        if kind in ("text", "link"):
            yield str(element.get("text") or element.get("url") or "")
        elif kind == "user":
            yield f"<@{element.get('user_id')}>"
        elif kind == "channel":
            yield f"<#{element.get('channel_id')}>"
        elif kind == "emoji":
            yield f":{element.get('name')}:"
        elif "elements" in element:
            yield from _rich_text(element["elements"])
            if kind in ("rich_text_section", "rich_text_preformatted", "rich_text_quote"):
                yield "\n"
