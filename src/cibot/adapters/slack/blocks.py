"""Block Kit for each view, as pure functions: view in, (fallback text, blocks) out.

Every piece of text that came from CI or a user goes through `text.escape` / `text.code`,
so a branch called `<!channel>` is shown, not obeyed; a user id becomes a mention only when
it looks like one. Dispatch is on the view's type. The one modal, which is a view and not a
message, has its own function, `reject_modal`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import singledispatch
from typing import Any

from cibot.adapters.slack.actions import (
    OVERRIDE_MODAL_CALLBACK,
    OVERRIDE_REASON_BLOCK,
    OVERRIDE_REASON_INPUT,
    REASON_MAX,
    REJECT_MODAL_CALLBACK,
    REJECT_REASON_BLOCK,
    REJECT_REASON_INPUT,
    ActionId,
)
from cibot.adapters.slack.text import code, escape, link, truncate
from cibot.domain.build import Build, BuildState
from cibot.domain.policy import Freeze, Quorum
from cibot.domain.release import Release, pinned
from cibot.domain.review import (
    Action,
    Decision,
    Outcome,
    Tally,
    Verdict,
    VerdictRecord,
    author_unknown,
)
from cibot.service.ports import AuditEvent
from cibot.service.views import (
    BuildCard,
    FreezeNotice,
    History,
    IdleWarning,
    Notice,
    OverrideReasonModal,
    OwnerDM,
    ProductionNotice,
    QaDM,
    RejectReasonModal,
    ReviewReminder,
    VerdictReply,
)

Blocks = list[dict[str, Any]]
SECTION_LIMIT = 3000
FALLBACK_LIMIT = 300  # notification text: a short summary, the blocks carry the rest
REASON_LIMIT = 500
CONFIRM_TEXT_LIMIT = 300

LIVE = frozenset({BuildState.READY, BuildState.PROMOTING, BuildState.PROMOTED})
_USER_ID = re.compile(r"[UW][A-Z0-9]+")

_STATE_LINES = {
    BuildState.ACCEPTED: ":hourglass_flowing_sand: Still being deployed…",
    BuildState.DEPLOYING: ":hourglass_flowing_sand: Still being deployed…",
    BuildState.READY: ":white_check_mark: Ready",
    BuildState.FAILED: ":x: The preview failed to deploy",
    BuildState.SUPERSEDED: ":fast_forward: Superseded by a newer build",
    BuildState.STALE: ":zzz: Never deployed: a newer build came first",
    BuildState.CLOSED: ":no_entry_sign: Closed",
    BuildState.PROMOTING: ":hourglass_flowing_sand: Being deployed to production…",
    BuildState.PROMOTED: ":rocket: Deployed to production",
    BuildState.EXPIRED: ":hourglass: Expired: nobody decided in time",
}
_CARD_PHRASES = {
    BuildState.ACCEPTED: "deploying",
    BuildState.DEPLOYING: "deploying",
    BuildState.READY: "preview ready",
    BuildState.FAILED: "preview failed",
    BuildState.SUPERSEDED: "superseded",
    BuildState.STALE: "not deployed",
    BuildState.CLOSED: "closed",
    BuildState.PROMOTING: "deploying to production",
    BuildState.PROMOTED: "in production",
    BuildState.EXPIRED: "expired",
}

_PRODUCTION_PHRASES: dict[Outcome | None, str] = {
    None: "deploying to production",
    Outcome.DEPLOYED: "deployed to production",
    Outcome.FAILED: "production deploy failed",
}


@singledispatch
def render(view: object) -> tuple[str, Blocks]:
    raise TypeError(f"no Block Kit renderer for {type(view).__name__}")


# --- text --------------------------------------------------------------------------------


def mention(user: str) -> str:
    """`<@U123>` for a Slack user id; anything else is shown as escaped text, never obeyed."""
    return f"<@{user}>" if _USER_ID.fullmatch(user) else escape(user)


def mentions(users: Iterable[str]) -> str:
    return ", ".join(mention(user) for user in users)


def reason_text(reason: str | None, default: str = "no reason given") -> str:
    """A reason from outside (a person or an API error), escaped and cut to a readable size."""
    return truncate(escape(reason or "") or default, REASON_LIMIT)


def build_label(build: Build) -> str:
    """`target` (branch), the way every message names a build."""
    return f"{code(build.target, 120)} ({build.type.value})"


def build_facts(build: Build) -> list[str]:
    facts = [f"Image {code(build.image, 300)}"]
    if build.commit:
        facts.append(f"commit {code(build.commit[:12])}")
    if build.build_number is not None:
        facts.append(f"build #{build.build_number}")
    if build.author:
        unknown = " (author unknown to Slack)" if build.author_user == "" else ""
        facts.append(f"by {truncate(escape(build.author), 100)}{unknown}")
    if build.ci_url:
        facts.append(link(build.ci_url, "CI run"))
    return [" · ".join(facts), f"ci-bot build id {code(build.id)}"]


def tally_line(tally: Tally) -> str:
    """ ":white_check_mark: 2 approved (<@U1>, <@U2>) · :x: 1 rejected (<@U3>)", or ""."""
    parts = []
    if tally.approved:
        parts.append(
            f":white_check_mark: {len(tally.approved)} approved ({mentions(tally.approved)})"
        )
    if tally.rejected:
        parts.append(f":x: {len(tally.rejected)} rejected ({mentions(tally.rejected)})")
    return " · ".join(parts)


def decision_line(decision: Decision) -> str:
    """What the latest owner decision did, e.g. "Deployed to production by <@U>"."""
    actor = mention(decision.actor)
    if decision.action is Action.CLOSE:
        if decision.note:
            return f":no_entry_sign: Closed: {reason_text(decision.note)}"
        return f":no_entry_sign: Closed by {actor}"
    without = (
        f" without the quorum ({reason_text(decision.note)})"
        if decision.action is Action.OVERRIDE
        else ""
    )
    match decision.outcome:
        case Outcome.DEPLOYED:
            return f":rocket: Deployed to production by {actor}{without}"
        case Outcome.FAILED:
            return f":x: Production deploy by {actor} failed: {reason_text(decision.reason)}"
    return f":hourglass_flowing_sand: Deploying to production (started by {actor}){without}…"


def quorum_line(quorum: Quorum) -> str:
    """ "Approvals: 1 of 2 (<@U1>) · not counted: <@U3> (the author's own approval)"."""
    counted = f" ({mentions(quorum.approvals)})" if quorum.approvals else ""
    parts = [f"Approvals: {len(quorum.approvals)} of {quorum.required}{counted}"]
    if quorum.rejections:
        parts.append(f":x: rejected by {mentions(quorum.rejections)}")
    if quorum.uncounted:
        why = ", ".join(f"{mention(u)} ({escape(reason)})" for u, reason in quorum.uncounted)
        parts.append(f"not counted: {why}")
    return " · ".join(parts)


def freeze_line(freeze: Freeze) -> str:
    who = f" by {mention(freeze.by)}" if freeze.by else ""
    until = f" until {_when(freeze.until)}" if freeze.until else " until an owner unfreezes it"
    return f":snowflake: Production is frozen{who}{until}: {reason_text(freeze.reason)}"


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _superseded_line(newer: Build | None) -> str:
    if newer is None:
        return _STATE_LINES[BuildState.SUPERSEDED]
    return f":fast_forward: Superseded by build {code(newer.id)} ({code(newer.image, 200)})"


def _preview_link(build: Build) -> str:
    """A link to the preview while it runs this build; "" once it is gone or never was."""
    if build.preview_url is None or build.state not in LIVE:
        return ""
    host = build.preview_url.split("://", 1)[-1].rstrip("/")
    return link(build.preview_url, host)


def _with_link(sentence: str, url_link: str) -> str:
    return f"{sentence}: {url_link}" if url_link else sentence


def _pinned(build: Build) -> str:
    """The image by digest (`repo@sha256:…`), the reference production runs."""
    if build.digest is None:
        return f"image {code(build.image, 300)}, digest unknown, so not pinned"
    return f"image pinned as {code(pinned(build.image, build.digest), 400)}"


def _fallback(text: str) -> str:
    return truncate(text, FALLBACK_LIMIT)


# --- blocks ------------------------------------------------------------------------------


def _section(markdown: str) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate(markdown, SECTION_LIMIT)},
    }


def _context(*parts: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(p, SECTION_LIMIT)} for p in parts if p],
    }


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _confirm(title: str, words: str, ok: str, *, danger: bool = False) -> dict[str, Any]:
    """A confirmation dialog: every text in it is plain_text, as Slack requires
    (https://docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object);
    Slack's `&`, `<`, `>` escaping applies to plain text too, so outside text is `escape`d."""
    dialog = {
        "title": _plain(title),
        "text": _plain(truncate(words, CONFIRM_TEXT_LIMIT)),
        "confirm": _plain(ok),
        "deny": _plain("Cancel"),
    }
    return {**dialog, "style": "danger"} if danger else dialog


def _button(
    label: str,
    action: ActionId,
    build: Build,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": _plain(label),
        "action_id": action.value,
        "value": build.id,
    }
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = confirm
    return button


def _actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


# --- the channel card --------------------------------------------------------------------


def _headline(card: BuildCard) -> str:  # noqa: PLR0911 - one sentence per state
    build, project = card.build, escape(card.project.name)
    label = build_label(build)
    match build.state:
        case BuildState.ACCEPTED | BuildState.DEPLOYING:
            return f":hourglass_flowing_sand: *New build of {label}* for {project}: deploying…"
        case BuildState.READY | BuildState.PROMOTING | BuildState.PROMOTED:
            ready = f":white_check_mark: *Preview of {label}* for {project} is ready"
            return _with_link(ready, _preview_link(build))
        case BuildState.FAILED:
            return f":x: *Preview of {label}* for {project} failed: {reason_text(build.reason)}"
        case BuildState.SUPERSEDED:
            newer = card.superseded_by
            which = (
                f"build {code(newer.id)} ({code(newer.image, 200)})" if newer else "a newer build"
            )
            return f":fast_forward: *Build of {label}* for {project} was superseded by {which}"
        case BuildState.STALE:
            why = reason_text(build.reason, "a newer build came first")
            return f":zzz: *Build of {label}* for {project} was not deployed: {why}"
        case BuildState.CLOSED:
            why = f": {reason_text(build.reason)}" if build.reason else ""
            return f":no_entry_sign: *Build of {label}* for {project} was closed{why}"
        case BuildState.EXPIRED:
            return f":hourglass: *Build of {label}* for {project} expired: nobody decided in time"
    raise AssertionError(build.state)  # pragma: no cover - every state is matched above


@render.register
def _(card: BuildCard) -> tuple[str, Blocks]:
    build = card.build
    blocks = [_section(_headline(card)), _context(*build_facts(build))]
    if build.state in LIVE and tally_line(card.tally):
        blocks.append(_context(tally_line(card.tally)))
    if card.decision:
        blocks.append(_context(decision_line(card.decision)))
    if card.note:
        blocks.append(_context(f":warning: {escape(card.note)}"))
    summary = f"{escape(card.project.name)}: {code(build.target, 120)} {_CARD_PHRASES[build.state]}"
    return _fallback(summary), blocks


# --- an owner's DM -----------------------------------------------------------------------


def _owner_status(view: OwnerDM) -> str:
    """Why the buttons are gone (or, after a failed production deploy, why they are back)."""
    build, decision = view.build, view.decision
    if view.superseded_by or build.state is BuildState.SUPERSEDED:
        return _superseded_line(view.superseded_by)
    if view.former:
        return f"You are no longer an owner of {escape(view.project.name)}: nothing to do here"
    if build.state is BuildState.EXPIRED:  # whatever was decided before, it is over now
        return _STATE_LINES[BuildState.EXPIRED]
    if decision is not None:
        failed = decision.action is not Action.CLOSE and decision.outcome is Outcome.FAILED
        still = " — still promotable" if failed and build.state is BuildState.READY else ""
        return decision_line(decision) + still
    return "" if build.state is BuildState.READY else _STATE_LINES[build.state]


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


def _owner_buttons(view: OwnerDM) -> dict[str, Any]:
    build = view.build
    close = _confirm(
        "Close this build?",
        f"The preview of {truncate(escape(build.target), 120)} ({build.type.value}) will be "
        "deleted and nobody can deploy this build.",
        "Close",
        danger=True,
    )
    buttons = []
    if view.deployable:
        deploy = _confirm(
            "Deploy to production?",
            f"Deploy {truncate(escape(build.image), 250)} to production?",
            "Deploy",
        )
        buttons.append(
            _button("Deploy to production", ActionId.DEPLOY_PRODUCTION, build, "primary", deploy)
        )
    if view.overridable:
        buttons.append(_button("Deploy without approval…", ActionId.DEPLOY_OVERRIDE, build))
    buttons.append(_button("Close", ActionId.CLOSE_BUILD, build, confirm=close))
    return _actions(*buttons)


@render.register
def _(view: OwnerDM) -> tuple[str, Blocks]:
    build = view.build
    about = f"Preview of {build_label(build)} for {escape(view.project.name)}"
    live = build.state in LIVE
    headline = _with_link(f"{about} is ready", _preview_link(build)) if live else about
    people = view.qa if view.qa is not None else sorted(view.project.qa)
    qa = f"QA: {mentions(people) or 'nobody is configured'}"
    blocks = [_section(headline), _context(*build_facts(build)), _context(qa)]
    if live:
        blocks.append(_context(tally_line(view.tally) or "No QA verdicts yet"))
        if view.quorum.required:
            blocks.append(_context(quorum_line(view.quorum)))
        if not view.project.policy.approver_may_deploy:
            blocks.append(_context("An owner who did not approve it deploys it"))
    if view.actionable and view.expires_at is not None:
        blocks.append(_context(f":hourglass: Expires {_when(view.expires_at)} if undecided"))
    if status := _owner_status(view):
        blocks.append(_section(status))
    if why := _why_not_deployable(view):
        blocks.append(_section(why))
    if view.actionable:
        blocks.append(_owner_buttons(view))
    return _fallback(f"{about} is ready" if live else about), blocks


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
        return _superseded_line(view.superseded_by)
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
    return _STATE_LINES[state]


@render.register
def _(view: QaDM) -> tuple[str, Blocks]:
    build = view.build
    about = f"Please review the preview of {build_label(build)} for {escape(view.project.name)}"
    blocks = [_section(_with_link(about, _preview_link(build))), _context(*build_facts(build))]
    if view.verdict is not None:
        blocks.append(_section(_verdict_words(view.verdict)))
    if status := _qa_status(view):
        blocks.append(_section(status))
    if view.actionable and view.expires_at is not None:
        blocks.append(_context(f":hourglass: Expires {_when(view.expires_at)} if undecided"))
    if view.actionable:
        reject = _button("Reject", ActionId.QA_REJECT, build, "danger")
        if view.is_author:
            blocks.append(_actions(reject))
        else:
            blocks.append(
                _actions(_button("Approve", ActionId.QA_APPROVE, build, "primary"), reject)
            )
    return _fallback(about), blocks


# --- announcements and answers -----------------------------------------------------------


@render.register
def _(reply: VerdictReply) -> tuple[str, Blocks]:
    verdict = reply.verdict
    said = f"{mention(verdict.user)} has *{verdict.verdict.value}* this build"
    if verdict.verdict is Verdict.REJECTED and verdict.reason:
        said += f": {reason_text(verdict.reason)}"
    return _fallback(said), [_section(said)]


@render.register
def _(warning: IdleWarning) -> tuple[str, Blocks]:
    build = warning.build
    keeps = " A verdict or a deploy keeps it." if build.state is BuildState.READY else ""
    said = (
        f":wastebasket: The preview of {build_label(build)} for {escape(warning.project.name)} "
        f"has been idle since {_when(warning.idle_since)}: it will be removed and the build "
        f"closed at {_when(warning.removal_at)}.{keeps}"
    )
    return _fallback(said), [_section(said)]


@render.register
def _(reminder: ReviewReminder) -> tuple[str, Blocks]:
    build = reminder.build
    said = _with_link(
        f":bell: Reminder: the preview of {build_label(build)} for "
        f"{escape(reminder.project.name)} has been waiting for your review since "
        f"{_when(reminder.waiting_since)}",
        _preview_link(build),
    )
    return _fallback(said), [_section(said)]


def _release_ref(release: Release) -> str:
    return f"release #{release.id} ({code(release.image, 300)})"


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
                f":rocket: {what} ({_pinned(build)}) was deployed to production by {actor}"
                f"{without}: {where}"
            )
        case Outcome.FAILED:
            return (
                f":x: Production deploy of {what} ({code(build.image, 300)}) by {actor} "
                f"failed: {reason_text(decision.reason, 'unknown reason')}. "
                "The build can be deployed again."
            )
    return (
        f":hourglass_flowing_sand: Deploying {what} ({_pinned(build)}) to production "
        f"(started by {actor}){without}…"
    )


