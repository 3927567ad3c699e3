"""User text in signed Slack requests, all the way to a real database: a clear answer, never a 5xx.

The guard, Bolt and the listeners run in-process against the real SQL store, on SQLite and
PostgreSQL: what people type (a count, a reason, a button's value, their ids) reaches the
columns, and a database refuses what an in-memory store takes (a NUL character, an unpaired
surrogate, a value longer than its column, an integer past 64 bits). Each such text is
refused where it is parsed, with an answer that says what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.routing import Route

from cibot.adapters.store.sql import SqlStore
from cibot.domain.build import Build, BuildState, BuildType
from cibot.entrypoints.web.slack import SlackGuard, slack_app
from tests.support import slack_requests as slack_req
from tests.support.fakes import FakeChat, FakeClock
from tests.support.stores import migrated_store
from tests.support.usecases import PROJECT, PROJECTS

SECRET = "user-text-signing-secret"
QA, OWNER = next(iter(PROJECT.qa)), next(iter(PROJECT.owners))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    async with migrated_store(database_url, FakeClock()) as sql:
        yield sql


@pytest.fixture
async def client(store: SqlStore) -> AsyncIterator[httpx.AsyncClient]:
    bolt = slack_app(
        token="xoxb-unit",
        signing_secret=SECRET,
        client=AsyncWebClient(token="xoxb-unit", base_url="http://127.0.0.1:9/api/"),
        store=store,
        clock=FakeClock(),
        chat=FakeChat(),
        projects=PROJECTS,
    )
    guard = SlackGuard(SECRET, 64 * 1024, bolt)
    app = Starlette(routes=[Route("/slack/events", guard.__call__, methods=["POST"])])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cibot") as http:
        yield http


async def send(client: httpx.AsyncClient, body: str) -> httpx.Response:
    return await client.post(
        "/slack/events", content=body.encode(), headers=slack_req.signed_headers(body, SECRET)
    )


async def command(client: httpx.AsyncClient, text: str, user: str = OWNER) -> httpx.Response:
    return await send(client, urlencode(slack_req.slash_command(user, text, PROJECT.channel)))


async def click(client: httpx.AsyncClient, payload: dict[str, Any]) -> httpx.Response:
    # As Slack sends it: JSON in a form field, with non-ASCII escaped (so an unpaired
    # surrogate travels as `\ud800`, which Python's JSON parser accepts).
    return await send(client, urlencode({"payload": json.dumps(payload)}))


async def ready_build(store: SqlStore) -> str:
    now = FakeClock().now()
    build = Build(
        "b-ready", PROJECT.id, BuildType.BRANCH, "main", "r.example/x:1", BuildState.READY, now, now
    )
    async with store.transaction() as tx:
        await tx.builds.add(build)
    return build.id


def answer(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["text"])


@pytest.mark.parametrize("count", ["²", "\u0663", "\U0001d7d7", "1e3", "-5", "9" * 30])
async def test_a_history_count_that_is_not_a_plain_number_gets_a_clear_answer(
    client: httpx.AsyncClient, count: str
) -> None:
    text = answer(await command(client, f"history shop {count}"))

    assert "count" in text and "1 to 50" in text, text


async def test_a_plain_history_count_is_still_taken(client: httpx.AsyncClient) -> None:
    assert "count" not in answer(await command(client, "history shop 3"))


@pytest.mark.parametrize("value", ["²", "9" * 25, "-1", "0x10", ""])
async def test_a_rollback_button_with_a_value_that_is_no_release_id_is_refused_as_unknown(
    client: httpx.AsyncClient, store: SqlStore, value: str
) -> None:
    payload = slack_req.block_actions(OWNER, "rollback_production", value, "D0OWNER")

    response = await click(client, payload)

    assert response.status_code == 200, response.text
    async with store.transaction() as tx:
        events = await tx.audit.events(None, limit=5)
    assert [(e.action, (e.detail or {}).get("reason")) for e in events] == [
        ("click.denied", "this release is unknown to ci-bot")
    ]


@pytest.mark.parametrize("reason", ["broken\x00", "broken \ud800 here"])
async def test_a_reject_reason_with_text_no_database_stores_is_a_400_naming_the_field(
    client: httpx.AsyncClient, store: SqlStore, reason: str
) -> None:
    build_id = await ready_build(store)
    values = {"reason": {"text": {"type": "plain_text_input", "value": reason}}}
    payload = slack_req.view_submission(QA, "qa_reject_reason", f"{build_id}|D0QA", values)

    response = await click(client, payload)

    assert response.status_code == 400
    assert response.json()["error"].startswith("view.state.values.reason.text.value"), response.text


async def test_a_freeze_reason_with_a_nul_character_is_a_400_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    response = await command(client, "freeze shop release\x00day")

    assert (response.status_code, response.json()["error"].split(":")[0]) == (400, "text")


@pytest.mark.parametrize("field", ["user", "channel"])
async def test_an_id_longer_than_any_slack_id_is_a_400_naming_it(
    client: httpx.AsyncClient, field: str
) -> None:
    payload = slack_req.block_actions(QA, "qa_approve", "b-none", "D0QA")
    payload[field]["id"] = "U" + "X" * 80

    response = await click(client, payload)

    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{field}.id"), response.text


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    user=st.sampled_from([OWNER, QA, "U0STRANGER"]) | st.text(max_size=40),
    verb=st.sampled_from(["freeze", "unfreeze", "history", "help", ""]),
    project=st.sampled_from(["shop", ""]) | st.text(max_size=6),
    rest=st.text(max_size=60),
)
async def test_no_slash_command_text_gets_a_5xx(
    client: httpx.AsyncClient, user: str, verb: str, project: str, rest: str
) -> None:
    response = await command(client, f"{verb} {project} {rest}", user=user)

    assert response.status_code < 500, response.text


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    user=st.sampled_from([OWNER, QA]) | st.text(max_size=40),
    action=st.sampled_from(["qa_approve", "qa_reject", "deploy_production", "rollback_production"]),
    value=st.sampled_from(["b-ready", "1"]) | st.text(st.characters(codec=None), max_size=40),
    reason=st.text(st.characters(), max_size=40),
)
async def test_no_click_or_reason_text_gets_a_5xx(
    client: httpx.AsyncClient, store: SqlStore, *, user: str, action: str, value: str, reason: str
) -> None:
    if await _no_build(store):
        await ready_build(store)
    pressed = slack_req.block_actions(user, action, value, "D0QA")
    values = {"reason": {"text": {"type": "plain_text_input", "value": reason}}}
    submitted = slack_req.view_submission(user, "qa_reject_reason", f"{value}|D0QA", values)

    for payload in (pressed, submitted):
        response = await click(client, payload)
        assert response.status_code < 500, response.text


async def _no_build(store: SqlStore) -> bool:
    async with store.transaction() as tx:
        return await tx.builds.get("b-ready") is None
