"""T1/T3/T13 fuzzed: Hypothesis over the service's OpenAPI schema, against the real server.

Every operation of `/openapi.json` (and the Slack routes, which the schema leaves out) gets
requests drawn from its schema and from around it: schema-shaped and arbitrary JSON, forms,
bytes, odd content types, and Standard Webhooks / Slack headers that look right but are never
validly signed. The properties: no answer is a 5xx, and nothing is stored (no build, no
delivery, no job, no audit row; the API documents none for an unsigned request).

A second server has no global secret, only per-project ones (it needs no cluster): there,
unsigned, forged and other-project signatures must all be 401s, and a project's own
signature over any fields must never make a 5xx.

The budget is bounded (`max_examples` per test, one request per example: 150, or
`CIBOT_SOAK_FUZZ` under scripts/soak); the count of requests sent is printed and checked, and
counted with the 5xx answers and the lost builds in the test's census (tests/support/soak.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cibot.adapters import webhooks
from cibot.entrypoints.web.app import BUILD_COMPLETE_SCHEMA
from cibot.fakeslack import FakeSlackServer
from tests.support import door, soak
from tests.support import slack_requests as slack_req
from tests.support.service import CibotProcess
from tests.support.shop import SECRET
from tests.support.trust import Shared

pytestmark = pytest.mark.kubernetes

EXAMPLES = soak.budget("CIBOT_SOAK_FUZZ", 150)
_NOTIFICATION_FIELDS: dict[str, Any] = BUILD_COMPLETE_SCHEMA["requestBody"]["content"][  # type: ignore[index]
    "application/json"
]["schema"]


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of a (small) JSON schema, the kinds the API's schema uses, plus junk values."""
    kind = schema.get("type")
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | st.text(max_size=12)
    if kind == "string":
        return st.text(max_size=80) | st.from_regex(r"[a-z0-9./:@_-]{1,60}", fullmatch=True)
    if kind == "integer":
        return st.integers(-(2**70), 2**70) | st.text(max_size=5)
    if kind == "object":
        props = {k: from_schema(v) for k, v in schema.get("properties", {}).items()}
        return st.fixed_dictionaries({}, optional=props).flatmap(
            lambda d: st.dictionaries(
                st.text(max_size=10), st.integers() | st.none(), max_size=2
            ).map(lambda extra: {**extra, **d})
        )
    return st.none()


junk_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
b64 = st.binary(min_size=0, max_size=40).map(lambda b: base64.b64encode(b).decode())
webhook_headers = st.fixed_dictionaries({}, optional={
    "webhook-id": st.from_regex(r"msg_[A-Za-z0-9]{1,20}", fullmatch=True) | st.text(max_size=30),
    "webhook-timestamp": st.just(str(int(time.time()))) | st.integers().map(str) | st.text(),
    "webhook-signature": b64.map(lambda s: f"v1,{s}") | st.text(max_size=60),
})  # fmt: skip
slack_headers = st.fixed_dictionaries({}, optional={
    "x-slack-request-timestamp": st.sampled_from([str(int(time.time()))]) | st.text(max_size=12),
    "x-slack-signature": st.from_regex(r"v0=[0-9a-f]{64}", fullmatch=True) | st.text(max_size=70),
    "x-slack-retry-num": st.integers(0, 5).map(str),
})  # fmt: skip
content_types = st.sampled_from([
    "application/json", "application/x-www-form-urlencoded", "text/plain", "",
    "application/json; charset=utf-16", "multipart/form-data; boundary=x",
])  # fmt: skip


def _safe_header(value: str) -> bool:
    """What an HTTP client can send at all (no control characters, no edge whitespace)."""
    return value.isascii() and value.isprintable() and value == value.strip()


def encoded(body: Any, form: bool) -> bytes:
    if isinstance(body, bytes):
        return body
    if form and isinstance(body, dict):
        from urllib.parse import urlencode

        return urlencode({str(k): str(v) for k, v in body.items()}).encode()
    return json.dumps(body).encode()


