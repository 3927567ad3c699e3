"""Small helpers for tests that look into the local cluster."""

from __future__ import annotations

import asyncio
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment


async def only_deployment(kube: AsyncClient, namespace: str) -> Deployment:
    deployments = [d async for d in kube.list(Deployment, namespace=namespace)]
    assert len(deployments) == 1, [d.metadata.name for d in deployments if d.metadata]
    return deployments[0]


async def is_gone(
    kube: AsyncClient, kind: Any, name: str, namespace: str, within: float = 10
) -> bool:
    """True once the object is gone (404), False if it is still there after `within` s."""
    for _ in range(int(within / 0.2)):
        try:
            await kube.get(kind, name, namespace=namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return True
            raise
        await asyncio.sleep(0.2)
    return False
