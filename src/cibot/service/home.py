"""ci-bot's Home tab in Slack: who has one, when it is published, and what it shows.

A person gets a Home tab by opening it once (`opened`, from Slack's `app_home_opened`);
from then on it is published again whenever something shown there changes. What changes
is what the audit trail records: every state change of a build, verdict, decision, deploy,
rollback and freeze writes an audit row in its transaction, so one hook (`audited`, which
the store calls before each commit) finds the projects touched and queues a publish for
their QA members and owners who have a Home tab, in that same transaction. Nothing at the
call sites, and no change that commits without its publish queued.

Coalescing: at most one publish waits per person (the store marks them, `tx.homes.mark`,
each row locked in turn), however many changes come before it runs; it unmarks them as it
begins (`tx.homes.take`), so a change committed after that queues the next one, and a change
committed before is what it reads. A publish runs no sooner than `EVERY` after the
person's previous one began: one publish per person per few seconds at most, on any
number of replicas and across restarts (the marks and jobs are rows). The jobs share one
queue: Home tabs are published one at a time, paced within views.publish's tier.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from cibot.domain.build import Build, BuildState
from cibot.domain.project import Project, Roster
from cibot.service.audit import AuditAction
from cibot.service.gate import roster_of, situation_of
from cibot.service.jobs import PublishHome, RepublishHomes
from cibot.service.messages import Review
from cibot.service.ports import AuditEvent, Chat, Clock, Store, Transaction
from cibot.service.views import HomeView, OwnerDM, ProjectHome, QaDM

EVERY = timedelta(seconds=3)  # at most one publish per person this often
LOST_AFTER = timedelta(minutes=10)  # a publish queued this long ago is taken for lost
EVENTS_SHOWN = 10  # the latest audit lines of the person's projects

# Audit rows that change nothing a Home tab shows: refusals and housekeeping. Every other
# row (a new kind too) publishes the Home tabs of the project's people.
QUIET = frozenset(
    {
        AuditAction.CLICK_DENIED,
        AuditAction.CLICK_IGNORED,
        AuditAction.COMMAND_DENIED,
        AuditAction.BUILD_REFUSED,
        AuditAction.BUILD_REPEATED,
        AuditAction.PREVIEW_IDLE_WARNING,
        AuditAction.RETENTION_PRUNED,
    }
)
# Builds whose preview exists (or is being made): the newest of each target is shown.
PREVIEWS = frozenset(
    {
        BuildState.ACCEPTED,
        BuildState.DEPLOYING,
        BuildState.READY,
        BuildState.FAILED,
        BuildState.PROMOTING,
        BuildState.PROMOTED,
    }
)


async def opened(store: Store, clock: Clock, user: str, event_id: str) -> bool:
    """`user` opened their Home tab: publish it (soon). False when Slack sent this event
    before (a retry): it was taken then."""
    now = clock.now()
    async with store.transaction() as tx:
        if not await tx.homes.open(user, event_id, now):
            return False
        await queue(tx, [user], now)
    return True


async def queue(
    tx: Transaction, users: Iterable[str], now: datetime, every: timedelta = EVERY
) -> None:
    """Queue a publish of the Home tab of each of `users` who has one and none waiting."""
    for mark in await tx.homes.mark(users, now, now - LOST_AFTER):
        run_at = now if mark.last_started is None else max(now, mark.last_started + every)
        await tx.jobs.enqueue(PublishHome(mark.user), run_at)


async def audited(
    tx: Transaction,
    events: Sequence[AuditEvent],
    *,
    projects: Mapping[str, Project],
    clock: Clock,
    every: timedelta = EVERY,
) -> None:
    """The store's `before_commit` hook: the Home tabs of the people of every project this
    transaction changed are published again."""
    touched = {e.project_id for e in events if e.action not in QUIET and e.project_id}
    now = clock.now()
    people: set[str] = set()
    for project_id in sorted(touched & projects.keys()):
        people |= (await roster_of(tx, projects[project_id], now)).everyone
    if people:
        await queue(tx, people, now, every)


async def publish_home(
    job: PublishHome,
    *,
    store: Store,
    clock: Clock,
    chat: Chat,
    projects: Mapping[str, Project],
) -> None:
    """Publish the person's Home tab as things are now."""
    now = clock.now()
    async with store.transaction() as tx:
        if not await tx.homes.take(job.user, now):
            return
    async with store.transaction() as tx:
        view = await read_home(tx, projects, job.user, now)
    await chat.publish_home(job.user, view)
    await _republish_when_windows_end(store, view)


