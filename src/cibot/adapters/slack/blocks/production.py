"""The channel's production announcements: a deploy or a rollback (under way, done or
failed, with **Roll back** while it is what production runs), and a freeze or an unfreeze.
"""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ButtonElement

from cibot.adapters.slack.actions import ActionId
from cibot.adapters.slack.blocks.lines import mention, pinned_image, reason_text
from cibot.adapters.slack.blocks.parts import (
    Message,
    actions,
    button,
    confirm,
    context,
    fallback,
    section,
)
from cibot.adapters.slack.text import code, escape, link, truncate
from cibot.domain.release import Release
from cibot.domain.review import Action, Outcome
from cibot.service.views import FreezeNotice, ProductionNotice

_PRODUCTION_PHRASES: dict[Outcome | None, str] = {
    None: "deploying to production",
    Outcome.DEPLOYED: "deployed to production",
    Outcome.FAILED: "production deploy failed",
}
_ROLLBACK_PHRASES: dict[Outcome | None, str] = {
    None: "rolling production back",
    Outcome.DEPLOYED: "production rolled back",
    Outcome.FAILED: "production rollback failed",
}


def release_ref(release: Release) -> str:
    return f"release #{release.id} ({code(release.image, 300)})"


def rollback_button(release: Release, previous: Release) -> ButtonElement:
    """**Roll back**, here and on the Home tab: its value is the id of the release it undoes."""
    sure = confirm(
        "Roll back production?",
        f"Production goes back to release #{previous.id} "
        f"({truncate(escape(previous.image), 250)}).",
        "Roll back",
        danger=True,
    )
    return button("Roll back", ActionId.ROLLBACK_PRODUCTION, str(release.id), "danger", sure)


def _production_words(notice: ProductionNotice) -> str:
    build, decision = notice.build, notice.decision
    what = f"*{escape(notice.project.name)}* {code(build.target, 120)}"
    actor = mention(decision.actor)
    where = link(notice.project.url, notice.project.host)
    if decision.action is Action.ROLLBACK:
        return _rollback_words(notice, actor, where)
    without = (
        f" *without the required approvals*: {reason_text(decision.note)}"
        if decision.action is Action.OVERRIDE
        else ""
    )
    match decision.outcome:
        case Outcome.DEPLOYED:
            return (
                f":rocket: {what} ({pinned_image(build)}) was deployed to production by {actor}"
                f"{without}: {where}"
            )
        case Outcome.FAILED:
            return (
                f":x: Production deploy of {what} ({code(build.image, 300)}) by {actor} "
                f"failed: {reason_text(decision.reason, 'unknown reason')}. "
                "The build can be deployed again."
            )
    return (
        f":hourglass_flowing_sand: Deploying {what} ({pinned_image(build)}) to production "
        f"(started by {actor}){without}…"
    )


def _rollback_words(notice: ProductionNotice, actor: str, where: str) -> str:
    project = f"*{escape(notice.project.name)}*"
    undone = f" from {release_ref(notice.rolled_back_from)}" if notice.rolled_back_from else ""
    match notice.decision.outcome:
        case Outcome.DEPLOYED:
            return (
                f":rewind: {actor} rolled {project} production back{undone} to "
                f"{pinned_image(notice.build)}: {where}"
            )
        case Outcome.FAILED:
            return (
                f":x: Rolling {project} production back to {pinned_image(notice.build)} failed: "
                f"{reason_text(notice.decision.reason, 'unknown reason')}. Production still "
                "runs what it ran before."
            )
    return f":rewind: Rolling {project} production back to {pinned_image(notice.build)} ({actor})…"


def _release_context(notice: ProductionNotice) -> str:
    if notice.release is None or notice.decision.outcome is not Outcome.DEPLOYED:
        return ""
    if notice.replaced_by is not None:
        return f"No longer in production: {release_ref(notice.replaced_by)} replaced it"
    if notice.previous is None:
        return "The first production release: there is nothing earlier to roll back to"
    return f"Roll back goes to {release_ref(notice.previous)}"


def production_notice(notice: ProductionNotice) -> Message:
    what = f"{escape(notice.project.name)} {code(notice.build.target, 120)}"
    rollback = notice.decision.action is Action.ROLLBACK
    phrases = _ROLLBACK_PHRASES if rollback else _PRODUCTION_PHRASES
    blocks: list[Block] = [section(_production_words(notice))]
    if said := _release_context(notice):
        blocks.append(context(said))
    if notice.can_roll_back:
        assert notice.release is not None  # as can_roll_back says
        assert notice.previous is not None
        blocks.append(actions(rollback_button(notice.release, notice.previous)))
    return fallback(f"{what}: {phrases[notice.decision.outcome]}"), blocks


def freeze_notice(notice: FreezeNotice) -> Message:
    project, actor = escape(notice.project.name), mention(notice.actor)
    if notice.frozen:
        said = (
            f":snowflake: Production deploys of *{project}* are frozen by {actor}: "
            f"{reason_text(notice.reason)}. {code(f'/cibot unfreeze {notice.project.id}')} "
            "lifts the freeze."
        )
    else:
        said = f":sunny: Production deploys of *{project}* are unfrozen by {actor}"
    return fallback(said), [section(said)]
