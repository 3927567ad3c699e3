"""T20: a workspace shape the bot did not expect. Team and app are resolved as Bolt resolves
them (org-wide installs, Enterprise Grid, Slack Connect), and real payloads captured from
Slack (tests/support/captured.py, each with its source) are answered as Slack expects.

The guard, the real Bolt app and ci-bot's listeners run in-process on in-memory ports, each
configured for the installation the payload came to (`slack.team_id`, `slack.app_id`). A
click or a submission is answered 200 and reaches the listener (an audit row names the
user); a slash command gets its ephemeral answer; `ssl_check` an empty 200 (Bolt answers it
before any signature); `url_verification` its challenge. The same payload for another
installation is still refused (T3). Before: an org-wide install (`team` null), a Slack
Connect modal (the user's team is not the installing team), an old slash command (no
`api_app_id`) and `ssl_check` were all refused with 401.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from cibot.domain.project import Project
from cibot.entrypoints.web.slack import SlackGuard, slack_app
from tests.support import captured
from tests.support import slack_requests as slack_req
from tests.support.fakes import FakeChat, FakeClock, MemoryStore

SECRET = "t20-signing-secret"


def serving(team_id: str | None, app_id: str | None, user: str, channel: str) -> Any:
    store = MemoryStore()
    project = Project(
        id="shop",
        name="Shop",
        url="https://shop.example.com",
        channel=channel,
        qa=frozenset({user}),
        owners=frozenset({user}),
        namespace="shop",
    )
    bolt = slack_app(
        token="xoxb-t20",
        signing_secret=SECRET,
        client=AsyncWebClient(token="xoxb-t20", base_url="http://127.0.0.1:9/api/"),
        store=store,
        clock=FakeClock(),
        chat=FakeChat(),
        projects={project.id: project},
        team_id=team_id,
        app_id=app_id,
    )
    guard = SlackGuard(SECRET, 64 * 1024, bolt)
    app = Starlette(routes=[Route("/slack/events", guard.__call__, methods=["POST"])])
    return TestClient(app), store


def send(client: TestClient, body: str, content_type: str, *, signed: bool = True) -> Any:
    headers = slack_req.signed_headers(body, SECRET) if signed else {}
    headers["content-type"] = content_type
    return client.post("/slack/events", content=body.encode(), headers=headers)


def as_click(payload: dict[str, Any]) -> str:
    """The captured payload, its button swapped for ci-bot's Approve (every field kept)."""
    action = {**payload["actions"][0], "action_id": "qa_approve", "value": "b-unknown"}
    return urlencode({"payload": json.dumps({**payload, "actions": [action]})})


def as_submission(payload: dict[str, Any]) -> str:
    view = {**payload["view"], "callback_id": "qa_reject_reason", "private_metadata": "b-1|C0"}
    return urlencode({"payload": json.dumps({**payload, "view": view})})


CLICKS = [
    # (captured payload, installation it came to: team (or org) id, app id)
    pytest.param(captured.BLOCK_ACTIONS_IN_A_CHANNEL, "T9TK3CUKW", "AABA1ABCD", id="channel"),
    pytest.param(captured.BLOCK_ACTIONS_IN_A_DM, "T03E94MJU", "A065ZJM410S", id="dm"),
    pytest.param(
        captured.BLOCK_ACTIONS_ON_AN_EPHEMERAL_ORG_WIDE, "E111", "A111", id="ephemeral-org-wide"
    ),
]
SUBMISSIONS = [
    pytest.param(captured.VIEW_SUBMISSION_ENTERPRISE_GRID, "T111", "A111", id="enterprise-grid"),
    pytest.param(
        captured.VIEW_SUBMISSION_SLACK_CONNECT, "T-installed-workspace", "A1111", id="slack-connect"
    ),
    pytest.param(captured.VIEW_SUBMISSION_ORG_WIDE, "E111", "A111", id="org-wide"),
]


def _user_and_channel(payload: dict[str, Any]) -> tuple[str, str]:
    channel = (payload.get("channel") or {}).get("id") or "C0NONE"
    return payload["user"]["id"], channel


@pytest.mark.parametrize(("payload", "team", "app"), CLICKS)
def test_T20_a_captured_click_of_each_shape_is_answered_and_reaches_the_listener(
    payload: dict[str, Any], team: str, app: str
) -> None:
    user, channel = _user_and_channel(payload)
    client, store = serving(team, app, user, channel)
    foreign, _ = serving("T0SOMEONEELSE", app, user, channel)

    answer = send(client, as_click(payload), "application/x-www-form-urlencoded")
    refused = send(foreign, as_click(payload), "application/x-www-form-urlencoded")

    assert answer.status_code == 200, answer.text
    assert [e.actor for e in store.state.audit] == [user]
    assert refused.status_code == 401


@pytest.mark.parametrize(("payload", "team", "app"), SUBMISSIONS)
def test_T20_a_captured_modal_submission_of_each_shape_is_answered_and_reaches_the_listener(
    payload: dict[str, Any], team: str, app: str
) -> None:
    user = payload["user"]["id"]
    client, store = serving(team, app, user, "C0")
    foreign, _ = serving("T0SOMEONEELSE", app, user, "C0")

    answer = send(client, as_submission(payload), "application/x-www-form-urlencoded")
    refused = send(foreign, as_submission(payload), "application/x-www-form-urlencoded")

    assert answer.status_code == 200, answer.text
    assert answer.text == ""  # an ack with no errors: Slack closes the modal
    assert [e.actor for e in store.state.audit] == [user]
    assert refused.status_code == 401


@pytest.mark.parametrize(
    ("form", "team", "app"),
    [
        pytest.param(captured.SLASH_COMMAND_OLD, "T1DC2JH3J", "A0OURS", id="old-no-api-app-id"),
        pytest.param(captured.SLASH_COMMAND_NEW, "T111", "A111", id="new"),
        pytest.param(captured.SLASH_COMMAND_ORG_WIDE, "E111", "A111", id="org-wide"),
    ],
)
def test_T20_a_captured_slash_command_old_or_new_gets_its_ephemeral_answer(
    form: str, team: str, app: str
) -> None:
    fields = dict(parse_qsl(form, keep_blank_values=True))
    client, _ = serving(team, app, fields["user_id"], fields["channel_id"])
    body = urlencode({**fields, "command": "/cibot", "text": "help"})

    answer = send(client, body, "application/x-www-form-urlencoded")

    assert answer.status_code == 200, answer.text
    assert answer.json()["response_type"] == "ephemeral"


def test_T20_ssl_check_is_answered_200_with_an_empty_body_and_changes_nothing() -> None:
    client, store = serving("T0ANY", "A0ANY", "U0ANY", "C0ANY")

    signed = send(client, captured.SSL_CHECK, "application/x-www-form-urlencoded")
    unsigned = send(client, captured.SSL_CHECK, "application/x-www-form-urlencoded", signed=False)

    assert (signed.status_code, signed.text) == (200, "")
    assert (unsigned.status_code, unsigned.text) == (200, "")
    assert store.state.audit == [] and store.state.jobs == []


def test_T20_url_verification_is_answered_with_its_challenge() -> None:
    client, _ = serving("T0ANY", "A0ANY", "U0ANY", "C0ANY")

    answer = send(client, json.dumps(captured.URL_VERIFICATION), "application/json")

    assert answer.status_code == 200
    assert answer.json() == {"challenge": captured.URL_VERIFICATION["challenge"]}
