"""T6: self-approval. CI may name the build's author; the policy can forbid the author's
approval (four eyes) and their deploy; one person's two clicks count once.

Project "strict": two approvals needed, four eyes on, the author may not deploy. Without the
four-eyes rule the author's approval would count; without unique verdicts a second click by
the same QA member would make the quorum.
"""

from __future__ import annotations

import pytest

from tests.support.flow import press, ready_build, until
from tests.support.trust import STRICT_OWNERS, STRICT_QA, Shared, unique

pytestmark = pytest.mark.kubernetes

AUTHOR, OTHER, THIRD = STRICT_QA
OWNER = STRICT_OWNERS[0]


async def test_T6_the_authors_approval_is_denied_and_one_users_two_clicks_count_once(
    shared: Shared,
) -> None:
    slack = shared.slack
    build_id = await ready_build(
        shared.url, slack, (*STRICT_QA, OWNER),
        project="strict", image="registry.example.test/strict/web:1.0", type="branch",
        target=unique("t6"), author=AUTHOR,
    )  # fmt: skip
    told = {u: len(slack.state.ephemerals(u)) for u in (AUTHOR, OTHER, OWNER)}

    press(shared.url, slack, AUTHOR, "qa_approve", build_id)
    press(shared.url, slack, OTHER, "qa_approve", build_id)
    press(shared.url, slack, OTHER, "qa_approve", build_id)
    await until(slack, lambda s: len(s.ephemerals(AUTHOR)) > told[AUTHOR])
    await until(slack, lambda s: len(s.ephemerals(OTHER)) > told[OTHER])
    press(shared.url, slack, OWNER, "deploy_production", build_id)
    await until(slack, lambda s: len(s.ephemerals(OWNER)) > told[OWNER])

    assert "you wrote this build" in slack.state.ephemerals(AUTHOR)[-1].visible_text
    assert "already" in slack.state.ephemerals(OTHER)[-1].visible_text
    assert "1 more QA approval (1 of 2)" in slack.state.ephemerals(OWNER)[-1].visible_text
    await shared.rows.idle()
    verdicts = shared.rows.all("SELECT user_id FROM verdicts WHERE build_id = :b", b=build_id)
    assert [v["user_id"] for v in verdicts] == [OTHER]
    assert shared.rows.build(build_id)["state"] == "ready"
    denied = [a for a in shared.rows.audit("click.denied") if a["build_id"] == build_id]
    assert [a["actor"] for a in denied] == [AUTHOR]


async def test_T6_the_author_may_not_deploy_their_own_build_when_the_policy_says_so(
    shared: Shared,
) -> None:
    slack = shared.slack
    build_id = await ready_build(
        shared.url, slack, (*STRICT_QA, OWNER),
        project="strict", image="registry.example.test/strict/web:1.1", type="branch",
        target=unique("t6"), author=OWNER,
    )  # fmt: skip
    press(shared.url, slack, OTHER, "qa_approve", build_id)
    press(shared.url, slack, THIRD, "qa_approve", build_id)
    await until(slack, lambda s: len(
        shared.rows.all("SELECT user_id FROM verdicts WHERE build_id = :b", b=build_id)
    ) == 2)  # fmt: skip
    told = len(slack.state.ephemerals(OWNER))

    press(shared.url, slack, OWNER, "deploy_production", build_id)

    await until(slack, lambda s: len(s.ephemerals(OWNER)) > told)
    assert "someone else must deploy it" in slack.state.ephemerals(OWNER)[-1].visible_text
    await shared.rows.idle()
    assert shared.rows.build(build_id)["state"] == "ready"
