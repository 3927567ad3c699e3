"""The Cluster port on lightkube: server-side apply, rollout watch, environment removal.

Library errors stop here: an API refusal (4xx other than 409/429) becomes ClusterRejected
with the API's own message; connection errors, 5xx, 429 and apply conflicts are retried per
the retry policy and then become ClusterUnavailable.

Projects may share a namespace, so ci-bot never touches an object just because of its name:
every apply and delete first reads the object and checks that its labels make it this
environment's (ci-bot's, the same project and environment, and for a preview the same target),
then writes with that read as a precondition (uid and resourceVersion), so an object that
changed hands in between is not touched either (409, read again). An object that is not
there yet is created by the apply.
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

from cibot.adapters.kubernetes.client import LazyClient
from cibot.adapters.kubernetes.manifests import LABEL_BUILD
from cibot.adapters.kubernetes.rollout import (
    RolloutState,
    build_digest,
    pod_failure_reason,
    rollout_status,
)
from cibot.adapters.retry import RetryLater, RetryPolicy, retry_after_seconds, with_retries
from cibot.crashpoints import crashpoint
from cibot.domain.environment import (
    LABEL_ENVIRONMENT,
    LABEL_MANAGED_BY,
    LABEL_PROJECT,
    LABEL_TARGET,
    MANAGER,
    Environment,
)
from cibot.domain.naming import EnvironmentKind, label_value
from cibot.service.errors import ClusterRejected, ClusterUnavailable
from cibot.service.ports import RolloutOutcome

log = structlog.get_logger(__name__)

FIELD_MANAGER = "cibot"

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
        self, client: AsyncClient | LazyClient, retry: RetryPolicy, recheck_seconds: float = 2.0
    ) -> None:
        self._client_of = client.get if isinstance(client, LazyClient) else lambda: client
        self._retry = retry
        self._recheck = recheck_seconds  # how often a quiet wait re-checks it is still wanted

    @property
    def _client(self) -> AsyncClient:
        return self._client_of()

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
            await self._call(partial(self._apply_one, manifest))
            if index == 0:
                crashpoint("mid_apply")

    async def _apply_one(self, manifest: Mapping[str, Any]) -> None:
        """Create the object, or update it if it is this environment's; never adopt another's."""
        metadata: Mapping[str, Any] = manifest["metadata"]
        name, namespace = metadata["name"], metadata["namespace"]
        kind = type(_to_resource(manifest))
        current = await self._get_or_none(kind, name, namespace)
        if current is not None:
            labels = _labels_of(current)
            if _ownership(labels) != _ownership(metadata.get("labels") or {}):
                log.warning("apply.refused", kind=kind.__name__, namespace=namespace, name=name)
                raise ClusterRejected(
                    f"{kind.__name__} {namespace}/{name} already exists and is {_whose(labels)}: "
                    "ci-bot leaves it alone"
                )
            manifest = _with_precondition(manifest, current)
        await self._client.apply(_to_resource(manifest), field_manager=FIELD_MANAGER, force=True)

    async def _get_or_none(self, kind: Any, name: str, namespace: str) -> Any:
        """The object, or None when it is not there (or its kind is not installed)."""
        try:
            return await self._client.get(kind, name, namespace=namespace)
        except httpx2.HTTPStatusError as exc:  # ApiError included
            if exc.response.status_code == 404:
                return None
            raise

    async def wait_for_rollout(
        self,
        namespace: str,
        name: str,
        timeout_seconds: float,
        keep_waiting: Callable[[], Awaitable[bool]],
        *,
        build_id: str,
    ) -> RolloutOutcome:
        started = time.monotonic()
        deadline = started + timeout_seconds
        outcome = await self._wait(namespace, name, label_value(build_id), deadline, keep_waiting)
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
        build: str,
        deadline: float,
        keep_waiting: Callable[[], Awaitable[bool]],
    ) -> RolloutOutcome:
        timeout_seconds = deadline - time.monotonic()
        dep = await self._get_deployment(namespace, name)
        while True:
            stamped = _template_label(dep, LABEL_BUILD)
            if stamped != build:
                why = f"the Deployment now runs another build ({stamped or 'none'}), not {build}"
                return RolloutOutcome(ready=False, reason=why)
            status = rollout_status(dep.to_dict())
            message = status.message
            if status.state is RolloutState.DONE:
                check = build_digest(await self._pods(dep, namespace), build, _pinned(dep))
                if check.problem is not None:
                    return RolloutOutcome(ready=False, reason=check.problem)
                if check.digest is not None:
                    return RolloutOutcome(ready=True, digest=check.digest)
                message = "no ready pod of this build has reported its image digest yet"
            if status.state is RolloutState.FAILED:
                reason = await self._failure_reason(dep, namespace)
                return RolloutOutcome(ready=False, reason=reason or status.message)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = await self._failure_reason(dep, namespace)
                why = f"the rollout did not finish within {int(timeout_seconds)} s"
                return RolloutOutcome(ready=False, reason=f"{why}: {reason or message}")
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
        """The pods of the build the Deployment's template is stamped with (its ReplicaSet's)."""
        selector = dep.spec.selector.matchLabels if dep.spec and dep.spec.selector else None
        labels = {**(selector or {}), LABEL_BUILD: _template_label(dep, LABEL_BUILD) or ""}
        pods = await self._call(
            lambda: _collect(self._client.list(Pod, namespace=namespace, labels=labels))
        )
        return [p.to_dict() for p in pods]

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

    async def delete_environment(self, preview: Environment) -> None:
        owner = preview.owner
        for kind in ENVIRONMENT_KINDS:
            await self._call(
                partial(self._delete_if_theirs, kind, preview.namespace, preview.name, owner)
            )

    async def _delete_if_theirs(
        self, kind: Any, namespace: str, name: str, owner: Mapping[str, str]
    ) -> None:
        """Delete the object if its labels say it is `owner`'s, exactly as it was read."""
        obj = await self._get_or_none(kind, name, namespace)
        if obj is None:
            return
        labels = _labels_of(obj)
        if _ownership(labels) != owner:
            log.info(
                "delete.left_alone",
                kind=kind.__name__,
                namespace=namespace,
                name=name,
                whose=_whose(labels),
            )
            return  # never delete what is not this preview's
        try:
            await self._delete_exactly(kind, name, namespace, obj.metadata)
        except httpx2.HTTPStatusError as exc:
            if exc.response.status_code != 404:
                raise  # a 409 (it changed since it was read) is retried: read again

    async def _delete_exactly(self, kind: Any, name: str, namespace: str, read: Any) -> None:
        """DELETE with preconditions on the uid and resourceVersion that were read.

        lightkube's `delete` sends no DeleteOptions, so its own request builder is used and
        the body added; the API server answers 409 if the object changed since.
        """
        generic = self._client._client  # lightkube's own request builder
        request = generic.prepare_request("delete", res=kind, name=name, namespace=namespace)
        request.data = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": read.uid, "resourceVersion": read.resourceVersion},
        }
        response = await generic.send(generic.build_adapter_request(request))  # type: ignore[no-untyped-call]
        generic.handle_response("delete", response, request)


