"""The lifecycle rules through the real server: expiry (also during a freeze), idle previews
removed after a warning, one reminder to silent QA, newer tags superseding older tags, and
deleted branches.

Durations are seconds here, so each rule plays out within a test; every wait is bounded and
stops as soon as the expected state is reached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from lightkube import AsyncClient
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service
from lightkube.resources.networking_v1 import Ingress
from lightkube.types import PatchType

from cibot.adapters import webhooks
from cibot.domain.build import BuildType
from cibot.domain.naming import environment_name
from cibot.fakeslack import FakeSlackServer, Message, visible_text
from tests.support import slack_requests as slack_req
from tests.support.ci import body_of, post_build
from tests.support.kube import is_gone
from tests.support.service import CibotProcess, run_cli
from tests.support.shop import CHANNEL, OWNERS, QA, SECRET, Launch

pytestmark = pytest.mark.kubernetes

IMAGE = "registry.example.test/shop/web:3.0"
QA1, QA2 = QA
OWNER1, _ = OWNERS
KINDS = (Deployment, Service, Ingress)


async def until(slack: FakeSlackServer, check: Callable[[], bool], within: float = 45) -> None:
    await slack.state.wait_for_async(lambda _: check(), within=within)


def _about(messages: list[Message], build_id: str) -> Message | None:
    """The message about this build (others may name it: "superseded by build …")."""
    facts = f"ci-bot build id `{build_id}`"
    return next((m for m in messages if facts in m.visible_text), None)


def dm_about(slack: FakeSlackServer, user: str, build_id: str) -> Message | None:
    return _about(slack.state.dm_messages(user), build_id)


def card_of(slack: FakeSlackServer, build_id: str) -> Message | None:
    return _about(slack.state.messages(CHANNEL), build_id)


def text_of(message: Message | None) -> str:
    return message.visible_text if message is not None else ""


def says(message: Message | None, text: str) -> bool:
    return text in text_of(message)


def without_buttons(message: Message | None, text: str) -> bool:
    """The message says `text` and offers nothing to click."""
    return says(message, text) and message is not None and not message.buttons


async def notify(cibot: CibotProcess, target: str, build_type: str = "branch") -> str:
    body = body_of(project="shop", image=IMAGE, type=build_type, target=target)
    response = post_build(cibot.url, SECRET, body)
    assert response.status_code == 202, response.text
    build_id: str = response.json()["build_id"]
    return build_id


async def reviewed(slack: FakeSlackServer, build_id: str) -> None:
    """Wait until everyone has their DM about the build."""
    await until(slack, lambda: all(dm_about(slack, u, build_id) for u in (*QA, *OWNERS)))


def press(cibot: CibotProcess, slack: FakeSlackServer, user: str, action: str, build: str) -> None:
    channel = slack.state.dm_channel(user) or "D0NOTADM"
    trigger_id = slack_req.issued(slack, user)
    payload = slack_req.block_actions(user, action, build, channel, trigger_id=trigger_id)
    response = slack_req.post(cibot.url, payload)
    assert response.status_code == 200, response.text


async def exists(kube: AsyncClient, kind: Any, name: str, namespace: str) -> bool:
    try:
        await kube.get(kind, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise
    return True


def env(target: str, build_type: BuildType = BuildType.BRANCH) -> str:
    return environment_name("shop", build_type, target)


# --- expiry ------------------------------------------------------------------------------


async def test_an_undecided_build_expires_and_every_message_says_so_without_buttons(
    launch: Launch, fake_slack: FakeSlackServer
) -> None:
    cibot = launch(policy={"approvals_required": 1, "expires_after": "5s"})
    build_id = await notify(cibot, "main")
    await reviewed(fake_slack, build_id)

    await until(fake_slack, lambda: says(card_of(fake_slack, build_id), "expired"))

    await until(fake_slack, lambda: all(
        without_buttons(dm_about(fake_slack, u, build_id), "Expired") for u in (*QA, *OWNERS)
    ))  # fmt: skip
    assert "expired: nobody decided in time" in text_of(card_of(fake_slack, build_id))
    assert "https://main." not in text_of(card_of(fake_slack, build_id)), "no link any more"


async def test_a_build_expires_during_a_freeze_and_a_later_deploy_click_is_refused_as_expired(
    launch: Launch, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    now = datetime.now(UTC)
    window = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
        "reason": "release week",
    }
    cibot = launch(
        policy={"approvals_required": 0, "expires_after": "5s", "freeze_windows": [window]}
    )
    build_id = await notify(cibot, "main")
    await reviewed(fake_slack, build_id)

    await until(fake_slack, lambda: all(
        without_buttons(dm_about(fake_slack, o, build_id), "Expired") for o in OWNERS
    ))  # fmt: skip
    owner_dm = dm_about(fake_slack, OWNER1, build_id)
    assert owner_dm is not None
    first = owner_dm.history[0] if owner_dm.history else owner_dm
    assert "Production is frozen" in visible_text(first), "the freeze was in force"

    press(cibot, fake_slack, OWNER1, "deploy_production", build_id)

    await until(fake_slack, lambda: len(fake_slack.state.ephemerals(OWNER1)) == 1)
    told = fake_slack.state.ephemerals(OWNER1)[0].visible_text
    assert told == "Nothing changed: this build expired before anyone decided on it"
    await asyncio.sleep(1.5)
    assert not await exists(kube, Deployment, "shop", namespace), "nothing went to production"
    assert len(fake_slack.state.messages(CHANNEL)) == 1, "no production announcement"


# --- idle previews -----------------------------------------------------------------------


def warnings_under(slack: FakeSlackServer, user: str, build_id: str) -> list[Message]:
    message = dm_about(slack, user, build_id)
    replies = message.replies if message else ()
    return [r for r in replies if "has been idle since" in r.visible_text]


async def test_an_idle_preview_is_removed_after_one_warning_and_only_cibots_objects_go(
    launch: Launch, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    lifecycle = {"preview_ttl": "8s", "preview_ttl_warning": "4s"}
    cibot = launch(lifecycle=lifecycle)
    plain, tampered = await notify(cibot, "idle-a"), await notify(cibot, "idle-b")
    await reviewed(fake_slack, plain)
    await reviewed(fake_slack, tampered)
    # Someone takes over the Service of idle-b: without ci-bot's label, it is not ci-bot's.
    unlabelled = {"metadata": {"labels": {"app.kubernetes.io/managed-by": None}}}
    await kube.patch(
        Service, env("idle-b"), unlabelled, namespace=namespace, patch_type=PatchType.MERGE
    )

    await until(fake_slack, lambda: all(
        warnings_under(fake_slack, o, b) for o in OWNERS for b in (plain, tampered)
    ))  # fmt: skip
    cibot.stop()
    cibot = launch()  # a restart after the warning: it is not sent again

    removed = "closed: the preview was idle for 8 seconds and has been removed"
    await until(fake_slack, lambda: all(
        says(card_of(fake_slack, b), removed) for b in (plain, tampered)
    ))  # fmt: skip
    await until(fake_slack, lambda: all(
        without_buttons(dm_about(fake_slack, u, plain), "idle") for u in (*QA, *OWNERS)
    ))  # fmt: skip
    for kind in KINDS:
        assert await is_gone(kube, kind, env("idle-a"), namespace, within=30), kind.__name__
    for kind in (Deployment, Ingress):
        assert await is_gone(kube, kind, env("idle-b"), namespace, within=30), kind.__name__
    assert await exists(kube, Service, env("idle-b"), namespace), "not ci-bot's: never deleted"
    assert all(len(warnings_under(fake_slack, o, plain)) == 1 for o in OWNERS)


# --- reminders ---------------------------------------------------------------------------


def replies_of(slack: FakeSlackServer, user: str, build_id: str) -> tuple[Message, ...]:
    message = dm_about(slack, user, build_id)
    return message.replies if message else ()


async def test_one_reminder_goes_to_the_qa_member_who_has_not_answered_and_none_to_the_approver(
    launch: Launch, fake_slack: FakeSlackServer
) -> None:
    cibot = launch(policy={"approvals_required": 2}, lifecycle={"remind_after": "5s"})
    build_id = await notify(cibot, "main")
    await reviewed(fake_slack, build_id)
    press(cibot, fake_slack, QA1, "qa_approve", build_id)
    await until(fake_slack, lambda: says(dm_about(fake_slack, QA1, build_id), "Approved"))

    await until(fake_slack, lambda: len(replies_of(fake_slack, QA2, build_id)) == 1)

    reminder = replies_of(fake_slack, QA2, build_id)[0].visible_text
    assert reminder.startswith(":bell: Reminder: the preview of `main` (branch) for Shop")
    assert "waiting for your review since" in reminder
    await asyncio.sleep(6)  # past a second reminder period: nothing more comes
    assert len(replies_of(fake_slack, QA2, build_id)) == 1
    assert replies_of(fake_slack, QA1, build_id) == ()


# --- tags --------------------------------------------------------------------------------


async def test_a_newer_tag_supersedes_the_older_tags_preview_and_deletes_its_objects(
    launch: Launch, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    cibot = launch()
    older = await notify(cibot, "v1.0", "tag")
    await reviewed(fake_slack, older)

    newer = await notify(cibot, "v1.1", "tag")

    await until(fake_slack, lambda: says(card_of(fake_slack, older), "was superseded by build"))
    assert newer in text_of(card_of(fake_slack, older))
    for kind in KINDS:
        assert await is_gone(kube, kind, env("v1.0", BuildType.TAG), namespace, within=30)
    await until(fake_slack, lambda: says(card_of(fake_slack, newer), "is ready"))
    assert await exists(kube, Deployment, env("v1.1", BuildType.TAG), namespace)
    await until(fake_slack, lambda: all(
        without_buttons(dm_about(fake_slack, u, older), "uperseded") for u in (*QA, *OWNERS)
    ))  # fmt: skip


async def test_with_newer_tag_supersedes_off_an_older_tags_preview_stays(
    launch: Launch, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    cibot = launch(lifecycle={"newer_tag_supersedes": False})
    older = await notify(cibot, "v1.0", "tag")
    await reviewed(fake_slack, older)

    newer = await notify(cibot, "v1.1", "tag")
    await reviewed(fake_slack, newer)

    assert says(card_of(fake_slack, older), "is ready")
    owner_dm = dm_about(fake_slack, OWNER1, older)
    assert owner_dm is not None and owner_dm.buttons
    for tag in ("v1.0", "v1.1"):
        assert await exists(kube, Deployment, env(tag, BuildType.TAG), namespace)


# --- deleted branches --------------------------------------------------------------------


def branch_deleted(
    cibot: CibotProcess, body: bytes, *, secret: str = SECRET, webhook_id: str | None = None
) -> httpx.Response:
    headers = webhooks.headers(secret, body, msg_id=webhook_id, now=time.time())
    headers["content-type"] = "application/json"
    return httpx.post(f"{cibot.url}/branch-deleted", content=body, headers=headers, timeout=10)


def deletions_done(cibot: CibotProcess) -> float:
    metrics = httpx.get(f"{cibot.url}/metrics", timeout=10).text
    key = 'cibot_jobs_total{kind="delete_branch_preview",outcome="done"} '
    line = next((x for x in metrics.splitlines() if x.startswith(key)), key + "0")
    return float(line.removeprefix(key))


async def test_a_deleted_branch_closes_its_build_and_removes_only_cibots_objects(
    launch: Launch, fake_slack: FakeSlackServer, kube: AsyncClient, namespace: str
) -> None:
    cibot = launch()
    build_id = await notify(cibot, "feature/gone")
    await reviewed(fake_slack, build_id)
    handmade = env("never-built")
    await kube.create(from_dict({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": handmade, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "handmade"}},
            "template": {
                "metadata": {"labels": {"app": "handmade"}},
                "spec": {"containers": [{"name": "web", "image": "registry.example.test/x:1"}]},
            },
        },
    }))  # fmt: skip

    never = branch_deleted(cibot, body_of(project="shop", branch="never-built"))
    gone = branch_deleted(
        cibot, body_of(project="shop", branch="feature/gone"), webhook_id="msg_gone"
    )
    again = branch_deleted(
        cibot, body_of(project="shop", branch="feature/gone"), webhook_id="msg_gone"
    )

    assert (never.status_code, never.json()) == (202, {"closed": []})
    assert (gone.status_code, gone.json()) == (202, {"closed": [build_id]})
    assert (again.status_code, again.json()) == (202, {"closed": [build_id]})
    await until(fake_slack, lambda: says(card_of(fake_slack, build_id), "closed: branch deleted"))
    await until(fake_slack, lambda: all(
        without_buttons(dm_about(fake_slack, u, build_id), "branch deleted")
        for u in (*QA, *OWNERS)
    ))  # fmt: skip
    for kind in KINDS:
        assert await is_gone(kube, kind, env("feature/gone"), namespace, within=30)
    await until(fake_slack, lambda: deletions_done(cibot) >= 2)
    await asyncio.sleep(1)
    assert deletions_done(cibot) == 2, "one deletion per request, none for the replay"
    assert await exists(kube, Deployment, handmade, namespace), "not ci-bot's: never deleted"


async def test_a_bad_branch_deletion_changes_nothing_and_the_cli_sends_a_good_one(
    launch: Launch, fake_slack: FakeSlackServer
) -> None:
    cibot = launch()
    build_id = await notify(cibot, "main")
    await reviewed(fake_slack, build_id)

    forged = branch_deleted(cibot, body_of(project="shop", branch="main"), secret="not-it")
    unknown = branch_deleted(cibot, body_of(project="elsewhere", branch="main"))
    malformed = branch_deleted(cibot, body_of(project="shop", branch="main..x"))

    assert [r.status_code for r in (forged, unknown, malformed)] == [401, 404, 422]
    assert malformed.json()["field"] == "branch"
    await asyncio.sleep(1.5)
    assert says(card_of(fake_slack, build_id), "is ready")
    owner_dm = dm_about(fake_slack, OWNER1, build_id)
    assert owner_dm is not None and owner_dm.buttons

    refused = run_cli(*cli(cibot, "--branch", "a..b"))
    done = run_cli(*cli(cibot, "--branch", "main"))

    assert refused.returncode == 1 and "'branch'" in refused.stderr
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"accepted: closed 1 build(s): {build_id}"
    await until(fake_slack, lambda: says(card_of(fake_slack, build_id), "closed: branch deleted"))


def cli(cibot: CibotProcess, *args: str) -> tuple[str, ...]:
    return (
        "notify-branch-deleted", "--url", cibot.url, "--secret", SECRET, "--project", "shop", *args
    )  # fmt: skip
