"""The "nothing lost, nothing done twice" checks the crash and fault tests share."""

from __future__ import annotations

import asyncio

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment

from cibot.domain import naming
from cibot.domain.build import BuildType
from cibot.fakeslack import FakeSlackServer
from tests.support.steps import card_saying, cards_of, dms_of, offered_to_all, until


def preview_name(target: str, project: str = "shop", build_type: str = "branch") -> str:
    return naming.environment_name(project, BuildType(build_type), target)


async def generation(kube: AsyncClient, namespace: str, name: str) -> int:
    dep = await kube.get(Deployment, name, namespace=namespace)
    assert dep.metadata is not None and dep.metadata.generation is not None
    return dep.metadata.generation


async def ready_once(
    slack: FakeSlackServer,
    kube: AsyncClient,
    *,
    channel: str,
    namespace: str,
    build_id: str,
    target: str,
    people: tuple[str, ...],
) -> None:
    """The build is ready: one card saying so, one DM per person, the Deployment rolled once."""
    await card_saying(slack, channel, build_id, "is ready")
    await until(slack, offered_to_all(slack, build_id, people))
    await asyncio.sleep(1.5)  # time for a duplicate to show up, were there one
    assert len(cards_of(slack, channel, build_id)) == 1, "one card per build"
    assert {u: len(dms_of(slack, u, build_id)) for u in people} == dict.fromkeys(people, 1)
    assert await generation(kube, namespace, preview_name(target)) == 1
