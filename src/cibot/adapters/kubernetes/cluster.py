"""The Cluster port on lightkube: server-side apply, rollout watch, environment removal.

Library errors stop here: an API refusal (4xx other than 409/429) becomes ClusterRejected
with the API's own message; connection errors, 5xx, 429 and apply conflicts are retried per
the retry policy and then become ClusterUnavailable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import httpx2
import structlog
from lightkube import AsyncClient
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event, Pod, Service
from lightkube.resources.networking_v1 import Ingress

from cibot.adapters.kubernetes.rollout import RolloutState, pod_failure_reason, rollout_status
from cibot.adapters.retry import RetryLater, RetryPolicy, retry_after_seconds, with_retries
from cibot.crashpoints import crashpoint
from cibot.service.errors import ClusterRejected, ClusterUnavailable
from cibot.service.ports import RolloutOutcome

log = structlog.get_logger(__name__)

FIELD_MANAGER = "cibot"
MANAGED_BY = ("app.kubernetes.io/managed-by", "cibot")

Mapping_ = create_namespaced_resource("getambassador.io", "v3alpha1", "Mapping", "mappings")
HTTPRoute = create_namespaced_resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")
ENVIRONMENT_KINDS: tuple[Any, ...] = (Ingress, Mapping_, HTTPRoute, Service, Deployment)


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Library errors → RetryLater (transient) or ClusterRejected (the API said no)."""
    try:
        yield
    except httpx2.HTTPStatusError as exc:  # lightkube's ApiError, or a reply that was no Status
        code = exc.response.status_code
        if code in (409, 429) or code >= 500:
            retry_after = retry_after_seconds(exc.response.headers.get("Retry-After"))
            raise RetryLater(exc, retry_after) from exc
        message = exc.status.message if isinstance(exc, ApiError) else f"HTTP {code}"
        raise ClusterRejected(f"Kubernetes refused it: {message}") from exc
    except (httpx2.TransportError, OSError) as exc:
        raise RetryLater(exc) from exc


