"""The Home tab's use cases on in-memory ports: who gets one, when it is published, what it
reads. (The same on SQL, with job runners and replicas: tests/integration/test_home.py.)"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

import pytest

from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.policy import DateWindow, Policy
from cibot.domain.review import Action
from cibot.service import home, messages, review
from cibot.service.audit import AuditAction
from cibot.service.jobs import NotifyUser, PublishHome, RepublishHomes
from cibot.service.ports import AuditEvent
from cibot.service.views import HomeView, QaDM
from tests.support.fakes import FakeChat, FakeClock, MemoryStore
from tests.support.usecases import DIGEST, PROJECT, PROJECTS

QA, OWNER, STRANGER = "U0QA", "U0OWNER", "U0STRANGER"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> MemoryStore:
    store = MemoryStore()
    store.before_commit = partial(home.audited, projects=PROJECTS, clock=clock)
    return store


def publishes(store: MemoryStore) -> list[tuple[str, datetime | None]]:
    return [(p.user, at) for p, at in store.state.jobs if isinstance(p, PublishHome)]


async def ready(store: MemoryStore, clock: FakeClock, build_id: str = "b1") -> None:
    now = clock.now()
    build = Build(
        build_id, PROJECT.id, BuildType.BRANCH, f"t-{build_id}", "r.example/shop:1",
        BuildState.READY, now, now, digest=DIGEST, ready_at=now,
        preview_url="https://main.branch.shop.example.com",
    )  # fmt: skip
    async with store.transaction() as tx:
        await tx.builds.add(build)


async def publish(store: MemoryStore, clock: FakeClock, chat: FakeChat, user: str) -> None:
    job = PublishHome(user)
    await home.publish_home(job, store=store, clock=clock, chat=chat, projects=PROJECTS)
    store.state.jobs = [(p, at) for p, at in store.state.jobs if p != job]  # it ran


async def test_opening_the_home_tab_queues_its_publish_and_slacks_retry_of_the_event_nothing(
    store: MemoryStore, clock: FakeClock
) -> None:
    assert await home.opened(store, clock, QA, "Ev1")
    retried = await home.opened(store, clock, QA, "Ev1")

    assert not retried
    assert publishes(store) == [(QA, clock.now())]


async def test_a_change_publishes_the_home_of_the_projects_people_who_have_one(
    store: MemoryStore, clock: FakeClock
) -> None:
    chat = FakeChat()
    await ready(store, clock)
    await home.opened(store, clock, QA, "Ev1")
    await home.opened(store, clock, STRANGER, "Ev2")
    for user in (QA, STRANGER):
        await publish(store, clock, chat, user)
    clock.advance(10)

    await review.click(store, clock, PROJECTS, review.Click("b1", QA, Action.APPROVE))

    assert publishes(store) == [(QA, clock.now())], "not the owner (no Home), nor a stranger"


async def test_changes_before_the_publish_runs_queue_one_publish_no_sooner_than_every(
    store: MemoryStore, clock: FakeClock
) -> None:
    chat = FakeChat()
    await home.opened(store, clock, QA, "Ev1")
    await publish(store, clock, chat, QA)
    started = clock.now()
    clock.advance(1)

    for index in range(5):
        await ready(store, clock, f"b{index}")
        async with store.transaction() as tx:
            await tx.audit.append(
                AuditEvent(clock.now(), AuditAction.PREVIEW_READY, PROJECT.id, f"b{index}")
            )

    assert publishes(store) == [(QA, started + home.EVERY)]


async def test_a_refused_click_or_another_projects_change_publishes_nothing(
    store: MemoryStore, clock: FakeClock
) -> None:
    await ready(store, clock)
    await home.opened(store, clock, QA, "Ev1")
    await publish(store, clock, FakeChat(), QA)

    await review.click(store, clock, PROJECTS, review.Click("b1", QA, Action.DEPLOY))
    async with store.transaction() as tx:
        await tx.audit.append(AuditEvent(clock.now(), AuditAction.PREVIEW_READY, "elsewhere", "b9"))

    assert publishes(store) == []


async def test_a_publish_queued_long_ago_is_taken_for_lost_and_queued_again(
    store: MemoryStore, clock: FakeClock
) -> None:
    await home.opened(store, clock, QA, "Ev1")
    store.state.jobs.clear()  # its job is gone (say, dead): the mark stays
    clock.advance(home.LOST_AFTER.total_seconds() + 1)

    async with store.transaction() as tx:
        await tx.audit.append(AuditEvent(clock.now(), AuditAction.PREVIEW_READY, PROJECT.id, "b1"))

    assert publishes(store) == [(QA, clock.now())]


async def test_the_publish_reads_the_builds_waiting_for_the_person_and_their_projects(
    store: MemoryStore, clock: FakeClock
) -> None:
    chat = FakeChat()
    await ready(store, clock, "b1")
    await ready(store, clock, "b2")
    await review.click(store, clock, PROJECTS, review.Click("b2", QA, Action.APPROVE))
    await home.opened(store, clock, QA, "Ev1")

    await publish(store, clock, chat, QA)

    [(user, view)] = chat.homes
    assert user == QA
    assert isinstance(view, HomeView)
    assert [(type(w), w.build.id) for w in view.waiting] == [(QaDM, "b1")], "b2 has its verdict"
    [shop] = view.projects
    assert shop.roles == ("QA",)
    assert [b.id for b in shop.previews] == ["b2", "b1"], "newest first"
    assert [e.action for e in view.events] == ["verdict.approved"]


async def test_nobody_who_never_opened_the_home_tab_is_published_to(
    store: MemoryStore, clock: FakeClock
) -> None:
    chat = FakeChat()
    await publish(store, clock, chat, OWNER)
    assert chat.homes == []


async def test_a_click_refused_on_the_home_tab_is_answered_in_the_persons_dm() -> None:
    chat = FakeChat()
    await messages.notify_user(NotifyUser(QA, QA, "Not allowed: only the owners…"), chat=chat)
    await messages.notify_user(NotifyUser("C0SHOP", QA, "Nothing changed"), chat=chat)

    assert [channel for channel, _ in chat.posts] == [f"D{QA}"]
    assert [(channel, user) for channel, user, _ in chat.ephemerals] == [("C0SHOP", QA)]


async def test_a_freeze_window_on_the_home_tab_publishes_it_again_once_when_it_ends(
    store: MemoryStore, clock: FakeClock
) -> None:
    ends = clock.now() + timedelta(hours=2)
    window = DateWindow(clock.now() - timedelta(hours=1), ends, "migration")
    projects = {PROJECT.id: replace(PROJECT, policy=Policy(freeze_windows=(window,)))}
    chat = FakeChat()
    await home.opened(store, clock, QA, "Ev1")
    await home.opened(store, clock, OWNER, "Ev2")
    for user in (QA, OWNER):
        job = PublishHome(user)
        await home.publish_home(job, store=store, clock=clock, chat=chat, projects=projects)
    store.state.jobs = [(p, at) for p, at in store.state.jobs if not isinstance(p, PublishHome)]

    [(republish, at)] = store.state.jobs
    assert isinstance(republish, RepublishHomes)
    assert at == ends + timedelta(seconds=1)
    clock.current = at
    await home.republish_homes(republish, store=store, clock=clock, projects=projects)

    assert sorted(publishes(store)) == [(OWNER, at), (QA, at)]
