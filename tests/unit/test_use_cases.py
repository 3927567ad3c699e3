"""The preview use cases against in-memory ports: a specification of steps 1 to 4."""

from __future__ import annotations

import pytest

from cibot.domain.build import BuildState
from cibot.service import cards, intake
from cibot.service.errors import ReplayMismatch
from cibot.service.jobs import DeployPreview, SyncBuildCard
from cibot.service.ports import RolloutOutcome
from cibot.service.views import BuildCard
from tests.support.fakes import FakeChat, FakeClock, FakeCluster, MemoryStore
from tests.support.usecases import PROJECTS, build, deploy, record, report


async def test_a_recorded_build_queues_its_deploy_and_its_card_in_the_same_commit() -> None:
    store, clock = MemoryStore(), FakeClock()

    accepted = await record(store, clock, report(target="feature/login"))

    b = build(store, accepted.build_id)
    assert b.state is BuildState.ACCEPTED
    assert b.preview_url is not None and b.preview_url.startswith("https://feature-login-")
    deploys = store.jobs_of(DeployPreview)
    assert [(j.build_id, j.queue) for j in deploys] == [
        (b.id, f"env:shop/{deploys[0].environment.split('/')[1]}")
    ]
    assert [j.build_id for j in store.jobs_of(SyncBuildCard)] == [b.id]
    assert [e.action for e in store.state.audit] == ["build.accepted"]


async def test_a_repeated_webhook_id_replays_the_first_answer_and_records_nothing_new() -> None:
    store, clock = MemoryStore(), FakeClock()
    first = await record(store, clock, report())

    again = await record(store, clock, report())

    assert again == intake.Accepted(first.build_id, replayed=True)
    assert len(store.state.builds) == 1
    assert len(store.jobs_of(DeployPreview)) == 1


async def test_a_webhook_id_reused_for_another_body_is_refused() -> None:
    store, clock = MemoryStore(), FakeClock()
    await record(store, clock, report(image="r.example/shop:1"))

    with pytest.raises(ReplayMismatch):
        await record(store, clock, report(image="r.example/shop:2"))
    assert len(store.state.builds) == 1


async def test_a_newer_build_of_the_same_target_supersedes_the_live_one() -> None:
    store, clock = MemoryStore(), FakeClock()
    older = await record(store, clock, report(image="r.example/shop:1"), "msg_1")
    clock.advance(1)

    newer = await record(store, clock, report(image="r.example/shop:2"), "msg_2")

    assert build(store, older.build_id).state is BuildState.SUPERSEDED
    assert build(store, older.build_id).superseded_by == newer.build_id
    assert build(store, newer.build_id).state is BuildState.ACCEPTED
    assert [j.build_id for j in store.jobs_of(SyncBuildCard)].count(older.build_id) == 2


async def test_a_build_of_another_target_supersedes_nothing() -> None:
    store, clock = MemoryStore(), FakeClock()
    main = await record(store, clock, report(target="main"), "msg_1")

    await record(store, clock, report(target="develop"), "msg_2")

    assert build(store, main.build_id).state is BuildState.ACCEPTED


async def test_a_build_numbered_below_one_already_seen_is_recorded_stale_and_not_deployed() -> None:
    store, clock = MemoryStore(), FakeClock()
    twelve = await record(store, clock, report(build_number=12), "msg_12")

    eleven = await record(
        store, clock, report(build_number=11, image="r.example/shop:11"), "msg_11"
    )

    assert build(store, eleven.build_id).state is BuildState.STALE
    assert build(store, twelve.build_id).state is BuildState.ACCEPTED
    assert [j.build_id for j in store.jobs_of(DeployPreview)] == [twelve.build_id]


async def test_deploying_a_build_whose_rollout_succeeds_makes_it_ready_with_the_digest() -> None:
    store, clock, cluster = MemoryStore(), FakeClock(), FakeCluster()
    accepted = await record(store, clock, report())

    await deploy(store, clock, cluster, accepted.build_id)

    b = build(store, accepted.build_id)
    assert b.state is BuildState.READY
    assert b.digest == "sha256:" + "a" * 64
    assert cluster.applied == [{"kind": "Deployment", "image": "r.example/shop:1"}]
    assert store.state.audit[-1].action == "preview.ready"


async def test_a_failed_rollout_records_the_reason_in_plain_words() -> None:
    store, clock = MemoryStore(), FakeClock()
    cluster = FakeCluster(
        outcome=RolloutOutcome(ready=False, reason="ImagePullBackOff: no such host")
    )
    accepted = await record(store, clock, report())

    await deploy(store, clock, cluster, accepted.build_id)

    b = build(store, accepted.build_id)
    assert b.state is BuildState.FAILED
    assert b.reason == "ImagePullBackOff: no such host"


