"""F5: the process is killed between a deploy and its notification: on restart the pending
job sends the update, exactly once.

Two crash points. `after_rollout`: a preview's outcome is committed (with the jobs that
update the card and send the DMs), nothing sent yet. `after_click`: an owner's production
click is committed with its deploy job, not yet acknowledged. On restart the queued jobs
run once: one card, one DM per person, one production deployment, one announcement.
Without the outbox (jobs committed with the state), the restart would never tell anyone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient

from cibot.fakeslack import FakeSlackServer
from tests.support import crash
from tests.support.ci import body_of, post_build
from tests.support.flow import card_saying, press, ready_build, until
from tests.support.proofs import generation_or_none, ready_once
from tests.support.rows import Rows
from tests.support.shop import CHANNEL, EVERYONE, OWNERS, SECRET
from tests.support.soak import Census
from tests.support.trust import IMAGE

pytestmark = [pytest.mark.kubernetes, pytest.mark.soak]


def announced(slack: FakeSlackServer) -> list[str]:
    texts = [m.visible_text for m in slack.state.messages(CHANNEL)]
    return [t for t in texts if "was deployed to production by" in t]


async def test_F5_killed_after_the_rollout_before_the_card_update_the_restart_notifies_once(  # noqa: PLR0917 - the fixtures it runs against
    cibot_config: dict[str, Any],
    tmp_path: Path,
    fake_slack: FakeSlackServer,
    kube: AsyncClient,
    namespace: str,
    census: Census,
) -> None:
    census.suite = "crash after_rollout (F5)"
    census.case()
    config = crash.with_short_leases(cibot_config)
    dying = await crash.armed(config, tmp_path, "after_rollout")

    response = post_build(
        dying.url, SECRET, body_of(project="shop", image=IMAGE, type="branch", target="main")
    )
    census.answered(response.status_code)
    build_id = response.json()["build_id"]
    crash.died_at_its_point(dying)
    rows = Rows(config["database"]["url"])
    assert rows.build(build_id)["state"] == "ready"
    assert not any(fake_slack.state.dm_messages(u) for u in EVERYONE), "nobody was told yet"

    again = crash.restarted(config, tmp_path)
    try:
        await ready_once(
            fake_slack, kube, channel=CHANNEL, namespace=namespace,
            build_id=build_id, target="main", people=EVERYONE, census=census,
        )  # fmt: skip
    finally:
        again.stop()
        rows.dispose()


async def test_F5_killed_after_a_production_click_before_its_job_deploys_and_announces_once(  # noqa: PLR0917 - the fixtures it runs against
    cibot_config: dict[str, Any],
    tmp_path: Path,
    fake_slack: FakeSlackServer,
    kube: AsyncClient,
    namespace: str,
    census: Census,
) -> None:
    census.suite = "crash after_click (F5)"
    census.case()
    cibot_config["projects"][0]["policy"] = {"approvals_required": 0}
    config = crash.with_short_leases(cibot_config)
    live = await crash.armed(config, tmp_path, "after_click")
    build_id = await ready_build(
        live.url, fake_slack, EVERYONE,
        project="shop", image=IMAGE, type="branch", target="main",
    )  # fmt: skip

    assert crash.no_answer(
        lambda: press(live.url, fake_slack, OWNERS[0], "deploy_production", build_id)
    )
    crash.died_at_its_point(live)
    rows = Rows(config["database"]["url"])
    assert rows.build(build_id)["state"] == "promoting", "the click was committed"

    again = crash.restarted(config, tmp_path)
    try:
        try:
            await until(fake_slack, lambda s: len(announced(fake_slack)) == 1, within=90)
            census.answered(
                press(again.url, fake_slack, OWNERS[1], "deploy_production", build_id).status_code
            )  # a second try
            await until(fake_slack, lambda s: len(s.ephemerals(OWNERS[1])) == 1)
            await rows.idle()
        finally:
            told = census.effect(len(announced(fake_slack)))
            rolled = census.effect(await generation_or_none(kube, namespace, "shop"))
            deploys = census.effect(len(rows.jobs_of("deploy_production")))
            decided = census.effect(len(rows.all("SELECT id FROM decisions")))
        assert told == 1, "one announcement"
        await card_saying(fake_slack, CHANNEL, build_id, "Deployed to production")
        assert rolled == 1
        assert deploys == 1
        assert decided == 1
    finally:
        again.stop()
        rows.dispose()
