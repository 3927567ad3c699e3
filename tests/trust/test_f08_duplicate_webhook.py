"""F8: a duplicate webhook: the same id gets the first answer; the same image, commit and
build number for a target under a new id deploys nothing new (unless asked: another commit
or build number, or a failed build). A notification naming neither commit nor build number
is a new build: CI may have pushed the tag again, and only a new build rolls onto it.

Without the delivery table the replay would make a second build; without recognising the
repeat, CI re-running its notify step would supersede the build under review (voiding its
approvals) and roll the preview again.
"""

from __future__ import annotations

import asyncio

import pytest
from lightkube import AsyncClient

from tests.support.flow import card_saying, cards_of, offered_to_all, report_build, until
from tests.support.proofs import generation, preview_name
from tests.support.shop import CHANNEL, EVERYONE, SECRET
from tests.support.trust import IMAGE, Shared, unique

pytestmark = pytest.mark.kubernetes


async def test_F8_the_same_id_replays_its_answer_and_the_same_build_under_a_new_id_deploys_nothing(
    shared: Shared, kube: AsyncClient
) -> None:
    target = unique("f8")
    fields = {
        "project": "shop",
        "image": IMAGE,
        "type": "branch",
        "target": target,
        "commit": "abc1234",
    }
    first = report_build(shared.url, SECRET, webhook_id=f"msg_{target}", **fields)
    again = report_build(shared.url, SECRET, webhook_id=f"msg_{target}", **fields)
    build_id = first.json()["build_id"]
    await card_saying(shared.slack, CHANNEL, build_id, "is ready")
    await until(shared.slack, offered_to_all(shared.slack, build_id, EVERYONE))
    before = shared.rows.counts()

    repeated = report_build(shared.url, SECRET, webhook_id=f"msg_{target}_2", **fields)

    assert first.status_code == again.status_code == repeated.status_code == 202
    assert again.json() == first.json() == repeated.json()
    await shared.rows.idle()
    await asyncio.sleep(1)
    after = shared.rows.counts()
    assert after["builds"] == before["builds"] and after["jobs"] == before["jobs"]
    assert shared.rows.build(build_id)["state"] == "ready", "still in review, approvals kept"
    assert len(cards_of(shared.slack, CHANNEL, build_id)) == 1
    assert await generation(kube, shared.namespace, preview_name(target)) == 1

    rebuilt = report_build(
        shared.url, SECRET, webhook_id=f"msg_{target}_3", **{**fields, "commit": "def5678"}
    )
    assert rebuilt.status_code == 202 and rebuilt.json()["build_id"] != build_id
    await card_saying(shared.slack, CHANNEL, rebuilt.json()["build_id"], "is ready")
    assert await generation(kube, shared.namespace, preview_name(target)) == 2

    unnamed = {key: value for key, value in fields.items() if key != "commit"}
    builds = {rebuilt.json()["build_id"]}
    for attempt in (4, 5):  # the same unnamed notification twice: two pushes of the tag
        pushed = report_build(shared.url, SECRET, webhook_id=f"msg_{target}_{attempt}", **unnamed)
        assert pushed.status_code == 202 and pushed.json()["build_id"] not in builds
        builds.add(pushed.json()["build_id"])
        await card_saying(shared.slack, CHANNEL, pushed.json()["build_id"], "is ready")
    assert await generation(kube, shared.namespace, preview_name(target)) == 4
