"""The channel card: one message per build, updated in place from "deploying…" to ready,
failed, superseded, closed, expired or in production, with the tally and the decision."""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from cibot.adapters.slack.blocks.lines import (
    LIVE,
    build_facts,
    build_label,
    decision_line,
    preview_link,
    reason_text,
    tally_line,
    with_link,
)
from cibot.adapters.slack.blocks.parts import Message, context, fallback, section
from cibot.adapters.slack.text import code, escape
from cibot.domain.build import BuildState
from cibot.service.views import BuildCard

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


def headline(card: BuildCard) -> str:  # noqa: PLR0911 - one sentence per state
    build, project = card.build, escape(card.project.name)
    label = build_label(build)
    match build.state:
        case BuildState.ACCEPTED | BuildState.DEPLOYING:
            return f":hourglass_flowing_sand: *New build of {label}* for {project}: deploying…"
        case BuildState.READY | BuildState.PROMOTING | BuildState.PROMOTED:
            ready = f":white_check_mark: *Preview of {label}* for {project} is ready"
            return with_link(ready, preview_link(build))
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


def card(view: BuildCard) -> Message:
    build = view.build
    blocks: list[Block] = [section(headline(view)), context(*build_facts(build))]
    if build.state in LIVE and tally_line(view.tally):
        blocks.append(context(tally_line(view.tally)))
    if view.decision:
        blocks.append(context(decision_line(view.decision)))
    if view.note:
        blocks.append(context(f":warning: {escape(view.note)}"))
    summary = f"{escape(view.project.name)}: {code(build.target, 120)} {_CARD_PHRASES[build.state]}"
    return fallback(summary), blocks
