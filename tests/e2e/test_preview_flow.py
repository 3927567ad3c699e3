"""Steps 1 to 4 of the flow through the real server: CI notifies, ci-bot deploys, the card tells.

Each test runs `cibot serve` as a subprocess against a fake Slack and the local Kubernetes
control plane, once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service
from lightkube.resources.networking_v1 import Ingress

from cibot.adapters import webhooks
from cibot.fakeslack import FakeSlackServer, Message
from tests.e2e.conftest import CHANNEL, SECRET
from tests.support.ci import body_of, post_build
from tests.support.kube import dead_kubeconfig, only_deployment
from tests.support.service import CibotProcess

pytestmark = pytest.mark.kubernetes

GOOD = "registry.example.test/shop/web:1.0"
BAD = "unpullable.invalid/shop/web:1.0"


def cards(slack: FakeSlackServer) -> list[Message]:
    return slack.state.messages(CHANNEL)


async def card_saying(slack: FakeSlackServer, text: str, within: float = 30) -> Message:
    def found() -> Message | None:
        return next((m for m in cards(slack) if text in m.visible_text), None)

    await slack.state.wait_for_async(lambda _: found() is not None, within=within)
    message = found()
    assert message is not None
    return message


async def deployment(kube: AsyncClient, namespace: str, name: str) -> Deployment:
    return await kube.get(Deployment, name, namespace=namespace)


async def test_a_good_image_is_deployed_to_its_preview_and_the_card_says_ready(
    cibot: CibotProcess, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    body = body_of(
        project="shop", image=GOOD, type="branch", target="feature/login", commit="abc1234"
    )
    response = post_build(cibot.url, SECRET, body)
    assert response.status_code == 202, response.text
    build_id = response.json()["build_id"]

    card = await card_saying(fake_slack, "is ready")

    assert len(cards(fake_slack)) == 1, "one card per build, updated in place"
    assert card.update_count >= 1
    assert "feature/login" in card.visible_text
    assert (
        "https://feature-login-" in card.visible_text
        and ".branch.shop.example.com" in card.visible_text
    )
    assert build_id in card.visible_text
    name = next(d.metadata.name for d in [await only_deployment(kube, namespace)] if d.metadata)
    assert name is not None and name.startswith("shop-branch-feature-login-")
    dep = await deployment(kube, namespace, name)
    assert dep.metadata is not None and dep.metadata.labels is not None
    labels = dep.metadata.labels
    assert labels["app.kubernetes.io/managed-by"] == "cibot"
    assert labels["cibot/project"] == "shop"
    assert labels["cibot/environment"] == "preview"
    assert dep.spec is not None and dep.spec.template.spec is not None
    assert dep.spec.template.spec.containers[0].image == GOOD
    ingress = await kube.get(Ingress, name, namespace=namespace)
    assert ingress.spec is not None and ingress.spec.rules is not None
    host = ingress.spec.rules[0].host
    assert host is not None and host in card.visible_text
    assert (await kube.get(Service, name, namespace=namespace)).metadata is not None
    metrics = httpx.get(f"{cibot.url}/metrics").text
    assert 'cibot_webhooks_total{route="build-complete",status="202"} 1.0' in metrics
    assert 'cibot_jobs_total{kind="deploy_preview",outcome="done"} 1.0' in metrics


async def test_a_rollout_that_fails_shows_the_pods_reason_on_the_card(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    response = post_build(
        cibot.url, SECRET, body_of(project="shop", image=BAD, type="branch", target="broken")
    )
    assert response.status_code == 202

    card = await card_saying(fake_slack, "failed", within=60)

    assert "ImagePullBackOff" in card.visible_text
    assert "is ready" not in card.visible_text


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda h: h.pop("webhook-signature"), "unsigned"),
        (lambda h: h.update({"webhook-signature": "v1,AAAA"}), "wrong signature"),
    ],
)
async def test_unsigned_and_badly_signed_requests_get_401_and_store_nothing(
    cibot: CibotProcess, fake_slack: FakeSlackServer, mutate: Any, why: str
) -> None:
    body = body_of(project="shop", image=GOOD, type="branch", target="main")
    headers = webhooks.headers(SECRET, body)
    mutate(headers)
    response = httpx.post(f"{cibot.url}/build-complete", content=body, headers=headers)

    assert response.status_code == 401, why
    assert SECRET not in response.text
    await asyncio.sleep(0.5)
    assert cards(fake_slack) == []


async def test_a_tampered_body_and_a_stale_timestamp_are_refused(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    body = body_of(project="shop", image=GOOD, type="branch", target="main")
    headers = webhooks.headers(SECRET, body)
    tampered = body.replace(b"main", b"mail")
    assert (
        httpx.post(f"{cibot.url}/build-complete", content=tampered, headers=headers).status_code
        == 401
    )
    stale = post_build(cibot.url, SECRET, body, timestamp=time.time() - 301)
    assert stale.status_code == 401
    await asyncio.sleep(0.5)
    assert cards(fake_slack) == []


async def test_an_unknown_project_gets_404(cibot: CibotProcess) -> None:
    response = post_build(
        cibot.url, SECRET, body_of(project="nope", image=GOOD, type="branch", target="main")
    )
    assert response.status_code == 404
    assert "unknown project" in response.json()["error"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"image": "Not An Image!"}, "image"),
        ({"type": "production"}, "type"),
        ({"target": "../../etc"}, "target"),
        ({"namespace": "kube-system"}, "namespace"),
        ({"build_number": "twelve"}, "build_number"),
    ],
)
async def test_bad_fields_get_422_naming_the_field(
    cibot: CibotProcess, fields: dict[str, Any], field: str
) -> None:
    base: dict[str, Any] = {"project": "shop", "image": GOOD, "type": "branch", "target": "main"}
    response = post_build(cibot.url, SECRET, body_of(**{**base, **fields}))
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert field in response.json()["error"]


async def test_a_form_encoded_notification_as_the_original_sent_is_accepted(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    body = b"project=shop&image=registry.example.test%2Fshop%2Fweb%3A2.0&type=tag&target=v2.0.0"
    response = post_build(cibot.url, SECRET, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 202, response.text
    card = await card_saying(fake_slack, "is ready")
    assert "v2.0.0" in card.visible_text


async def test_a_replayed_webhook_id_returns_the_first_answer_and_deploys_once(
    cibot: CibotProcess, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    body = body_of(project="shop", image=GOOD, type="branch", target="main")
    first = post_build(cibot.url, SECRET, body, webhook_id="msg_replay1")
    again = post_build(cibot.url, SECRET, body, webhook_id="msg_replay1")
    other = post_build(cibot.url, SECRET, body.replace(b"1.0", b"9.9"), webhook_id="msg_replay1")

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert other.status_code == 422
    await card_saying(fake_slack, "is ready")
    assert len(cards(fake_slack)) == 1
    dep = await only_deployment(kube, namespace)
    assert dep.metadata is not None and dep.metadata.generation == 1


async def test_two_quick_builds_of_one_branch_end_with_the_newest_and_the_older_superseded(
    cibot: CibotProcess, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    first = post_build(
        cibot.url, SECRET, body_of(project="shop", image=GOOD, type="branch", target="main")
    )
    newer_image = GOOD.replace("1.0", "1.1")
    second = post_build(
        cibot.url, SECRET, body_of(project="shop", image=newer_image, type="branch", target="main")
    )
    assert first.status_code == second.status_code == 202
    first_id, second_id = first.json()["build_id"], second.json()["build_id"]

    superseded = await card_saying(fake_slack, "superseded")
    ready = await card_saying(fake_slack, "is ready")

    assert first_id in superseded.visible_text and second_id in superseded.visible_text
    assert second_id in ready.visible_text
    assert len(cards(fake_slack)) == 2
    dep = await only_deployment(kube, namespace)
    assert dep.spec is not None and dep.spec.template.spec is not None
    assert dep.spec.template.spec.containers[0].image == newer_image


async def test_a_build_accepted_before_a_crash_is_deployed_after_the_restart(
    cibot_config: dict[str, Any],
    tmp_path: Any,
    fake_slack: FakeSlackServer,
    kube: AsyncClient,
    namespace: str,
) -> None:
    real_kubeconfig = cibot_config["kubernetes"]["kubeconfig"]
    cibot_config["kubernetes"]["kubeconfig"] = str(dead_kubeconfig(tmp_path / "dead.yaml"))
    first = CibotProcess(cibot_config, tmp_path)
    first.upgrade_db()
    first.start()
    response = post_build(
        first.url, SECRET, body_of(project="shop", image=GOOD, type="branch", target="main")
    )
    assert response.status_code == 202
    first.kill()

    cibot_config["kubernetes"]["kubeconfig"] = real_kubeconfig
    second = CibotProcess(cibot_config, tmp_path)
    second.start()
    try:
        card = await card_saying(fake_slack, "is ready")
        assert response.json()["build_id"] in card.visible_text
        assert len(cards(fake_slack)) == 1
        dep = await only_deployment(kube, namespace)
        assert dep.metadata is not None
    finally:
        second.stop()
