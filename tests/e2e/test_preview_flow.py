"""Steps 1 to 4 of the flow through the real server: CI notifies, ci-bot deploys, the card tells.

Each test runs `cibot serve` as a subprocess against a fake Slack and the local Kubernetes
control plane, once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import httpx
import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service
from lightkube.resources.networking_v1 import Ingress

from cibot.fakeslack import FakeSlackServer, Message
from tests.support.ci import body_of, post_build
from tests.support.kube import only_deployment
from tests.support.service import CibotProcess
from tests.support.shop import CHANNEL, SECRET

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


async def test_an_unknown_project_gets_404(cibot: CibotProcess) -> None:
    response = post_build(
        cibot.url, SECRET, body_of(project="nope", image=GOOD, type="branch", target="main")
    )
    assert response.status_code == 404
    assert "unknown project" in response.json()["error"]


async def test_a_form_encoded_notification_as_the_original_sent_is_accepted(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    body = b"project=shop&image=registry.example.test%2Fshop%2Fweb%3A2.0&type=tag&target=v2.0.0"
    response = post_build(cibot.url, SECRET, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 202, response.text
    card = await card_saying(fake_slack, "is ready")
    assert "v2.0.0" in card.visible_text
