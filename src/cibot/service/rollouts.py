"""What preview and production deploys share: where an environment is, and how long to wait.

An environment (`domain.environment`) is addressed as `namespace/name`; that string is
also the job queue that runs its deploys one at a time. A rollout is waited for only while
its build is still in the state that asked for it, so a superseded or closed build stops
waiting at once.

A deploy has a deadline: the rollout timeout plus an allowance for an unreachable API,
counted from when it was asked for. Until then its job is retried, however many attempts
that takes (TRUST F16); at the deadline the deploy fails with the reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from cibot.domain.build import BuildState
from cibot.domain.project import Project
from cibot.service.errors import Transient
from cibot.service.ports import Cluster, RolloutOutcome, Store

# Seconds added to the Deployment's own progress deadline before ci-bot stops waiting.
DEADLINE_MARGIN_SECONDS = 30
# How long past its rollout timeout a deploy may wait for an unreachable Kubernetes API.
UNAVAILABLE_GRACE_SECONDS = 600


def deadline(project: Project, since: datetime) -> datetime:
    """When a deploy asked for at `since` stops waiting for Kubernetes and fails."""
    allowed = project.workload.rollout_timeout_seconds + UNAVAILABLE_GRACE_SECONDS
    return since + timedelta(seconds=allowed)


@contextmanager
def retried_until(moment: datetime) -> Iterator[None]:
    """Transient failures inside are retried by the job runner until `moment`, not only for
    the job's attempts: a deploy does not give up before its deadline."""
    try:
        yield
    except Transient as exc:
        if exc.until is None:
            exc.until = moment
        raise


async def wait_while(
    cluster: Cluster,
    store: Store,
    project: Project,
    name: str,
    *,
    build_id: str,
    state: BuildState,
) -> RolloutOutcome:
    """Wait for the rollout of `name` while the build stays in `state`."""

    async def still_wanted() -> bool:
        async with store.transaction() as tx:
            current = await tx.builds.get(build_id)
        return current is not None and current.state is state

    return await wait_for(cluster, project, name, still_wanted, build_id=build_id)


async def wait_for(
    cluster: Cluster,
    project: Project,
    name: str,
    still_wanted: Callable[[], Awaitable[bool]],
    *,
    build_id: str,
) -> RolloutOutcome:
    """Wait for `build_id`'s rollout of `name` in the project's namespace while `still_wanted()`."""
    timeout = project.workload.rollout_timeout_seconds + DEADLINE_MARGIN_SECONDS
    return await cluster.wait_for_rollout(
        project.namespace, name, timeout, still_wanted, build_id=build_id
    )