def _rollback_words(notice: ProductionNotice, actor: str, where: str) -> str:
    project = f"*{escape(notice.project.name)}*"
    undone = f" from {_release_ref(notice.rolled_back_from)}" if notice.rolled_back_from else ""
    match notice.decision.outcome:
        case Outcome.DEPLOYED:
            return (
                f":rewind: {actor} rolled {project} production back{undone} to "
                f"{_pinned(notice.build)}: {where}"
            )
        case Outcome.FAILED:
            return (
                f":x: Rolling {project} production back to {_pinned(notice.build)} failed: "
                f"{reason_text(notice.decision.reason, 'unknown reason')}. Production still "
                "runs what it ran before."
            )
    return f":rewind: Rolling {project} production back to {_pinned(notice.build)} ({actor})…"


def _release_context(notice: ProductionNotice) -> str:
    if notice.release is None or notice.decision.outcome is not Outcome.DEPLOYED:
        return ""
    if notice.replaced_by is not None:
        return f"No longer in production: {_release_ref(notice.replaced_by)} replaced it"
    if notice.previous is None:
        return "The first production release: there is nothing earlier to roll back to"
    return f"Roll back goes to {_release_ref(notice.previous)}"


def _rollback_button(notice: ProductionNotice) -> dict[str, Any]:
    assert notice.release is not None
    assert notice.previous is not None
    confirm = _confirm(
        "Roll back production?",
        f"Production goes back to release #{notice.previous.id} "
        f"({truncate(escape(notice.previous.image), 250)}).",
        "Roll back",
        danger=True,
    )
    return {
        "type": "button",
        "text": _plain("Roll back"),
        "action_id": ActionId.ROLLBACK_PRODUCTION.value,
        "value": str(notice.release.id),
        "style": "danger",
        "confirm": confirm,
    }


