"""Who may do what, and what a click does: the review gate and its use cases, in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.policy import Freeze, Policy, UnknownAuthor
from cibot.domain.project import Project, Roster
from cibot.domain.release import Release, ReleaseKind
from cibot.domain.review import (
    Action,
    Situation,
    Verdict,
    VerdictRecord,
    authorise,
    authorise_rollback,
)
from cibot.service import production, review, rollback
from cibot.service.jobs import (
    AnnounceDecision,
    DeletePreview,
    DeployProduction,
    NotifyUser,
    PostVerdictReplies,
    RollbackProduction,
)
from cibot.service.ports import RolloutOutcome
from tests.support.fakes import FakeClock, FakeCluster, MemoryStore
from tests.support.usecases import PROJECT, PROJECTS

CLOCK = FakeClock()
READY = Build(
    "b1", "shop", BuildType.BRANCH, "main", "r.example/shop:1", BuildState.READY,
    CLOCK.now(), CLOCK.now(), digest="sha256:" + "d" * 64, ready_at=CLOCK.now(),
)  # fmt: skip
ROSTER = Roster(qa=PROJECT.qa, owners=PROJECT.owners)
APPROVED = (VerdictRecord("b1", "U0QA", Verdict.APPROVED, CLOCK.now()),)


def judged(
    action: Action,
    user: str,
    *,
    project: Project = PROJECT,
    build: Build = READY,
    verdicts: tuple[VerdictRecord, ...] = APPROVED,
    **situation: object,
) -> str | None:
    """The refusal's words, or None when the click would be taken."""
    roster = situation.pop("roster", Roster(qa=project.qa, owners=project.owners))
    seen = Situation(roster, CLOCK.now(), verdicts, **situation)  # type: ignore[arg-type]
    refusal = authorise(project, build, user, action, seen)
    return None if refusal is None else refusal.reason


@pytest.mark.parametrize(
    ("user", "action", "allowed"),
    [
        ("U0QA2", Action.APPROVE, True),
        ("U0QA2", Action.REJECT, True),
        ("U0QA", Action.DEPLOY, False),
        ("U0QA", Action.CLOSE, False),
        ("U0OWNER", Action.DEPLOY, True),
        ("U0OWNER", Action.CLOSE, True),
        ("U0OWNER", Action.APPROVE, False),
        ("U0NOBODY", Action.APPROVE, False),
        ("U0NOBODY", Action.DEPLOY, False),
    ],
)
def test_each_role_may_take_only_its_own_actions(user: str, action: Action, allowed: bool) -> None:
    project = replace(PROJECT, qa=frozenset({"U0QA", "U0QA2"}))
    assert (judged(action, user, project=project) is None) is allowed


def test_an_empty_role_list_refuses_everyone() -> None:
    nobody = replace(PROJECT, qa=frozenset(), owners=frozenset())
    for action in (a for a in Action if a is not Action.ROLLBACK):
        assert judged(action, "U0QA", project=nobody, verdicts=()) is not None


def test_a_group_member_holds_the_role_only_once_the_group_has_been_read() -> None:
    grouped = replace(PROJECT, qa=frozenset({"S0QAGROUP"}))
    unread = Roster.of(grouped, {})
    read = Roster.of(grouped, {"S0QAGROUP": frozenset({"U0ANN"})})

    assert judged(Action.APPROVE, "U0ANN", project=grouped, verdicts=(), roster=unread)
    assert judged(Action.APPROVE, "U0ANN", project=grouped, verdicts=(), roster=read) is None


@pytest.mark.parametrize(
    "state", [BuildState.SUPERSEDED, BuildState.CLOSED, BuildState.DEPLOYING, BuildState.PROMOTED]
)
def test_a_build_out_of_review_refuses_verdicts_with_an_explanation(state: BuildState) -> None:
    reason = judged(Action.APPROVE, "U0QA", build=replace(READY, state=state), verdicts=())
    assert reason is not None and reason.startswith("this build ")


