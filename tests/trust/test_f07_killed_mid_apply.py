"""F7: the process is killed mid-apply: on restart the objects are re-applied (idempotent),
the rollout is waited for, and the card is updated once.

Crash point `mid_apply`: the Deployment is applied, the Service and route are not. The
restarted service takes the deploy job over when its lease expires, applies all three
again (server-side apply: the Deployment does not change, so it does not roll again) and
finishes. Without the durable job, the build would stay "deploying" forever.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Service
from lightkube.resources.networking_v1 import Ingress

from cibot.fakeslack import FakeSlackServer
from tests.support import crash
from tests.support.ci import body_of, post_build
from tests.support.proofs import preview_name, ready_once
from tests.support.rows import Rows
from tests.support.shop import CHANNEL, EVERYONE, SECRET
from tests.support.soak import Census
from tests.support.trust import IMAGE

pytestmark = [pytest.mark.kubernetes, pytest.mark.soak]


async def exists(kube: AsyncClient, kind: type[Service | Ingress], name: str, ns: str) -> int:
    """1 when the object is there, 0 when it is not (the apply never reached it)."""
    try:
        await kube.get(kind, name, namespace=ns)
    except ApiError as error:
        if error.status.code == 404:
            return 0
        raise
    return 1


async def test_F7_killed_after_the_first_manifest_the_restart_reapplies_and_finishes_once(  # noqa: PLR0917 - the fixtures it runs against
    cibot_config: dict[str, Any],
    tmp_path: Path,
    fake_slack: FakeSlackServer,
    kube: AsyncClient,
    namespace: str,
    census: Census,
) -> None:
    census.suite = "crash mid_apply (F7)"
    census.case()
    config = crash.with_short_leases(cibot_config)
    # The card job runs beside the deploy job, so the kill may also fall between the card's
    # post and the commit of its ts: the restart then finds the card in Slack by its key
    # (service/posting.py) instead of posting it again.
    dying = await crash.armed(config, tmp_path, "mid_apply")

    response = post_build(
        dying.url, SECRET, body_of(project="shop", image=IMAGE, type="branch", target="main")
    )
    assert census.answered(response.status_code) == 202
    build_id = response.json()["build_id"]
    crash.died_at_its_point(dying)
    rows = Rows(config["database"]["url"])
    assert rows.build(build_id)["state"] == "deploying"

    again = crash.restarted(config, tmp_path)
    try:
        await ready_once(
            fake_slack, kube, channel=CHANNEL, namespace=namespace,
            build_id=build_id, target="main", people=EVERYONE, census=census,
        )  # fmt: skip
        name = preview_name("main")
        assert census.effect(await exists(kube, Service, name, namespace)) == 1
        assert census.effect(await exists(kube, Ingress, name, namespace)) == 1
        deploys = rows.jobs_of("deploy_preview", build_id)
        assert census.effect(len(deploys)) == 1, "one job"
        assert deploys[0]["attempts"] == 2, "taken over once"
    finally:
        again.stop()
        rows.dispose()
