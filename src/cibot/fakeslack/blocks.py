"""Block Kit validation, as strict as Slack's own where it matters to us.

Slack rejects a bad message with `invalid_blocks` and a list of errors pointing into the JSON;
a fake that accepted anything would let broken cards reach production. `slack_sdk`'s model
classes know most rules (lengths, required fields), but silently drop unknown keys, turn bare
strings into text objects and do not count blocks, so this module adds those checks on top:
the input is parsed with the models, serialised back, and compared with what was sent.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

JsonDict = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT_CHARS = 40_000

_TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
# Keys whose text object Slack accepts only as plain_text.
_PLAIN_TEXT_ONLY = frozenset({"placeholder", "label", "title", "submit", "close", "deny"})
_MODEL_ERRORS = (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError)


class BlocksError(Exception):
    """Blocks Slack would refuse: `code` is the API error, `errors` the details it lists."""

    def __init__(self, code: str, errors: Sequence[str]) -> None:
        super().__init__(f"{code}: {'; '.join(errors)}")
        self.code = code
        self.errors = list(errors)


def _known_block_types() -> frozenset[str]:
    """The `type`s of all block classes `slack_sdk` defines."""
    found: set[str] = set()
    pending: list[type] = [Block]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        kind = getattr(cls, "type", None)
        if isinstance(kind, str):
            found.add(kind)
    return frozenset(found)


KNOWN_BLOCK_TYPES = _known_block_types()


def decode_json_list(raw: object, name: str) -> list[JsonDict]:
    """A `blocks`/`attachments` argument as a list of objects (form bodies send a JSON string)."""
    value = raw
    if isinstance(raw, str | bytes):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise BlocksError(f"invalid_{name}_format", [f"not valid JSON: {exc}"]) from exc
    if not isinstance(value, list):
        raise BlocksError(f"invalid_{name}_format", [f"{name} must be an array"])
    return value


def decode_json_object(raw: object, name: str) -> JsonDict:
    """A `view`/`metadata` argument as an object (form bodies send a JSON string)."""
    value = raw
    if isinstance(raw, str | bytes):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise BlocksError("invalid_arguments", [f"{name} is not valid JSON: {exc}"]) from exc
    if not isinstance(value, dict):
        raise BlocksError("invalid_arguments", [f"{name} must be an object"])
    return value


def validate_blocks(blocks: Sequence[Any], *, limit: int = MAX_MESSAGE_BLOCKS) -> None:
    """Raises `BlocksError("invalid_blocks", …)` unless Slack would accept these blocks."""
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"no more than {limit} items allowed [json-pointer:/blocks]")
    seen_block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        pointer = f"/blocks/{index}"
        errors.extend(_block_errors(block, pointer))
        block_id = block.get("block_id") if isinstance(block, Mapping) else None
        if isinstance(block_id, str):
            if block_id in seen_block_ids:
                errors.append(f"duplicate block_id {block_id!r} [json-pointer:{pointer}]")
            seen_block_ids.add(block_id)
    if errors:
        raise BlocksError("invalid_blocks", errors)


def validate_view(view: Mapping[str, Any], *, allowed_types: frozenset[str]) -> None:
    """Raises `BlocksError("invalid_arguments", …)` unless Slack would accept this view."""
    kind = view.get("type")
    if kind not in allowed_types:
        expected = " or ".join(sorted(allowed_types))
        raise BlocksError("invalid_arguments", [f"view type must be {expected}, got {kind!r}"])
    if "blocks" not in view:  # every view's page: `blocks` is required
        raise BlocksError(
            "invalid_arguments", ["missing required field: blocks [json-pointer:/view]"]
        )
    blocks = view["blocks"]
    if not isinstance(blocks, list):
        raise BlocksError("invalid_arguments", ["view.blocks must be an array"])
    try:
        validate_blocks(blocks, limit=MAX_VIEW_BLOCKS)
    except BlocksError as exc:
        raise BlocksError("invalid_arguments", exc.errors) from exc
    shell = {k: copy.deepcopy(v) for k, v in view.items() if k != "blocks"}
    try:
        dumped = View(**shell, blocks=[{"type": "divider"}]).to_dict()
    except _MODEL_ERRORS as exc:
        raise BlocksError("invalid_arguments", [f"{exc} [json-pointer:/view]"]) from exc
    errors = list(_shape_errors(shell, dumped, "/view"))
    errors.extend(_plain_text_errors(shell, "/view"))
    if errors:
        raise BlocksError("invalid_arguments", errors)


def with_block_ids(blocks: Sequence[Mapping[str, Any]], seed: str) -> tuple[JsonDict, ...]:
    """Copies of the blocks, each with a `block_id`; Slack invents one where none was given."""
    out: list[JsonDict] = []
    for index, block in enumerate(blocks):
        copied = copy.deepcopy(dict(block))
        if "block_id" not in copied:
            digest = hashlib.sha256(f"{seed}/{index}".encode()).hexdigest()
            copied["block_id"] = digest[:5]
        out.append(copied)
    return tuple(out)


def _block_errors(block: object, pointer: str) -> Iterator[str]:
    if not isinstance(block, Mapping):
        yield f"must be an object [json-pointer:{pointer}]"
        return
    kind = block.get("type")
    if kind not in KNOWN_BLOCK_TYPES:
        yield f"unsupported type: {kind!r} [json-pointer:{pointer}/type]"
        return
    source = copy.deepcopy(dict(block))
    try:
        parsed = Block.parse(copy.deepcopy(source))
        dumped = parsed.to_dict() if parsed is not None else {}
    except _MODEL_ERRORS as exc:
        yield f"{exc} [json-pointer:{pointer}]"
        return
    yield from _shape_errors(source, dumped, pointer)
    yield from _plain_text_errors(source, pointer)
    yield from _duplicate_action_ids(source, pointer)


def _shape_errors(sent: Any, kept: Any, pointer: str) -> Iterator[str]:
    """Differences between what was sent and what the models understood of it."""
    if isinstance(sent, Mapping):
        if not isinstance(kept, Mapping):
            return
        for key, value in sent.items():
            where = f"{pointer}/{key}"
            if value is None:
                yield f"must not be null [json-pointer:{where}]"
            elif key not in kept:
                if value in ("", [], {}):
                    yield f"must not be empty [json-pointer:{where}]"
                else:
                    yield f"unknown property {key!r} [json-pointer:{where}]"
            else:
                yield from _shape_errors(value, kept[key], where)
    elif isinstance(sent, list) and isinstance(kept, list):
        for index, (item, kept_item) in enumerate(zip(sent, kept, strict=False)):
            yield from _shape_errors(item, kept_item, f"{pointer}/{index}")
    elif isinstance(sent, str) and isinstance(kept, Mapping):
        yield f"must be an object, not a string [json-pointer:{pointer}]"


def _plain_text_errors(node: Any, pointer: str) -> Iterator[str]:
    """Text objects that Slack accepts only as plain_text (headers, buttons, labels…)."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _plain_text_errors(item, f"{pointer}/{index}")
        return
    if not isinstance(node, Mapping):
        return
    plain_only = set(_PLAIN_TEXT_ONLY)
    if node.get("type") in ("header", "button"):
        plain_only.add("text")
    if "deny" in node:  # a confirmation dialog: every text in it is plain_text
        # https://docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object
        plain_only.update(("confirm", "text"))
    for key, value in node.items():
        where = f"{pointer}/{key}"
        if key in plain_only and _is_text_object(value) and value.get("type") != "plain_text":
            yield f"must be a plain_text object [json-pointer:{where}]"
        else:
            yield from _plain_text_errors(value, where)


def _is_text_object(value: object) -> bool:
    return isinstance(value, Mapping) and value.get("type") in _TEXT_TYPES


def _duplicate_action_ids(block: Mapping[str, Any], pointer: str) -> Iterator[str]:
    seen: set[str] = set()
    elements = list(block.get("elements", ()))
    if isinstance(block.get("accessory"), Mapping):
        elements.append(block["accessory"])
    for element in elements:
        action_id = element.get("action_id") if isinstance(element, Mapping) else None
        if not isinstance(action_id, str):
            continue
        if action_id in seen:
            yield f"duplicate action_id {action_id!r} [json-pointer:{pointer}]"
        seen.add(action_id)
