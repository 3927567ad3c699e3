"""The in-memory store's tables: one draft of them per transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cibot.domain.build import Build
from cibot.domain.policy import Freeze
from cibot.domain.release import Release
from cibot.domain.review import Decision, VerdictRecord
from cibot.service.jobs import JobPayload
from cibot.service.ports import (
    AuditEvent,
    Delivery,
    MessageRef,
)


@dataclass
class State:
    builds: dict[str, Build] = field(default_factory=dict)
    deliveries: dict[tuple[str, str], Delivery] = field(default_factory=dict)
    jobs: list[tuple[JobPayload, datetime | None]] = field(default_factory=list)
    dedupe_keys: set[str] = field(default_factory=set)
    audit: list[AuditEvent] = field(default_factory=list)
    messages: dict[tuple[str, str, str], MessageRef] = field(default_factory=dict)
    verdicts: dict[tuple[str, str], VerdictRecord] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    groups: dict[str, frozenset[str]] = field(default_factory=dict)
    groups_read_at: dict[str, datetime] = field(default_factory=dict)
    freezes: dict[str, Freeze] = field(default_factory=dict)
    slots: dict[str, tuple[str, int]] = field(default_factory=dict)  # project -> build, decision
    releases: list[Release] = field(default_factory=list)
    posting: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)  # decisions whose deploy job has begun
    homes: dict[str, Home] = field(default_factory=dict)  # people who opened the Home tab


@dataclass
class Home:
    opened_at: datetime
    event_id: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
