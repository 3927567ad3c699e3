"""T7: a tag re-pushed after approval cannot slip into production.

Defence: approvals are bound to the build (and so to the digest its preview ran);
production gets `repo@sha256:…`, never the tag; a new build of the target supersedes the
older one's approvals. Without the pin, production would pull whatever the tag points to
now; without superseding, A's approval would let B (or A) through. The local cluster reports
a new digest for the re-pushed tag (a preview of a tag is pulled again), so A's and B's
digests differ and production must get B's, the one QA approved.
"""

from __future__ import annotations

from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod

from tests.support.flow import dm_of, offered_to_all, press, ready_build, report_build, until
from tests.support.proofs import preview_name
from tests.support.shop import EVERYONE, OWNERS, QA, SECRET
from tests.support.trust import Shared, unique

pytestmark = pytest.mark.kubernetes

TAG = "registry.example.test/shop/web:release"


async def _preview_digests(kube: AsyncClient, namespace: str, target: str) -> set[str]:
    labels: dict[str, Any] = {"app.kubernetes.io/instance": preview_name(target, build_type="tag")}
    pods = [p async for p in kube.list(Pod, namespace=namespace, labels=labels)]
    return {
        cs.imageID.split("@")[1]
        for p in pods
        if p.status
        for cs in p.status.containerStatuses or []
        if cs.imageID
    }


async def test_T7_a_new_build_on_the_same_tag_supersedes_the_approval_and_production_gets_a_digest(
    shared: Shared, kube: AsyncClient
) -> None:
    slack, target = shared.slack, unique("t7")
    a = await ready_build(
        shared.url, slack, EVERYONE,
        project="shop", image=TAG, type="tag", target=target, commit="aaaaaaa",
    )  # fmt: skip
    press(shared.url, slack, QA[0], "qa_approve", a)
    await until(slack, lambda s: all(dm_of(slack, o, a).replies for o in OWNERS))

    pushed = report_build(
        shared.url, SECRET, project="shop", image=TAG, type="tag", target=target, commit="bbbbbbb"
    )
    b = pushed.json()["build_id"]
    await until(slack, offered_to_all(slack, b, EVERYONE))
    told = len(slack.state.ephemerals(OWNERS[0]))
    press(shared.url, slack, OWNERS[0], "deploy_production", a)
    press(shared.url, slack, OWNERS[0], "deploy_production", b)

    await until(slack, lambda s: len(s.ephemerals(OWNERS[0])) >= told + 2)
    answers = [e.visible_text for e in slack.state.ephemerals(OWNERS[0])[told:]]
    assert any("superseded" in t for t in answers), answers
    assert any("1 more QA approval" in t for t in answers), answers
    assert shared.rows.build(a)["state"] == "superseded"

    press(shared.url, slack, QA[1], "qa_approve", b)
    await until(slack, lambda s: all(dm_of(slack, o, b).replies for o in OWNERS))
    press(shared.url, slack, OWNERS[1], "deploy_production", b)
    await until(slack, lambda s: shared.rows.build(b)["state"] == "promoted", within=90)

    production = await kube.get(Deployment, "shop", namespace=shared.namespace)
    assert production.spec is not None and production.spec.template.spec is not None
    image = production.spec.template.spec.containers[0].image
    assert image is not None and image.startswith("registry.example.test/shop/web@sha256:")
    assert image.split("@")[1] in await _preview_digests(kube, shared.namespace, target)
    assert image.split("@")[1] == shared.rows.build(b)["digest"]
    assert shared.rows.build(b)["digest"] != shared.rows.build(a)["digest"], "the tag moved"