_ROLLBACK_PHRASES = {
    None: "rolling production back",
    Outcome.DEPLOYED: "production rolled back",
    Outcome.FAILED: "production rollback failed",
}


@render.register
def _(notice: ProductionNotice) -> tuple[str, Blocks]:
    what = f"{escape(notice.project.name)} {code(notice.build.target, 120)}"
    rollback = notice.decision.action is Action.ROLLBACK
    phrases = _ROLLBACK_PHRASES if rollback else _PRODUCTION_PHRASES
    blocks = [_section(_production_words(notice))]
    if context := _release_context(notice):
        blocks.append(_context(context))
    if notice.can_roll_back:
        blocks.append(_actions(_rollback_button(notice)))
    return _fallback(f"{what}: {phrases[notice.decision.outcome]}"), blocks


@render.register
def _(notice: Notice) -> tuple[str, Blocks]:
    text = truncate(escape(notice.text), SECTION_LIMIT) or "(no details)"
    return text, [_section(text)]


@render.register
def _(notice: FreezeNotice) -> tuple[str, Blocks]:
    project, actor = escape(notice.project.name), mention(notice.actor)
    if notice.frozen:
        said = (
            f":snowflake: Production deploys of *{project}* are frozen by {actor}: "
            f"{reason_text(notice.reason)}. {code(f'/cibot unfreeze {notice.project.id}')} "
            "lifts the freeze."
        )
    else:
        said = f":sunny: Production deploys of *{project}* are unfrozen by {actor}"
    return _fallback(said), [_section(said)]


