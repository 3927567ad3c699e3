"""Putting user text into Slack mrkdwn without letting it act as markup (TRUST T9).

Branch names, commit messages, authors and error texts come from outside. Put into a Slack
message raw, `<!channel>` pings a whole channel, `<https://evil|Approve>` forges a link and
`*`, `_`, `~` or a backtick restyle or swallow the text around it. Every piece of user text
therefore goes through one of these functions before it reaches a Block Kit `mrkdwn` object:

- `escape(text)` for running text (commit messages, error reasons). `&`, `<`, `>` become
  `&amp;`, `&lt;`, `&gt;`, the escaping Slack itself prescribes; that alone rules out mentions,
  special commands and links. Slack has no escape for formatting characters, so each `*`, `_`,
  `~` and backtick gets a zero-width space (U+200B) on both sides: whether Slack counts that
  character as a word character or as a space, the marker then no longer sits at the word
  boundary that opening and closing markers need. The text reads the same; a copy of it
  carries the invisible characters.
- `code(text)` for identifiers (branch, tag, image, project): inline code, where Slack applies
  no formatting at all, so the text stays exact and copyable. Backticks in it become U+02CB
  (modifier letter grave accent), which looks alike but cannot close the span; line breaks
  become spaces.
- `link(url, label)` for links: only absolute http(s) URLs become links; anything else comes
  back as escaped plain text.
- `truncate(text, limit)` to fit Slack's size limits after escaping, never cutting an entity
  such as `&amp;` in half.

All of them drop control characters other than newline and tab, lone surrogates and bidi
override characters (which can make text read differently from what it is), and put a
zero-width space after the `@` of `@channel`, `@here` and `@everyone`, which Slack turns into
broadcasts when a message is posted with `link_names`.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

__all__ = ["ELLIPSIS", "ZERO_WIDTH_SPACE", "code", "escape", "link", "truncate"]

ZERO_WIDTH_SPACE = "\u200b"
ELLIPSIS = "…"

_BACKTICK_STAND_IN = "\u02cb"  # MODIFIER LETTER GRAVE ACCENT: looks like ` but is not markup
_PIPE_STAND_IN = "\u2223"  # DIVIDES: looks like | but does not end a link's URL part
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_DEFUSED_MARKERS = str.maketrans(
    {marker: f"{ZERO_WIDTH_SPACE}{marker}{ZERO_WIDTH_SPACE}" for marker in "*_~`"}
)
_CODE_CONTENT = str.maketrans({"`": _BACKTICK_STAND_IN, "\n": " ", "\t": " "})
_URL_ESCAPES = str.maketrans({"&": "&amp;", "<": "%3C", ">": "%3E", "|": "%7C"})
_BIDI_CONTROLS = frozenset(
    chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)
)
_BROADCAST = re.compile(r"@(?=channel|here|everyone)", re.IGNORECASE)
_QUOTE_AT_LINE_START = re.compile(r"^(?=&gt;)", re.MULTILINE)
# Named and numeric character references, as Slack (and HTML) write them.
_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,30}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
_LONGEST_ENTITY = 33


def escape(text: str) -> str:
    """`text` as mrkdwn that renders as itself: no mention, link, quote or formatting."""
    safe = _clean(text).translate(_ENTITIES).translate(_DEFUSED_MARKERS)
    safe = _defuse_broadcasts(safe)
    return _QUOTE_AT_LINE_START.sub(ZERO_WIDTH_SPACE, safe)


def code(text: str, limit: int | None = None) -> str:
    """`text` as an inline code span: exact, unformatted, and at most `limit` characters.

    Slack only recognises a code span at a word boundary, so put a space or punctuation
    before and after it.
    """
    content = _defuse_broadcasts(_clean(text).translate(_CODE_CONTENT).translate(_ENTITIES))
    if limit is not None:
        if limit < 3:
            raise ValueError("a code span needs a limit of at least 3 characters")
        content = truncate(content, limit - 2)
    return f"`{content or ' '}`"


def link(url: str, label: str = "") -> str:
    """A mrkdwn link to an absolute http(s) `url`; any other URL gives escaped plain text."""
    target = _safe_url(url)
    if target is None:
        return escape(label or url)
    text = escape(label.replace("\n", " ").replace("\t", " ")).replace("|", _PIPE_STAND_IN)
    return f"<{target}|{text}>" if text else f"<{target}>"


def truncate(text: str, limit: int) -> str:
    """Escaped `text` cut to at most `limit` characters, ending in "…" when cut.

    Cuts before, never inside, a character entity such as `&amp;` or a `<…>` token (a link
    made by `link`), so mrkdwn built from these functions can be truncated as a whole.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    end = _cut_before_token(text, _cut_before_entity(text, limit - len(ELLIPSIS)))
    return text[:end] + ELLIPSIS


def _clean(text: str) -> str:
    """`text` without control characters (but newline and tab), surrogates or bidi controls."""
    return "".join(char for char in text if _is_kept(char))


def _is_kept(char: str) -> bool:
    if char in "\n\t":
        return True
    return unicodedata.category(char) not in ("Cc", "Cs") and char not in _BIDI_CONTROLS


def _defuse_broadcasts(text: str) -> str:
    return _BROADCAST.sub("@" + ZERO_WIDTH_SPACE, text)


def _cut_before_entity(text: str, end: int) -> int:
    """`end`, or the start of the entity that `end` would cut in half."""
    for entity in _ENTITY.finditer(text, max(0, end - _LONGEST_ENTITY)):
        if entity.start() >= end:
            break
        if entity.end() > end:
            return entity.start()
    return end


def _cut_before_token(text: str, end: int) -> int:
    """`end`, or the start of the `<…>` token that `end` would cut in half."""
    opening = text.rfind("<", 0, end)
    if opening == -1 or text.find(">", opening, end) != -1:
        return end
    return opening


def _safe_url(url: str) -> str | None:
    """`url` escaped for the URL part of `<url|label>`, or None unless absolute http(s)."""
    url = url.strip()
    if not (url.isascii() and url.isprintable()) or " " in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url.translate(_URL_ESCAPES)