async def test_objects_the_api_refuses_fail_the_build_with_the_apis_message() -> None:
    store, clock = MemoryStore(), FakeClock()
    cluster = FakeCluster(reject_with='namespaces "shop" not found')
    accepted = await record(store, clock, report())

    await deploy(store, clock, cluster, accepted.build_id)

    assert build(store, accepted.build_id).reason == 'namespaces "shop" not found'
    assert cluster.waited == []


async def test_a_build_superseded_while_its_rollout_runs_stops_waiting_and_stays_superseded() -> (
    None
):
    store, clock = MemoryStore(), FakeClock()
    older = await record(store, clock, report(image="r.example/shop:1"), "msg_1")

    async def newer_arrives() -> None:
        await record(store, clock, report(image="r.example/shop:2"), "msg_2")

    cluster = FakeCluster(before_wait=newer_arrives)
    await deploy(store, clock, cluster, older.build_id)

    assert build(store, older.build_id).state is BuildState.SUPERSEDED


async def test_deploying_again_after_a_crash_is_harmless() -> None:
    store, clock, cluster = MemoryStore(), FakeClock(), FakeCluster()
    accepted = await record(store, clock, report())
    await deploy(store, clock, cluster, accepted.build_id)

    await deploy(store, clock, cluster, accepted.build_id)

    assert build(store, accepted.build_id).state is BuildState.READY
    assert len(cluster.applied) == 1, "a ready build is not applied again"


async def test_the_card_is_posted_once_then_updated_in_place() -> None:
    store, clock, chat = MemoryStore(), FakeClock(), FakeChat()
    accepted = await record(store, clock, report())
    job = SyncBuildCard(accepted.build_id)

    await cards.sync_build_card(job, store=store, clock=clock, chat=chat, projects=PROJECTS)
    await deploy(store, clock, FakeCluster(), accepted.build_id)
    await cards.sync_build_card(job, store=store, clock=clock, chat=chat, projects=PROJECTS)

    assert len(chat.posts) == 1 and chat.posts[0][0] == "C0SHOP"
    assert len(chat.updates) == 1
    ref, view = chat.updates[0]
    assert ref.ts == "1700000000.000001"
    assert isinstance(view, BuildCard) and view.build.state is BuildState.READY


async def test_a_superseded_card_names_the_build_that_replaced_it() -> None:
    store, clock, chat = MemoryStore(), FakeClock(), FakeChat()
    older = await record(store, clock, report(image="r.example/shop:1"), "msg_1")
    newer = await record(store, clock, report(image="r.example/shop:2"), "msg_2")

    await cards.sync_build_card(
        SyncBuildCard(older.build_id), store=store, clock=clock, chat=chat, projects=PROJECTS
    )

    view = chat.posts[0][1]
    assert isinstance(view, BuildCard)
    assert view.superseded_by is not None and view.superseded_by.id == newer.build_id


async def test_the_same_image_commit_and_build_number_under_a_new_id_is_a_repeat() -> None:
    store, clock = MemoryStore(), FakeClock()
    first = await record(store, clock, report(commit="abc1234", build_number=7), "msg_1")

    again = await record(store, clock, report(commit="abc1234", build_number=7), "msg_2")

    assert again == intake.Accepted(first.build_id, replayed=True)
    assert len(store.state.builds) == 1
    assert build(store, first.build_id).state is BuildState.ACCEPTED


async def test_the_same_tag_under_a_new_id_naming_no_commit_or_build_number_is_a_new_build() -> (
    None
):
    store, clock = MemoryStore(), FakeClock()
    first = await record(store, clock, report(image="r.example/shop:main"), "msg_1")
    clock.advance(1)

    again = await record(store, clock, report(image="r.example/shop:main"), "msg_2")

    assert not again.replayed and again.build_id != first.build_id, "CI may have re-pushed it"
    assert build(store, first.build_id).state is BuildState.SUPERSEDED
    assert [j.build_id for j in store.jobs_of(DeployPreview)] == [first.build_id, again.build_id]


async def test_the_same_image_pinned_by_digest_under_a_new_id_is_a_repeat() -> None:
    store, clock = MemoryStore(), FakeClock()
    image = "r.example/shop@sha256:" + "ab" * 32
    first = await record(store, clock, report(image=image), "msg_1")

    again = await record(store, clock, report(image=image), "msg_2")

    assert again == intake.Accepted(first.build_id, replayed=True), "a digest cannot be re-pushed"
