"""`POST /slack/events` through the guard and the real Bolt app, on in-memory ports.

The trust tests fuzz the running server with a bounded budget; here many more signed bodies
of every shape go through the same guard, Bolt and listeners in-process: whatever the body,
the answer is never a 5xx.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from cibot.entrypoints.web.slack import SlackGuard, slack_app
from cibot.service.jobs import PublishHome
from tests.support import slack_requests as slack_req
from tests.support.fakes import FakeChat, FakeClock, MemoryStore
from tests.support.slack_bodies import EVENT_FIELDS, FIELDS, bodies, json_values
from tests.support.usecases import PROJECTS

SECRET = "unit-signing-secret"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with serving(MemoryStore()) as test_client:
        yield test_client


@contextmanager
def serving(store: MemoryStore) -> Iterator[TestClient]:
    clock, chat = FakeClock(), FakeChat()
    bolt = slack_app(
        token="xoxb-unit",
        signing_secret=SECRET,
        client=AsyncWebClient(token="xoxb-unit", base_url="http://127.0.0.1:9/api/"),
        store=store,
        clock=clock,
        chat=chat,
        projects=PROJECTS,
    )
    guard = SlackGuard(SECRET, 64 * 1024, bolt)
    app = Starlette(routes=[Route("/slack/events", guard.__call__, methods=["POST"])])
    with TestClient(app) as test_client:
        yield test_client


def test_making_the_slack_app_leaves_the_level_of_ci_bots_own_loggers_alone() -> None:
    """Bolt copies the root logger's level onto its app's logger, named after the app, when
    it first uses it. Named `cibot`, that logger was the parent of every ci-bot logger: used
    while the root was at WARNING, it silenced the job runner's and the rollouts' info lines
    for the rest of the process."""
    ours, root = logging.getLogger("cibot"), logging.getLogger()
    saved = ours.level, root.level
    ours.setLevel(logging.NOTSET)
    root.setLevel(logging.ERROR)
    try:
        with serving(MemoryStore()) as client:
            event = slack_req.app_home_opened("U0QA", event_id="Ev0LEVEL")
            assert send(client, json.dumps(event), "application/json").status_code == 200
        assert (ours.level, ours.disabled) == (logging.NOTSET, False)
    finally:
        ours.setLevel(saved[0])
        root.setLevel(saved[1])


def test_an_app_home_opened_event_queues_one_publish_of_that_persons_home_tab() -> None:
    store = MemoryStore()
    opened = slack_req.app_home_opened("U0QA", event_id="Ev0HOME")
    messages_tab = slack_req.app_home_opened("U0OWNER", event_id="Ev0MSGS", tab="messages")
    with serving(store) as client:
        answers = [send(client, json.dumps(e), "application/json") for e in (opened, opened)]
        answers.append(send(client, json.dumps(messages_tab), "application/json"))

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert store.jobs_of(PublishHome) == [PublishHome("U0QA")], "not for the Messages tab"


def test_slacks_url_check_of_the_events_request_url_gets_its_challenge_back(
    client: TestClient,
) -> None:
    check = {"type": "url_verification", "token": "legacy", "challenge": "c-123"}
    answer = send(client, json.dumps(check), "application/json")
    assert (answer.status_code, answer.json()) == (200, {"challenge": "c-123"})


def send(
    client: TestClient, body: str, content_type: str = "application/x-www-form-urlencoded"
) -> Any:
    headers = {**slack_req.signed_headers(body, SECRET), "content-type": content_type}
    return client.post("/slack/events", content=body.encode(), headers=headers)


def test_a_click_with_a_number_for_its_container_is_a_400_naming_it(client: TestClient) -> None:
    payload = {**slack_req.block_actions("U0QA", "qa_approve", "b1", "D0QA"), "container": 1}
    response = send(client, slack_req.encode(payload))
    assert response.status_code == 400
    assert response.json()["error"].startswith("container")


def test_a_modal_submitted_with_several_response_urls_is_answered(client: TestClient) -> None:
    values = {"reason": {"text": {"type": "plain_text_input", "value": "broken"}}}
    payload = slack_req.view_submission("U0QA", "qa_reject_reason", "b1|C0SHOP", values)
    payload["response_urls"] = [{"response_url": "https://hooks.example/1"}] * 2
    assert send(client, slack_req.encode(payload)).status_code == 200


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=bodies,
    action_id=st.sampled_from(["qa_approve", "qa_reject", "deploy_production", "close_build"]),
    as_json=st.booleans(),
)
def test_no_signed_body_of_any_shape_gets_a_5xx(
    client: TestClient, body: dict[str, Any], action_id: str, as_json: bool
) -> None:
    actions = body.get("actions")
    for action in actions if isinstance(actions, list) else ():
        if isinstance(action, dict) and action.get("action_id") == "":
            action["action_id"] = action_id  # reach our listeners too, not only Bolt's matchers
    if as_json:
        response = send(client, json.dumps(body), "application/json")
    else:
        response = send(client, urlencode({"payload": json.dumps(body)}))
    event(f"answered {response.status_code}")  # --hypothesis-show-statistics: how many got how far
    assert response.status_code < 500, (body, response.text[:200])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    form=st.dictionaries(
        st.sampled_from(["command", "text", "user_id", "channel_id"]), json_values.map(str)
    )
)
def test_no_signed_slash_command_of_any_shape_gets_a_5xx(
    client: TestClient, form: dict[str, str]
) -> None:
    response = send(client, urlencode({"command": "/cibot", **form}))
    assert response.status_code < 500, (form, response.text[:200])


ACTIONS = ["qa_approve", "qa_reject", "deploy_production", "deploy_override", "close_build"]
real_bodies = st.one_of(
    st.builds(
        slack_req.block_actions,
        st.just("U0QA"),
        st.sampled_from(ACTIONS),
        st.text(max_size=8),
        st.just("D0QA"),
    ),
    st.builds(
        slack_req.view_submission,
        st.just("U0QA"),
        st.sampled_from(["qa_reject_reason", "deploy_override_reason"]),
        st.text(max_size=12),
        st.dictionaries(st.text(max_size=6), st.dictionaries(st.text(max_size=6), json_values)),
    ),
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=real_bodies, field=st.sampled_from(FIELDS), junk=json_values)
def test_a_real_click_or_submission_with_one_field_gone_wrong_never_gets_a_5xx(
    client: TestClient, body: dict[str, Any], field: str, junk: Any
) -> None:
    response = send(client, slack_req.encode({**body, field: junk}))
    event(f"answered {response.status_code}")
    assert response.status_code < 500, (field, junk, response.text[:200])


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    where=st.sampled_from(["body", "event"]),
    field=st.sampled_from(sorted({*FIELDS, *EVENT_FIELDS})),
    junk=json_values,
)
def test_an_app_home_opened_event_with_one_field_gone_wrong_never_gets_a_5xx(
    client: TestClient, where: str, field: str, junk: Any
) -> None:
    body = slack_req.app_home_opened("U0QA")
    (body if where == "body" else body["event"])[field] = junk
    response = send(client, json.dumps(body), "application/json")
    event(f"answered {response.status_code}")
    assert response.status_code < 500, (where, field, junk, response.text[:200])
