"""T5: someone else clicks: only the project's QA may approve, only its owners deploy or close.

Defence: roles by Slack user id from the configuration, judged fail-closed on every click;
empty role lists refuse everyone and fail `cibot check`. Without it, each of these clicks
would change the build; here each gets an ephemeral "Not allowed", an audit "denied" row,
and nothing else. (That an empty role list refuses everyone in the gate itself is
tests/unit/test_review.py::test_an_empty_role_list_refuses_everyone.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

from tests.support.flow import dm_of, press, ready_build, until
from tests.support.service import run_cli
from tests.support.shop import EVERYONE, OWNERS, QA
from tests.support.trust import IMAGE, OTHER_OWNER, STRANGER, Shared, unique

pytestmark = pytest.mark.kubernetes

REFUSED = [
    (OWNERS[0], "qa_approve", "only the QA members of Shop"),
    (QA[0], "deploy_production", "only the owners of Shop"),
    (QA[1], "close_build", "only the owners of Shop"),
    (OTHER_OWNER, "deploy_production", "only the owners of Shop"),
    (STRANGER, "close_build", "only the owners of Shop"),
]


async def test_T5_non_qa_approve_qa_deploy_and_other_projects_owner_are_denied_and_audited(
    shared: Shared,
) -> None:
    slack = shared.slack
    build_id = await ready_build(
        shared.url, slack, EVERYONE,
        project="shop", image=IMAGE, type="branch", target=unique("t5"),
    )  # fmt: skip
    await shared.rows.idle()
    before = {u: dm_of(slack, u, build_id).update_count for u in EVERYONE}
    told_before = {u: len(slack.state.ephemerals(u)) for u, _, _ in REFUSED}
    rows_before = shared.rows.counts()

    for user in (OTHER_OWNER, STRANGER):  # people without a DM with the bot yet
        WebClient("xoxb-fake", base_url=slack.api_url).conversations_open(users=user)
    for user, action_id, _ in REFUSED:
        press(shared.url, slack, user, action_id, build_id)

    await until(slack, lambda s: all(
        len(s.ephemerals(u)) > told_before[u] for u, _, _ in REFUSED
    ))  # fmt: skip
    for user, _, expected in REFUSED:
        assert f"Not allowed: {expected}" in slack.state.ephemerals(user)[-1].visible_text
    await shared.rows.idle()
    await asyncio.sleep(0.5)
    denied = [a for a in shared.rows.audit("click.denied") if a["build_id"] == build_id]
    assert sorted(a["actor"] for a in denied) == sorted(u for u, _, _ in REFUSED)
    after = shared.rows.counts()
    assert after["verdicts"] == rows_before["verdicts"]
    assert after["decisions"] == rows_before["decisions"]
    assert shared.rows.build(build_id)["state"] == "ready"
    assert {u: dm_of(slack, u, build_id).update_count for u in EVERYONE} == before


def test_T5_an_empty_role_list_fails_cibot_check_naming_the_key_and_line(
    sqlite_config: dict[str, Any], tmp_path: Path
) -> None:
    sqlite_config["projects"][0]["qa"] = []
    path = tmp_path / "check.yaml"
    path.write_text(yaml.safe_dump(sqlite_config, sort_keys=False))

    done = run_cli("check", "--config", str(path))

    assert done.returncode == 1
    assert "projects[0].qa" in done.stdout and "line " in done.stdout
