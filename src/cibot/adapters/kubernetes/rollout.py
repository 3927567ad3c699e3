"""Is a rollout done, still going, or failed, and if it is stuck, why?

`rollout_status` decides from a Deployment exactly as `kubectl rollout status` does, in its
words, so what ci-bot reports matches what an engineer sees at the terminal; `build_digest`
says which image digest the build's own pods run. kubectl waits
forever; ci-bot keeps its own deadline and, when a rollout fails or stalls, reads the pods and
events with `pod_failure_reason` to say why in plain words (`ImagePullBackOff: …`).
Both are pure functions over API dicts, so every case is a fixture in a unit test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cibot.adapters.kubernetes.manifests import LABEL_BUILD

PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"

# Waiting reasons that are a normal step of starting a container, not a problem.
_BENIGN_WAITING = frozenset({"ContainerCreating", "PodInitializing"})


class RolloutState(StrEnum):
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    """Where a rollout stands; `message` in kubectl's words, `reason` set when it failed."""

    state: RolloutState
    message: str
    reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.state is not RolloutState.WAITING


def rollout_status(deployment: Mapping[str, Any]) -> RolloutStatus:
    """The rollout state of a Deployment, decided as `kubectl rollout status` decides it."""
    name = _get(deployment, "metadata", "name") or ""
    generation = int(_get(deployment, "metadata", "generation") or 0)
    status: Mapping[str, Any] = deployment.get("status") or {}
    if generation > int(status.get("observedGeneration") or 0):
        return _waiting("Waiting for deployment spec update to be observed...")
    progressing = _condition(status, "Progressing")
    if progressing and progressing.get("reason") == PROGRESS_DEADLINE_EXCEEDED:
        return RolloutStatus(
            RolloutState.FAILED,
            f'deployment "{name}" exceeded its progress deadline',
            PROGRESS_DEADLINE_EXCEEDED,
        )
    wanted = _get(deployment, "spec", "replicas")
    updated = int(status.get("updatedReplicas") or 0)
    current = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    prefix = f'Waiting for deployment "{name}" rollout to finish:'
    if wanted is not None and updated < int(wanted):
        return _waiting(f"{prefix} {updated} out of {wanted} new replicas have been updated...")
    if current > updated:
        return _waiting(f"{prefix} {current - updated} old replicas are pending termination...")
    if available < updated:
        return _waiting(f"{prefix} {available} of {updated} updated replicas are available...")
    return RolloutStatus(RolloutState.DONE, f'deployment "{name}" successfully rolled out')


@dataclass(frozen=True, slots=True)
class DigestCheck:
    """The digest a build's pods run; or why there is none (`problem`); or neither, yet."""

    digest: str | None = None
    problem: str | None = None


def build_digest(
    pods: Sequence[Mapping[str, Any]], build: str, pinned: str | None = None
) -> DigestCheck:
    """The image digest (`sha256:…`) that the pods of `build` report running.

    Only pods stamped with the build (`cibot/build`, its ReplicaSet's), ready, and not
    being deleted are asked: an older ReplicaSet's pods stay ready while they terminate, and
    may run what a re-pushed tag pointed to before. Pods of one build that report different
    digests (the tag was pushed again mid-rollout) give none, and so does a digest other than
    the one the image was `pinned` to.
    """
    digests = sorted(
        {
            digest
            for pod in pods
            if _get(pod, "metadata", "labels", LABEL_BUILD) == build
            and not _get(pod, "metadata", "deletionTimestamp")
            and (_condition(pod.get("status") or {}, "Ready") or {}).get("status") == "True"
            for container in _get(pod, "status", "containerStatuses") or ()
            if container.get("ready") and (digest := _registry_digest(container.get("imageID")))
        }
    )
    if not digests:
        return DigestCheck()
    if len(digests) > 1:
        return DigestCheck(problem=f"the pods of one build run different images: {digests}")
    if pinned is not None and digests[0] != pinned:
        return DigestCheck(problem=f"the pods run {digests[0]}, not {pinned} as pinned")
    return DigestCheck(digest=digests[0])


