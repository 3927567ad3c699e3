"""Who may do what, and what a click does: the review rules against in-memory ports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.review import Action, Verdict, VerdictRecord, authorise
from cibot.service import production, review
from cibot.service.jobs import DeletePreview, DeployProduction, NotifyUser, PostVerdictReplies
from cibot.service.ports import RolloutOutcome
from tests.support.fakes import FakeClock, FakeCluster, MemoryStore
from tests.unit.test_use_cases import PROJECT, PROJECTS

CLOCK = FakeClock()
READY = Build(
    "b1", "shop", BuildType.BRANCH, "main", "r.example/shop:1", BuildState.READY,
    CLOCK.now(), CLOCK.now(), digest="sha256:" + "d" * 64,
)  # fmt: skip


@pytest.mark.parametrize(
    ("user", "action", "allowed"),
    [
        ("U0QA", Action.APPROVE, True),
        ("U0QA", Action.REJECT, True),
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
    refusal = authorise(PROJECT, READY, user, action)
    assert (refusal is None) is allowed
    if refusal is not None:
        assert refusal.denied


def test_an_empty_role_list_refuses_everyone() -> None:
    nobody = replace(PROJECT, qa=frozenset(), owners=frozenset())
    assert all(authorise(nobody, READY, "U0QA", a) is not None for a in Action)


@pytest.mark.parametrize(
    "state", [BuildState.SUPERSEDED, BuildState.CLOSED, BuildState.DEPLOYING, BuildState.PROMOTED]
)
def test_a_build_out_of_review_refuses_verdicts_with_an_explanation(state: BuildState) -> None:
    refusal = authorise(PROJECT, replace(READY, state=state), "U0QA", Action.APPROVE)
    assert refusal is not None and not refusal.denied
    assert refusal.reason.startswith("this build ")


def test_a_second_verdict_by_the_same_person_is_refused() -> None:
    mine = VerdictRecord("b1", "U0QA", Verdict.APPROVED, CLOCK.now())
    refusal = authorise(PROJECT, READY, "U0QA", Action.REJECT, [mine])
    assert refusal is not None and "already approved" in refusal.reason


async def store_with_ready_build() -> MemoryStore:
    store = MemoryStore()
    async with store.transaction() as tx:
        await tx.add_build(READY)
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


async def test_only_the_first_deploy_click_starts_a_production_deployment() -> None:
    store = await store_with_ready_build()
    click = review.Click("b1", "U0OWNER", Action.DEPLOY, "D0OWNER")

    answers = [await review.click(store, CLOCK, PROJECTS, click) for _ in range(3)]

    assert [a.accepted for a in answers] == [True, False, False]
    assert len(store.jobs_of(DeployProduction)) == 1
    assert store.state.builds["b1"].state is BuildState.PROMOTING


async def test_closing_queues_the_preview_removal() -> None:
    store = await store_with_ready_build()

    await review.click(store, CLOCK, PROJECTS, review.Click("b1", "U0OWNER", Action.CLOSE))

    assert store.state.builds["b1"].state is BuildState.CLOSED
    assert [j.build_id for j in store.jobs_of(DeletePreview)] == ["b1"]


async def promote(store: MemoryStore, cluster: FakeCluster) -> list[object]:
    rendered: list[object] = []

    def render(project: object, build: Build) -> list[dict[str, str]]:
        rendered.append(build)
        return [{"kind": "Deployment"}]

    await review.click(store, CLOCK, PROJECTS, review.Click("b1", "U0OWNER", Action.DEPLOY))
    job = store.jobs_of(DeployProduction)[0]
    await production.deploy_production(
        job, store=store, cluster=cluster, clock=CLOCK, projects=PROJECTS, render=render
    )
    return rendered


async def test_production_runs_the_digest_the_preview_ran() -> None:
    store = await store_with_ready_build()

    rendered = await promote(store, FakeCluster())

    assert [b.digest for b in rendered] == ["sha256:" + "d" * 64]  # type: ignore[attr-defined]
    assert store.state.builds["b1"].state is BuildState.PROMOTED
    assert store.state.decisions[0].outcome == "deployed"


async def test_a_failed_production_rollout_leaves_the_build_promotable_with_the_reason() -> None:
    store = await store_with_ready_build()
    cluster = FakeCluster(outcome=RolloutOutcome(ready=False, reason="CrashLoopBackOff"))

    await promote(store, cluster)

    build = store.state.builds["b1"]
    assert build.state is BuildState.READY and build.reason == "CrashLoopBackOff"
    assert authorise(PROJECT, build, "U0OWNER", Action.DEPLOY) is None


async def test_a_build_without_a_known_digest_is_not_deployed_to_production() -> None:
    store = MemoryStore()
    async with store.transaction() as tx:
        await tx.add_build(replace(READY, digest=None))
    cluster = FakeCluster()

    await promote(store, cluster)

    assert cluster.applied == []
    assert "digest" in (store.state.builds["b1"].reason or "")