class KubeCluster:
    def __init__(
        self, client: AsyncClient, retry: RetryPolicy, recheck_seconds: float = 2.0
    ) -> None:
        self._client = client
        self._retry = retry
        self._recheck = recheck_seconds  # how often a quiet wait re-checks it is still wanted

    async def _call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        async def attempt() -> Any:
            with _translated_errors():
                return await fn()

        try:
            return await with_retries(self._retry, attempt)
        except RetryLater as exc:
            raise ClusterUnavailable(f"Kubernetes API unavailable: {exc.cause}") from exc

    async def apply(self, manifests: Sequence[Mapping[str, Any]]) -> None:
        for index, manifest in enumerate(manifests):
            apply = partial(
                self._client.apply, _to_resource(manifest), field_manager=FIELD_MANAGER, force=True
            )
            await self._call(apply)
            if index == 0:
                crashpoint("mid_apply")

    async def wait_for_rollout(
        self,
        namespace: str,
        name: str,
        timeout_seconds: float,
        keep_waiting: Callable[[], Awaitable[bool]],
    ) -> RolloutOutcome:
        started = time.monotonic()
        outcome = await self._wait(namespace, name, started + timeout_seconds, keep_waiting)
        log.info(
            "rollout.finished",
            namespace=namespace,
            name=name,
            ready=outcome.ready,
            abandoned=outcome.abandoned,
            seconds=round(time.monotonic() - started, 4),
        )
        return outcome

    async def _wait(
        self,
        namespace: str,
        name: str,
        deadline: float,
        keep_waiting: Callable[[], Awaitable[bool]],
    ) -> RolloutOutcome:
        timeout_seconds = deadline - time.monotonic()
        dep = await self._get_deployment(namespace, name)
        while True:
            status = rollout_status(dep.to_dict())
            if status.state is RolloutState.DONE:
                return RolloutOutcome(ready=True, digest=await self._digest(dep, namespace))
            if status.state is RolloutState.FAILED:
                reason = await self._failure_reason(dep, namespace)
                return RolloutOutcome(ready=False, reason=reason or status.message)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = await self._failure_reason(dep, namespace)
                why = f"the rollout did not finish within {int(timeout_seconds)} s"
                return RolloutOutcome(ready=False, reason=f"{why}: {reason or status.message}")
            if not await keep_waiting():
                return RolloutOutcome(ready=False, abandoned=True, reason="no longer wanted")
            changed = await self._next_change(dep, min(remaining, self._recheck))
            dep = changed or await self._get_deployment(namespace, name)

    async def _get_deployment(self, namespace: str, name: str) -> Deployment:
        dep: Deployment = await self._call(
            partial(self._client.get, Deployment, name, namespace=namespace)
        )
        return dep

    async def _next_change(self, dep: Deployment, within: float) -> Deployment | None:
        """The Deployment's next version, watched from the one we have; None after `within` s.

        A watch, not polling: ci-bot learns of the rollout's end as soon as the controller
        writes it. Any trouble with the watch (expired resource version, dropped stream)
        just falls back to a fresh read by the caller.
        """
        meta = dep.metadata
        if meta is None or not meta.name:
            return None
        stream = self._client.watch(
            Deployment,
            namespace=meta.namespace,
            fields={"metadata.name": meta.name},
            resource_version=meta.resourceVersion,
            server_timeout=int(within) + 1,
        )
        try:
            async with asyncio.timeout(within):
                async for _event, obj in stream:
                    return obj
        except (TimeoutError, ApiError, httpx2.HTTPError, OSError):
            return None
        return None

    async def _pods(self, dep: Deployment, namespace: str) -> list[dict[str, Any]]:
        selector = dep.spec.selector.matchLabels if dep.spec and dep.spec.selector else None
        pods = await self._call(
            lambda: _collect(self._client.list(Pod, namespace=namespace, labels=selector or {}))
        )
        return [p.to_dict() for p in pods]

    async def _digest(self, dep: Deployment, namespace: str) -> str | None:
        """The sha256 digest the ready pods of this rollout actually run."""
        image = (
            dep.spec.template.spec.containers[0].image
            if dep.spec and dep.spec.template.spec
            else None
        )
        for pod in await self._pods(dep, namespace):
            for cs in pod.get("status", {}).get("containerStatuses") or []:
                image_id = cs.get("imageID") or ""
                if cs.get("ready") and cs.get("image") == image and "@sha256:" in image_id:
                    return image_id.rsplit("@", 1)[1]
        return None

    async def _failure_reason(self, dep: Deployment, namespace: str) -> str | None:
        pods = await self._pods(dep, namespace)
        names = {p["metadata"]["name"] for p in pods}
        events = await self._call(
            lambda: _collect(
                self._client.list(Event, namespace=namespace, fields={"involvedObject.kind": "Pod"})
            )
        )
        pod_events = [
            e.to_dict() for e in events if e.involvedObject and e.involvedObject.name in names
        ]
        return pod_failure_reason(pods, pod_events)

    async def delete_environment(self, namespace: str, name: str) -> None:
        for kind in ENVIRONMENT_KINDS:
            await self._call(partial(self._delete_if_ours, kind, namespace, name))

    async def _delete_if_ours(self, kind: Any, namespace: str, name: str) -> None:
        try:
            obj = await self._client.get(kind, name, namespace=namespace)
        except httpx2.HTTPStatusError as exc:  # ApiError included
            if exc.response.status_code == 404:  # gone already, or the kind is not installed
                return
            raise
        labels = (obj.metadata.labels if obj.metadata else None) or {}
        if labels.get(MANAGED_BY[0]) != MANAGED_BY[1]:
            return  # never delete what ci-bot did not create
        try:
            await self._client.delete(kind, name, namespace=namespace)
        except httpx2.HTTPStatusError as exc:
            if exc.response.status_code != 404:
                raise


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


def _to_resource(manifest: Mapping[str, Any]) -> Any:
    kind = manifest.get("kind")
    if kind == "Mapping":
        return Mapping_.from_dict(dict(manifest))
    if kind == "HTTPRoute":
        return HTTPRoute.from_dict(dict(manifest))
    return from_dict(dict(manifest))