def audit_line(event: AuditEvent) -> str:
    """One audit row in a line: time, what, who, which build, and its details."""
    parts = [f"`{_when(event.at)}`", f"*{escape(event.action)}*"]
    if event.actor:
        parts.append(mention(event.actor))
    if event.build_id:
        parts.append(f"build {code(event.build_id)}")
    if event.detail:
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(event.detail.items()) if v is not None)
        if shown:
            parts.append(truncate(escape(shown), 300))
    return " · ".join(parts)


@render.register
def _(view: History) -> tuple[str, Blocks]:
    title = f"The latest of *{escape(view.project.name)}* (newest first)"
    if not view.events:
        return _fallback(f"{view.project.name}: nothing recorded yet"), [
            _section(f"{title}: nothing recorded yet")
        ]
    lines = [audit_line(e) for e in view.events]
    chunks = ["\n".join(lines[i : i + 10]) for i in range(0, len(lines), 10)]
    return _fallback(f"{view.project.name}: history"), [_section(title), *map(_section, chunks)]


# --- the reject-reason modal -------------------------------------------------------------


def reject_modal(view: RejectReasonModal) -> dict[str, Any]:
    """The `views.open` payload that asks why a build is rejected; the build id rides along."""
    build = view.build
    about = (
        f"You are rejecting the preview of {build_label(build)} for "
        f"{escape(view.project.name)} (build {code(build.id)}). "
        "Tell the owners why, if you like."
    )
    reason_input = {
        "type": "plain_text_input",
        "action_id": REJECT_REASON_INPUT,
        "multiline": True,
        "max_length": REASON_MAX,
        "placeholder": _plain("What is wrong with it?"),
    }
    return {
        "type": "modal",
        "callback_id": REJECT_MODAL_CALLBACK,
        # The build, and where the Reject button was (answers after the modal go there).
        "private_metadata": f"{build.id}|{view.channel or ''}",
        "title": _plain("Reject build"),
        "submit": _plain("Reject"),
        "close": _plain("Cancel"),
        "blocks": [
            _section(about),
            {
                "type": "input",
                "block_id": REJECT_REASON_BLOCK,
                "optional": True,
                "label": _plain("Reason"),
                "element": reason_input,
            },
        ],
    }


def override_modal(view: OverrideReasonModal) -> dict[str, Any]:
    """The `views.open` payload that asks an owner why they deploy without the quorum."""
    build = view.build
    about = (
        f"You are deploying {build_label(build)} of {escape(view.project.name)} "
        f"(build {code(build.id)}) to production although {escape(view.quorum.missing())}. "
        "Your reason goes to the audit trail and to the channel."
    )
    reason_input = {
        "type": "plain_text_input",
        "action_id": OVERRIDE_REASON_INPUT,
        "multiline": True,
        "min_length": 3,
        "max_length": REASON_MAX,
        "placeholder": _plain("Why can this not wait for QA?"),
    }
    return {
        "type": "modal",
        "callback_id": OVERRIDE_MODAL_CALLBACK,
        "private_metadata": f"{build.id}|{view.channel or ''}",
        "title": _plain("Deploy without QA"),
        "submit": _plain("Deploy"),
        "close": _plain("Cancel"),
        "blocks": [
            _section(about),
            {
                "type": "input",
                "block_id": OVERRIDE_REASON_BLOCK,
                "label": _plain("Reason"),
                "element": reason_input,
            },
        ],
    }