def _labels_of(obj: Any) -> Mapping[str, str]:
    return (obj.metadata.labels if obj.metadata else None) or {}


def _ownership(labels: Mapping[str, str]) -> dict[str, str | None]:
    """The labels that say whose an object is: ci-bot's, which project's, which environment;
    for a preview also which target (production runs builds of many targets)."""
    keys = [LABEL_MANAGED_BY, LABEL_PROJECT, LABEL_ENVIRONMENT]
    if labels.get(LABEL_ENVIRONMENT) == EnvironmentKind.PREVIEW.value:
        keys.append(LABEL_TARGET)
    return {key: labels.get(key) for key in keys}


def _whose(labels: Mapping[str, str]) -> str:
    """Whose an object is, in words, for a refusal or a log line."""
    if labels.get(LABEL_MANAGED_BY) != MANAGER:
        return "not ci-bot's"
    project, environment = labels.get(LABEL_PROJECT), labels.get(LABEL_ENVIRONMENT)
    if environment == EnvironmentKind.PREVIEW.value:
        return f"project {project!r}'s preview of {labels.get(LABEL_TARGET)!r}"
    return f"project {project!r}'s {environment}"


def _with_precondition(manifest: Mapping[str, Any], current: Any) -> dict[str, Any]:
    """The manifest applied only onto the object as it was read (409 if it changed since)."""
    read = current.metadata
    metadata = {**manifest["metadata"], "uid": read.uid, "resourceVersion": read.resourceVersion}
    return {**manifest, "metadata": metadata}


def _template_label(dep: Deployment, key: str) -> str | None:
    template = dep.spec.template.metadata if dep.spec else None
    labels = (template.labels if template else None) or {}
    return labels.get(key)


def _pinned(dep: Deployment) -> str | None:
    """The digest the Deployment's image is pinned to (`repo@sha256:…`), if it is."""
    spec = dep.spec.template.spec if dep.spec else None
    image = (spec.containers[0].image if spec and spec.containers else None) or ""
    return image.rsplit("@", 1)[1] if "@" in image else None


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


def _to_resource(manifest: Mapping[str, Any]) -> Any:
    kind = manifest.get("kind")
    if kind == "Mapping":
        return Mapping_.from_dict(dict(manifest))
    if kind == "HTTPRoute":
        return HTTPRoute.from_dict(dict(manifest))
    return from_dict(dict(manifest))