def test_a_second_verdict_by_the_same_person_is_refused() -> None:
    assert "already approved" in (judged(Action.REJECT, "U0QA") or "")


def test_the_default_quorum_is_one_approval_and_a_standing_rejection_blocks_it() -> None:
    rejected = (VerdictRecord("b1", "U0QA", Verdict.REJECTED, CLOCK.now()),)

    assert "needs 1 more QA approval (0 of 1)" in (
        judged(Action.DEPLOY, "U0OWNER", verdicts=()) or ""
    )
    assert judged(Action.DEPLOY, "U0OWNER") is None
    assert "rejected by U0QA" in (judged(Action.DEPLOY, "U0OWNER", verdicts=rejected) or "")


def test_quorum_reached_then_a_rejection_takes_the_deploy_away() -> None:
    two = replace(PROJECT, qa=frozenset({"U0QA", "U0QA2"}))
    then = (*APPROVED, VerdictRecord("b1", "U0QA2", Verdict.REJECTED, CLOCK.now()))

    assert judged(Action.DEPLOY, "U0OWNER", project=two) is None
    assert "rejected by U0QA2" in (
        judged(Action.DEPLOY, "U0OWNER", project=two, verdicts=then) or ""
    )


def test_no_approvals_required_is_the_original_behaviour() -> None:
    anyhow = replace(PROJECT, policy=Policy(approvals_required=0))
    rejected = (VerdictRecord("b1", "U0QA", Verdict.REJECTED, CLOCK.now()),)
    assert judged(Action.DEPLOY, "U0OWNER", project=anyhow, verdicts=()) is None
    assert judged(Action.DEPLOY, "U0OWNER", project=anyhow, verdicts=rejected) is None


def test_an_approver_removed_from_the_config_no_longer_counts() -> None:
    without = replace(PROJECT, qa=frozenset({"U0QA2"}))
    assert "0 of 1" in (judged(Action.DEPLOY, "U0OWNER", project=without) or "")


def test_four_eyes_the_author_may_not_approve_and_their_approval_does_not_count() -> None:
    authored = replace(READY, author="ann@example.com", author_user="U0QA")

    refused = judged(Action.APPROVE, "U0QA", build=authored, verdicts=())
    quorum = Situation(ROSTER, CLOCK.now(), APPROVED).quorum(PROJECT, authored)

    assert refused == "you wrote this build, so your approval cannot count"
    assert not quorum.met
    assert quorum.uncounted == (("U0QA", "the author's own approval"),)


def test_four_eyes_waits_for_the_authors_email_to_be_looked_up() -> None:
    pending = replace(READY, author="ann@example.com", author_user=None)
    assert "still looking up" in (judged(Action.APPROVE, "U0QA", build=pending, verdicts=()) or "")


def test_the_author_may_deploy_their_own_build_unless_the_policy_forbids_it() -> None:
    strict = replace(PROJECT, policy=Policy(author_may_deploy=False))
    theirs = replace(READY, author="U0OWNER", author_user="U0OWNER")

    assert judged(Action.DEPLOY, "U0OWNER", build=theirs) is None
    assert "someone else must deploy it" in (
        judged(Action.DEPLOY, "U0OWNER", project=strict, build=theirs) or ""
    )


def test_a_freeze_stops_deploys_and_says_why_but_not_verdicts() -> None:
    frozen = Freeze("release week", by="U0OWNER", since=CLOCK.now())

    assert (
        judged(Action.DEPLOY, "U0OWNER", freeze=frozen)
        == "production is frozen by U0OWNER: release week"
    )
    assert judged(Action.APPROVE, "U0QA2", project=replace(PROJECT, qa=frozenset({"U0QA2"})),
                  verdicts=(), freeze=frozen) is None  # fmt: skip


def test_only_one_production_deploy_runs_at_a_time() -> None:
    reason = judged(Action.DEPLOY, "U0OWNER", busy_with="b0")
    assert reason is not None and "build b0" in reason


