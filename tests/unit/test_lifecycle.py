"""The life of a build after its preview is up, in memory: expiry, idle clean-up, reminders,
tags superseding tags, and deleted branches."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.lifecycle import Lifecycle, in_words
from cibot.domain.policy import DateWindow, Policy
from cibot.domain.project import Project
from cibot.domain.review import Action, Verdict, VerdictRecord
from cibot.service import (
    branches,
    closing,
    expiry,
    idle,
    intake,
    preview,
    production,
    reminders,
    review,
)
from cibot.service.audit import AuditAction
from cibot.service.cards import CARD
from cibot.service.errors import ChatUnavailable, ReplayMismatch
from cibot.service.jobs import (
    CheckIdlePreview,
    DeleteBranchPreview,
    DeletePreview,
    DeployPreview,
    DeployProduction,
    ExpireReview,
    JobPayload,
    RemindReviewers,
    SyncBuildCard,
    SyncReviewDMs,
    WarnIdlePreview,
)
from cibot.service.messages import OWNER_DM, QA_DM
from cibot.service.ports import MessageRef, RolloutOutcome
from cibot.service.views import IdleWarning, ReviewReminder
from tests.support.fakes import FakeChat, FakeClock, FakeCluster, MemoryStore
from tests.support.usecases import PROJECT as BASE

SECOND = timedelta(seconds=1)
PROJECT = replace(
    BASE,
    qa=frozenset({"U0QA1", "U0QA2", "U0AUTHOR"}),
    owners=frozenset({"U0OW1", "U0OW2"}),
    policy=Policy(approvals_required=2, expires_after=timedelta(hours=12)),
    lifecycle=Lifecycle(
        preview_ttl=timedelta(hours=6),
        preview_ttl_warning=timedelta(hours=1),
        remind_after=timedelta(hours=1),
    ),
)
PROJECTS = {PROJECT.id: PROJECT}


def timed(store: MemoryStore, kind: type[JobPayload]) -> list[tuple[Any, datetime | None]]:
    """The queued jobs of one kind, with the time each is due."""
    return [(job, at) for job, at in store.state.jobs if isinstance(job, kind)]


def build_of(store: MemoryStore, build_id: str = "b1") -> Build:
    return store.state.builds[build_id]


async def deployed(
    clock: FakeClock,
    outcome: RolloutOutcome | None = None,
    project: Project = PROJECT,
    **changes: Any,
) -> MemoryStore:
    """A store whose build `b1` has just finished its preview rollout (ready by default)."""
    store = MemoryStore()
    build = Build(
        "b1", "shop", BuildType.BRANCH, "main", "r.example/shop:1", BuildState.DEPLOYING,
        clock.now(), clock.now(), **changes,
    )  # fmt: skip
    async with store.transaction() as tx:
        await tx.builds.add(build)
    cluster = FakeCluster(outcome=outcome) if outcome else FakeCluster()
    await preview.deploy_preview(
        DeployPreview("b1", "shop/shop-branch-main"),
        store=store,
        cluster=cluster,
        clock=clock,
        projects={project.id: project},
        render=lambda p, b: [{"kind": "Deployment"}],
    )
    return store


async def with_dms(store: MemoryStore, *users: tuple[str, str]) -> None:
    """Record the DMs of (role, user) as posted."""
    async with store.transaction() as tx:
        for role, user in users:
            await tx.messages.save("b1", role, MessageRef(f"D{user}", "1.1"), user)


# --- expiry ------------------------------------------------------------------------------


async def test_a_ready_build_schedules_its_expiry_its_reminder_and_its_idle_check() -> None:
    clock = FakeClock()
    ready_at = clock.now()

    store = await deployed(clock)

    assert timed(store, ExpireReview) == [(ExpireReview("b1"), ready_at + timedelta(hours=12))]
    assert timed(store, RemindReviewers) == [(RemindReviewers("b1"), ready_at + timedelta(hours=1))]
    assert timed(store, CheckIdlePreview) == [
        (CheckIdlePreview("b1"), ready_at + timedelta(hours=5))
    ], "the warning is due an hour before the six hours are up"
    timers = [j for j, at in store.state.jobs if at is not None]
    assert len(timers) == 3 and {j.queue for j in timers} == {None}, "a timed job blocks no queue"


async def test_a_failed_build_is_watched_for_idleness_but_never_expires_or_reminds() -> None:
    clock = FakeClock()

    store = await deployed(clock, RolloutOutcome(ready=False, reason="ImagePullBackOff"))

    assert build_of(store).active_at == clock.now()
    assert len(timed(store, CheckIdlePreview)) == 1
    assert timed(store, ExpireReview) == [] and timed(store, RemindReviewers) == []


async def test_a_project_without_expiry_reminders_or_ttl_schedules_no_timed_job() -> None:
    clock = FakeClock()
    timeless = replace(
        PROJECT,
        policy=Policy(),
        lifecycle=Lifecycle(preview_ttl=None, remind_after=None),
    )

    store = await deployed(clock, project=timeless)

    assert [type(j).__name__ for j, at in store.state.jobs if at is not None] == []


async def run_expiry(store: MemoryStore, clock: FakeClock, project: Project = PROJECT) -> None:
    await expiry.expire_review(
        ExpireReview("b1"), store=store, clock=clock, projects={project.id: project}
    )


async def test_an_undecided_build_expires_when_its_time_is_up_and_its_messages_are_redrawn() -> (
    None
):
    clock = FakeClock()
    store = await deployed(clock)
    store.state.jobs.clear()
    clock.advance(12 * 3600)

    await run_expiry(store, clock)

    assert build_of(store).state is BuildState.EXPIRED
    assert store.state.audit[-1].action == "review.expired"
    assert store.jobs_of(SyncBuildCard) == [SyncBuildCard("b1")]
    assert store.jobs_of(SyncReviewDMs) == [SyncReviewDMs("b1")]


async def test_an_expiry_that_comes_early_looks_again_at_the_builds_own_time() -> None:
    clock = FakeClock()
    store = await deployed(clock)
    store.state.jobs.clear()
    clock.advance(12 * 3600)
    longer = replace(PROJECT, policy=replace(PROJECT.policy, expires_after=timedelta(hours=20)))

    await run_expiry(store, clock, longer)

    assert build_of(store).state is BuildState.READY
    ready_at = build_of(store).ready_at
    assert ready_at is not None
    assert timed(store, ExpireReview) == [(ExpireReview("b1"), ready_at + timedelta(hours=20))]


@pytest.mark.parametrize("state", [BuildState.PROMOTING, BuildState.PROMOTED, BuildState.CLOSED])
async def test_expiry_leaves_a_build_alone_that_someone_decided_on(state: BuildState) -> None:
    clock = FakeClock()
    store = await deployed(clock)
    store.state.builds["b1"] = replace(build_of(store), state=state)
    clock.advance(13 * 3600)

    await run_expiry(store, clock)

    assert build_of(store).state is state
    assert store.state.audit[-1].action != "review.expired"


async def test_a_production_deploy_that_fails_past_the_expiry_expires_the_build_at_once() -> None:
    clock = FakeClock()
    store = await deployed(clock)
    for user in ("U0QA1", "U0QA2"):
        await review.click(store, clock, PROJECTS, review.Click("b1", user, Action.APPROVE))
    await review.click(store, clock, PROJECTS, review.Click("b1", "U0OW1", Action.DEPLOY))
    job = store.jobs_of(DeployProduction)[0]
    store.state.jobs.clear()
    clock.advance(13 * 3600)  # a very slow rollout: the review time ran out meanwhile

    await production.deploy_production(
        job,
        store=store,
        cluster=FakeCluster(outcome=RolloutOutcome(ready=False, reason="CrashLoopBackOff")),
        clock=clock,
        projects=PROJECTS,
        render=lambda p, b: [],
    )

    assert build_of(store).state is BuildState.READY
    assert timed(store, ExpireReview) == [(ExpireReview("b1"), clock.now())]
    await run_expiry(store, clock)
    assert build_of(store).state is BuildState.EXPIRED


async def test_a_deploy_click_on_an_expired_build_during_a_freeze_is_refused_as_expired() -> None:
    clock = FakeClock()
    freeze = DateWindow(clock.now() - timedelta(hours=1), clock.now() + timedelta(days=1))
    frozen = replace(PROJECT, policy=replace(PROJECT.policy, freeze_windows=(freeze,)))
    projects = {frozen.id: frozen}
    store = await deployed(clock, project=frozen)
    for user in ("U0QA1", "U0QA2"):
        await review.click(store, clock, projects, review.Click("b1", user, Action.APPROVE))
    clock.advance(12 * 3600)
    await run_expiry(store, clock, frozen)

    answer = await review.click(
        store, clock, projects, review.Click("b1", "U0OW1", Action.DEPLOY, "DU0OW1")
    )

    assert build_of(store).state is BuildState.EXPIRED
    assert answer.refusal is not None
    assert answer.refusal.reason == "this build expired before anyone decided on it"
    assert store.jobs_of(DeployProduction) == [] and store.state.slots == {}


# --- idle previews -----------------------------------------------------------------------


async def check(store: MemoryStore, clock: FakeClock, project: Project = PROJECT) -> None:
    await idle.check_idle_preview(
        CheckIdlePreview("b1"), store=store, clock=clock, projects={project.id: project}
    )


async def warn(store: MemoryStore, chat: FakeChat) -> None:
    await idle.warn_idle_preview(
        WarnIdlePreview("b1"), store=store, clock=FakeClock(), chat=chat, projects=PROJECTS
    )


async def test_an_idle_preview_is_first_warned_in_each_owners_thread_then_removed() -> None:
    clock, chat = FakeClock(), FakeChat()
    store = await deployed(clock)
    ready_at = clock.now()
    await with_dms(store, (OWNER_DM, "U0OW1"), (OWNER_DM, "U0OW2"), (QA_DM, "U0QA1"))
    store.state.jobs.clear()

    clock.advance(5 * 3600)
    await check(store, clock)
    await warn(store, chat)

    warned = build_of(store)
    assert (warned.idle_warned_for, warned.removal_at) == (ready_at, ready_at + 6 * 3600 * SECOND)
    assert sorted(ref.channel for ref, _ in chat.replies) == ["DU0OW1", "DU0OW2"]
    assert all(isinstance(view, IdleWarning) for _, view in chat.replies)
    assert timed(store, CheckIdlePreview) == [(CheckIdlePreview("b1"), warned.removal_at)]

    clock.advance(3600)
    store.state.jobs.clear()
    await check(store, clock)

    removed = build_of(store)
    assert removed.state is BuildState.CLOSED
    assert removed.reason == "the preview was idle for 6 hours and has been removed"
    decision = store.state.decisions[-1]
    assert (decision.action, decision.actor, decision.note) == (
        Action.CLOSE, "cibot", removed.reason,
    )  # fmt: skip
    assert store.state.audit[-1].action == "preview.removed"
    assert store.jobs_of(DeletePreview) == [DeletePreview("b1", "shop/shop-branch-main")]
    assert {type(j) for j in store.jobs_of(JobPayload)} >= {SyncBuildCard, SyncReviewDMs}
    assert timed(store, CheckIdlePreview) == [], "nothing more to look at"


async def test_a_restart_or_a_second_run_never_warns_twice() -> None:
    clock, chat = FakeClock(), FakeChat()
    store = await deployed(clock)
    await with_dms(store, (OWNER_DM, "U0OW1"))
    clock.advance(5 * 3600)

    await check(store, clock)
    await check(store, clock)
    await warn(store, chat)
    await warn(store, chat)

    assert len(chat.replies) == 1
    assert len(store.jobs_of(WarnIdlePreview)) == 1
    assert [e.action for e in store.state.audit].count(AuditAction.PREVIEW_IDLE_WARNING) == 1


async def test_activity_after_a_warning_starts_a_new_idle_period() -> None:
    clock, chat = FakeClock(), FakeChat()
    store = await deployed(clock)
    await with_dms(store, (OWNER_DM, "U0OW1"), (QA_DM, "U0QA1"))
    clock.advance(5 * 3600)
    await check(store, clock)
    clock.advance(600)
    await review.click(store, clock, PROJECTS, review.Click("b1", "U0QA1", Action.APPROVE))
    approved_at = clock.now()

    await warn(store, chat)  # the warning's period is over: it is not sent
    clock.advance(3000)  # the time the first warning gave
    store.state.jobs.clear()
    await check(store, clock)

    assert chat.replies == []
    assert build_of(store).state is BuildState.READY
    assert timed(store, CheckIdlePreview) == [
        (CheckIdlePreview("b1"), approved_at + timedelta(hours=5))
    ]


async def test_a_failed_build_without_dms_is_warned_in_the_thread_of_its_card() -> None:
    clock, chat = FakeClock(), FakeChat()
    store = await deployed(clock, RolloutOutcome(ready=False, reason="ImagePullBackOff"))
    async with store.transaction() as tx:
        await tx.messages.save("b1", CARD, MessageRef("C0SHOP", "1.5"))
    clock.advance(5 * 3600)

    await check(store, clock)
    await warn(store, chat)

    assert [ref for ref, _ in chat.replies] == [MessageRef("C0SHOP", "1.5")]


async def test_a_preview_being_promoted_is_in_use_and_looked_at_again_later() -> None:
    clock = FakeClock()
    store = await deployed(clock)
    store.state.builds["b1"] = replace(build_of(store), state=BuildState.PROMOTING)
    store.state.jobs.clear()
    clock.advance(7 * 3600)

    await check(store, clock)

    assert build_of(store).state is BuildState.PROMOTING
    assert timed(store, CheckIdlePreview) == [
        (CheckIdlePreview("b1"), clock.now() + timedelta(hours=5))
    ]


@pytest.mark.parametrize("state", [BuildState.SUPERSEDED, BuildState.CLOSED])
async def test_the_idle_check_stops_once_the_preview_is_no_longer_this_builds(
    state: BuildState,
) -> None:
    clock = FakeClock()
    store = await deployed(clock)
    store.state.builds["b1"] = replace(build_of(store), state=state)
    store.state.jobs.clear()
    clock.advance(7 * 3600)

    await check(store, clock)

    assert store.state.jobs == [] and build_of(store).state is state


@pytest.mark.parametrize(
    ("span", "words"),
    [
        (timedelta(days=7), "1 week"),
        (timedelta(hours=30), "1 day 6 hours"),
        (timedelta(seconds=6), "6 seconds"),
        (timedelta(minutes=90, seconds=5), "1 hour 30 minutes"),
    ],
)
def test_a_ttl_reads_as_words_with_at_most_two_units(span: timedelta, words: str) -> None:
    assert in_words(span) == words


# --- reminders ---------------------------------------------------------------------------


@dataclass
class FlakyReplies(FakeChat):
    """Thread replies into the channels in `down` fail (Slack 5xx) while they are listed."""

    down: set[str] = field(default_factory=set)

    async def reply(self, ref: MessageRef, view: object, key: str | None = None) -> MessageRef:
        if ref.channel in self.down:
            raise ChatUnavailable("Slack chat.postMessage: internal_error")
        return await super().reply(ref, view, key)


async def remind(store: MemoryStore, clock: FakeClock, chat: FakeChat) -> None:
    await reminders.remind_reviewers(
        RemindReviewers("b1"), store=store, clock=clock, chat=chat, projects=PROJECTS
    )


async def review_store(clock: FakeClock) -> MemoryStore:
    store = await deployed(clock, author="U0AUTHOR", author_user="U0AUTHOR")
    await with_dms(store, *((QA_DM, u) for u in ("U0QA1", "U0QA2", "U0AUTHOR")))
    return store


async def test_one_reminder_goes_to_each_qa_member_who_has_not_answered_and_is_not_the_author() -> (
    None
):
    clock, chat = FakeClock(), FakeChat()
    store = await review_store(clock)
    await review.click(store, clock, PROJECTS, review.Click("b1", "U0QA1", Action.APPROVE))
    clock.advance(3600)

    await remind(store, clock, chat)
    await remind(store, clock, chat)

    assert [ref.channel for ref, _ in chat.replies] == ["DU0QA2"]
    view = chat.replies[0][1]
    assert isinstance(view, ReviewReminder) and view.waiting_since == build_of(store).ready_at
    assert set(await _reminded(store)) == {"U0QA2"}


async def _reminded(store: MemoryStore) -> dict[str, MessageRef]:
    async with store.transaction() as tx:
        return await tx.messages.of_role("b1", reminders.REMINDER)


async def test_a_reminder_that_failed_for_one_person_is_retried_for_them_only() -> None:
    clock, chat = FakeClock(), FlakyReplies(down={"DU0QA2"})
    store = await review_store(clock)
    clock.advance(3600)

    with pytest.raises(ChatUnavailable):
        await remind(store, clock, chat)
    chat.down.clear()
    await remind(store, clock, chat)

    assert sorted(ref.channel for ref, _ in chat.replies) == ["DU0QA1", "DU0QA2"]


async def test_nobody_is_reminded_once_the_quorum_is_met() -> None:
    clock, chat = FakeClock(), FakeChat()
    store = await review_store(clock)
    for user in ("U0QA1", "U0QA2"):
        await review.click(store, clock, PROJECTS, review.Click("b1", user, Action.APPROVE))
    clock.advance(3600)

    await remind(store, clock, chat)

    assert chat.replies == []


@pytest.mark.parametrize("state", [BuildState.CLOSED, BuildState.EXPIRED, BuildState.PROMOTING])
async def test_nobody_is_reminded_about_a_build_that_left_review(state: BuildState) -> None:
    clock, chat = FakeClock(), FakeChat()
    store = await review_store(clock)
    store.state.builds["b1"] = replace(build_of(store), state=state)
    clock.advance(3600)

    await remind(store, clock, chat)

    assert chat.replies == []


async def test_a_rejection_is_an_answer_too() -> None:
    clock, chat = FakeClock(), FakeChat()
    store = await review_store(clock)
    async with store.transaction() as tx:
        await tx.reviews.add_verdict(VerdictRecord("b1", "U0QA2", Verdict.REJECTED, clock.now()))
    clock.advance(3600)

    await remind(store, clock, chat)

    assert [ref.channel for ref, _ in chat.replies] == ["DU0QA1"]


# --- tags supersede tags -----------------------------------------------------------------


async def record_tag(
    store: MemoryStore, clock: FakeClock, tag: str, project: Project = PROJECT
) -> str:
    clock.advance(1)
    accepted = await intake.record_build(
        store=store,
        clock=clock,
        project=project,
        report=intake.BuildReport(image=f"r.example/shop:{tag}", type=BuildType.TAG, target=tag),
        webhook_id=f"msg_{tag}",
        body_sha256=tag,
    )
    return accepted.build_id


async def test_a_new_tag_supersedes_the_live_builds_of_older_tags_and_removes_their_previews() -> (
    None
):
    store, clock = MemoryStore(), FakeClock()
    old = await record_tag(store, clock, "v1.0")
    store.state.builds[old] = replace(build_of(store, old), state=BuildState.READY)
    branch = await intake.record_build(
        store=store,
        clock=clock,
        project=PROJECT,
        report=intake.BuildReport(image="r.example/shop:x", type=BuildType.BRANCH, target="main"),
        webhook_id="msg_main",
        body_sha256="main",
    )

    new = await record_tag(store, clock, "v1.1")

    assert build_of(store, old).state is BuildState.SUPERSEDED
    assert build_of(store, old).superseded_by == new
    assert build_of(store, branch.build_id).state is BuildState.ACCEPTED, "branches are apart"
    deletions = store.jobs_of(DeletePreview)
    assert [d.build_id for d in deletions] == [old]
    assert deletions[0].environment.startswith("shop/shop-tag-v1-0")
    assert SyncReviewDMs(old) in store.jobs_of(SyncReviewDMs)


async def test_a_project_may_keep_the_previews_of_older_tags() -> None:
    store, clock = MemoryStore(), FakeClock()
    keeping = replace(PROJECT, lifecycle=replace(PROJECT.lifecycle, newer_tag_supersedes=False))
    old = await record_tag(store, clock, "v1.0", keeping)

    await record_tag(store, clock, "v1.1", keeping)

    assert build_of(store, old).state is BuildState.ACCEPTED
    assert store.jobs_of(DeletePreview) == []


async def test_an_older_tags_preview_is_deleted_by_the_usual_rule() -> None:
    store, clock, cluster = MemoryStore(), FakeClock(), FakeCluster()
    old = await record_tag(store, clock, "v1.0")
    await record_tag(store, clock, "v1.1")

    for job in store.jobs_of(DeletePreview):
        await production.delete_preview(job, store=store, cluster=cluster, projects=PROJECTS)

    assert len(cluster.deleted) == 1
    namespace, name = cluster.deleted[0]
    assert namespace == "shop" and name.startswith("shop-tag-v1-0")
    assert build_of(store, old).state is BuildState.SUPERSEDED


# --- deleted branches --------------------------------------------------------------------


async def close(
    store: MemoryStore, clock: FakeClock, *, branch: str = "main", body: str = "x"
) -> branches.BranchClosed:
    return await branches.close_branch(
        store=store,
        clock=clock,
        project=PROJECT,
        branch=branch,
        webhook_id="msg_del",
        body_sha256=body,
    )


async def add(
    store: MemoryStore,
    clock: FakeClock,
    build_id: str,
    state: BuildState,
    *,
    build_type: BuildType = BuildType.BRANCH,
    target: str = "main",
) -> None:
    build = Build(
        build_id, "shop", build_type, target, "r.example/shop:1", state, clock.now(), clock.now()
    )
    async with store.transaction() as tx:
        await tx.builds.add(build)


async def test_a_deleted_branch_closes_its_builds_and_queues_the_removal_of_its_preview() -> None:
    store, clock = MemoryStore(), FakeClock()
    await add(store, clock, "b-ready", BuildState.READY)
    await add(store, clock, "b-accepted", BuildState.ACCEPTED)
    await add(store, clock, "b-expired", BuildState.EXPIRED)
    await add(store, clock, "b-superseded", BuildState.SUPERSEDED)
    await add(store, clock, "b-other", BuildState.READY, target="develop")
    await add(store, clock, "b-tag", BuildState.READY, build_type=BuildType.TAG)

    result = await close(store, clock)

    assert sorted(result.closed) == ["b-accepted", "b-expired", "b-ready"]
    for build_id in result.closed:
        closed = build_of(store, build_id)
        assert (closed.state, closed.reason) == (BuildState.CLOSED, "branch deleted")
        assert SyncBuildCard(build_id) in store.jobs_of(SyncBuildCard)
    assert build_of(store, "b-other").state is BuildState.READY
    assert build_of(store, "b-tag").state is BuildState.READY
    assert {(d.actor, d.note) for d in store.state.decisions} == {("cibot", "branch deleted")}
    assert [j.branch for j in store.jobs_of(DeleteBranchPreview)] == ["main"]
    assert store.state.audit[-1].action == "branch.deleted"


async def test_a_branch_ci_bot_never_built_still_has_its_preview_removal_queued() -> None:
    store, clock = MemoryStore(), FakeClock()

    result = await close(store, clock, branch="feature/gone")

    assert result.closed == ()
    (job,) = store.jobs_of(DeleteBranchPreview)
    assert job.environment.startswith("shop/shop-branch-feature-gone-")


async def test_a_repeated_branch_deletion_replays_the_first_answer_and_changes_nothing() -> None:
    store, clock = MemoryStore(), FakeClock()
    await add(store, clock, "b1", BuildState.READY)
    first = await close(store, clock)
    await add(store, clock, "b2", BuildState.READY)

    again = await close(store, clock)

    assert again == branches.BranchClosed(first.closed, replayed=True) and first.closed == ("b1",)
    assert build_of(store, "b2").state is BuildState.READY
    with pytest.raises(ReplayMismatch):
        await close(store, clock, body="another body")


async def delete_branch(store: MemoryStore, cluster: FakeCluster) -> None:
    for job in store.jobs_of(DeleteBranchPreview):
        await branches.delete_branch_preview(job, store=store, cluster=cluster, projects=PROJECTS)


async def test_the_branch_preview_is_removed_once_no_build_of_it_lives() -> None:
    store, clock, cluster = MemoryStore(), FakeClock(), FakeCluster()
    await add(store, clock, "b1", BuildState.READY)
    await close(store, clock)

    await delete_branch(store, cluster)

    assert cluster.deleted == [("shop", "shop-branch-main")]


@pytest.mark.parametrize("state", [BuildState.ACCEPTED, BuildState.PROMOTING])
async def test_the_branch_preview_stays_while_a_build_of_the_branch_lives_again(
    state: BuildState,
) -> None:
    store, clock, cluster = MemoryStore(), FakeClock(), FakeCluster()
    await close(store, clock)
    await add(store, clock, "b-new", state)  # pushed again, or on its way to production

    await delete_branch(store, cluster)

    assert cluster.deleted == []


async def test_a_late_stale_build_does_not_keep_a_closed_preview_alive() -> None:
    store, clock, cluster = MemoryStore(), FakeClock(), FakeCluster()
    twelve = await intake.record_build(
        store=store,
        clock=clock,
        project=PROJECT,
        report=intake.BuildReport("r.example/shop:12", BuildType.BRANCH, "main", build_number=12),
        webhook_id="msg_12",
        body_sha256="12",
    )
    clock.advance(1)
    eleven = await intake.record_build(
        store=store,
        clock=clock,
        project=PROJECT,
        report=intake.BuildReport("r.example/shop:11", BuildType.BRANCH, "main", build_number=11),
        webhook_id="msg_11",
        body_sha256="11",
    )
    assert build_of(store, eleven.build_id).state is BuildState.STALE
    async with store.transaction() as tx:
        newest = build_of(store, twelve.build_id)
        assert await closing.close(tx, clock.now(), newest, actor="U0OWNER")

    job = DeletePreview(twelve.build_id, "shop/shop-branch-main")
    await production.delete_preview(job, store=store, cluster=cluster, projects=PROJECTS)

    assert cluster.deleted == [("shop", "shop-branch-main")]
