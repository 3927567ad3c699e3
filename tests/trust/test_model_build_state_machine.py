"""A stateful model of the build state machine (T7, T10, T16, F9; crashes as in F5-F7).

Hypothesis drives the real use cases (intake, the preview and production jobs, clicks)
against the in-memory fakes, in random order: builds of a few targets (numbered or not,
some out of order), QA verdicts, owner decisions (deploy, close, override, which the policy
allows), rollouts that succeed or fail, and crashes (a job run twice, a job dropped half-way
and run again). After every step the invariants hold:

- production only runs a digest approved under the policy, for a build that was the newest
  (non-stale) build of its target when the owner decided, and the digest its preview ran;
- at most one production deployment is in flight per project;
- no approval survives a newer build: a build that is not the newest of its target is
  never READY, and a deploy click on it is always refused;
- an accepted deploy click queues exactly one production deployment (none lost, none twice).

120 sequences of up to 50 steps, or `CIBOT_SOAK_SEQUENCES` under scripts/soak; the census
(tests/support/soak.py) counts the sequences run, and the lost and doubled deployments.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cibot.bootstrap import RENDERERS
from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.policy import Policy
from cibot.domain.project import Project
from cibot.domain.review import Action, Outcome
from cibot.service import intake, review
from cibot.service.errors import Permanent, Transient
from cibot.service.gate import situation_of
from cibot.service.handlers import Dependencies, job_handlers
from cibot.service.jobs import DeployProduction, JobPayload
from cibot.service.ports import RolloutOutcome
from tests.support import soak
from tests.support.fakes import FakeChat, FakeClock, FakeCluster, MemoryStore

QA = ("U0QA1", "U0QA2")
OWNERS = ("U0OWN1", "U0OWN2")
PEOPLE = (*QA, *OWNERS, "U0NOBODY")
TARGETS = ("main", "feature")
IMAGES = ("r.example/shop/web:1", "r.example/shop/web:2")
PROJECT = Project(
    id="shop",
    name="Shop",
    url="https://shop.example.com",
    channel="C0SHOP",
    qa=frozenset(QA),
    owners=frozenset(OWNERS),
    namespace="shop",
    policy=Policy(approvals_required=1, allow_override=True, four_eyes=True),
)
PROJECTS = {PROJECT.id: PROJECT}
STEPS, EXAMPLES = 50, soak.budget("CIBOT_SOAK_SEQUENCES", 120)


class Crash(Exception):
    """The process died in the middle of a job."""


@dataclass
class ModelCluster(FakeCluster):
    """A cluster whose rollouts report the sha256 of the image, and that can die mid-job."""

    ready: bool = True
    crash_next: bool = False
    production: list[tuple[str, str]] = field(default_factory=list)  # (build id, image)

    async def apply(self, manifests: Sequence[Mapping[str, Any]]) -> None:
        await super().apply(manifests)
        for m in manifests:
            labels = m["metadata"]["labels"]
            if m["kind"] == "Deployment" and labels["cibot/environment"] == "production":
                image = m["spec"]["template"]["spec"]["containers"][0]["image"]
                self.production.append((m["metadata"]["annotations"]["cibot/build-id"], image))
        if self.crash_next:
            self.crash_next = False
            raise Crash

    async def wait_for_rollout(
        self,
        namespace: str,
        name: str,
        timeout_seconds: float,
        keep_waiting: Callable[[], Awaitable[bool]],
        *,
        build_id: str,
    ) -> RolloutOutcome:
        image = self.applied[-3]["spec"]["template"]["spec"]["containers"][0]["image"]
        digest = "sha256:" + hashlib.sha256(image.split("@")[0].encode()).hexdigest()
        self.outcome = RolloutOutcome(
            ready=self.ready,
            digest=digest if self.ready else None,
            reason=None if self.ready else "CrashLoopBackOff",
        )
        return await super().wait_for_rollout(
            namespace, name, timeout_seconds, keep_waiting, build_id=build_id
        )


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(cast(Any, coro))


class BuildStateMachine(RuleBasedStateMachine):
    census = soak.Census("stateful model", "in-memory")  # the test's own, set by `counted`

    @initialize()
    def start(self) -> None:
        self.census.case()
        self.store, self.clock, self.chat = MemoryStore(), FakeClock(), FakeChat()
        self.cluster = ModelCluster()
        self.handlers = job_handlers(
            Dependencies(
                store=cast(Any, self.store),
                cluster=cast(Any, self.cluster),
                chat=cast(Any, self.chat),
                clock=self.clock,
                projects=PROJECTS,
                render=RENDERERS,
            )
        )
        self.done: set[int] = set()
        self.numbers: dict[str, int] = {}
        self.hooks = 0
        self.approved_decisions: dict[int, str] = {}  # decision id -> build id, as judged

    # -- helpers ----------------------------------------------------------------------------

    @property
    def builds(self) -> list[Build]:
        return sorted(self.store.state.builds.values(), key=lambda b: (b.created_at, b.id))

    def newest(self, target: str) -> Build | None:
        live = [b for b in self.builds if b.target == target and b.state is not BuildState.STALE]
        return live[-1] if live else None

    def claimable(self) -> list[int]:
        jobs, found = self.store.state.jobs, []
        busy: set[str] = set()
        for i, (payload, _run_at) in enumerate(jobs):
            if i in self.done:
                continue
            queue = payload.queue
            if queue is None or queue not in busy:
                found.append(i)
            if queue is not None:
                busy.add(queue)
        return found

    def run_job(self, index: int) -> None:
        payload: JobPayload = self.store.state.jobs[index][0]
        try:
            run(self.handlers[type(payload)](payload))
        except Crash:
            return  # died half-way: the job stays pending and runs again
        except Transient:
            return  # a real runner retries it later
        except Permanent:
            pass  # a real runner gives up on it; anything else is a bug and fails the model
        self.done.add(index)

    # -- rules --------------------------------------------------------------------------------

    @rule(
        where=st.sampled_from(TARGETS),
        image=st.sampled_from(IMAGES),
        numbered=st.booleans(),
        late=st.booleans(),
        commit=st.sampled_from(["aaaaaaa", "bbbbbbb"]),
    )
    def ci_reports_a_build(
        self, where: str, image: str, numbered: bool, late: bool, commit: str
    ) -> None:
        self.clock.advance(1)
        number = None
        if numbered:
            highest = self.numbers.get(where, 0)
            number = max(highest - 1, 0) if late and highest else highest + 1
            self.numbers[where] = max(highest, number)
        self.hooks += 1
        report = intake.BuildReport(
            image=image, type=BuildType.BRANCH, target=where, commit=commit, build_number=number
        )
        run(
            intake.record_build(
                store=self.store,
                clock=self.clock,
                project=PROJECT,
                report=report,
                webhook_id=f"msg_{self.hooks}",
                body_sha256=str(self.hooks),
            )
        )

    @precondition(lambda self: bool(self.claimable()))
    @rule(data=st.data())
    def a_worker_runs_a_job(self, data: st.DataObject) -> None:
        self.clock.advance(1)
        self.run_job(data.draw(st.sampled_from(self.claimable())))

    @precondition(lambda self: bool(self.done))
    @rule(data=st.data())
    def a_job_runs_again_after_a_crash(self, data: st.DataObject) -> None:
        index = data.draw(st.sampled_from(sorted(self.done)))
        self.done.discard(index)  # its lease expired: it is claimed and run once more
        self.run_job(index)

    @precondition(lambda self: bool(self.claimable()))
    @rule(data=st.data())
    def the_process_dies_mid_job(self, data: st.DataObject) -> None:
        self.cluster.crash_next = True
        self.run_job(data.draw(st.sampled_from(self.claimable())))
        self.cluster.crash_next = False

    @rule(ready=st.booleans())
    def rollouts_start_to(self, ready: bool) -> None:
        self.cluster.ready = ready

    @precondition(lambda self: bool(self.claimable()))
    @rule()
    def the_workers_catch_up(self) -> None:
        for _ in range(50):
            ready = self.claimable()
            if not ready:
                return
            self.clock.advance(1)
            self.run_job(ready[0])

    @precondition(lambda self: bool(self.store.state.builds))
    @rule(
        data=st.data(),
        user=st.sampled_from((*QA, QA[0], "U0NOBODY")),
        action=st.sampled_from([Action.APPROVE, Action.APPROVE, Action.REJECT]),
    )
    def qa_gives_a_verdict(self, data: st.DataObject, user: str, action: Action) -> None:
        self.click(data, user, action)

    @precondition(lambda self: bool(self.store.state.builds))
    @rule(
        data=st.data(),
        user=st.sampled_from((*OWNERS, OWNERS[0], QA[0])),
        action=st.sampled_from([Action.DEPLOY, Action.DEPLOY, Action.CLOSE, Action.OVERRIDE]),
    )
    def an_owner_decides(self, data: st.DataObject, user: str, action: Action) -> None:
        self.click(data, user, action)

    def click(self, data: st.DataObject, user: str, action: Action) -> None:
        newest_first = sorted(self.builds, key=lambda b: b.created_at, reverse=True)
        build = data.draw(st.sampled_from(newest_first))
        self.clock.advance(1)
        was_newest = self.newest(build.target)
        before = self.store.state.builds[build.id]
        situation = run(self._situation(build.id))
        met = situation.quorum(PROJECT, before).met
        reason = "hotfix" if action is Action.OVERRIDE else None
        answer = run(
            review.click(
                self.store,
                self.clock,
                PROJECTS,
                review.Click(build.id, user, action, "D0X", reason),
            )
        )
        event(f"click {action.value}: {'taken' if answer.accepted else 'refused'}")
        if not answer.accepted or action not in (Action.DEPLOY, Action.OVERRIDE):
            return
        assert user in OWNERS
        assert was_newest is not None and was_newest.id == build.id, (
            "deployed a build that is not the newest"
        )
        assert before.state is BuildState.READY
        assert met or action is Action.OVERRIDE, "deployed without the quorum and without override"
        decision = self.store.state.decisions[-1]
        assert decision.id is not None
        self.approved_decisions[decision.id] = build.id
        queued = [p for p, _ in self.store.state.jobs
                  if isinstance(p, DeployProduction) and p.decision_id == decision.id]  # fmt: skip
        assert self.census.effect(len(queued)) == 1, "an accepted deploy queued no deploy, or two"

    async def _situation(self, build_id: str) -> Any:
        async with self.store.transaction() as tx:
            return await situation_of(tx, PROJECT, build_id, self.clock.now())

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def production_runs_only_approved_digests_of_their_build(self) -> None:
        if not hasattr(self, "store"):
            return
        states = {b.state.value for b in self.store.state.builds.values()}
        event(f"production applies: {min(len(self.cluster.production), 2)}")
        event(f"states reached: {','.join(sorted(states & {'promoted', 'superseded', 'stale'}))}")
        for build_id, image in self.cluster.production:
            build = self.store.state.builds[build_id]
            decisions = [d for d in self.store.state.decisions if d.build_id == build_id
                         and d.action in (Action.DEPLOY, Action.OVERRIDE)]  # fmt: skip
            assert decisions and all(d.id in self.approved_decisions for d in decisions)
            assert "@sha256:" in image, "production got a tag, not a digest"
            assert image.split("@")[1] == build.digest, "not the digest the preview ran"

    @invariant()
    def at_most_one_production_deployment_in_flight(self) -> None:
        if not hasattr(self, "store"):
            return
        promoting = [b for b in self.store.state.builds.values() if b.state is BuildState.PROMOTING]
        production = (Action.DEPLOY, Action.OVERRIDE)
        open_decisions = [
            d for d in self.store.state.decisions if d.action in production and d.outcome is None
        ]
        assert len(promoting) <= 1 and len(open_decisions) <= 1
        deploys = [p for p, _ in self.store.state.jobs if isinstance(p, DeployProduction)]
        pending = {p.decision_id for i, (p, _) in enumerate(self.store.state.jobs)
                   if isinstance(p, DeployProduction) and i not in self.done}  # fmt: skip
        self.census.doubled += max(0, len(pending) - 1)
        assert len(pending) <= 1, f"two production deploys queued at once: {deploys}"

    @invariant()
    def no_approval_survives_a_newer_build(self) -> None:
        if not hasattr(self, "store"):
            return
        for build in self.store.state.builds.values():
            newest = self.newest(build.target)
            if build.state is BuildState.READY:
                assert newest is not None and newest.id == build.id, (
                    "an older build is still in review"
                )
            if build.state is BuildState.SUPERSEDED:
                assert build.superseded_by is not None

    @invariant()
    def settled_decisions_match_the_builds(self) -> None:
        if not hasattr(self, "store"):
            return
        for d in self.store.state.decisions:
            if d.outcome is Outcome.DEPLOYED and d.action is not Action.ROLLBACK:
                assert self.store.state.builds[d.build_id].state in (
                    BuildState.PROMOTED,
                    BuildState.CLOSED,
                )


BuildStateMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None
)


@pytest.fixture
def counted(census: soak.Census) -> Iterator[None]:
    """The model's sequences count into this test's census."""
    census.suite, census.database = "stateful model", "in-memory"
    BuildStateMachine.census = census
    yield
    BuildStateMachine.census = soak.Census("stateful model", "in-memory")


TestT10BuildStateMachine = pytest.mark.usefixtures("counted")(BuildStateMachine.TestCase)


def test_T7_a_build_whose_production_deploy_fails_after_a_newer_build_came_is_superseded() -> None:
    """The case the model found: A is being deployed to production when B (same target)
    arrives; A's deploy fails. A used to come back to review (READY, approvals intact) beside
    B; now it is superseded by B."""
    machine = BuildStateMachine()
    machine.start()
    machine.ci_reports_a_build("main", IMAGES[0], False, False, "aaaaaaa")
    machine.the_workers_catch_up()
    a = machine.builds[-1]
    run(
        review.click(
            machine.store, machine.clock, PROJECTS, review.Click(a.id, QA[0], Action.APPROVE)
        )
    )
    run(
        review.click(
            machine.store, machine.clock, PROJECTS, review.Click(a.id, OWNERS[0], Action.DEPLOY)
        )
    )
    machine.ci_reports_a_build("main", IMAGES[1], False, False, "bbbbbbb")
    machine.cluster.ready = False

    machine.the_workers_catch_up()

    b = machine.builds[-1]
    assert machine.store.state.builds[a.id].state is BuildState.SUPERSEDED
    assert machine.store.state.builds[a.id].superseded_by == b.id
    deploy_again = run(
        review.click(
            machine.store, machine.clock, PROJECTS, review.Click(a.id, OWNERS[1], Action.DEPLOY)
        )
    )
    assert deploy_again.refusal is not None and "superseded" in deploy_again.refusal.reason
