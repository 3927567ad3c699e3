"""The flow over Socket Mode: the real `cibot serve` holds a WebSocket open to the fake Slack.

No signing secret and no Slack route: the fake Slack, with the app's Socket Mode on, sends each
click, modal submission and slash command down a connection (`fakeslack.delivery`), and
ci-bot's answer comes back in the ack. One PostgreSQL database and one server for the module
(each test its own target, so builds do not supersede each other); a second replica joins for
the last test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.resources.core_v1 import Namespace

from cibot.fakeslack import Channel, FakeSlackAdmin, FakeSlackServer, User, WorkspaceConfig
from tests.support import flow, testbed
from tests.support import slack_requests as slack_req
from tests.support.flow import action_ids, dm_of, dms_of, until
from tests.support.service import CibotProcess, run_cli
from tests.support.shop import CHANNEL, OWNERS, QA, service_config

pytestmark = [pytest.mark.kubernetes, pytest.mark.postgres]

QA1, QA2 = QA
OWNER1, OWNER2 = OWNERS
APP_TOKEN = "xapp-1-fake"


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlackServer]:
    users = [User(id=u, name=u.lower()) for u in (*QA, *OWNERS)]
    channels = [Channel(id=CHANNEL, name="shop-builds", members=frozenset((*QA, *OWNERS)))]
    config = WorkspaceConfig(socket_ack_seconds=1.0)  # redelivery after 1 s, not Slack's 3
    with FakeSlackServer(users=users, channels=channels, config=config) as server:
        server.state.set_app_settings(socket_mode_enabled=True)
        yield server


@pytest.fixture(scope="module")
def admin(fake_slack: FakeSlackServer) -> Iterator[FakeSlackAdmin]:
    with FakeSlackAdmin(fake_slack.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    kube = Client(config=KubeConfig.from_file(testbed.kubeconfig()))
    name = f"e2e-sock-{uuid.uuid4().hex[:8]}"
    kube.create(from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
    yield name
    kube.delete(Namespace, name)


@pytest.fixture(scope="module")
def socket_config(fake_slack: FakeSlackServer, namespace: str) -> Iterator[dict[str, Any]]:
    with testbed.fresh_postgres_database(testbed.postgres_url(), prefix="sock") as url:
        config = service_config(url, testbed.kubeconfig(), fake_slack.api_url, namespace)
        config["slack"] = {"mode": "socket", "bot_token": "xoxb-fake", "app_token": APP_TOKEN}
        config["slack"]["api_url"] = fake_slack.api_url
        config["projects"][0]["policy"] = {"approvals_required": 0}
        yield config


@pytest.fixture(scope="module")
def cibot(
    socket_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CibotProcess]:
    process = CibotProcess(socket_config, tmp_path_factory.mktemp("socket"))
    process.upgrade_db()
    process.start()
    yield process
    process.stop()


@pytest.fixture
async def connected(cibot: CibotProcess, fake_slack: FakeSlackServer) -> CibotProcess:
    """The server, with its socket open (again, after a test that dropped it)."""
    await until(fake_slack, lambda s: len(s.sockets.connections()) >= 1, within=20)
    return cibot


def press(admin: FakeSlackAdmin, slack: FakeSlackServer, user: str, action: str, build: str) -> Any:
    """`user` clicks a button of their DM; the fake Slack delivers it over the socket."""
    where = slack.state.dm_channel(user) or "D0NOTADM"
    trigger_id = slack_req.issued(slack, user)
    done = admin.deliver(slack_req.block_actions(user, action, build, where, trigger_id=trigger_id))
    assert done["via"] == "socket", done
    return done


async def ready_build(cibot: CibotProcess, slack: FakeSlackServer, target: str) -> str:
    return await flow.ready_build(cibot.url, slack, (*QA, *OWNERS), target=target)


def has_reply(slack: FakeSlackServer, user: str, build: str, text: str) -> bool:
    return any(text in r.visible_text for m in dms_of(slack, user, build) for r in m.replies)


async def test_serve_connects_without_a_signing_secret_and_serves_no_slack_route(
    connected: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    opened = [c for c in fake_slack.state.calls("apps.connections.open") if c.ok]

    assert opened and all(c.token == APP_TOKEN for c in opened), "the app-level token opens it"
    assert httpx.get(f"{connected.url}/readyz").status_code == 200
    assert httpx.post(f"{connected.url}/slack/events", content="x").status_code == 404


def check(config: dict[str, Any], tmp_path: Path, **slack: str) -> Any:
    changed = {**config, "slack": {**config["slack"], **slack}}
    path = tmp_path / "check.yaml"
    path.write_text(yaml.safe_dump(changed, sort_keys=False))
    return run_cli("check", "--config", str(path))


def test_check_opens_a_connection_with_the_app_token_and_reads_that_socket_mode_is_on(
    socket_config: dict[str, Any], tmp_path: Path
) -> None:
    app = {"app_id": "A00000CIBOT", "app_config_token": "xoxe.xoxp-1-fake-config"}

    done = check(socket_config, tmp_path, **app)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok    apps.connections.open: slack.app_token opens Socket Mode" in done.stdout
    assert "ok    Socket Mode is on" in done.stdout


def test_check_fails_an_app_token_slack_refuses_naming_the_key(
    socket_config: dict[str, Any], tmp_path: Path
) -> None:
    done = check(socket_config, tmp_path, app_token="xapp-1-revoked")

    assert done.returncode == 1, done.stdout
    assert "FAIL  slack.app_token: Slack refused it (invalid_auth)" in done.stdout
    assert "xapp-1-revoked" not in done.stdout + done.stderr


async def test_an_approval_over_the_socket_updates_the_qa_dm_and_replies_to_the_owners(
    connected: CibotProcess, fake_slack: FakeSlackServer, admin: FakeSlackAdmin
) -> None:
    build = await ready_build(connected, fake_slack, "sock-approve")

    press(admin, fake_slack, QA1, "qa_approve", build)

    await until(fake_slack, lambda s: not action_ids(dm_of(fake_slack, QA1, build)))
    reply = f"<@{QA1}> has *approved* this build"
    await until(fake_slack, lambda s: all(has_reply(fake_slack, o, build, reply) for o in OWNERS))


async def test_a_rejection_over_the_socket_opens_the_modal_and_its_submission_carries_the_reason(
    connected: CibotProcess, fake_slack: FakeSlackServer, admin: FakeSlackAdmin
) -> None:
    build = await ready_build(connected, fake_slack, "sock-reject")
    press(admin, fake_slack, QA2, "qa_reject", build)
    await until(fake_slack, lambda s: any(build in str(v.payload) for v in s.views(QA2)))
    modal = next(v for v in fake_slack.state.views(QA2) if build in str(v.payload))
    typed = {"reason": {"reason_input": {"type": "plain_text_input", "value": "login 500s"}}}
    metadata = modal.payload["private_metadata"]

    done = admin.deliver(slack_req.view_submission(QA2, "qa_reject_reason", metadata, typed))

    assert (done["via"], done["status"]) == ("socket", 200)
    reply = f"<@{QA2}> has *rejected* this build"
    await until(fake_slack, lambda s: all(has_reply(fake_slack, o, build, reply) for o in OWNERS))
    assert has_reply(fake_slack, OWNER1, build, "login 500s")


async def test_a_reason_too_short_for_an_override_comes_back_as_errors_in_the_ack(
    connected: CibotProcess, fake_slack: FakeSlackServer, admin: FakeSlackAdmin
) -> None:
    submission = slack_req.view_submission(OWNER1, "deploy_override_reason", "b1|C1", {})

    done = admin.deliver(submission)

    assert done["body"]["response_action"] == "errors", "a modal's answer travels in the ack"


async def test_deploy_over_the_socket_reaches_production_and_close_removes_every_button(
    connected: CibotProcess, fake_slack: FakeSlackServer, admin: FakeSlackAdmin
) -> None:
    shipped = await ready_build(connected, fake_slack, "sock-deploy")
    closed = await ready_build(connected, fake_slack, "sock-close")

    press(admin, fake_slack, OWNER2, "deploy_production", shipped)
    press(admin, fake_slack, OWNER1, "close_build", closed)

    announced = f"deployed to production by <@{OWNER2}>"
    await until(fake_slack, lambda s: any(
        announced in m.visible_text for m in s.messages(CHANNEL)
    ), within=60)  # fmt: skip
    await until(fake_slack, lambda s: all(
        not action_ids(dm_of(fake_slack, u, closed)) for u in (*QA, *OWNERS)
    ))  # fmt: skip
    closed_dm = dm_of(fake_slack, OWNER2, closed)
    assert f"Closed by <@{OWNER1}>" in closed_dm.visible_text


async def test_a_slash_command_over_the_socket_is_answered_in_the_ack(
    connected: CibotProcess, admin: FakeSlackAdmin
) -> None:
    assert flow.send_build(connected.url, target="sock-history").status_code == 202

    done = admin.deliver(slack_req.slash_command(QA2, "history shop 20", CHANNEL))

    assert done["via"] == "socket"
    answer = done["body"]
    assert answer["response_type"] == "ephemeral"
    assert "build.accepted" in str(answer), "the history lists the builds CI sent"


async def test_an_event_over_the_socket_publishes_the_home_tab(
    connected: CibotProcess, fake_slack: FakeSlackServer, admin: FakeSlackAdmin
) -> None:
    done = admin.deliver(slack_req.app_home_opened(OWNER2))

    assert (done["via"], done["body"]) == ("socket", None), "an event's ack carries nothing"
    await until(fake_slack, lambda s: s.home_view(OWNER2) is not None)


async def test_a_payload_of_a_shape_slack_never_sends_is_acked_and_refused(
    connected: CibotProcess, admin: FakeSlackAdmin
) -> None:
    click = slack_req.block_actions(QA1, "qa_approve", "b1", "D0QA1")
    del click["actions"]

    done = admin.deliver(click)

    assert (done["attempts"], done["body"]) == (1, None), "acked at once: not sent again"
    assert "slack.socket.malformed" in connected.logs(), "refused before any listener"


async def test_a_click_whose_socket_drops_before_it_arrives_comes_again_on_the_new_connection(
    connected: CibotProcess, fake_slack: FakeSlackServer, admin: FakeSlackAdmin
) -> None:
    build = await ready_build(connected, fake_slack, "sock-drop")
    admin.drop_sockets(on_next_envelope=True)  # the socket dies as the click is sent

    done = press(admin, fake_slack, QA1, "qa_approve", build)

    # Sent again: to the connection ci-bot opened again (or first to another still closing).
    assert done["attempts"] >= 2, done
    await until(fake_slack, lambda s: not action_ids(dm_of(fake_slack, QA1, build)))
    reply = f"<@{QA1}> has *approved* this build"
    await until(fake_slack, lambda s: all(has_reply(fake_slack, o, build, reply) for o in OWNERS))


async def test_after_a_refresh_requested_disconnect_ci_bot_reconnects_and_takes_clicks(
    connected: CibotProcess, fake_slack: FakeSlackServer, admin: FakeSlackAdmin
) -> None:
    build = await ready_build(connected, fake_slack, "sock-refresh")
    old = {c.id for c in fake_slack.state.sockets.connections()}

    assert admin.disconnect_sockets("refresh_requested") >= 1
    # Connected again: a new socket, not only its URL asked for (a click delivered between
    # the two would find no socket to go through).
    await until(
        fake_slack, lambda s: {c.id for c in s.sockets.connections()} - old != set(), within=20
    )
    press(admin, fake_slack, QA2, "qa_approve", build)

    await until(fake_slack, lambda s: not action_ids(dm_of(fake_slack, QA2, build)))


async def test_two_replicas_each_take_envelopes_and_each_click_takes_effect_once(
    connected: CibotProcess,
    fake_slack: FakeSlackServer,
    admin: FakeSlackAdmin,
    socket_config: dict[str, Any],
    tmp_path: Path,
) -> None:
    replica = CibotProcess(dict(socket_config), tmp_path).start()
    try:
        await until(fake_slack, lambda s: len(s.sockets.connections()) == 2, within=20)
        sent = [flow.send_build(connected.url, target=f"sock-two-{i}") for i in range(3)]
        builds = [response.json()["build_id"] for response in sent]
        await until(fake_slack, lambda s: all(
            dms_of(fake_slack, u, b) for u in (*QA, *OWNERS) for b in builds
        ), within=120)  # fmt: skip
        already = len(fake_slack.state.sockets.delivered)

        for build in builds:
            press(admin, fake_slack, QA1, "qa_approve", build)
            press(admin, fake_slack, QA2, "qa_approve", build)
        for _ in range(4):
            admin.deliver(slack_req.slash_command(QA1, "help", CHANNEL))

        delivered = fake_slack.state.sockets.delivered[already:]
        assert {d.connection for d in delivered} == {
            c.id for c in fake_slack.state.sockets.connections()
        }, "both replicas took envelopes"
        assert all(d.attempts == 1 for d in delivered), "each reached one, first time"

        def both_replied(build: str) -> bool:
            said = [f"<@{qa}> has *approved*" for qa in QA]
            return all(has_reply(fake_slack, o, build, t) for o in OWNERS for t in said)

        for build in builds:
            await until(fake_slack, lambda s, b=build: both_replied(b))  # type: ignore[misc]
            for owner in OWNERS:
                message = dm_of(fake_slack, owner, build)
                assert len(message.replies) == 2, "one reply per verdict"
    finally:
        replica.stop()
    await until(fake_slack, lambda s: len(s.sockets.connections()) == 1, within=10)
    assert "slack.socket.closed" in replica.logs(), "SIGTERM closes the socket"
