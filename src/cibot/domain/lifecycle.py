"""How long previews and pending reviews live, per project: clean-up, reminders, tags.

Each rule is a time after some moment of a build's life; `next_idle_check` and friends say
when ci-bot should look at a build again, so the timed jobs can be scheduled, not polled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cibot.domain.build import Build, BuildState

# States in which a build's preview is up and can sit idle until its TTL removes it. (While
# it is being promoted it is in use: the idle clock waits.)
PREVIEW_UP = frozenset(
    {BuildState.READY, BuildState.FAILED, BuildState.PROMOTED, BuildState.EXPIRED}
)


@dataclass(frozen=True, slots=True)
class Lifecycle:
    preview_ttl: timedelta | None = timedelta(days=7)  # idle previews are removed after this
    preview_ttl_warning: timedelta = timedelta(days=1)  # the owners are warned this long before
    remind_after: timedelta | None = timedelta(days=1)  # one reminder to QA who have not answered
    newer_tag_supersedes: bool = True  # a new tag's build supersedes the previews of older tags

    def warn_at(self, idle_since: datetime) -> datetime | None:
        if self.preview_ttl is None:
            return None
        return idle_since + max(self.preview_ttl - self.preview_ttl_warning, timedelta(0))

    def remove_at(self, idle_since: datetime) -> datetime | None:
        return None if self.preview_ttl is None else idle_since + self.preview_ttl

    def removal_note(self) -> str:
        """Why ci-bot closed an idle build, for its card, its DMs and the audit trail."""
        idle = in_words(self.preview_ttl) if self.preview_ttl else "too long"
        return f"the preview was idle for {idle} and has been removed"


def idle_since(build: Build) -> datetime:
    """The start of the build's current idle period: its last ready, verdict or decision."""
    return build.active_at or build.ready_at or build.updated_at


_UNITS = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def in_words(span: timedelta) -> str:
    """`7 days` → "1 week", `90 min` → "1 hour 30 minutes": at most the two largest units."""
    left, parts = int(span.total_seconds()), []
    for name, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {name}" + ("" if count == 1 else "s"))
    return " ".join(parts[:2]) or "0 seconds"


class IdleStep(StrEnum):
    WAIT = "wait"  # nothing is due yet: look again at `at`
    WARN = "warn"  # tell the owners the preview will go at `at`
    REMOVE = "remove"  # the preview has been idle past its TTL


@dataclass(frozen=True, slots=True)
class IdleCheck:
    step: IdleStep
    at: datetime | None = None  # WAIT: when to look again; WARN: when it will be removed


def idle_check(
    lifecycle: Lifecycle,
    idle_since: datetime,
    now: datetime,
    *,
    warned_for: datetime | None = None,
    removal_at: datetime | None = None,
) -> IdleCheck | None:
    """What to do about a preview idle since `idle_since`; None when previews never expire.

    `warned_for` is the start of the idle period the owners were last warned about, and
    `removal_at` the time that warning gave. A warning counts only for its own idle period
    (any activity starts a new one), and a late warning still gives the owners the full
    warning time: the removal is never earlier than what they were told.
    """
    warn_at, remove_at = lifecycle.warn_at(idle_since), lifecycle.remove_at(idle_since)
    if warn_at is None or remove_at is None:
        return None
    if warned_for == idle_since and removal_at is not None:
        if now >= removal_at:
            return IdleCheck(IdleStep.REMOVE)
        return IdleCheck(IdleStep.WAIT, removal_at)
    if now >= warn_at:
        return IdleCheck(IdleStep.WARN, max(remove_at, now + lifecycle.preview_ttl_warning))
    return IdleCheck(IdleStep.WAIT, warn_at)
