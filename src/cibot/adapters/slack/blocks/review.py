"""The review messages: an owner's DM (Deploy / Close), a QA member's DM (Approve /
Reject), and the thread replies under them (a verdict, an idle warning, a reminder).

The buttons are drawn only while the click could be taken; otherwise a line says why they
are gone (or, for an owner, what stands between the build and production).
"""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from cibot.adapters.slack.actions import ActionId
from cibot.adapters.slack.blocks.lines import (
    LIVE,
    STATE_LINES,
    build_facts,
    build_label,
    decision_line,
    freeze_line,
    mention,
    mentions,
    preview_link,
    quorum_line,
    reason_text,
    superseded_line,
    tally_line,
    when,
    with_link,
)
from cibot.adapters.slack.blocks.parts import (
    Message,
    actions,
    button,
    confirm,
    context,
    fallback,
    section,
)
from cibot.adapters.slack.text import escape, truncate
from cibot.domain.build import BuildState
from cibot.domain.review import Action, Decision, Outcome, Verdict, VerdictRecord, author_unknown
from cibot.service.views import IdleWarning, OwnerDM, QaDM, ReviewReminder, VerdictReply

# --- an owner's DM -----------------------------------------------------------------------


def _owner_status(view: OwnerDM) -> str:
    """Why the buttons are gone (or, after a failed production deploy, why they are back)."""
    build, decision = view.build, view.decision
    if view.superseded_by or build.state is BuildState.SUPERSEDED:
        return superseded_line(view.superseded_by)
    if view.former:
        return f"You are no longer an owner of {escape(view.project.name)}: nothing to do here"
    if build.state is BuildState.EXPIRED:  # whatever was decided before, it is over now
        return STATE_LINES[BuildState.EXPIRED]
    if decision is not None:
        failed = decision.action is not Action.CLOSE and decision.outcome is Outcome.FAILED
        still = " — still promotable" if failed and build.state is BuildState.READY else ""
        return decision_line(decision) + still
    return "" if build.state is BuildState.READY else STATE_LINES[build.state]


def _why_not_deployable(view: OwnerDM) -> str:
    """What stands between a ready build and the Deploy button, in one line ("" if nothing)."""
    if not view.actionable or view.deployable:
        return ""
    if view.freeze is not None:
        return freeze_line(view.freeze)
    missing = [escape(view.quorum.missing())] if not view.quorum.met else []
    if view.author_block is not None:
        why = author_unknown(view.build) or "ci-bot is still looking up who wrote it"
        missing.insert(0, f"{why}, so four eyes cannot be checked")
    return f":lock: Not ready for production: {'; '.join(missing)}"


def _owner_buttons(view: OwnerDM) -> ActionsBlock:
    build = view.build
    close = confirm(
        "Close this build?",
        f"The preview of {truncate(escape(build.target), 120)} ({build.type.value}) will be "
        "deleted and nobody can deploy this build.",
        "Close",
        danger=True,
    )
    buttons: list[ButtonElement] = []
    if view.deployable:
        deploy = confirm(
            "Deploy to production?",
            f"Deploy {truncate(escape(build.image), 250)} to production?",
            "Deploy",
        )
        buttons.append(
            button("Deploy to production", ActionId.DEPLOY_PRODUCTION, build.id, "primary", deploy)
        )
    if view.overridable:
        buttons.append(button("Deploy without approval…", ActionId.DEPLOY_OVERRIDE, build.id))
    buttons.append(button("Close", ActionId.CLOSE_BUILD, build.id, confirmation=close))
    return actions(*buttons)


def owner_dm(view: OwnerDM) -> Message:
    build = view.build
    about = f"Preview of {build_label(build)} for {escape(view.project.name)}"
    live = build.state in LIVE
    headline = with_link(f"{about} is ready", preview_link(build)) if live else about
    people = view.qa if view.qa is not None else sorted(view.project.qa)
    qa = f"QA: {mentions(people) or 'nobody is configured'}"
    blocks: list[Block] = [section(headline), context(*build_facts(build)), context(qa)]
    if live:
        blocks.append(context(tally_line(view.tally) or "No QA verdicts yet"))
        if view.quorum.required:
            blocks.append(context(quorum_line(view.quorum)))
        if not view.project.policy.approver_may_deploy:
            blocks.append(context("An owner who did not approve it deploys it"))
    if view.actionable and view.expires_at is not None:
        blocks.append(context(f":hourglass: Expires {when(view.expires_at)} if undecided"))
    if status := _owner_status(view):
        blocks.append(section(status))
    if why := _why_not_deployable(view):
        blocks.append(section(why))
    if view.actionable:
        blocks.append(_owner_buttons(view))
    return fallback(f"{about} is ready" if live else about), blocks


