"""`/cibot history`: a project's latest audit entries, newest first, ten lines a section
(a section holds 3000 characters; each line is cut to fit)."""

from __future__ import annotations

from cibot.adapters.slack.blocks.lines import mention, when
from cibot.adapters.slack.blocks.parts import Message, fallback, section
from cibot.adapters.slack.text import code, escape, truncate
from cibot.service.ports import AuditEvent
from cibot.service.views import History

LINES_PER_SECTION = 10


def audit_line(event: AuditEvent) -> str:
    """One audit row in a line: time, what, who, which build, and its details."""
    parts = [f"`{when(event.at)}`", f"*{escape(event.action)}*"]
    if event.actor:
        parts.append(mention(event.actor))
    if event.build_id:
        parts.append(f"build {code(event.build_id)}")
    if event.detail:
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(event.detail.items()) if v is not None)
        if shown:
            parts.append(truncate(escape(shown), 300))
    return " · ".join(parts)


def pages(lines: list[str], size: int) -> list[str]:
    """The lines joined `size` at a time: one section's text each."""
    return ["\n".join(lines[i : i + size]) for i in range(0, len(lines), size)]


def history(view: History) -> Message:
    title = f"The latest of *{escape(view.project.name)}* (newest first)"
    if not view.events:
        return fallback(f"{view.project.name}: nothing recorded yet"), [
            section(f"{title}: nothing recorded yet")
        ]
    chunks = pages([audit_line(e) for e in view.events], LINES_PER_SECTION)
    return fallback(f"{view.project.name}: history"), [section(title), *map(section, chunks)]