def _registry_digest(image_id: object) -> str | None:
    """`sha256:…` of `repo@sha256:…` (any runtime's prefix); None for a local image id."""
    if not isinstance(image_id, str) or "@" not in image_id:
        return None
    digest = image_id.rsplit("@", 1)[1]
    return digest if ":" in digest else None


def pod_failure_reason(
    pods: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]]
) -> str | None:
    """The most telling thing wrong with a rollout's pods, in plain words; None if nothing.

    In order: a container stuck waiting for a bad reason (image pull, crash loop, bad config),
    a container that exited with an error, a pod that cannot be scheduled, a pod that failed,
    and last the newest Warning event. The caller picks the pods (the new ReplicaSet's) and
    the events (of the Deployment, its ReplicaSets and pods, since the rollout began).
    """
    live = [pod for pod in pods if not _get(pod, "metadata", "deletionTimestamp")]
    for finder in _POD_FINDERS:
        for pod in live:
            reason = finder(pod)
            if reason:
                return reason
    return newest_warning(events)


def _waiting_container(pod: Mapping[str, Any]) -> str | None:
    for container in _container_statuses(pod):
        waiting = _get(container, "state", "waiting") or {}
        reason = waiting.get("reason")
        if not reason or reason in _BENIGN_WAITING:
            continue
        if reason == "CrashLoopBackOff":
            last = _get(container, "lastState", "terminated")
            if last:
                return f"CrashLoopBackOff: {_exited(container, last)}"
        return _words(reason, waiting.get("message"))
    return None


def _terminated_container(pod: Mapping[str, Any]) -> str | None:
    for container in _container_statuses(pod):
        terminated = _get(container, "state", "terminated")
        if terminated and int(terminated.get("exitCode") or 0) != 0:
            return _exited(container, terminated)
    return None


def _unschedulable(pod: Mapping[str, Any]) -> str | None:
    scheduled = _condition(pod.get("status") or {}, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        return _words(scheduled.get("reason") or "Unschedulable", scheduled.get("message"))
    return None


def _failed_pod(pod: Mapping[str, Any]) -> str | None:
    status: Mapping[str, Any] = pod.get("status") or {}
    if status.get("phase") == "Failed":
        return _words(status.get("reason") or "PodFailed", status.get("message"))
    return None


_POD_FINDERS: tuple[Callable[[Mapping[str, Any]], str | None], ...] = (
    _waiting_container,
    _terminated_container,
    _unschedulable,
    _failed_pod,
)


def newest_warning(events: Iterable[Mapping[str, Any]]) -> str | None:
    """`reason: message` of the newest Warning event (core/v1 or events.k8s.io/v1 shape)."""
    warnings = [event for event in events if event.get("type") == "Warning"]
    if not warnings:
        return None
    newest = max(warnings, key=_event_time)
    return _words(newest.get("reason") or "Warning", newest.get("message") or newest.get("note"))


def _event_time(event: Mapping[str, Any]) -> datetime:
    for stamp in (
        event.get("lastTimestamp"),
        event.get("eventTime"),
        _get(event, "series", "lastObservedTime"),
        event.get("deprecatedLastTimestamp"),
        event.get("firstTimestamp"),
        _get(event, "metadata", "creationTimestamp"),
    ):
        if isinstance(stamp, str) and stamp:
            try:
                moment = datetime.fromisoformat(stamp)
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)


def _exited(container: Mapping[str, Any], terminated: Mapping[str, Any]) -> str:
    code = terminated.get("exitCode")
    words = f'container "{container.get("name", "?")}" exited with code {code}'
    if terminated.get("reason"):
        words += f" ({terminated['reason']})"
    if terminated.get("message"):
        words += f": {str(terminated['message']).strip()}"
    return words


def _container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status: Mapping[str, Any] = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or ():
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def _words(reason: str, message: object) -> str:
    text = str(message).strip() if message else ""
    return f"{reason}: {text}" if text else reason


def _waiting(message: str) -> RolloutStatus:
    return RolloutStatus(RolloutState.WAITING, message)


def _get(data: Mapping[str, Any], *path: str) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node
