"""The CI routes' answers when every project has its own secret and there is no global one.

On the real ASGI app over an in-memory store. Verification comes first, on the raw bytes,
against every secret the config knows; which secret signed then decides what the caller
may learn: a project's secret signs only for that project, and only a global secret may
learn that a project does not exist (there is none here, so that is always a 401).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, MutableMapping
from dataclasses import replace
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cibot.adapters import webhooks
from cibot.entrypoints.web.app import create_app
from cibot.entrypoints.web.metrics import Metrics
from cibot.entrypoints.web.signed import Intake
from tests.support.fakes import FakeClock, MemoryStore
from tests.support.usecases import PROJECT

SHOP = replace(PROJECT, webhook_secrets=("shop-secret",))
OWN = replace(PROJECT, id="own", webhook_secrets=("own-secret", "own-old-secret"))
ROUTES = ("/build-complete", "/branch-deleted")


async def _ready() -> bool:
    return True


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def _client(store: MemoryStore, global_secrets: tuple[str, ...] = ()) -> httpx.AsyncClient:
    intake = Intake(store, FakeClock(), {SHOP.id: SHOP, OWN.id: OWN}, global_secrets, 4096)
    transport = httpx.ASGITransport(app=create_app(intake, Metrics(), _ready))
    return httpx.AsyncClient(transport=transport, base_url="http://cibot")


@pytest.fixture
async def client(store: MemoryStore) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(store) as http:
        yield http


def note(project: object = "shop", **fields: object) -> bytes:
    return json.dumps(
        {"project": project, "image": "r.example/shop:1", "type": "branch", "target": "main"}
        | {"branch": "main"}
        | fields
    ).encode()


async def post(
    client: httpx.AsyncClient,
    path: str,
    body: bytes,
    secret: str | None,
    content_type: str = "application/json",
) -> httpx.Response:
    headers = {"content-type": content_type}
    if secret is not None:
        headers |= webhooks.headers(secret, body, now=time.time())
    return await client.post(path, content=body, headers=headers)


def _fields_of(body: bytes, route: str) -> bytes:
    data = json.loads(body)
    keep = {"project", "branch"} if route == "/branch-deleted" else set(data) - {"branch"}
    return json.dumps({k: v for k, v in data.items() if k in keep}).encode()


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("secret", "body", "status"),
    [
        (None, note("nosuch"), 401),  # was a 500: no global secret to check it with
        (None, b"\x00junk", 401),
        (None, note(), 401),
        ("shop-secret", note("nosuch"), 401),  # a project's secret cannot probe for projects
        ("shop-secret", note("own"), 401),  # nor sign for another project
        ("own-old-secret", note("shop"), 401),
        ("own-secret", b"{not json", 422),  # signed: now it may be read, and is unreadable
        ("own-secret", note(project=7), 422),
        ("own-old-secret", note("own"), 202),  # rotation: the previous secret still signs
        ("shop-secret", note("shop"), 202),
    ],
)
async def test_a_request_is_answered_by_what_its_signature_proves(
    client: httpx.AsyncClient,
    store: MemoryStore,
    *,
    route: str,
    secret: str | None,
    body: bytes,
    status: int,
) -> None:
    if body.startswith(b"{") and b'"project"' in body:
        body = _fields_of(body, route)
    response = await post(client, route, body, secret)

    assert response.status_code == status, response.text
    if status == 401:
        assert response.json() == {"error": "invalid or missing webhook signature"}
        assert store.state.audit == []  # unsigned for this project: never audited
    if status != 202:
        assert store.state.jobs == [] and store.state.deliveries == {}


async def test_with_a_global_secret_an_unknown_project_is_a_404_for_that_secret_only(
    store: MemoryStore,
) -> None:
    async with _client(store, global_secrets=("global-secret",)) as client:
        by_global = await post(client, "/build-complete", note("nosuch"), "global-secret")
        by_project = await post(client, "/build-complete", note("nosuch"), "shop-secret")

    assert (by_global.status_code, by_global.json()["project"]) == (404, "nosuch")
    assert by_project.status_code == 401


_secrets = st.sampled_from([None, "shop-secret", "own-secret", "own-old-secret", "x"])
_bodies = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda p, extra: json.dumps({"project": p, **extra}).encode(),
        st.sampled_from(["shop", "own", "nosuch", ""]) | st.text(max_size=8) | st.integers(),
        st.dictionaries(st.sampled_from(["image", "type", "target", "branch"]), st.text()),
    ),
    st.text(max_size=200).map(str.encode),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    route=st.sampled_from(ROUTES),
    secret=_secrets,
    body=_bodies,
    content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""]),
)
async def test_without_a_global_secret_no_request_signed_or_not_gets_a_5xx(
    route: str, secret: str | None, body: bytes, content_type: str
) -> None:
    async with _client(MemoryStore()) as client:
        response = await post(client, route, body, secret, content_type)

    assert response.status_code < 500, response.text
    if secret in (None, "x"):
        assert response.status_code == 401


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"author": "ann\u0000"}, "author"),  # PostgreSQL keeps no NUL in text
        ({"ci_url": "https://ci.example/\ud800"}, "ci_url"),  # no database encodes it
        ({"\ud800": "x"}, "\\ud800"),  # was a 500: the answer naming it could not be encoded
    ],
)
async def test_signed_text_no_database_can_store_is_a_422_naming_its_field(
    client: httpx.AsyncClient, store: MemoryStore, fields: dict[str, str], named: str
) -> None:
    body = _fields_of(note("shop", **fields), "/build-complete")

    response = await post(client, "/build-complete", body, "shop-secret")

    assert response.status_code == 422, response.text
    assert response.json()["field"] == named
    assert store.state.builds == {}


@pytest.mark.parametrize(
    ("ci_url", "status"),
    [
        ("http://" + "c" * 2000, 202),  # 1 to 2000 characters that are not white space
        ("https://" + "c" * 2000, 202),
        ("https://c", 202),
        ("http://" + "c" * 2001, 422),
        ("https://" + "c" * 2001, 422),
        ("https://", 422),
        ("https://ci.example/run 1", 422),
        ("https://ci.example/run\n", 422),
        ("ftp://ci.example/run", 422),
        ("httpss://ci.example/run", 422),
    ],
)
async def test_a_ci_url_is_http_or_https_and_at_most_2000_characters_more(
    client: httpx.AsyncClient, store: MemoryStore, ci_url: str, status: int
) -> None:
    body = _fields_of(note("shop", ci_url=ci_url), "/build-complete")

    response = await post(client, "/build-complete", body, "shop-secret")

    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["field"] == "ci_url"
    else:
        assert [b.ci_url for b in store.state.builds.values()] == [ci_url]


async def test_a_content_length_of_unicode_digits_is_not_a_crash() -> None:
    """`²` is a digit to `str.isdigit` but no number to `int`: Starlette reads headers as
    Latin-1, so a raw 0xB2 byte arrived as one (HTTP servers refuse it before us today)."""
    intake = Intake(MemoryStore(), FakeClock(), {SHOP.id: SHOP}, (), 4096)
    app = create_app(intake, Metrics(), _ready)
    sent: list[MutableMapping[str, Any]] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/build-complete", "raw_path": b"/build-complete",
        "query_string": b"", "root_path": "", "headers": [(b"content-length", b"\xb2")],
        "client": ("127.0.0.1", 1), "server": ("cibot", 80),
    }  # fmt: skip

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)

    assert sent[0]["status"] == 401