def test_an_override_needs_the_policy_and_a_missing_quorum() -> None:
    allowing = replace(PROJECT, policy=Policy(allow_override=True))

    assert "does not allow" in (judged(Action.OVERRIDE, "U0OWNER", verdicts=()) or "")
    assert judged(Action.OVERRIDE, "U0OWNER", project=allowing, verdicts=()) is None
    assert "use Deploy to production" in (
        judged(Action.OVERRIDE, "U0OWNER", project=allowing) or ""
    )
    assert "only the owners" in (judged(Action.OVERRIDE, "U0QA", project=allowing) or "")


def test_a_build_expires_once_its_time_is_up_but_can_still_be_closed() -> None:
    expiring = replace(PROJECT, policy=Policy(expires_after=timedelta(hours=1)))
    old = replace(READY, ready_at=CLOCK.now() - timedelta(hours=2))

    assert "expired" in (judged(Action.DEPLOY, "U0OWNER", project=expiring, build=old) or "")
    assert "expired" in (
        judged(Action.APPROVE, "U0QA", project=expiring, build=old, verdicts=()) or ""
    )
    assert judged(Action.CLOSE, "U0OWNER", project=expiring, build=old) is None


def release(release_id: int, build_id: str = "b1") -> Release:
    return Release(
        "shop", build_id, f"r.example/shop@sha256:{release_id:064d}", f"sha256:{release_id:064d}",
        ReleaseKind.PROMOTION, "U0OWNER", CLOCK.now(), decision_id=release_id, id=release_id,
    )  # fmt: skip


def test_a_rollback_is_offered_only_from_the_current_release_to_an_earlier_one() -> None:
    seen = Situation(ROSTER, CLOCK.now())
    first, second = release(1), release(2)

    def why(user: str, of: Release, current: Release, previous: Release | None) -> str | None:
        kw = {"release": of, "current": current, "previous": previous}
        refusal = authorise_rollback(PROJECT, user, seen, **kw)
        return None if refusal is None else refusal.reason

    assert why("U0OWNER", second, second, first) is None
    assert "no earlier production release" in (why("U0OWNER", first, first, None) or "")
    assert "production has changed" in (why("U0OWNER", first, second, None) or "")
    assert "only the owners" in (why("U0QA", second, second, first) or "")


async def store_with_ready_build(build: Build = READY) -> MemoryStore:
    store = MemoryStore()
    async with store.transaction() as tx:
        await tx.builds.add(build)
    return store


async def test_an_approval_is_recorded_once_and_queues_the_messages() -> None:
    store = await store_with_ready_build()
    click = review.Click("b1", "U0QA", Action.APPROVE, "D0QA")

    first = await review.click(store, CLOCK, PROJECTS, click)
    second = await review.click(store, CLOCK, PROJECTS, click)

    assert first.accepted and not second.accepted
    assert len(store.state.verdicts) == 1
    assert len(store.jobs_of(PostVerdictReplies)) == 1
    assert [j.text for j in store.jobs_of(NotifyUser)] == [
        "Nothing changed: you already approved this build"
    ]


async def test_a_denied_click_is_audited_and_answered_but_changes_nothing() -> None:
    store = await store_with_ready_build()

    answer = await review.click(
        store, CLOCK, PROJECTS, review.Click("b1", "U0QA", Action.DEPLOY, "D0QA")
    )

    assert not answer.accepted
    assert store.state.builds["b1"].state is BuildState.READY
    assert [e.action for e in store.state.audit] == ["click.denied"]
    assert store.jobs_of(NotifyUser)[0].text.startswith("Not allowed: only the owners")


async def approved_store(build: Build = READY) -> MemoryStore:
    store = await store_with_ready_build(build)
    await review.click(store, CLOCK, PROJECTS, review.Click("b1", "U0QA", Action.APPROVE))
    return store


