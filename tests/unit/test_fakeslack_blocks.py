"""The fake Slack's Block Kit checks and readers, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from cibot.fakeslack import (
    BlocksError,
    Fault,
    FaultKind,
    FaultPlan,
    Message,
    buttons,
    parse_seed,
    validate_blocks,
    validate_view,
    visible_text,
)

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Build 42* is ready"}}


def _button(action_id: str, label: str) -> dict[str, Any]:
    text = {"type": "plain_text", "text": label}
    return {"type": "button", "action_id": action_id, "value": "42", "text": text}


def test_blocks_ci_bot_sends_are_accepted() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "New build"}},
        SECTION,
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Image*\nshop:1"}]},
        {"type": "actions", "elements": [_button("qa_approve", "Approve")]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "by <@U1>"}]},
        {"type": "divider"},
    ]
    validate_blocks(blocks)


@pytest.mark.parametrize(
    "block",
    [
        {"type": "section"},
        {"type": "section", "text": {"type": "mrkdwn", "text": ""}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "accessory": None},
        {"type": "actions", "elements": [_button("same", "A"), _button("same", "B")]},
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}},
    ],
    ids=["no-text-or-fields", "empty-text", "null-property", "duplicate-action-id", "long-header"],
)
def test_blocks_slack_would_refuse_are_refused(block: dict[str, Any]) -> None:
    with pytest.raises(BlocksError) as excinfo:
        validate_blocks([block])
    assert excinfo.value.code == "invalid_blocks"
    assert all("[json-pointer:/blocks" in error for error in excinfo.value.errors)


def test_two_blocks_with_the_same_block_id_are_refused() -> None:
    with pytest.raises(BlocksError, match="duplicate block_id"):
        validate_blocks([{**SECTION, "block_id": "b"}, {**SECTION, "block_id": "b"}])


def test_a_modal_must_be_a_modal_and_a_home_tab_a_home_tab() -> None:
    home = {"type": "home", "blocks": [SECTION]}
    validate_view(home, allowed_types=frozenset({"home"}))
    with pytest.raises(BlocksError, match="view type must be modal"):
        validate_view(home, allowed_types=frozenset({"modal"}))


def test_visible_text_shows_the_blocks_and_not_the_fallback_text() -> None:
    message = Message(
        channel="D1",
        ts="1.000001",
        user="U0",
        text="fallback",
        blocks=(SECTION, {"type": "actions", "elements": [_button("qa_approve", "Approve")]}),
    )
    assert message.visible_text == "*Build 42* is ready\nApprove"
    assert visible_text({"text": "only text"}) == "only text"


def test_buttons_lists_action_ids_values_and_labels_in_reading_order() -> None:
    accessory = {**SECTION, "accessory": _button("close_build", "Close")}
    actions = {"type": "actions", "elements": [_button("deploy_production", "Deploy")]}
    found = buttons([accessory, actions])
    assert [(b.action_id, b.value, b.text) for b in found] == [
        ("close_build", "42", "Close"),
        ("deploy_production", "42", "Deploy"),
    ]


def test_rich_text_reads_as_its_text_with_mentions() -> None:
    rich = {
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [{"type": "user", "user_id": "U1"}, {"type": "text", "text": " ok"}],
            }
        ],
    }
    assert visible_text([rich]) == "<@U1> ok"


def test_a_fault_is_used_up_call_by_call_and_only_by_its_method() -> None:
    plan = FaultPlan()
    plan.rate_limit(2, method="chat.update")

    assert plan.take("chat.postMessage") is None
    first, second, third = (plan.take("chat.update") for _ in range(3))
    assert first is not None
    assert first.kind is FaultKind.RATE_LIMIT
    assert second is not None
    assert third is None


def test_a_fault_that_cannot_be_served_is_refused() -> None:
    with pytest.raises(ValueError, match="5xx"):
        Fault.from_json({"kind": "server_error", "status": 404})


def test_a_seed_names_its_unknown_keys() -> None:
    seed = parse_seed({"team_id": "T1", "tokens": ["a"], "users": [{"id": "U1", "name": "u"}]})
    assert seed.config.team_id == "T1"
    assert seed.config.tokens == frozenset({"a"})
    with pytest.raises(ValueError, match="usres"):
        parse_seed({"usres": []})
