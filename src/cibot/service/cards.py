"""Keeping a build's channel card true: the `SyncBuildCard` job.

The card is drawn from the build's current state, so running the job twice, or late, only
redraws the same truth. It is posted once (`posting.post_once`, even across a crash); its
channel and `ts` are stored, and every later change is a `chat.update` of that message.
"""

from __future__ import annotations

from collections.abc import Mapping

from cibot.domain.build import BuildState
from cibot.domain.project import Project
from cibot.domain.review import Tally
from cibot.service.jobs import SyncBuildCard
from cibot.service.ports import Chat, Clock, Store
from cibot.service.posting import Slot, To, post_or_update
from cibot.service.views import BuildCard

CARD = "card"


async def sync_build_card(
    job: SyncBuildCard,
    *,
    store: Store,
    clock: Clock,
    chat: Chat,
    projects: Mapping[str, Project],
) -> None:
    async with store.transaction() as tx:
        build = await tx.builds.get(job.build_id)
        if build is None:
            return
        newer = await tx.builds.get(build.superseded_by) if build.superseded_by else None
        tally = Tally.of(await tx.reviews.verdicts_of(build.id))
        decision = await tx.reviews.latest_decision(build.id)
        saved = await tx.messages.get(build.id, CARD)
    project = projects[build.project_id]
    note = build.reason if build.state is BuildState.DEPLOYING else None
    view = BuildCard(project, build, newer, note=note, tally=tally, decision=decision)
    to = To(channel=project.channel)
    await post_or_update(store, chat, clock, Slot(build.id, CARD), to=to, view=view, saved=saved)
