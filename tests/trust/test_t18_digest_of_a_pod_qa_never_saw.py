"""T18: production is never pinned to a digest QA never saw.

Defence: the digest of a build is read only from its own ReplicaSet's pods (stamped with the
build, ready, not terminating); a preview of a tag is pulled every time (`Always`); CI
sending the same tag again without a commit or build number is a new build (the tag may have
been re-pushed), which rolls new pods. Without the first, the old ReplicaSet's pods, still
ready while they terminate, could give build 2 build 1's digest; without the second, a node
with the old `:main` cached would run old code under the new build; without the third, the
re-push would be answered with the old build and deploy nothing.

The local cluster behaves like a kubelet here (tools/localk8s/stages.yaml): deleted pods stay
ready for their grace period, and a tag pulled `Always` by a new ReplicaSet reports a new
digest.
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

REPOSITORY = "registry.example.test/shop/web"
TAG = f"{REPOSITORY}:main"


def _digest(pod: Pod) -> str:
    assert pod.status is not None and pod.status.containerStatuses
    image_id = pod.status.containerStatuses[0].imageID
    assert image_id and "@" in image_id
    return image_id.rsplit("@", 1)[1]


def _ready(pod: Pod) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


async def _pods(kube: AsyncClient, namespace: str, target: str) -> tuple[list[Pod], list[Pod]]:
    """The preview's pods: (running on, terminating)."""
    labels: dict[str, Any] = {"app.kubernetes.io/instance": preview_name(target)}
    pods = [p async for p in kube.list(Pod, namespace=namespace, labels=labels)]
    terminating = [p for p in pods if p.metadata and p.metadata.deletionTimestamp]
    return [p for p in pods if p not in terminating], terminating


async def test_T18_a_repushed_tag_rolled_out_while_old_pods_terminate_promotes_the_new_digest(
    shared: Shared, kube: AsyncClient
) -> None:
    slack, target, ns = shared.slack, unique("t18"), shared.namespace
    first = await ready_build(
        shared.url, slack, EVERYONE, project="shop", image=TAG, type="branch",
        target=target,
    )  # fmt: skip
    old = shared.rows.build(first)["digest"]

    # CI pushed `:main` again and says so, naming no commit or build number.
    again = report_build(
        shared.url, SECRET, project="shop", image=TAG, type="branch", target=target
    )
    assert again.status_code == 202, again.text
    second = again.json()["build_id"]
    assert second != first, "a re-pushed tag is a new build, not a repeat"
    await until(slack, offered_to_all(slack, second, EVERYONE))

    running, terminating = await _pods(kube, ns, target)
    assert terminating and all(_ready(p) for p in terminating), "old pods still terminating"
    assert {_digest(p) for p in terminating} == {old}
    new = shared.rows.build(second)["digest"]
    assert new != old, "the re-pushed tag runs a new digest"
    assert {_digest(p) for p in running} == {new}, "the digest the build's own pods run"

    press(shared.url, slack, QA[0], "qa_approve", second)
    await until(slack, lambda s: all(dm_of(slack, o, second).replies for o in OWNERS))
    press(shared.url, slack, OWNERS[0], "deploy_production", second)
    await until(slack, lambda s: shared.rows.build(second)["state"] == "promoted", within=90)

    production = await kube.get(Deployment, "shop", namespace=ns)
    assert production.spec is not None and production.spec.template.spec is not None
    assert production.spec.template.spec.containers[0].image == f"{REPOSITORY}@{new}"
    released = shared.rows.all("SELECT digest FROM releases WHERE build_id = :b", b=second)
    assert [r["digest"] for r in released] == [new]
    assert not shared.rows.all("SELECT id FROM releases WHERE digest = :d", d=old)
