"""Block Kit for each view, as pure functions: view in, (fallback text, blocks) out.

Every piece of text that came from CI or a user goes through `text.escape` / `text.code`,
so a branch called `<!channel>` is shown, not obeyed; a user id becomes a mention only when
it looks like one. Dispatch is on the view's type. The one modal, which is a view and not a
message, has its own function, `reject_modal`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import singledispatch
from typing import Any

from cibot.adapters.slack.actions import (
    REASON_MAX,
    REJECT_MODAL_CALLBACK,
    REJECT_REASON_BLOCK,
    REJECT_REASON_INPUT,
    ActionId,
)
from cibot.adapters.slack.text import code, escape, link, truncate
from cibot.domain.build import Build, BuildState
from cibot.domain.review import Action, Decision, Outcome, Tally, Verdict, VerdictRecord
from cibot.service.views import (
    BuildCard,
    Notice,
    OwnerDM,
    ProductionNotice,
    QaDM,
    RejectReasonModal,
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
        facts.append(f"by {truncate(escape(build.author), 100)}")
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
        return f":no_entry_sign: Closed by {actor}"
    match decision.outcome:
        case Outcome.DEPLOYED:
            return f":rocket: Deployed to production by {actor}"
        case Outcome.FAILED:
            return f":x: Production deploy by {actor} failed: {reason_text(decision.reason)}"
    return f":hourglass_flowing_sand: Deploying to production (started by {actor})…"


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
    repository = build.image.split("@", 1)[0]
    if repository.rfind(":") > repository.rfind("/"):
        repository = repository[: repository.rfind(":")]
    return f"image pinned as {code(f'{repository}@{build.digest}', 400)}"


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


def _confirm(title: str, markdown: str, ok: str, *, danger: bool = False) -> dict[str, Any]:
    dialog = {
        "title": _plain(title),
        "text": {"type": "mrkdwn", "text": truncate(markdown, CONFIRM_TEXT_LIMIT)},
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


def _headline(card: BuildCard) -> str:
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
            return f":no_entry_sign: *Build of {label}* for {project} was closed"
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
    if decision is not None:
        failed = decision.action is Action.DEPLOY and decision.outcome is Outcome.FAILED
        still = " — still promotable" if failed and build.state is BuildState.READY else ""
        return decision_line(decision) + still
    return "" if build.state is BuildState.READY else _STATE_LINES[build.state]


def _owner_buttons(build: Build) -> dict[str, Any]:
    deploy = _confirm(
        "Deploy to production?", f"Deploy {code(build.image, 250)} to production?", "Deploy"
    )
    close = _confirm(
        "Close this build?",
        f"The preview of {build_label(build)} will be deleted and nobody can deploy this build.",
        "Close",
        danger=True,
    )
    return _actions(
        _button("Deploy to production", ActionId.DEPLOY_PRODUCTION, build, "primary", deploy),
        _button("Close", ActionId.CLOSE_BUILD, build, confirm=close),
    )


@render.register
def _(view: OwnerDM) -> tuple[str, Blocks]:
    build = view.build
    about = f"Preview of {build_label(build)} for {escape(view.project.name)}"
    live = build.state in LIVE
    headline = _with_link(f"{about} is ready", _preview_link(build)) if live else about
    qa = f"QA: {mentions(sorted(view.project.qa)) or 'nobody is configured'}"
    blocks = [_section(headline), _context(*build_facts(build)), _context(qa)]
    if live:
        blocks.append(_context(tally_line(view.tally) or "No QA verdicts yet"))
    if status := _owner_status(view):
        blocks.append(_section(status))
    if view.actionable:
        blocks.append(_owner_buttons(build))
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
    if build.state is BuildState.READY:
        return ""
    if view.verdict is not None:
        return decision_line(decision) if decision else ""
    return _unreviewed_status(build.state, decision)


def _unreviewed_status(state: BuildState, decision: Decision | None) -> str:
    """Why a QA member who gave no verdict no longer needs to."""
    match state:
        case BuildState.CLOSED:
            by = f" by {mention(decision.actor)}" if decision else ""
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
    if view.actionable:
        blocks.append(
            _actions(
                _button("Approve", ActionId.QA_APPROVE, build, "primary"),
                _button("Reject", ActionId.QA_REJECT, build, "danger"),
            )
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


def _production_words(notice: ProductionNotice) -> str:
    build, decision = notice.build, notice.decision
    what = f"*{escape(notice.project.name)}* {code(build.target, 120)}"
    actor = mention(decision.actor)
    match decision.outcome:
        case Outcome.DEPLOYED:
            where = link(notice.project.url, notice.project.host)
            return (
                f":rocket: {what} ({_pinned(build)}) was deployed to production by {actor}: {where}"
            )
        case Outcome.FAILED:
            return (
                f":x: Production deploy of {what} ({code(build.image, 300)}) by {actor} "
                f"failed: {reason_text(decision.reason, 'unknown reason')}. "
                "The build can be deployed again."
            )
    return (
        f":hourglass_flowing_sand: Deploying {what} ({_pinned(build)}) to production "
        f"(started by {actor})…"
    )


@render.register
def _(notice: ProductionNotice) -> tuple[str, Blocks]:
    what = f"{escape(notice.project.name)} {code(notice.build.target, 120)}"
    summary = _PRODUCTION_PHRASES[notice.decision.outcome]
    return _fallback(f"{what}: {summary}"), [_section(_production_words(notice))]


@render.register
def _(notice: Notice) -> tuple[str, Blocks]:
    text = truncate(escape(notice.text), SECTION_LIMIT) or "(no details)"
    return text, [_section(text)]


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