async def _republish_when_windows_end(store: Store, view: HomeView) -> None:
    """A freeze window shown on the Home tab goes away by itself when it ends, with no change
    to publish it: publish the project's Home tabs again then (once, whoever shows it)."""
    ending = [(p.project.id, p.freeze.until) for p in view.projects if p.freeze and p.freeze.until]
    if not ending:
        return
    async with store.transaction() as tx:
        for project_id, until in ending:
            at = until + timedelta(seconds=1)
            key = f"republish_homes:{project_id}:{int(at.timestamp())}"
            await tx.jobs.enqueue(RepublishHomes(project_id), at, dedupe_key=key)


async def republish_homes(
    job: RepublishHomes, *, store: Store, clock: Clock, projects: Mapping[str, Project]
) -> None:
    """Publish again the Home tabs of the project's people who have one."""
    project = projects.get(job.project_id)
    if project is None:
        return
    now = clock.now()
    async with store.transaction() as tx:
        await queue(tx, (await roster_of(tx, project, now)).everyone, now)


async def read_home(
    tx: Transaction, projects: Mapping[str, Project], user: str, now: datetime
) -> HomeView:
    """What `user`'s Home tab shows: the projects they are QA or owner of, and in those the
    builds waiting for them, the environments and the latest audit lines."""
    waiting: list[OwnerDM | QaDM] = []
    mine: list[ProjectHome] = []
    events: list[AuditEvent] = []
    for project in sorted(projects.values(), key=lambda p: p.id):
        roster = await roster_of(tx, project, now)
        if user not in roster.everyone:
            continue
        builds = await tx.builds.of_project(project.id, PREVIEWS)
        for build in builds:
            if build.state is BuildState.READY:
                waiting += await _waiting_for(tx, project, roster, build, user=user, now=now)
        mine.append(await _project_home(tx, project, roster, builds, user=user, now=now))
        events += await tx.audit.events(project.id, limit=EVENTS_SHOWN)
    events.sort(key=lambda e: (e.at, e.id or 0), reverse=True)
    return HomeView(user, now, tuple(waiting), tuple(mine), tuple(events[:EVENTS_SHOWN]))


async def _waiting_for(
    tx: Transaction, project: Project, roster: Roster, build: Build, *, user: str, now: datetime
) -> list[OwnerDM | QaDM]:
    """The build as `user`'s DMs draw it, where it waits for their decision or verdict."""
    review = Review(
        project=project,
        build=build,
        situation=await situation_of(tx, project, build.id, now),
        decision=await tx.reviews.latest_decision(build.id),
        superseded_by=None,
        owner_refs={},
        qa_refs={},
    )
    found: list[OwnerDM | QaDM] = []
    if user in roster.owners:
        found.append(review.owner_view())
    if user in roster.qa and (qa := review.qa_view(user)).actionable:
        found.append(qa)
    return found


async def _project_home(
    tx: Transaction,
    project: Project,
    roster: Roster,
    builds: Sequence[Build],
    *,
    user: str,
    now: datetime,
) -> ProjectHome:
    releases = await tx.releases.of_project(project.id, limit=2)
    release = releases[0] if releases else None
    previous = releases[1] if len(releases) > 1 else None
    busy = await tx.production.busy_with(project.id)
    roles = tuple(r for r, who in (("QA", roster.qa), ("owner", roster.owners)) if user in who)
    return ProjectHome(
        project=project,
        roles=roles,
        previews=_newest_per_target(builds),
        release=release,
        release_build=await tx.builds.get(release.build_id) if release else None,
        previous=previous,
        freeze=project.policy.freeze(await tx.freezes.get(project.id), now),
        busy_with=busy,
        may_roll_back=user in roster.owners and previous is not None and busy is None,
    )


def _newest_per_target(builds: Sequence[Build]) -> tuple[Build, ...]:
    """The build each preview runs: the newest of its target (`builds` are oldest first)."""
    newest = {(b.type, b.target): b for b in builds}
    return tuple(sorted(newest.values(), key=lambda b: (b.created_at, b.id), reverse=True))