# --- a QA member's DM --------------------------------------------------------------------


def _verdict_words(verdict: VerdictRecord) -> str:
    if verdict.verdict is Verdict.APPROVED:
        return ":white_check_mark: Approved"
    if verdict.reason:
        return f":x: Rejected ({reason_text(verdict.reason)})"
    return ":x: Rejected"


def _qa_status(view: QaDM) -> str:
    """What became of the build, when it is no longer up for review."""
    build, decision = view.build, view.decision
    if view.superseded_by or build.state is BuildState.SUPERSEDED:
        return superseded_line(view.superseded_by)
    if view.former and build.state is BuildState.READY:
        return f"You are no longer in QA for {escape(view.project.name)}: nothing to do here"
    if build.state is BuildState.READY:
        if view.is_author and view.verdict is None:
            return ":eyes: You wrote this build, so your approval cannot count (four eyes)"
        return ""
    if view.verdict is not None and build.state is not BuildState.EXPIRED:
        return decision_line(decision) if decision else ""
    return _unreviewed_status(build.state, decision)


def _unreviewed_status(state: BuildState, decision: Decision | None) -> str:
    """Why a QA member who gave no verdict no longer needs to."""
    match state:
        case BuildState.CLOSED:
            by = f" by {mention(decision.actor)}" if decision else ""
            if decision is not None and decision.note:
                by = f" ({reason_text(decision.note)})"
            return f":no_entry_sign: Closed{by} — no review needed"
        case BuildState.PROMOTED:
            return ":rocket: Already deployed to production"
        case BuildState.PROMOTING:
            return ":hourglass_flowing_sand: Already being deployed to production"
    return STATE_LINES[state]


def qa_dm(view: QaDM) -> Message:
    build = view.build
    about = f"Please review the preview of {build_label(build)} for {escape(view.project.name)}"
    blocks: list[Block] = [
        section(with_link(about, preview_link(build))),
        context(*build_facts(build)),
    ]
    if view.verdict is not None:
        blocks.append(section(_verdict_words(view.verdict)))
    if status := _qa_status(view):
        blocks.append(section(status))
    if view.actionable and view.expires_at is not None:
        blocks.append(context(f":hourglass: Expires {when(view.expires_at)} if undecided"))
    if view.actionable:
        reject = button("Reject", ActionId.QA_REJECT, build.id, "danger")
        if view.is_author:
            blocks.append(actions(reject))
        else:
            approve = button("Approve", ActionId.QA_APPROVE, build.id, "primary")
            blocks.append(actions(approve, reject))
    return fallback(about), blocks


# --- the thread replies ------------------------------------------------------------------


def verdict_reply(reply: VerdictReply) -> Message:
    verdict = reply.verdict
    said = f"{mention(verdict.user)} has *{verdict.verdict.value}* this build"
    if verdict.verdict is Verdict.REJECTED and verdict.reason:
        said += f": {reason_text(verdict.reason)}"
    return fallback(said), [section(said)]


def idle_warning(warning: IdleWarning) -> Message:
    build = warning.build
    keeps = " A verdict or a deploy keeps it." if build.state is BuildState.READY else ""
    said = (
        f":wastebasket: The preview of {build_label(build)} for {escape(warning.project.name)} "
        f"has been idle since {when(warning.idle_since)}: it will be removed and the build "
        f"closed at {when(warning.removal_at)}.{keeps}"
    )
    return fallback(said), [section(said)]


def review_reminder(reminder: ReviewReminder) -> Message:
    build = reminder.build
    said = with_link(
        f":bell: Reminder: the preview of {build_label(build)} for "
        f"{escape(reminder.project.name)} has been waiting for your review since "
        f"{when(reminder.waiting_since)}",
        preview_link(build),
    )
    return fallback(said), [section(said)]
