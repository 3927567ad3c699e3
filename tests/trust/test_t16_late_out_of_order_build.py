"""T16: a late, out-of-order build is recorded as stale and never deployed.

Defence: a monotonic build number per target when CI sends one. Without it build 11,
arriving after 12, would supersede 12 and roll the preview back to older code.
"""

from __future__ import annotations

import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment

from cibot.adapters.kubernetes.manifests import ANNOTATION_BUILD_ID
from tests.support.flow import card_saying, cards_of, report_build
from tests.support.proofs import preview_name
from tests.support.shop import CHANNEL, SECRET
from tests.support.trust import IMAGE, Shared, unique

pytestmark = pytest.mark.kubernetes


async def test_T16_build_12_then_11_records_11_as_stale_and_deploys_only_12(
    shared: Shared, kube: AsyncClient
) -> None:
    target = unique("t16")
    fields = {"project": "shop", "type": "branch", "target": target}
    twelve = report_build(
        shared.url, SECRET, image=IMAGE.replace("1.0", "12"), build_number=12, **fields
    )
    eleven = report_build(
        shared.url, SECRET, image=IMAGE.replace("1.0", "11"), build_number=11, **fields
    )
    assert twelve.status_code == eleven.status_code == 202
    twelve_id, eleven_id = twelve.json()["build_id"], eleven.json()["build_id"]

    await card_saying(shared.slack, CHANNEL, twelve_id, "is ready")
    await shared.rows.idle()

    assert shared.rows.build(eleven_id)["state"] == "stale"
    assert shared.rows.build(twelve_id)["state"] == "ready"
    assert shared.rows.jobs_of("deploy_preview", eleven_id) == []
    assert cards_of(shared.slack, CHANNEL, eleven_id) == [] or all(
        "superseded" not in m.visible_text for m in cards_of(shared.slack, CHANNEL, twelve_id)
    )
    dep = await kube.get(Deployment, preview_name(target), namespace=shared.namespace)
    assert dep.metadata is not None and dep.metadata.annotations is not None
    assert dep.metadata.annotations[ANNOTATION_BUILD_ID] == twelve_id
    assert dep.spec is not None and dep.spec.template.spec is not None
    assert dep.spec.template.spec.containers[0].image == IMAGE.replace("1.0", "12")
