"""F6: the process is killed after accepting a webhook: 2xx only after commit, and on
restart the build is deployed.

Crash point `after_accept`: the build is committed, the 202 not yet sent. CI sees no
answer and retries with the same `webhook-id` (as `cibot notify` does); the restarted
service answers with the build it had committed, and deploys it once. Without the commit
before the answer, or the replay of the first answer, the retry would make a second build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient

from cibot.fakeslack import FakeSlackServer
from tests.support import crash
from tests.support.ci import body_of, post_build
from tests.support.proofs import ready_once
from tests.support.rows import Rows
from tests.support.shop import CHANNEL, EVERYONE, SECRET
from tests.support.soak import Census
from tests.support.trust import IMAGE

pytestmark = [pytest.mark.kubernetes, pytest.mark.soak]


async def test_F6_killed_after_the_commit_before_the_202_the_retry_gets_the_build_deployed_once(  # noqa: PLR0917 - the fixtures it runs against
    cibot_config: dict[str, Any],
    tmp_path: Path,
    fake_slack: FakeSlackServer,
    kube: AsyncClient,
    namespace: str,
    census: Census,
) -> None:
    census.suite = "crash after_accept (F6)"
    census.case()
    config = crash.with_short_leases(cibot_config)
    body = body_of(project="shop", image=IMAGE, type="branch", target="main")
    dying = await crash.armed(config, tmp_path, "after_accept")

    assert crash.no_answer(lambda: post_build(dying.url, SECRET, body, webhook_id="msg_f6"))
    crash.died_at_its_point(dying)
    rows = Rows(config["database"]["url"])
    committed = rows.all("SELECT id FROM builds")
    assert census.effect(len(committed)) == 1, "the build was committed before the answer"

    again = crash.restarted(config, tmp_path)
    try:
        retry = post_build(again.url, SECRET, body, webhook_id="msg_f6")
        census.answered(retry.status_code)
        assert retry.status_code == 202, retry.text
        assert retry.json()["build_id"] == committed[0]["id"]
        await ready_once(
            fake_slack, kube, channel=CHANNEL, namespace=namespace,
            build_id=committed[0]["id"], target="main", people=EVERYONE, census=census,
        )  # fmt: skip
        assert census.effect(rows.counts()["builds"]) == 1
    finally:
        again.stop()
        rows.dispose()
