"""F4: the Kubernetes API goes down mid-deploy: the build stays "deploying" with a visible
"retrying" note, resumes when the API returns, and fails with a clear reason past a deadline.

The shared control plane is never stopped: this `cibot serve` reaches it through a TCP proxy
(tests/support/tcpproxy.py) that the test cuts and restores. Without the retries the build
would fail at the first refused connection; without the note nobody would know why it waits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient

from cibot.domain.build import BuildState
from cibot.fakeslack import FakeSlackServer
from cibot.service import rollouts
from cibot.service.errors import ClusterUnavailable
from tests.support.ci import body_of, post_build
from tests.support.fakes import FakeClock, FakeCluster, MemoryStore
from tests.support.flow import card_saying
from tests.support.proofs import ready_once
from tests.support.service import CibotProcess
from tests.support.shop import CHANNEL, EVERYONE, SECRET
from tests.support.tcpproxy import TcpProxy, api_server_address
from tests.support.trust import IMAGE
from tests.support.usecases import PROJECT, build, deploy, record, report


@pytest.mark.kubernetes
async def test_F4_the_api_cut_mid_deploy_is_noted_retried_and_the_build_resumes_when_it_returns(  # noqa: PLR0917 - the fixtures it runs against
    sqlite_config: dict[str, Any],
    tmp_path: Path,
    kubeconfig_path: Path,
    fake_slack: FakeSlackServer,
    kube: AsyncClient,
    namespace: str,
) -> None:
    with TcpProxy(*api_server_address(kubeconfig_path)) as proxy:
        sqlite_config["kubernetes"]["kubeconfig"] = str(
            proxy.kubeconfig(kubeconfig_path, tmp_path / "via-proxy.yaml")
        )
        proxy.cut()
        process = CibotProcess(sqlite_config, tmp_path)
        process.upgrade_db()
        process.start()
        try:
            response = post_build(
                process.url,
                SECRET,
                body_of(project="shop", image=IMAGE, type="branch", target="main"),
            )
            assert response.status_code == 202
            build_id = response.json()["build_id"]

            card = await card_saying(fake_slack, CHANNEL, build_id, "retrying", within=90)
            assert "Kubernetes unreachable" in card.visible_text
            proxy.restore()

            await ready_once(
                fake_slack, kube, channel=CHANNEL, namespace=namespace,
                build_id=build_id, target="main", people=EVERYONE,
            )  # fmt: skip
            assert "retrying" not in card_text(fake_slack, build_id)
            assert proxy.connections > 0
        finally:
            process.stop()


def card_text(slack: FakeSlackServer, build_id: str) -> str:
    return next(m.visible_text for m in slack.state.messages(CHANNEL) if build_id in m.visible_text)


class DownCluster(FakeCluster):
    async def apply(self, manifests: object) -> None:
        raise ClusterUnavailable("connection refused")


async def test_F4_an_unreachable_cluster_is_noted_on_the_card_and_retried() -> None:
    store, clock = MemoryStore(), FakeClock()
    accepted = await record(store, clock, report())

    with pytest.raises(ClusterUnavailable):
        await deploy(store, clock, DownCluster(), accepted.build_id)

    b = build(store, accepted.build_id)
    assert b.state is BuildState.DEPLOYING
    assert b.reason == "Kubernetes unreachable, retrying: connection refused"


async def test_F4_a_cluster_unreachable_past_the_deadline_fails_the_build_with_the_reason() -> None:
    store, clock = MemoryStore(), FakeClock()
    accepted = await record(store, clock, report())
    clock.advance(PROJECT.workload.rollout_timeout_seconds + rollouts.UNAVAILABLE_GRACE_SECONDS)

    await deploy(store, clock, DownCluster(), accepted.build_id)

    b = build(store, accepted.build_id)
    assert b.state is BuildState.FAILED
    assert b.reason == "Kubernetes stayed unreachable: connection refused"
