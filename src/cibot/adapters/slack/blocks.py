"""Block Kit for each view, as pure functions: view in, (fallback text, blocks) out.

Every piece of text that came from CI or a user goes through `text.escape` / `text.code`,
so a branch called `<!channel>` is shown, not obeyed. Dispatch is on the view's type.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from cibot.adapters.slack.text import code, escape, link, truncate
from cibot.domain.build import Build, BuildState
from cibot.service.views import BuildCard

Blocks = list[dict[str, Any]]
SECTION_LIMIT = 3000


@singledispatch
def render(view: object) -> tuple[str, Blocks]:
    raise TypeError(f"no Block Kit renderer for {type(view).__name__}")


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


def _host_of(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


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
        facts.append(f"by {escape(build.author)}")
    if build.ci_url:
        facts.append(link(build.ci_url, "CI run"))
    return [" · ".join(facts), f"ci-bot build id {code(build.id)}"]


def _headline(card: BuildCard) -> str:
    build, project = card.build, escape(card.project.name)
    label = build_label(build)
    preview = link(build.preview_url, _host_of(build.preview_url)) if build.preview_url else ""
    match build.state:
        case BuildState.ACCEPTED | BuildState.DEPLOYING:
            return f":hourglass_flowing_sand: *New build of {label}* for {project}: deploying…"
        case BuildState.READY | BuildState.PROMOTING | BuildState.PROMOTED:
            return f":white_check_mark: *Preview of {label}* for {project} is ready: {preview}"
        case BuildState.FAILED:
            reason = escape(build.reason or "unknown reason")
            return f":x: *Preview of {label}* for {project} failed: {reason}"
        case BuildState.SUPERSEDED:
            newer = card.superseded_by
            which = (
                f"build {code(newer.id)} ({code(newer.image, 200)})" if newer else "a newer build"
            )
            return f":fast_forward: *Build of {label}* for {project} was superseded by {which}"
        case BuildState.STALE:
            why = escape(build.reason or "")
            return f":zzz: *Build of {label}* for {project} was not deployed: {why}"
        case BuildState.CLOSED:
            return f":no_entry_sign: *Build of {label}* for {project} was closed"
    raise AssertionError(build.state)  # pragma: no cover - every state is matched above


@render.register
def _(card: BuildCard) -> tuple[str, Blocks]:
    headline = _headline(card)
    blocks = [_section(headline), _context(*build_facts(card.build))]
    if card.note:
        blocks.append(_context(f":warning: {escape(card.note)}"))
    return truncate(headline, SECTION_LIMIT), blocks
