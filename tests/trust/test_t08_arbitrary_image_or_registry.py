"""T8: an image from outside the project's allow-list is refused before any network use.

Defence: `policy.allowed_images` (here `registry.example.test/shop/*`) checked at intake,
before anything is stored or contacted. Without it the build would be recorded, deployed
(the cluster would pull from that registry) and announced in Slack.
"""

from __future__ import annotations

import asyncio

import pytest
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment

from tests.support.flow import report_build
from tests.support.proofs import preview_name
from tests.support.shop import SECRET
from tests.support.trust import Shared, unique

pytestmark = pytest.mark.kubernetes


@pytest.mark.parametrize(
    "image",
    [
        "evil.example.com/shop/web:1.0",
        "registry.example.test/other-team/web:1.0",
        "registry.example.test/shopping/web:1.0",
        "nginx:1.27",
        "registry.example.test:5000/shop/web:1.0",
    ],
)
async def test_T8_a_disallowed_image_is_a_422_with_nothing_stored_or_contacted(
    shared: Shared, kube: AsyncClient, image: str
) -> None:
    target = unique("t8")
    await shared.rows.idle()
    before, calls = shared.rows.counts(), len(shared.slack.state.calls())

    response = report_build(
        shared.url, SECRET, project="shop", image=image, type="branch", target=target
    )

    assert response.status_code == 422, response.text
    assert response.json()["field"] == "image"
    await asyncio.sleep(0.5)
    after = shared.rows.counts()
    assert {k: after[k] - before[k] for k in after} == {
        **dict.fromkeys(after, 0),
        "audit_events": 1,
    }, "only the documented audit row of the refusal"
    assert shared.rows.audit()[-1]["action"] == "build.refused"
    assert len(shared.slack.state.calls()) == calls, "Slack was contacted"
    with pytest.raises(ApiError) as gone:
        await kube.get(Deployment, preview_name(target), namespace=shared.namespace)
    assert gone.value.status.code == 404
