"""`POST /branch-deleted` on the real ASGI app, over an in-memory store: signed like builds."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from cibot.adapters import webhooks
from cibot.domain.build import Build, BuildState, BuildType
from cibot.entrypoints.web.app import create_app
from cibot.entrypoints.web.metrics import Metrics
from cibot.entrypoints.web.signed import Intake
from cibot.service.jobs import DeleteBranchPreview
from tests.support.fakes import FakeClock, MemoryStore
from tests.support.usecases import PROJECT

SECRET = "route-secret"
OWN = replace(PROJECT, id="own", webhook_secrets=("own-secret",))


async def _ready() -> bool:
    return True


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
async def client(store: MemoryStore) -> AsyncIterator[httpx.AsyncClient]:
    intake = Intake(store, FakeClock(), {PROJECT.id: PROJECT, OWN.id: OWN}, (SECRET,), 4096)
    app = create_app(intake, Metrics(), _ready)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cibot") as http:
        yield http


async def post(
    client: httpx.AsyncClient,
    body: bytes,
    *,
    secret: str = SECRET,
    webhook_id: str | None = None,
    content_type: str = "application/json",
) -> httpx.Response:
    headers = webhooks.headers(secret, body, msg_id=webhook_id, now=time.time())
    headers["content-type"] = content_type
    return await client.post("/branch-deleted", content=body, headers=headers)


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


async def test_a_signed_deletion_closes_the_branchs_builds_and_answers_with_their_ids(
    client: httpx.AsyncClient, store: MemoryStore
) -> None:
    now = FakeClock().now()
    ready = Build(
        "b1", "shop", BuildType.BRANCH, "feature/x", "r.example/shop:1", BuildState.READY, now, now
    )
    async with store.transaction() as tx:
        await tx.builds.add(ready)

    response = await post(client, body(project="shop", branch="feature/x"))

    assert (response.status_code, response.json()) == (202, {"closed": ["b1"]})
    assert store.state.builds["b1"].state is BuildState.CLOSED
    assert [j.branch for j in store.jobs_of(DeleteBranchPreview)] == ["feature/x"]


async def test_the_original_form_encoding_is_accepted_too(client: httpx.AsyncClient) -> None:
    response = await post(
        client,
        b"project=shop&branch=feature%2Fy",
        content_type="application/x-www-form-urlencoded",
    )
    assert (response.status_code, response.json()) == (202, {"closed": []})


async def test_a_repeated_webhook_id_gets_the_first_answer_and_another_body_a_422(
    client: httpx.AsyncClient, store: MemoryStore
) -> None:
    first = await post(client, body(project="shop", branch="main"), webhook_id="msg_1")
    again = await post(client, body(project="shop", branch="main"), webhook_id="msg_1")
    other = await post(client, body(project="shop", branch="dev"), webhook_id="msg_1")

    assert first.json() == again.json() == {"closed": []}
    assert again.status_code == 202
    assert (other.status_code, other.json()["field"]) == (422, "webhook-id")
    assert len(store.jobs_of(DeleteBranchPreview)) == 1


@pytest.mark.parametrize(
    ("secret", "payload", "expected"),
    [
        ("wrong", body(project="shop", branch="main"), (401, None)),
        (None, body(project="shop", branch="main"), (401, None)),
        (SECRET, body(project="nope", branch="main"), (404, None)),
        (SECRET, body(project="shop", branch="bad..name"), (422, "branch")),
        (SECRET, body(project="shop", branch="-rf"), (422, "branch")),
        (SECRET, body(project="shop"), (422, "branch")),
        (SECRET, body(project="shop", branch="main", image="x"), (422, "image")),
        (SECRET, body(branch="main"), (422, "project")),
        (SECRET, b"{not json", (422, None)),
        ("own-secret", body(project="own", branch="main"), (202, None)),
        (SECRET, body(project="own", branch="main"), (401, None)),
    ],
)
async def test_bad_requests_are_refused_with_a_status_that_says_why(
    client: httpx.AsyncClient,
    store: MemoryStore,
    *,
    secret: str | None,
    payload: bytes,
    expected: tuple[int, str | None],
) -> None:
    if secret is None:
        response = await client.post("/branch-deleted", content=payload)
    else:
        response = await post(client, payload, secret=secret)

    status, field = expected
    assert response.status_code == status, response.text
    if field is not None:
        assert response.json()["field"] == field
        assert field in response.json()["error"]
    if status != 202:
        assert store.state.jobs == [] and store.state.deliveries == {}


async def test_a_body_over_the_limit_is_refused_before_its_signature_is_checked(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/branch-deleted", content=b"x" * 5000)
    assert response.status_code == 413


async def test_the_route_is_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/branch-deleted"]["post"]
    assert set(operation["responses"]) >= {"202", "401", "404", "422"}
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["project", "branch"]
