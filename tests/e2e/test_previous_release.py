"""Upgrades and rollbacks as Kubernetes does them: old and new versions on one database.

During a rolling update the old pods keep serving on the schema the new version migrated;
`helm rollback` starts the old version on it. So the previous release's code — a checkout of
the last release tag (or, before there is one, of the last commit that had a different
schema, else the parent commit), with its own locked environment — must serve on today's
schema. And this version serves on a newer schema that its migrations call compatible, and
refuses, saying why, one they do not.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cibot.adapters.store import migrate
from cibot.fakeslack import FakeSlackServer
from tests.support.ci import body_of, post_build
from tests.support.flow import card_saying
from tests.support.schemas import future_migration, upgrade_with
from tests.support.service import CibotProcess, run_cli
from tests.support.shop import CHANNEL, SECRET
from tests.support.tools import uv

pytestmark = pytest.mark.kubernetes
ROOT = Path(__file__).resolve().parents[2]
VERSIONS = "src/cibot/adapters/store/migrations/versions"
MECHANISM = "src/cibot/adapters/store/migrate.py"  # has `serves_from` from 0006_ship on


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


def schema_head(rev: str) -> str | None:
    """The newest migration at a commit (the revision no other one revises)."""
    revisions, revised = set(), set()
    for name in git("ls-tree", "--name-only", f"{rev}:{VERSIONS}").split():
        text = git("show", f"{rev}:{VERSIONS}/{name}")
        if found := re.search(r'^revision = "([^"]+)"', text, re.M):
            revisions.add(found.group(1))
        if down := re.search(r'^down_revision = "([^"]+)"', text, re.M):
            revised.add(down.group(1))
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def previous_release() -> str | None:
    """The code that ran before today's: a release tag, else a commit (see the module doc)."""
    if chosen := os.environ.get("CIBOT_PREVIOUS_RELEASE"):
        return chosen
    head = git("rev-parse", "HEAD").strip()
    for tag in git("tag", "--merged", "HEAD", "--list", "v*", "--sort=-v:refname").split():
        if git("rev-list", "-n", "1", tag).strip() != head:
            return tag
    today = schema_head("HEAD")
    candidates = [
        rev
        for rev in git("rev-list", "--first-parent", "--max-count=200", "HEAD^").split()
        if "serves_from" in git("show", f"{rev}:{MECHANISM}")
    ]
    return next((r for r in candidates if schema_head(r) != today), None) or next(
        iter(candidates), None
    )


@pytest.fixture(scope="module")
def previous_cibot(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(revision, path of its `cibot`): a checkout of that code with its own locked venv."""
    rev = previous_release()
    if rev is None:
        pytest.skip("no earlier release or commit that knows schema compatibility (0006_ship)")
    checkout = tmp_path_factory.mktemp("previous")
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive.stdout, check=True)
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(checkout / ".venv")}
    synced = subprocess.run(
        [uv(), "sync", "--locked", "--no-dev", "--quiet"],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert synced.returncode == 0, synced.stderr
    return rev, str(checkout / ".venv" / "bin" / "cibot")


async def test_the_previous_releases_code_serves_on_todays_schema(
    previous_cibot: tuple[str, str],
    cibot_config: dict[str, Any],
    fake_slack: FakeSlackServer,
    tmp_path: Path,
) -> None:
    rev, executable = previous_cibot
    today = CibotProcess(cibot_config, tmp_path)
    today.upgrade_db()  # today's `cibot db upgrade`: the schema is today's
    old = CibotProcess(cibot_config, tmp_path, executable=executable)

    old.start()
    try:
        body = body_of(project="shop", image="registry.example.test/shop/web:old",
                       type="branch", target="rolled-back")  # fmt: skip
        accepted = post_build(old.url, SECRET, body)
        assert accepted.status_code == 202, f"{rev}: {accepted.text}"
        await card_saying(fake_slack, CHANNEL, accepted.json()["build_id"], "is ready")
    finally:
        old.stop()


async def test_this_version_serves_on_a_newer_additive_schema(
    cibot_config: dict[str, Any], fake_slack: FakeSlackServer, tmp_path: Path
) -> None:
    future = future_migration(tmp_path / "future", revision="9001",
                              serves_from=migrate.head_revision() or "")  # fmt: skip
    await asyncio.to_thread(upgrade_with, cibot_config["database"]["url"], future)
    process = CibotProcess(cibot_config, tmp_path).start()
    try:
        body = body_of(project="shop", image="registry.example.test/shop/web:new",
                       type="branch", target="rolling")  # fmt: skip
        accepted = post_build(process.url, SECRET, body)
        assert accepted.status_code == 202, accepted.text
        await card_saying(fake_slack, CHANNEL, accepted.json()["build_id"], "is ready")
    finally:
        process.stop()
    assert "database.newer_schema" in process.logs()


def test_this_version_refuses_to_start_on_an_incompatible_newer_schema_saying_why(
    cibot_config: dict[str, Any], tmp_path: Path
) -> None:
    url = cibot_config["database"]["url"]
    upgrade_with(url, future_migration(tmp_path / "future", revision="9001", serves_from="9001"))
    process = CibotProcess(cibot_config, tmp_path)
    process.write_config()

    served = run_cli("serve", "--config", str(process.path), timeout=60)
    upgraded = run_cli("db", "upgrade", "--config", str(process.path), timeout=60)

    assert served.returncode == 2
    assert "at revision 9001, written by a newer ci-bot" in served.stderr
    assert upgraded.returncode == 2 and "newer ci-bot" in upgraded.stderr
