"""The local control plane is real: server-side apply rolls out, and a bad image really fails.

These talk to the kube-apiserver started by scripts/localk8s; kwok plays the kubelet, so pods
become ready (or stay in ImagePullBackOff for images from `unpullable.invalid`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.codecs import from_dict
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod, Service
from lightkube.resources.networking_v1 import Ingress

pytestmark = pytest.mark.kubernetes


@pytest.fixture
async def kube(kubeconfig_path: Path) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(config=KubeConfig.from_file(kubeconfig_path), field_manager="cibot")
    yield client
    await client.close()


@pytest.fixture
async def namespace(kube: AsyncClient) -> AsyncIterator[str]:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    await kube.apply(
        from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    )
    yield name
    await kube.delete(Namespace, name)


def deployment(name: str, image: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 2,
            "progressDeadlineSeconds": 5,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


async def wait_until_rolled_out(kube: AsyncClient, name: str, namespace: str) -> Deployment:
    for _ in range(120):
        dep = await kube.get(Deployment, name, namespace=namespace)
        status, spec = dep.status, dep.spec
        assert status is not None and spec is not None and dep.metadata is not None
        if (
            (status.observedGeneration or 0) >= (dep.metadata.generation or 0)
            and (status.updatedReplicas or 0) == spec.replicas
            and (status.availableReplicas or 0) == spec.replicas
        ):
            return dep
        await asyncio.sleep(0.25)
    pytest.fail(f"deployment {name} did not roll out in 30 s")


async def test_a_deployment_service_and_ingress_applied_server_side_roll_out(
    kube: AsyncClient, namespace: str
) -> None:
    name = "web"
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app.kubernetes.io/name": name}, "ports": [{"port": 80}]},
    }
    ingress: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name},
        "spec": {
            "rules": [
                {
                    "host": "web.example.test",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": name, "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    }
    for manifest in (deployment(name, "registry.example.test/web:1.0"), service, ingress):
        manifest["metadata"]["namespace"] = namespace
        await kube.apply(from_dict(manifest), force=True)

    dep = await wait_until_rolled_out(kube, name, namespace)

    assert dep.status is not None and dep.status.availableReplicas == 2
    managers = {m.manager for m in dep.metadata.managedFields or []} if dep.metadata else set()
    assert "cibot" in managers
    svc = await kube.get(Service, name, namespace=namespace)
    ing = await kube.get(Ingress, name, namespace=namespace)
    assert svc.spec is not None and svc.spec.ports and svc.spec.ports[0].port == 80
    assert ing.spec is not None and ing.spec.rules and ing.spec.rules[0].host == "web.example.test"
    pods = [p async for p in kube.list(Pod, namespace=namespace)]
    image_ids = {cs.imageID for p in pods if p.status for cs in p.status.containerStatuses or []}
    assert len(image_ids) == 1 and next(iter(image_ids)).startswith(
        "registry.example.test/web@sha256:"
    )


async def test_a_rollout_of_an_unpullable_image_fails_with_the_pods_reason(
    kube: AsyncClient, namespace: str
) -> None:
    name = "broken"
    image = "unpullable.invalid/app:1.0"
    manifest = deployment(name, image)
    manifest["metadata"]["namespace"] = namespace
    await kube.apply(from_dict(manifest), force=True)

    reasons: set[str] = set()
    progressing_reason = None
    for _ in range(120):
        pods = [p async for p in kube.list(Pod, namespace=namespace)]
        reasons = {
            cs.state.waiting.reason
            for p in pods
            for cs in (p.status.containerStatuses if p.status else None) or []
            if cs.state and cs.state.waiting and cs.state.waiting.reason
        }
        dep = await kube.get(Deployment, name, namespace=namespace)
        conditions = dep.status.conditions if dep.status else None
        progressing_reason = next(
            (c.reason for c in conditions or [] if c.type == "Progressing"), None
        )
        if reasons and progressing_reason == "ProgressDeadlineExceeded":
            break
        await asyncio.sleep(0.25)

    assert reasons == {"ImagePullBackOff"}
    assert progressing_reason == "ProgressDeadlineExceeded"
    assert dep.status is not None and not dep.status.availableReplicas


def _image_digests(pods: list[Pod]) -> set[str]:
    return {
        (cs.imageID or "").rsplit("@", 1)[-1]
        for p in pods
        for cs in (p.status.containerStatuses if p.status else None) or []
    }


async def test_a_tag_pulled_always_runs_a_new_digest_per_replicaset_while_old_pods_terminate(
    kube: AsyncClient, namespace: str
) -> None:
    name = "repushed"
    manifest = deployment(name, "registry.example.test/web:main")
    manifest["metadata"]["namespace"] = namespace
    manifest["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    await kube.apply(from_dict(manifest), force=True)
    await wait_until_rolled_out(kube, name, namespace)
    first = _image_digests([p async for p in kube.list(Pod, namespace=namespace)])

    manifest["spec"]["template"]["metadata"]["annotations"] = {"build": "2"}  # a new template
    await kube.apply(from_dict(manifest), force=True)
    await wait_until_rolled_out(kube, name, namespace)
    pods = [p async for p in kube.list(Pod, namespace=namespace)]
    old = [p for p in pods if p.metadata and p.metadata.deletionTimestamp]
    new = [p for p in pods if p not in old]

    assert len(first) == 1 and len(new) == 2 and len(old) == 2
    assert _image_digests(old) == first, "the old ReplicaSet's pods, still terminating"
    assert all(
        c.type != "Ready" or c.status == "True"
        for p in old
        for c in (p.status.conditions if p.status else None) or []
    ), "and still ready, as a kubelet keeps them until their containers exit"
    assert len(_image_digests(new)) == 1 and _image_digests(new) != first, (
        "a new pull, a new digest"
    )