async def test_only_the_first_deploy_click_starts_a_production_deployment() -> None:
    store = await approved_store()
    click = review.Click("b1", "U0OWNER", Action.DEPLOY, "D0OWNER")

    answers = [await review.click(store, CLOCK, PROJECTS, click) for _ in range(3)]

    assert [a.accepted for a in answers] == [True, False, False]
    assert len(store.jobs_of(DeployProduction)) == 1
    assert store.state.builds["b1"].state is BuildState.PROMOTING
    assert store.state.slots == {"shop": ("b1", 1)}


async def test_a_refused_deploy_leaves_no_decision_and_no_slot_behind() -> None:
    store = await store_with_ready_build()  # no approval: the quorum is not met

    answer = await review.click(
        store, CLOCK, PROJECTS, review.Click("b1", "U0OWNER", Action.DEPLOY)
    )

    assert not answer.accepted
    assert store.state.decisions == [] and store.state.slots == {}
    assert store.state.builds["b1"].state is BuildState.READY


async def test_closing_queues_the_preview_removal() -> None:
    store = await store_with_ready_build()

    await review.click(store, CLOCK, PROJECTS, review.Click("b1", "U0OWNER", Action.CLOSE))

    assert store.state.builds["b1"].state is BuildState.CLOSED
    assert [j.build_id for j in store.jobs_of(DeletePreview)] == ["b1"]


async def run_production_jobs(store: MemoryStore, cluster: FakeCluster) -> list[Build]:
    rendered: list[Build] = []

    def render(project: object, build: Build) -> list[dict[str, str]]:
        rendered.append(build)
        return [{"kind": "Deployment"}]

    for job in store.jobs_of(DeployProduction):
        await production.deploy_production(
            job, store=store, cluster=cluster, clock=CLOCK, projects=PROJECTS, render=render
        )
    for undo in store.jobs_of(RollbackProduction):
        await production.roll_back(
            undo, store=store, cluster=cluster, clock=CLOCK, projects=PROJECTS, render=render
        )
    store.state.jobs.clear()
    return rendered


async def promote(store: MemoryStore, cluster: FakeCluster, build_id: str = "b1") -> list[Build]:
    await review.click(store, CLOCK, PROJECTS, review.Click(build_id, "U0OWNER", Action.DEPLOY))
    return await run_production_jobs(store, cluster)


async def test_production_runs_the_digest_the_preview_ran_and_records_the_release() -> None:
    store = await approved_store()

    rendered = await promote(store, FakeCluster())

    assert [b.digest for b in rendered] == ["sha256:" + "d" * 64]
    assert store.state.builds["b1"].state is BuildState.PROMOTED
    assert store.state.decisions[-1].outcome == "deployed"
    assert [(r.build_id, r.image) for r in store.state.releases] == [
        ("b1", "r.example/shop@sha256:" + "d" * 64)
    ]
    assert store.state.slots == {}, "the slot is free again"


async def test_a_failed_production_rollout_leaves_the_build_promotable_with_the_reason() -> None:
    store = await approved_store()
    cluster = FakeCluster(outcome=RolloutOutcome(ready=False, reason="CrashLoopBackOff"))

    await promote(store, cluster)

    build = store.state.builds["b1"]
    assert build.state is BuildState.READY and build.reason == "CrashLoopBackOff"
    assert store.state.releases == [] and store.state.slots == {}
    assert judged(Action.DEPLOY, "U0OWNER", build=build) is None


async def test_a_build_without_a_known_digest_is_not_deployed_to_production() -> None:
    store = await approved_store(replace(READY, digest=None))
    cluster = FakeCluster()

    await promote(store, cluster)

    assert cluster.applied == []
    assert "digest" in (store.state.builds["b1"].reason or "")


