"""T14: stale buttons: a click on an expired, closed or superseded build gets an explanation,
and nothing else happens; such builds lose their buttons.

Defence: superseded, closed and expired builds lose their buttons (their DMs are redrawn),
and the gate refuses any action their state (or, for expiry, the clock) does not allow.
Without it, an old DM's button would deploy a build a newer one replaced, or one nobody
decided on in time.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.support.flow import dm_of, dms_of, press, ready_build, report_build, until
from tests.support.shop import EVERYONE, OWNERS, QA, SECRET
from tests.support.trust import IMAGE, Shared, unique

pytestmark = pytest.mark.kubernetes


async def _refused_quietly(
    shared: Shared, build_id: str, clicks: list[tuple[str, str]], expected: str
) -> None:
    slack = shared.slack
    await shared.rows.idle()
    told = {u: len(slack.state.ephemerals(u)) for u, _ in clicks}
    before = shared.rows.counts()
    updates = {u: [m.update_count for m in dms_of(slack, u, build_id)] for u in EVERYONE}

    for user, action_id in clicks:
        press(shared.url, slack, user, action_id, build_id)

    await until(slack, lambda s: all(len(s.ephemerals(u)) > told[u] for u, _ in clicks))
    for user, _ in clicks:
        assert expected in slack.state.ephemerals(user)[-1].visible_text
    await shared.rows.idle()
    await asyncio.sleep(0.5)
    after = shared.rows.counts()
    assert after["verdicts"] == before["verdicts"] and after["decisions"] == before["decisions"]
    assert {u: [m.update_count for m in dms_of(slack, u, build_id)] for u in EVERYONE} == updates


async def test_T14_a_superseded_build_loses_its_buttons_and_a_click_on_it_is_explained(
    shared: Shared,
) -> None:
    slack, target = shared.slack, unique("t14")
    older = await ready_build(
        shared.url,
        slack,
        EVERYONE,
        project="shop",
        image=IMAGE,
        type="branch",
        target=target,
    )
    newer = report_build(
        shared.url,
        SECRET,
        project="shop",
        image=IMAGE.replace("1.0", "1.1"),
        type="branch",
        target=target,
    )
    newer_id = newer.json()["build_id"]

    await until(slack, lambda s: all(
        not dm_of(slack, u, older).buttons and "uperseded" in dm_of(slack, u, older).visible_text
        for u in EVERYONE
    ))  # fmt: skip
    assert newer_id in dm_of(slack, OWNERS[0], older).visible_text
    await _refused_quietly(
        shared, older,
        [(OWNERS[0], "deploy_production"), (QA[0], "qa_approve"), (OWNERS[1], "close_build")],
        "superseded",
    )  # fmt: skip
    assert shared.rows.build(older)["state"] == "superseded"


async def test_T14_a_closed_build_loses_its_buttons_and_a_click_on_it_is_explained(
    shared: Shared,
) -> None:
    slack = shared.slack
    build_id = await ready_build(
        shared.url,
        slack,
        EVERYONE,
        project="shop",
        image=IMAGE,
        type="branch",
        target=unique("t14"),
    )
    press(shared.url, slack, OWNERS[0], "close_build", build_id)
    await until(slack, lambda s: all(not dm_of(slack, u, build_id).buttons for u in EVERYONE))

    await _refused_quietly(
        shared, build_id,
        [(OWNERS[1], "deploy_production"), (QA[1], "qa_reject"), (OWNERS[1], "close_build")],
        "was closed",
    )  # fmt: skip
    assert shared.rows.build(build_id)["state"] == "closed"


async def test_T14_an_expired_build_loses_its_buttons_and_a_click_on_it_is_explained(
    shared: Shared,
) -> None:
    """Project `expiring` has `policy.expires_after: 4s` (and no quorum, so Deploy is shown)."""
    slack = shared.slack
    build_id = await ready_build(
        shared.url,
        slack,
        EVERYONE,
        project="expiring",
        image=IMAGE,
        type="branch",
        target=unique("t14"),
    )
    assert "deploy_production" in [b.action_id for b in dm_of(slack, OWNERS[0], build_id).buttons]

    await until(slack, lambda s: all(not dm_of(slack, u, build_id).buttons for u in EVERYONE))
    assert "Expired" in dm_of(slack, OWNERS[0], build_id).visible_text
    await _refused_quietly(
        shared, build_id, [(OWNERS[0], "deploy_production"), (QA[0], "qa_approve")], "expired"
    )
    assert shared.rows.build(build_id)["state"] == "expired"