def bodies(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    return from_schema(schema) | junk_json | st.binary(max_size=300)


def _send(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    return client.request(method, url, **kwargs)


@pytest.fixture(scope="module")
def schema(shared: Shared) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{shared.url}/openapi.json").json()
    return document


def test_fuzz_every_operation_of_the_schema_answers_without_a_5xx_and_stores_nothing(
    shared: Shared, schema: dict[str, Any], census: soak.Census
) -> None:
    census.suite = "fuzz unsigned: CI + Slack routes"
    asyncio.run(shared.rows.idle())
    before = shared.rows.counts()
    operations = [(m.upper(), p, op) for p, ops in schema["paths"].items() for m, op in ops.items()]
    assert ("POST", "/build-complete") in {(m, p) for m, p, _ in operations}
    notification = schema["paths"]["/build-complete"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    served: list[tuple[str, str, int]] = []

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        operation=st.sampled_from(
            [*operations, ("POST", "/slack/events", {}), ("POST", "/slack-interactions", {})]
        ),
        body=bodies(notification),
        form=st.booleans(),
        webhook=webhook_headers,
        slack=slack_headers,
        content_type=content_types,
        query=st.dictionaries(
            st.sampled_from(["project", "x", "payload"]), st.text(max_size=10), max_size=2
        ),
    )
    def one_request(  # noqa: PLR0917 - one argument per drawn part of the request
        operation: tuple[str, str, Any], body: Any, form: bool, webhook: dict[str, str],
        slack: dict[str, str], content_type: str, query: dict[str, str],
    ) -> None:  # fmt: skip
        method, path, _ = operation
        raw = encoded(body, form)
        if path.startswith("/slack") and form and not isinstance(body, bytes):
            raw = b"payload=" + raw
        headers = {
            k: v
            for k, v in {**webhook, **slack, "content-type": content_type}.items()
            if _safe_header(v)
        }
        response = _send(
            client,
            method,
            f"{shared.url}{path}",
            content=raw if method == "POST" else None,
            headers=headers,
            params=query,
        )
        served.append((method, path, response.status_code))
        census.case()
        assert census.answered(response.status_code) < 500, (
            method,
            path,
            response.status_code,
            response.text[:300],
        )

    with httpx.Client(timeout=30) as client:
        one_request()

    asyncio.run(shared.rows.idle())
    assert shared.rows.counts() == before, "an unsigned request changed the state"
    print(f"\nfuzzed {len(served)} unsigned requests: {sorted(set(served))}")
    assert len(served) >= EXAMPLES


ACTION_IDS = [
    "qa_approve",
    "qa_reject",
    "deploy_production",
    "deploy_override",
    "close_build",
    "rollback_production",
]
slack_payloads = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["block_actions", "view_submission", "block_suggestion", "shortcut"]
        )
        | st.text(max_size=8),
        "team": st.just({"id": slack_req.TEAM}),
        "api_app_id": st.just(slack_req.APP),
    },
    optional={
        "user": st.fixed_dictionaries(
            {},
            optional={
                "id": st.sampled_from(["U0QA1", "U0OWNER1", "U0X"])
                | st.text(max_size=5)
                | st.integers()
            },
        ),
        "actions": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "action_id": st.sampled_from(ACTION_IDS) | st.text(max_size=8) | st.none(),
                    "value": st.text(max_size=40) | st.integers() | st.none(),
                    "type": st.just("button"),
                },
            ),
            max_size=2,
        ),
        "view": st.fixed_dictionaries(
            {},
            optional={
                "callback_id": st.sampled_from(["qa_reject_reason", "deploy_override_reason"])
                | st.text(max_size=5),
                "private_metadata": st.text(max_size=40) | st.integers(),
                "state": junk_json,
            },
        ),
        "channel": st.fixed_dictionaries({}, optional={"id": st.text(max_size=8) | st.none()}),
        "container": junk_json,
        "trigger_id": st.text(max_size=10),
    },
)


def test_fuzz_signed_requests_never_get_a_5xx_and_a_2xx_build_always_has_its_row(
    shared: Shared, schema: dict[str, Any], census: soak.Census
) -> None:
    """Correctly signed requests with fuzzed contents: the validation and Slack handlers
    answer 4xx (or 2xx) and never crash; a 202 always names a committed build."""
    census.suite = "fuzz signed: build-complete + Slack"
    notification = schema["paths"]["/build-complete"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    fields = from_schema(notification)
    project = st.sampled_from(["shop", "strict", "other"]) | st.text(max_size=6)
    served: list[tuple[str, int]] = []

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        slack=st.booleans(),
        body=fields,
        project=project,
        form=st.booleans(),
        payload=slack_payloads,
        command=st.booleans(),
        text=st.text(max_size=40),
    )
    def one_request(  # noqa: PLR0917 - one argument per drawn part of the request
        slack: bool, body: Any, project: str, form: bool, payload: dict[str, Any], command: bool,
        text: str,
    ) -> None:  # fmt: skip
        if slack:
            from urllib.parse import urlencode

            form_body = (
                urlencode(
                    {
                        "command": "/cibot",
                        "text": text,
                        "user_id": "U0OWNER1",
                        "team_id": slack_req.TEAM,
                        "api_app_id": slack_req.APP,
                        "channel_id": "C0X",
                        "trigger_id": "1.2",
                    }
                )
                if command
                else slack_req.encode(payload)
            )
            raw = form_body.encode()
            response = _send(
                client,
                "POST",
                f"{shared.url}/slack/events",
                content=raw,
                headers=slack_req.signed_headers(form_body),
            )
            served.append(("slack", response.status_code))
            census.case()
            assert census.answered(response.status_code) < 500, (
                payload if not command else text,
                response.text[:300],
            )
            return
        note = {**body, "project": project} if isinstance(body, dict) else body
        raw = encoded(note, form)
        content_type = "application/x-www-form-urlencoded" if form else "application/json"
        headers = {**webhooks.headers(SECRET, raw), "content-type": content_type}
        response = _send(
            client, "POST", f"{shared.url}/build-complete", content=raw, headers=headers
        )
        served.append(("build-complete", response.status_code))
        census.case()
        assert census.answered(response.status_code) < 500, (note, response.text[:300])
        if response.status_code == 202:
            build_id = response.json()["build_id"]
            stored = shared.rows.all("SELECT id FROM builds WHERE id = :id", id=build_id)
            assert census.effect(len(stored)) == 1, f"accepted build {build_id} has no row"

    with httpx.Client(timeout=30) as client:
        one_request()
    print(f"\nfuzzed {len(served)} signed requests: {sorted(set(served))}")
    assert len(served) >= EXAMPLES


