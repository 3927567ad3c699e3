"""The sentences several messages share: how a build, a person, a tally, a decision, a
quorum and a freeze are named, the same way in the card, the DMs and the Home tab.

Every piece of text that came from CI or a user goes through `text.escape` / `text.code`,
so a branch called `<!channel>` is shown, not obeyed; a user id becomes a mention only when
it looks like one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from cibot.adapters.slack.text import code, escape, link, truncate
from cibot.domain.build import Build, BuildState
from cibot.domain.policy import Freeze, Quorum
from cibot.domain.release import pinned
from cibot.domain.review import Action, Decision, Outcome, Tally

REASON_LIMIT = 500
LIVE = frozenset({BuildState.READY, BuildState.PROMOTING, BuildState.PROMOTED})
_USER_ID = re.compile(r"[UW][A-Z0-9]+")

STATE_LINES = {
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


def mention(user: str) -> str:
    """`<@U123>` for a Slack user id; anything else is shown as escaped text, never obeyed."""
    return f"<@{user}>" if _USER_ID.fullmatch(user) else escape(user)


def mentions(users: Iterable[str]) -> str:
    return ", ".join(mention(user) for user in users)


def reason_text(reason: str | None, default: str = "no reason given") -> str:
    """A reason from outside (a person or an API error), escaped and cut to a readable size."""
    return truncate(escape(reason or "") or default, REASON_LIMIT)


def when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


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


def preview_link(build: Build) -> str:
    """A link to the preview while it runs this build; "" once it is gone or never was."""
    if build.preview_url is None or build.state not in LIVE:
        return ""
    host = build.preview_url.split("://", 1)[-1].rstrip("/")
    return link(build.preview_url, host)


def with_link(sentence: str, url_link: str) -> str:
    return f"{sentence}: {url_link}" if url_link else sentence


def pinned_image(build: Build) -> str:
    """The image by digest (`repo@sha256:…`), the reference production runs."""
    if build.digest is None:
        return f"image {code(build.image, 300)}, digest unknown, so not pinned"
    return f"image pinned as {code(pinned(build.image, build.digest), 400)}"


def superseded_line(newer: Build | None) -> str:
    if newer is None:
        return STATE_LINES[BuildState.SUPERSEDED]
    return f":fast_forward: Superseded by build {code(newer.id)} ({code(newer.image, 200)})"


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
    until = f" until {when(freeze.until)}" if freeze.until else " until an owner unfreezes it"
    return f":snowflake: Production is frozen{who}{until}: {reason_text(freeze.reason)}"
