"""F11: Kubernetes hangs while someone clicks: the click is acknowledged within Slack's 3 s,
and the work continues in a job.

The API server is reached through a TCP proxy that the test pauses (connections accepted,
nothing answered), so any Kubernetes call made before the ack would hang it for the client's
30 s timeout. The bound asserted is Slack's own contract (3 s), a tenth of that hang; it is
the row's proof, not a benchmark (bench/review.py measures the figures). Without the job
(the deploy done in the request), the click would time out in Slack.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment

from cibot.fakeslack import FakeSlackServer
from tests.support.flow import press, ready_build, until
from tests.support.rows import Rows
from tests.support.service import CibotProcess
from tests.support.shop import CHANNEL, EVERYONE, OWNERS
from tests.support.tcpproxy import TcpProxy, api_server_address
from tests.support.trust import IMAGE

pytestmark = pytest.mark.kubernetes

SLACK_ACK_LIMIT = 3.0


async def test_F11_a_production_click_is_acked_within_3_s_while_kubernetes_hangs(  # noqa: PLR0917 - the fixtures it runs against
    sqlite_config: dict[str, Any],
    tmp_path: Path,
    kubeconfig_path: Path,
    fake_slack: FakeSlackServer,
    kube: AsyncClient,
    namespace: str,
) -> None:
    sqlite_config["projects"][0]["policy"] = {"approvals_required": 0}
    with TcpProxy(*api_server_address(kubeconfig_path)) as proxy:
        sqlite_config["kubernetes"]["kubeconfig"] = str(
            proxy.kubeconfig(kubeconfig_path, tmp_path / "k.yaml")
        )
        process = CibotProcess(sqlite_config, tmp_path)
        process.upgrade_db()
        process.start()
        rows = Rows(sqlite_config["database"]["url"])
        try:
            build_id = await ready_build(
                process.url, fake_slack, EVERYONE,
                project="shop", image=IMAGE, type="branch", target="main",
            )  # fmt: skip
            proxy.pause()

            started = time.monotonic()
            press(process.url, fake_slack, OWNERS[0], "deploy_production", build_id)
            acked_in = time.monotonic() - started

            assert acked_in < SLACK_ACK_LIMIT, f"acknowledged after {acked_in:.2f} s"
            assert rows.build(build_id)["state"] == "promoting", "the intent was committed"
            assert len(rows.jobs_of("deploy_production")) == 1
            proxy.restore()
            await until(fake_slack, lambda s: any(
                "was deployed to production by" in m.visible_text for m in s.messages(CHANNEL)
            ), within=120)  # fmt: skip
            production = await kube.get(Deployment, "shop", namespace=namespace)
            assert production.metadata is not None and production.metadata.generation == 1
        finally:
            process.stop()
            rows.dispose()
