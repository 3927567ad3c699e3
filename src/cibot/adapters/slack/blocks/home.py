"""A person's Home tab: the `views.publish` payload of a `HomeView`.

The builds waiting for the person are drawn exactly as their DMs (`review`), buttons
included, so a click on the Home tab is the same click (the same `action_id`s and values,
the same listeners and authorisation). A view holds at most 100 blocks
(https://docs.slack.dev/reference/views/, and slack_sdk's `View` checks it): what does not
fit is cut, whole items at a time, with a line saying how many more there are, rather than
refused by Slack. Text from CI goes through `text.escape`/`code`/`link`, as everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from cibot.adapters.slack.actions import HOME_CALLBACK
from cibot.adapters.slack.blocks.history import audit_line, pages
from cibot.adapters.slack.blocks.lines import LIVE, build_label, freeze_line, mention, when
from cibot.adapters.slack.blocks.parts import actions, context, divider, header, section
from cibot.adapters.slack.blocks.production import rollback_button
from cibot.adapters.slack.blocks.review import owner_dm, qa_dm
from cibot.adapters.slack.text import code, link
from cibot.domain.build import Build, BuildState
from cibot.domain.release import Release, ReleaseKind
from cibot.service.views import HomeView, OwnerDM, ProjectHome

MAX_BLOCKS = 100  # Slack's limit for a Home tab
WAITING_BLOCKS = 60  # the builds waiting for the person take at most this many
PREVIEWS_SHOWN = 10  # per project, newest first
EVENTS_PER_SECTION = 5

_PREVIEW_STATES = {  # what a preview is doing: (its state, what became of its build)
    BuildState.ACCEPTED: (":hourglass_flowing_sand: deploying", ""),
    BuildState.DEPLOYING: (":hourglass_flowing_sand: deploying", ""),
    BuildState.READY: (":white_check_mark: ready", ""),
    BuildState.FAILED: (":x: failed", ""),
    BuildState.PROMOTING: (":white_check_mark: ready", ", going to production"),
    BuildState.PROMOTED: (":white_check_mark: ready", ", went to production"),
}
_RELEASE_VERBS = {
    ReleaseKind.PROMOTION: "deployed",
    ReleaseKind.OVERRIDE: "deployed without the quorum",
    ReleaseKind.ROLLBACK: "rolled back to it",
}
T = TypeVar("T")


def home_view(view: HomeView) -> dict[str, Any]:
    """The Home tab as `views.publish` takes it; never more than Slack's 100 blocks."""
    tail = [*_activity(view), context(f"Updated {when(view.at)}")]
    room = MAX_BLOCKS - len(tail)
    waiting = _waiting(view, min(WAITING_BLOCKS, room - 2))
    projects = _projects(view, room - len(waiting))
    blocks = [*waiting, *projects, *tail]
    return View(type="home", callback_id=HOME_CALLBACK, blocks=blocks).to_dict()


def fit(items: Sequence[list[T]], room: int, more: Callable[[int], T]) -> list[T]:
    """Whole items while they fit in `room` blocks; then one block saying how many are left."""
    taken: list[T] = []
    for index, item in enumerate(items):
        left = len(items) - index - 1
        if len(taken) + len(item) + (1 if left else 0) > room:
            return [*taken, more(len(items) - index)] if room > len(taken) else taken
        taken += item
    return taken


def _waiting(view: HomeView, room: int) -> list[Block]:
    title = header(f"Waiting for you ({len(view.waiting)})" if view.waiting else "Waiting for you")
    if not view.waiting:
        return [title, section("Nothing is waiting for your verdict or decision.")]
    drawn = (owner_dm(dm) if isinstance(dm, OwnerDM) else qa_dm(dm) for dm in view.waiting)
    items = [[*blocks, divider()] for _, blocks in drawn]

    def more(count: int) -> Block:
        return context(f"…and {count} more waiting for you: see your DMs")

    return [title, *fit(items, room - 1, more)]


def _projects(view: HomeView, room: int) -> list[Block]:
    if not view.projects:
        return [section("You are not QA or owner of any project ci-bot deploys.")]

    def more(count: int) -> Block:
        return context(f"…and {count} more project(s): no room for them here")

    return fit([_project(p) for p in view.projects], room, more)


def _project(home: ProjectHome) -> list[Block]:
    project = home.project
    blocks: list[Block] = [
        header(project.name),
        context(
            f"You are {' and '.join(home.roles)} · {code(project.id)} · "
            f"{link(project.url, project.host)}"
        ),
    ]
    if home.freeze is not None:
        blocks.append(section(freeze_line(home.freeze)))
    blocks.append(section(_production(home)))
    if home.busy_with is not None:
        busy = f"A production deploy is under way: build {code(home.busy_with)}"
        blocks.append(context(f":hourglass_flowing_sand: {busy}"))
    if home.may_roll_back and home.release is not None and home.previous is not None:
        blocks.append(actions(rollback_button(home.release, home.previous)))
    blocks += [section(_previews(home.previews)), divider()]
    return blocks


def _release_line(release: Release) -> str:
    return f"release #{release.id}: {code(release.image, 300)}"


def _production(home: ProjectHome) -> str:
    release = home.release
    if release is None:
        return ":package: *Production*: No production release yet"
    built = home.release_build
    target = f", {build_label(built)}" if built is not None else ""
    lines = [
        f":rocket: *Production* runs {_release_line(release)}",
        f"build {code(release.build_id)}{target}: {_RELEASE_VERBS[release.kind]} by "
        f"{mention(release.actor)} at {when(release.at)}",
    ]
    previous = home.previous
    if previous is None:
        lines.append("The first release: there is nothing earlier to roll back to")
    else:
        lines.append(
            f"Before it: {_release_line(previous)} (build {code(previous.build_id)}), "
            f"{_RELEASE_VERBS[previous.kind]} by {mention(previous.actor)} at {when(previous.at)}"
        )
    return "\n".join(lines)


def _previews(previews: Sequence[Build]) -> str:
    if not previews:
        return "*Previews*: none"
    lines = [f"*Previews* ({len(previews)})"]
    lines += [_preview_line(b) for b in previews[:PREVIEWS_SHOWN]]
    if len(previews) > PREVIEWS_SHOWN:
        lines.append(f"…and {len(previews) - PREVIEWS_SHOWN} more")
    return "\n".join(lines)


def _preview_line(build: Build) -> str:
    """`main` (branch) — ready since …, went to production — <link>."""
    state, became = _PREVIEW_STATES[build.state]
    since = build.ready_at or build.created_at
    line = f"• {build_label(build)} — {state} since {when(since)}{became}"
    if build.state in LIVE and build.preview_url:
        host = build.preview_url.split("://", 1)[-1].rstrip("/")
        line += f" — {link(build.preview_url, host)}"
    return line


def _activity(view: HomeView) -> list[Block]:
    title = header("Latest activity")
    if not view.events:
        return [title, section("Nothing recorded yet.")]
    lines = [audit_line(e) for e in view.events]
    return [title, *map(section, pages(lines, EVENTS_PER_SECTION))]
