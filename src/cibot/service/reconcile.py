"""Settling what a dead job held, so nothing stays "in progress" for ever (TRUST F16).

Three kinds of job hold something while they run: a preview deploy holds its build in
ACCEPTED or DEPLOYING; a production deploy holds the project's one production slot and its
build in PROMOTING; a rollback holds the slot. When such a job gives up, the runner calls
`settle_dead` at once: the build fails (preview) or goes back to review (production), with
the reason on its card, in the owners' DMs and in the channel, and the slot is freed.

The reconciler (`sweep`) catches what that misses: the settle failed because the database
was down as well, the process died in between, a job was lost some other way. At start and
every `jobs.reconcile_seconds` it looks at every build in progress and every held slot, and
settles those whose job is no longer pending or running. It reads the holds first and the
jobs second: a hold is committed together with its job, so a hold seen first whose job is
not live afterwards is an orphan for good. Every settle is a compare-and-set, so a sweep
racing a job that finishes, or another replica's sweep, changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import structlog

from cibot.domain.build import BuildState
from cibot.domain.project import Project
from cibot.service import preview, production
from cibot.service.jobs import (
    DeployPreview,
    DeployProduction,
    JobPayload,
    JobRecord,
    JobState,
    Reconcile,
    RollbackProduction,
)
from cibot.service.ports import Clock, JobLedger, Store

log = structlog.get_logger(__name__)

HOLDING_KINDS = (DeployPreview.kind, DeployProduction.kind, RollbackProduction.kind)
LOST = "ci-bot stopped working on this deploy without finishing it (its job was lost)"

# What a job holds: ("build", build id) for a preview deploy, ("decision", id) for production.
Hold = tuple[str, str | int]


def _hold_of(payload: JobPayload | None) -> Hold | None:
    if isinstance(payload, DeployPreview):
        return ("build", payload.build_id)
    if isinstance(payload, (DeployProduction, RollbackProduction)):
        return ("decision", payload.decision_id)
    return None


async def settle_dead(
    payload: JobPayload,
    reason: str,
    *,
    store: Store,
    clock: Clock,
    projects: Mapping[str, Project],
) -> None:
    """A job gave up: settle what it held (nothing, for a job that holds nothing)."""
    await _settle(_hold_of(payload), reason, store, clock, projects)


async def _settle(
    hold: Hold | None, reason: str, store: Store, clock: Clock, projects: Mapping[str, Project]
) -> None:
    match hold:
        case ("build", str(build_id)):
            await preview.give_up(store, clock, projects, build_id, reason)
        case ("decision", int(decision_id)):
            await production.give_up(store, clock, projects, decision_id, reason)


async def _holds(store: Store, projects: Mapping[str, Project]) -> set[Hold]:
    """Builds in progress and held slots, as they are now."""
    holds: set[Hold] = set()
    in_progress = (BuildState.ACCEPTED, BuildState.DEPLOYING, BuildState.PROMOTING)
    async with store.transaction() as tx:
        for project_id in projects:
            holder = await tx.production.holder(project_id)
            if holder is not None:
                holds.add(("decision", holder))
            for build in await tx.builds.of_project(project_id, in_progress):
                if build.state is not BuildState.PROMOTING:
                    holds.add(("build", build.id))
                    continue
                decision = await tx.reviews.latest_decision(build.id)
                if decision is not None and decision.id is not None and decision.outcome is None:
                    holds.add(("decision", decision.id))
    return holds


def _why(hold: Hold, records: Sequence[JobRecord]) -> str:
    """The last error of the job that died holding it, if there is one."""
    dead = [r for r in records if r.state is JobState.DEAD and _hold_of(r.payload) == hold]
    if not dead:
        return LOST
    last = dead[-1]
    return f"ci-bot gave up after {last.attempts} attempt(s): {last.last_error or 'no error kept'}"


async def sweep(
    *, store: Store, clock: Clock, projects: Mapping[str, Project], ledger: JobLedger
) -> int:
    """Settle every hold whose job is no longer pending or running; how many were settled."""
    holds = await _holds(store, projects)
    if not holds:
        return 0
    records = await ledger.unfinished(HOLDING_KINDS)
    if any(r.payload is None and r.state is not JobState.DEAD for r in records):
        # A job this version cannot read (a newer replica's, mid-upgrade): what it holds
        # is unknown, so settle nothing rather than fail a build whose job is alive.
        log.warning("reconcile.skipped", reason="a pending job of an unknown shape")
        return 0
    live = {_hold_of(r.payload) for r in records if r.state is not JobState.DEAD}
    orphans = sorted(holds - live, key=str)
    for hold in orphans:
        reason = _why(hold, records)
        log.warning("reconcile.settle", held=f"{hold[0]} {hold[1]}", reason=reason)
        await _settle(hold, reason, store, clock, projects)
    return len(orphans)


def _slot(now: datetime, period: float) -> int:
    return int(now.timestamp() // period)


async def schedule(store: Store, clock: Clock, period: float) -> None:
    """Make sure this period's sweep is queued (however many replicas start, one per period)."""
    slot = _slot(clock.now(), period)
    async with store.transaction() as tx:
        await tx.jobs.enqueue(Reconcile(slot), clock.now(), dedupe_key=f"reconcile:{slot}")


async def reconcile(
    job: Reconcile,
    *,
    store: Store,
    clock: Clock,
    projects: Mapping[str, Project],
    ledger: JobLedger,
    period: float,
) -> None:
    """The periodic sweep; queues the next period's."""
    await sweep(store=store, clock=clock, projects=projects, ledger=ledger)
    following = job.slot + 1
    async with store.transaction() as tx:
        await tx.jobs.enqueue(
            Reconcile(following),
            datetime.fromtimestamp(following * period, UTC),
            dedupe_key=f"reconcile:{following}",
        )
