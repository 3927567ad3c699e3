"""A short answer to one person ("not allowed: …"), ephemeral or in their DM: their text,
escaped, as the fallback and as the one section."""

from __future__ import annotations

from cibot.adapters.slack.blocks.parts import SECTION_LIMIT, Message, section
from cibot.adapters.slack.text import escape, truncate
from cibot.service.views import Notice


def notice(view: Notice) -> Message:
    text = truncate(escape(view.text), SECTION_LIMIT) or "(no details)"
    return text, [section(text)]
