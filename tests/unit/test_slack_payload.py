"""Checking a signed Slack body's shape before Bolt and the listeners read it (no 5xx, T13)."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context

from cibot.entrypoints.web.slack_payload import MalformedPayload, of, parse
from tests.support import slack_requests as slack_req
from tests.support.slack_bodies import EVENT_FIELDS, FIELDS, bodies, json_values

FORM = "application/x-www-form-urlencoded"
HOME_OPENED = {"type": "app_home_opened", "user": "U0QA1", "channel": "D0QA1", "tab": "home"}


def form(payload: object) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_the_payloads_slack_sends_are_read_as_slack_means_them() -> None:
    click = parse(form(slack_req.block_actions("U0QA1", "qa_approve", "b1", "D0QA1")), FORM)
    assert (click.user_of, click.channel_of, click.team_of) == ("U0QA1", "D0QA1", slack_req.TEAM)
    assert (click.pressed.action_id, click.pressed.value) == ("qa_approve", "b1")

    values = {"reason": {"text": {"type": "plain_text_input", "value": "  broken  "}}}
    submission = slack_req.view_submission("U0QA1", "qa_reject_reason", "b1|C0DEPLOYS", values)
    assert parse(form(submission), FORM).submitted("reason", "text") == (
        "b1",
        "C0DEPLOYS",
        "broken",
    )

    command = slack_req.slash_command("U0OWNER1", "freeze shop", "C0DEPLOYS")
    read = parse(urlencode(command).encode(), f"{FORM}; charset=utf-8")
    assert (read.user_of, read.channel_of, read.text) == ("U0OWNER1", "C0DEPLOYS", "freeze shop")


def test_a_click_in_a_modal_has_its_channel_from_nowhere_and_that_is_fine() -> None:
    click = slack_req.block_actions("U0QA1", "qa_approve", "b1", "D0QA1")
    del click["channel"]
    click["container"] = {"type": "view", "view_id": "V1"}
    assert parse(form(click), FORM).channel_of is None


def test_an_app_home_opened_event_is_read_as_slack_sends_it() -> None:
    event = slack_req.app_home_opened("U0QA1", event_id="Ev0HOME001")
    read = parse(json.dumps(event).encode(), "application/json")
    assert (read.type, read.event_id) == ("event_callback", "Ev0HOME001")
    assert read.team_of == slack_req.TEAM
    assert read.event is not None
    assert (read.event.type, read.event.user) == ("app_home_opened", "U0QA1")
    assert read.event.tab == "home"


def test_a_click_on_the_home_tab_is_answered_in_the_persons_dm_and_one_in_a_dm_there() -> None:
    home = {"id": "V0HOME", "type": "home", "callback_id": "cibot_home", "blocks": []}
    on_home = parse(form(slack_req.home_click("U0QA1", "qa_approve", "b1", home)), FORM)
    in_dm = parse(form(slack_req.block_actions("U0QA1", "qa_approve", "b1", "D0QA1")), FORM)
    assert (on_home.channel_of, on_home.answer_to) == (None, "U0QA1")
    assert in_dm.answer_to == "D0QA1"


def test_an_org_wide_install_sends_a_null_team_and_names_it_elsewhere() -> None:
    click = {**slack_req.block_actions("U0QA1", "qa_approve", "b1", "D0QA1"), "team": None}
    assert parse(form(click), FORM).team_of is None


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"type": "block_actions", "container": 1, "actions": [{"action_id": "x"}]}, "container"),
        ({"type": "block_actions", "team": [1], "actions": [{"action_id": "x"}]}, "team"),
        ({"type": "block_actions", "user": {"id": 7}, "actions": [{"action_id": "x"}]}, "user"),
        ({"type": "block_actions", "actions": [{"value": "b1"}]}, "actions.0.action_id"),
        ({"type": "block_actions", "actions": [{"action_id": "x", "value": 5}]}, "actions.0"),
        ({"type": "block_actions", "actions": []}, "block_actions without actions"),
        ({"type": "view_submission"}, "view_submission without a modal view"),
        (
            {"type": "view_submission", "view": {"type": "workflow_step", "callback_id": "c"}},
            "modal",
        ),
        ({"type": "shortcut", "callback_id": "c"}, "does not handle 'shortcut'"),
        ({"type": "view_submission", "view": {"type": "modal"}}, "view.callback_id"),
        (
            {"type": "view_submission", "view": {"callback_id": "c", "type": "modal", "state": 3}},
            "view.state",
        ),
        ({"type": "url_verification", "authorizations": 5}, "authorizations"),
        ({"type": "event_callback", "event_id": "Ev1"}, "event_callback without an event"),
        (
            {"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention"}},
            "does not handle 'app_mention' events",
        ),
        ({"type": "event_callback", "event_id": "Ev1", "event": {"user": "U1"}}, "event.type"),
        ({"type": "event_callback", "event": HOME_OPENED}, "event_callback without an event_id"),
        (
            {"type": "event_callback", "event_id": "Ev1", "event": {**HOME_OPENED, "user": 5}},
            "event.user",
        ),
        (
            {"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_home_opened"}},
            "app_home_opened without a user",
        ),
        (
            {"type": "event_callback", "event_id": "Ev1", "event": {**HOME_OPENED, "channel": {}}},
            "app_home_opened without a channel",
        ),
        ({"type": "event_callback", "event_id": "E" * 40, "event": HOME_OPENED}, "event_id"),
        (
            {"type": "event_callback", "event_id": "Ev1", "event": {**HOME_OPENED, "tab": 1}},
            "event.tab",
        ),
        ({"event": "app_mention"}, "event"),
        ({"view": None}, "view is null"),
        ({"type": "block_actions", "response_urls": [1], "actions": [{"action_id": "x"}]}, "0"),
    ],
)
def test_a_body_of_another_shape_is_refused_naming_the_field(
    payload: dict[str, Any], named: str
) -> None:
    with pytest.raises(MalformedPayload, match=named):
        parse(form(payload), FORM)


@pytest.mark.parametrize(
    ("raw", "content_type", "problem"),
    [
        (b"\xff\xfe", FORM, "not UTF-8"),
        (b"payload=%7Bnot-json", FORM, "not JSON"),
        (b"[1, 2]", "application/json", "not a JSON object"),
        (b"{" * 100_000, "application/json", "not JSON"),
        (urlencode({"payload": "[" * 50_000 + "]" * 50_000}).encode(), FORM, "not JSON"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    raw: bytes, content_type: str, problem: str
) -> None:
    with pytest.raises(MalformedPayload, match=problem):
        parse(raw, content_type)


@settings(max_examples=400, deadline=None)
@given(body=bodies)
def test_whatever_passes_the_check_bolt_and_the_listeners_read_without_raising(
    body: dict[str, Any],
) -> None:
    try:
        payload = of(body)
    except MalformedPayload:
        return
    # What Bolt does with every request (the guard hands it its logger: see `_bolt_request`)
    build_async_context(AsyncBoltContext({"logger": logging.getLogger("bolt")}), body)
    assert isinstance(payload.user_of, str)
    assert payload.channel_of is None or isinstance(payload.channel_of, str)
    assert payload.team_of is None or isinstance(payload.team_of, str)
    payload.submitted("reason", "text")
    if payload.type == "block_actions":
        assert isinstance(payload.pressed.action_id, str)


@settings(max_examples=300, deadline=None)
@given(
    where=st.sampled_from(["body", "event"]),
    field=st.sampled_from(sorted({*FIELDS, *EVENT_FIELDS})),
    junk=json_values,
)
def test_an_app_home_opened_event_with_one_field_gone_wrong_is_refused_or_read_safely(
    where: str, field: str, junk: Any
) -> None:
    body = slack_req.app_home_opened("U0QA1")
    (body if where == "body" else body["event"])[field] = junk
    try:
        payload = of(body)
    except MalformedPayload:
        return
    build_async_context(AsyncBoltContext({"logger": logging.getLogger("bolt")}), body)
    assert isinstance(payload.user_of, str)
    if payload.type == "event_callback":
        assert payload.event is not None
        assert isinstance(payload.event.user, str)
