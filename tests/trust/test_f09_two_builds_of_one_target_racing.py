"""F9: two builds of one target racing: deploys are serialised per environment, the newest
wins, and the older is superseded with its messages updated.

Defence: one job queue per environment (`env:<namespace>/<name>`) and superseding at
intake, in the same transaction that records the newer build. Without the queue the two
rollouts would interleave and the older image could end up running; without superseding,
both would reach QA.
"""

from __future__ import annotations

import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment

from tests.support.flow import card_saying, cards_of, report_build
from tests.support.proofs import preview_name
from tests.support.shop import CHANNEL, SECRET
from tests.support.trust import IMAGE, Shared, unique

pytestmark = pytest.mark.kubernetes


async def test_F9_two_quick_builds_of_one_branch_end_with_the_newest_and_the_older_superseded(
    shared: Shared, kube: AsyncClient
) -> None:
    target, newer_image = unique("f9"), IMAGE.replace("1.0", "1.1")
    first = report_build(
        shared.url, SECRET, project="shop", image=IMAGE, type="branch", target=target
    )
    second = report_build(
        shared.url, SECRET, project="shop", image=newer_image, type="branch", target=target
    )
    assert first.status_code == second.status_code == 202
    older, newer = first.json()["build_id"], second.json()["build_id"]

    superseded = await card_saying(shared.slack, CHANNEL, older, "superseded")
    await card_saying(shared.slack, CHANNEL, newer, "is ready")
    await shared.rows.idle()

    assert newer in superseded.visible_text
    assert (
        len([m for m in cards_of(shared.slack, CHANNEL, newer) if older not in m.visible_text]) == 1
    )
    assert shared.rows.build(older)["state"] == "superseded"
    dep = await kube.get(Deployment, preview_name(target), namespace=shared.namespace)
    assert dep.spec is not None and dep.spec.template.spec is not None
    assert dep.spec.template.spec.containers[0].image == newer_image
    queues = {r["queue"] for r in shared.rows.jobs_of("deploy_preview") if target in r["payload"]}
    assert len(queues) == 1, "both deploys went through the environment's one queue"
