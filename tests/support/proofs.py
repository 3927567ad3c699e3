"""The "nothing lost, nothing done twice" checks the crash and fault tests share."""

from __future__ import annotations

import asyncio

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment

from cibot.domain import naming
from cibot.domain.build import BuildType
from cibot.fakeslack import FakeSlackServer
from tests.support.flow import card_saying, cards_of, dms_of, offered_to_all, until
from tests.support.soak import Census


def preview_name(target: str, project: str = "shop", build_type: str = "branch") -> str:
    return naming.environment_name(project, BuildType(build_type), target)


async def generation(kube: AsyncClient, namespace: str, name: str) -> int:
    dep = await kube.get(Deployment, name, namespace=namespace)
    assert dep.metadata is not None and dep.metadata.generation is not None
    return dep.metadata.generation


async def generation_or_none(kube: AsyncClient, namespace: str, name: str) -> int:
    """The Deployment's generation, or 0 when it does not exist (it was never applied)."""
    try:
        return await generation(kube, namespace, name)
    except ApiError as error:
        if error.status.code == 404:
            return 0
        raise


async def ready_once(
    slack: FakeSlackServer,
    kube: AsyncClient,
    *,
    channel: str,
    namespace: str,
    build_id: str,
    target: str,
    people: tuple[str, ...],
    census: Census | None = None,
) -> None:
    """The build is ready: one card saying so, one DM per person, the Deployment rolled once.

    `census` counts what is missing (lost) or there twice (doubled) before the asserts, also
    when the wait for the card or the DMs gave up."""
    census = census or Census("", "")
    try:
        await card_saying(slack, channel, build_id, "is ready")
        await until(slack, offered_to_all(slack, build_id, people))
    finally:
        await asyncio.sleep(1.5)  # time for a duplicate to show up, were there one
        cards = cards_of(slack, channel, build_id)
        census.effect(len(cards) if any("is ready" in c.visible_text for c in cards) else 0)
        dms = {u: census.effect(len(dms_of(slack, u, build_id))) for u in people}
        rolled = census.effect(await generation_or_none(kube, namespace, preview_name(target)))
    assert len(cards) == 1, "one card per build"
    assert dms == dict.fromkeys(people, 1)
    assert rolled == 1