@pytest.fixture
def per_project_secrets(database_url: str, tmp_path: Path) -> Iterator[CibotProcess]:
    """A server whose projects each have their own CI secret, with no global one (no
    Kubernetes needed: nothing here gets as far as a deploy; its jobs are not run)."""
    with FakeSlackServer() as slack:
        config = door.door_config(
            tmp_path,
            slack.api_url,
            door.project("shop", webhook_secret="shop-secret"),
            door.project("own", webhook_secret="own-secret", previous_webhook_secrets=["own-old"]),
            database={"url": database_url},
            jobs={"workers": 0},
        )
        process = CibotProcess(config, tmp_path)
        process.upgrade_db()
        process.start()
        try:
            yield process
        finally:
            process.stop()


def test_fuzz_without_a_global_secret_no_request_signed_or_not_gets_a_5xx(
    per_project_secrets: CibotProcess, census: soak.Census
) -> None:
    """Per-project secrets only: an unsigned request naming an unknown project (or junk) was
    a 500 (no global secret to check it with). Unsigned, wrongly signed or signed for another
    project: 401; signed by a project's own secret: whatever its fields, never a 5xx."""
    census.suite = "fuzz per-project secrets: CI routes"
    url = per_project_secrets.url
    served: list[tuple[str, int]] = []

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        path=st.sampled_from(["/build-complete", "/branch-deleted"]),
        signer=st.sampled_from([None, "shop-secret", "own-secret", "own-old", "forged"]),
        project=st.sampled_from(["shop", "own", "nosuch"]) | st.text(max_size=8) | st.integers(),
        fields=from_schema(_NOTIFICATION_FIELDS) | junk_json | st.binary(max_size=200),
        form=st.booleans(),
        webhook=webhook_headers,
    )
    # The soak found it: a body signed by shop's secret for `own` with an unstorable field was
    # a 422 (fields checked before the project's secret), not the 401 another project gets.
    @example(
        path="/build-complete", signer="shop-secret", project="own",
        fields={"ci_url": "\x00"}, form=False, webhook={},
    )  # fmt: skip
    def one_request(  # noqa: PLR0917 - one argument per drawn part of the request
        path: str, signer: str | None, project: Any, fields: Any, form: bool,
        webhook: dict[str, str],
    ) -> None:  # fmt: skip
        note = {**fields, "project": project} if isinstance(fields, dict) else fields
        raw = encoded(note, form)
        content_type = "application/x-www-form-urlencoded" if form else "application/json"
        headers = {k: v for k, v in webhook.items() if _safe_header(v)}
        if signer is not None:
            headers = webhooks.headers(signer, raw)
        response = client.post(
            f"{url}{path}", content=raw, headers={**headers, "content-type": content_type}
        )
        served.append((signer or "unsigned", response.status_code))
        census.case()
        assert census.answered(response.status_code) < 500, (signer, note, response.text[:300])
        named = project if isinstance(note, dict) else None  # the body names this project
        owner = {"shop": ("shop-secret",), "own": ("own-secret", "own-old")}.get(str(named))
        if signer in (None, "forged") or (owner is not None and signer not in owner):
            assert response.status_code == 401, (signer, note, response.text[:300])

    with httpx.Client(timeout=30) as client:
        one_request()
    print(f"\nfuzzed {len(served)} requests without a global secret: {sorted(set(served))}")
    assert len(served) >= EXAMPLES
