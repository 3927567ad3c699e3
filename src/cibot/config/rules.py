"""A project's `policy` and `lifecycle` sections: the gate to production and how long things live.

Durations are written `90s`, `30m`, `12h`, `7d`, `2w` (or a number of seconds). A freeze
window is either absolute (`start`/`end`, ISO 8601 with a zone) or weekly
(`weekly: "fri 16:00 - mon 08:00"` in a `timezone`).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, Field, field_validator, model_validator

from cibot.config.fields import Duration, ImagePattern, NonEmpty, WarningTime
from cibot.config.section import Section, refuse
from cibot.domain.policy import WEEKDAYS, UnknownAuthor

_WEEKLY = re.compile(
    r"\s*(?P<d1>[a-z]{3})\s+(?P<t1>\d{1,2}:\d{2})\s*-\s*(?P<d2>[a-z]{3})\s+(?P<t2>\d{1,2}:\d{2})\s*"
)
WEEKLY_EXAMPLE = '"fri 16:00 - mon 08:00"'


def parse_weekly(text: str) -> tuple[int, time, int, time]:
    """`"fri 16:00 - mon 08:00"` -> (4, 16:00, 0, 08:00); ValueError naming what is wrong."""
    match = _WEEKLY.fullmatch(text.lower())
    if not match:
        raise ValueError(f"must look like {WEEKLY_EXAMPLE}")
    days = [match["d1"], match["d2"]]
    if any(d not in WEEKDAYS for d in days):
        raise ValueError(f"days are written {', '.join(WEEKDAYS)}")
    times = []
    for text_time in (match["t1"], match["t2"]):
        hours, minutes = (int(part) for part in text_time.split(":"))
        if hours == 24 and minutes == 0:
            hours, minutes = 23, 59
        if hours > 23 or minutes > 59:
            raise ValueError(f"{text_time} is not a time of day")
        times.append(time(hours, minutes))
    return WEEKDAYS.index(days[0]), times[0], WEEKDAYS.index(days[1]), times[1]


class FreezeWindowConfig(Section):
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    weekly: NonEmpty | None = None
    timezone: NonEmpty = "UTC"
    reason: NonEmpty | None = None  # default: "a planned deploy freeze" or "the weekly …"

    @field_validator("weekly")
    @classmethod
    def _weekly_syntax(cls, value: str | None) -> str | None:
        if value is not None:
            parse_weekly(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known time zone, e.g. UTC or Europe/Berlin") from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        dated = self.start is not None or self.end is not None
        if self.weekly is not None and dated:
            raise refuse((("weekly",), "give either weekly or start and end, not both"))
        if self.weekly is None:
            if self.start is None or self.end is None:
                missing = "start" if self.start is None else "end"
                message = f"required: a window has a start and an end, or weekly {WEEKLY_EXAMPLE}"
                raise refuse(((missing,), message))
            if self.end <= self.start:
                raise refuse((("end",), "must be later than start"))
        return self

    @property
    def dates(self) -> tuple[datetime, datetime] | None:
        return (self.start, self.end) if self.start and self.end else None


class PolicyConfig(Section):
    approvals_required: int = Field(1, ge=0, le=100)
    allow_override: bool = False
    four_eyes: bool = True
    author_may_deploy: bool = True
    approver_may_deploy: bool = True
    unknown_author: UnknownAuthor = UnknownAuthor.ALLOW
    expires_after: Duration | None = None
    allowed_images: tuple[ImagePattern, ...] = ()
    freeze_windows: tuple[FreezeWindowConfig, ...] = ()


class LifecycleConfig(Section):
    preview_ttl: Duration | None = timedelta(days=7)
    preview_ttl_warning: WarningTime = timedelta(days=1)
    remind_after: Duration | None = timedelta(days=1)
    newer_tag_supersedes: bool = True

    @model_validator(mode="after")
    def _warning_fits(self) -> Self:
        if self.preview_ttl is not None and self.preview_ttl_warning >= self.preview_ttl:
            raise refuse((("preview_ttl_warning",), "must be shorter than preview_ttl"))
        return self
