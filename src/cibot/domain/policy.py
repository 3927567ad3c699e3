"""The rules around the gate to production, per project: quorum, four eyes, expiry, images,
freezes.

Pure functions of the project's `Policy`, the people in its roles (`Roster`), the verdicts
given and the time passed in. The review gate (`review.authorise`) asks these; the views ask
them too, so what a message says and what a click may do can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from cibot.domain.verdicts import Verdict, VerdictRecord


@dataclass(frozen=True, slots=True)
class DateWindow:
    """A freeze from one moment to another, e.g. the end-of-year holidays."""

    start: datetime
    end: datetime
    reason: str = "a planned deploy freeze"

    def covers(self, now: datetime) -> bool:
        return self.start <= now < self.end

    def ends(self, now: datetime) -> datetime:
        return self.end


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """A freeze that comes back every week, e.g. from Friday 16:00 to Monday 08:00, in a zone."""

    start_day: int  # 0 = Monday
    start_time: time
    end_day: int
    end_time: time
    timezone: str = "UTC"
    reason: str = "the weekly deploy freeze"

    def _last_start(self, now: datetime) -> datetime:
        local = now.astimezone(ZoneInfo(self.timezone))
        monday = (local - timedelta(days=local.weekday())).date()
        start = datetime.combine(
            monday + timedelta(days=self.start_day), self.start_time, local.tzinfo
        )
        return start if start <= local else start - _WEEK

    def _length(self) -> timedelta:
        def offset(day: int, at: time) -> timedelta:
            return timedelta(days=day, hours=at.hour, minutes=at.minute)

        length = (
            offset(self.end_day, self.end_time) - offset(self.start_day, self.start_time)
        ) % _WEEK
        return length or _WEEK

    def covers(self, now: datetime) -> bool:
        return now < self.ends(now)

    def ends(self, now: datetime) -> datetime:
        """The end of the window that started last (in the past, when `now` is outside it)."""
        return (self._last_start(now) + self._length()).astimezone(UTC)


FreezeWindow = DateWindow | WeeklyWindow


@dataclass(frozen=True, slots=True)
class Freeze:
    """Production deploys are stopped: by an owner from Slack, or by a window in the config."""

    reason: str
    by: str | None = None  # the owner who froze it; None for a configured window
    since: datetime | None = None
    until: datetime | None = None  # None: until an owner unfreezes

    def describe(self) -> str:
        who = f" by {self.by}" if self.by else ""
        until = f" until {self.until:%Y-%m-%d %H:%M} UTC" if self.until else ""
        return f"production is frozen{who}{until}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ImageRule:
    """One allowed source of images: a registry, a repository, or repositories under a path."""

    registry: str
    path: str = ""  # "" = any repository of the registry
    prefix: bool = False  # True: any repository under `path/`

    @classmethod
    def parse(cls, text: str) -> ImageRule:
        """`registry`, `registry/repo`, or `registry/team/*` (anything under `team/`)."""
        registry, _, path = text.partition("/")
        prefix = path.endswith("/*") or path == "*"
        return cls(registry.lower(), path.removesuffix("*").rstrip("/"), prefix or not path)

    def allows(self, registry: str, repository: str) -> bool:
        if registry != self.registry:
            return False
        if not self.path:
            return True
        return repository == self.path or (self.prefix and repository.startswith(self.path + "/"))


def split_image(image: str) -> tuple[str, str]:
    """(registry, repository) of an image reference, with Docker Hub's implicit names.

    `nginx:1` is `docker.io/library/nginx`; a first part is a registry only when it has a
    dot or a port, or is `localhost` — the rule container runtimes use.
    """
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first.lower(), rest
    repository = name if "/" in name else f"library/{name}"
    return "docker.io", repository


class UnknownAuthor(StrEnum):
    """What to do with a build whose author ci-bot cannot name in Slack (four eyes rests on
    knowing who wrote it): CI gave no author, or an email or id Slack does not know."""

    ALLOW = "allow"  # reviewed like any other build; the messages say the author is unknown
    BLOCK = "block"  # it cannot go to production


@dataclass(frozen=True, slots=True)
class Policy:
    """How a project's builds earn their way to production. Defaults: one QA approval."""

    approvals_required: int = 1
    allow_override: bool = False  # owners may deploy without the quorum, giving a reason
    four_eyes: bool = True  # the author's own approval does not count
    author_may_deploy: bool = True
    approver_may_deploy: bool = True  # False: whoever approved a build may not deploy it
    unknown_author: UnknownAuthor = UnknownAuthor.ALLOW
    expires_after: timedelta | None = None  # a ready build undecided this long expires
    allowed_images: tuple[ImageRule, ...] = ()  # empty: any image
    freeze_windows: tuple[FreezeWindow, ...] = field(default=())

    def image_allowed(self, image: str) -> bool:
        if not self.allowed_images:
            return True
        registry, repository = split_image(image)
        return any(rule.allows(registry, repository) for rule in self.allowed_images)

    def window_freeze(self, now: datetime) -> Freeze | None:
        for window in self.freeze_windows:
            if window.covers(now):
                return Freeze(window.reason, until=window.ends(now))
        return None

    def freeze(self, manual: Freeze | None, now: datetime) -> Freeze | None:
        """The freeze in force: an owner's freeze first (it lasts until lifted), else a window."""
        return manual or self.window_freeze(now)

    def expires_at(self, ready_at: datetime | None) -> datetime | None:
        if self.expires_after is None or ready_at is None:
            return None
        return ready_at + self.expires_after


@dataclass(frozen=True, slots=True)
class Quorum:
    """Where a build stands with its QA: which verdicts count, and whether that is enough."""

    required: int
    approvals: tuple[str, ...] = ()  # QA members whose approval counts, oldest first
    rejections: tuple[str, ...] = ()  # standing rejections by current QA members
    uncounted: tuple[tuple[str, str], ...] = ()  # (user, why their verdict does not count)

    @property
    def met(self) -> bool:
        """Enough approvals and no standing rejection; `approvals_required: 0` is always met."""
        if self.required == 0:
            return True
        return len(self.approvals) >= self.required and not self.rejections

    def missing(self) -> str:
        """What stands between this build and production, in words ("" when nothing does)."""
        if self.met:
            return ""
        if self.rejections:
            return "it was rejected by " + ", ".join(self.rejections)
        lacking = self.required - len(self.approvals)
        noun = "approval" if lacking == 1 else "approvals"
        return f"it needs {lacking} more QA {noun} ({len(self.approvals)} of {self.required})"


def quorum(
    policy: Policy, qa: Iterable[str], author: str | None, verdicts: Iterable[VerdictRecord]
) -> Quorum:
    """Count the verdicts of the people who are QA *now*, leaving out the author's approval."""
    members = frozenset(qa)
    approvals: list[str] = []
    rejections: list[str] = []
    uncounted: list[tuple[str, str]] = []
    for v in sorted(verdicts, key=lambda v: (v.at, v.user)):
        if v.user not in members:
            uncounted.append((v.user, "no longer in QA"))
        elif v.verdict is Verdict.REJECTED:
            rejections.append(v.user)
        elif policy.four_eyes and author is not None and v.user == author:
            uncounted.append((v.user, "the author's own approval"))
        else:
            approvals.append(v.user)
    return Quorum(policy.approvals_required, tuple(approvals), tuple(rejections), tuple(uncounted))