async def test_rollback_redeploys_the_previous_release_and_records_where_it_came_from() -> None:
    store = await approved_store()
    await promote(store, FakeCluster())
    second = replace(READY, id="b2", digest="sha256:" + "e" * 64)
    async with store.transaction() as tx:
        await tx.builds.add(second)
    await review.click(store, CLOCK, PROJECTS, review.Click("b2", "U0QA", Action.APPROVE))
    await promote(store, FakeCluster(), "b2")
    current = store.state.releases[-1]

    answer = await rollback.rollback(
        store, CLOCK, PROJECTS, rollback.RollbackClick(str(current.id), "U0OWNER")
    )
    rendered = await run_production_jobs(store, FakeCluster())

    assert answer.accepted
    assert [b.digest for b in rendered] == ["sha256:" + "d" * 64], "back to the first digest"
    newest = store.state.releases[-1]
    assert (newest.kind, newest.build_id, newest.rolled_back_from) == (
        ReleaseKind.ROLLBACK, "b1", current.id,
    )  # fmt: skip
    assert store.state.slots == {}


async def test_a_rollback_with_no_earlier_release_changes_nothing_and_says_so() -> None:
    store = await approved_store()
    await promote(store, FakeCluster())
    only = store.state.releases[0]

    answer = await rollback.rollback(
        store, CLOCK, PROJECTS, rollback.RollbackClick(str(only.id), "U0OWNER", "C0SHOP")
    )

    assert not answer.accepted
    assert store.jobs_of(RollbackProduction) == [] and store.state.slots == {}
    assert store.jobs_of(NotifyUser)[0].text == (
        "Nothing changed: there is no earlier production release to roll back to"
    )
    assert not store.jobs_of(AnnounceDecision)


@pytest.mark.parametrize("value", ["", "abc", "99", "-1", "1" * 40])
async def test_a_rollback_of_an_unknown_release_is_denied(value: str) -> None:
    store = await store_with_ready_build()

    answer = await rollback.rollback(
        store, CLOCK, PROJECTS, rollback.RollbackClick(value, "U0OWNER")
    )

    assert answer.refusal is not None and answer.refusal.denied
    assert [e.action for e in store.state.audit] == ["click.denied"]


# --- who wrote it, who approved it: policy.unknown_author, policy.approver_may_deploy -----


def test_an_owner_who_approved_may_deploy_unless_the_policy_wants_someone_else() -> None:
    both = replace(PROJECT, qa=frozenset({"U0OWNER"}), policy=Policy(allow_override=True))
    strict = replace(both, policy=Policy(approver_may_deploy=False, allow_override=True))
    approved = (VerdictRecord("b1", "U0OWNER", Verdict.APPROVED, CLOCK.now()),)
    other = replace(strict, owners=frozenset({"U0OWNER", "U0OWNER2"}))

    assert judged(Action.DEPLOY, "U0OWNER", project=both, verdicts=approved) is None
    refused = judged(Action.DEPLOY, "U0OWNER", project=strict, verdicts=approved)
    assert refused == "you approved this build, so an owner who did not must deploy it"
    assert judged(Action.OVERRIDE, "U0OWNER", project=strict, verdicts=approved) == refused
    assert judged(Action.DEPLOY, "U0OWNER2", project=other, verdicts=approved) is None


@pytest.mark.parametrize(
    ("author", "author_user", "refusal"),
    [
        ("U0DEV", "U0DEV", None),
        ("dev@example.com", "U0DEV", None),
        ("dev@example.com", "", "its author is unknown to Slack"),
        ("Dev Eloper", "", "its author is unknown to Slack"),
        (None, None, "CI did not say who wrote it"),
        ("dev@example.com", None, "still looking up who wrote this build"),
    ],
)
def test_with_unknown_author_block_a_build_whose_author_slack_does_not_know_cannot_deploy(
    author: str | None, author_user: str | None, refusal: str | None
) -> None:
    blocking = replace(PROJECT, policy=Policy(unknown_author=UnknownAuthor.BLOCK))
    build = replace(READY, author=author, author_user=author_user)

    refused = judged(Action.DEPLOY, "U0OWNER", project=blocking, build=build)

    if refusal is None:
        assert refused is None
    else:
        assert refused is not None and refusal in refused, refused
    assert judged(Action.DEPLOY, "U0OWNER", build=build) is None  # allow: the default
