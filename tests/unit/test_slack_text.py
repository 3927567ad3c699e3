"""User text in Slack mrkdwn: never a mention, a link or formatting it did not ask for (T9)."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cibot.adapters.slack.text import ELLIPSIS, ZERO_WIDTH_SPACE, code, escape, link, truncate

ZW = ZERO_WIDTH_SPACE
ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,30}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")


def shown(mrkdwn: str) -> str:
    """What a reader sees: entities decoded, zero-width spaces invisible."""
    return html.unescape(mrkdwn.replace(ZW, ""))


# --- escape --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["<!channel>", "<!here>", "<!everyone>", "<@U123>", "<#C123|general>", "<!subteam^S1>"]
)
def test_escape_turns_mentions_and_commands_into_plain_text(text: str) -> None:
    escaped = escape(text)
    assert "<" not in escaped
    assert ">" not in escaped
    assert shown(escaped) == text


def test_escape_turns_a_forged_link_into_plain_text() -> None:
    assert escape("<https://evil|click>") == "&lt;https://evil|click&gt;"


def test_escape_escapes_an_ampersand_so_an_entity_in_user_text_shows_as_typed() -> None:
    assert escape("&amp;") == "&amp;amp;"
    assert escape("&lt;!channel&gt;") == "&amp;lt;!channel&amp;gt;"
    assert shown(escape("&lt;!channel&gt;")) == "&lt;!channel&gt;"


@pytest.mark.parametrize("text", ["*bold*", "_x_", "~x~", "`code`", "```pre```"])
def test_escape_defuses_formatting_markers_with_zero_width_spaces(text: str) -> None:
    escaped = escape(text)
    for marker in "*_~`":
        assert escaped.count(marker) == escaped.count(f"{ZW}{marker}{ZW}")
    assert shown(escaped) == text


@pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@Channel", "@HERE"])
def test_escape_defuses_broadcast_words(word: str) -> None:
    escaped = escape(f"ping {word} now")
    assert word not in escaped
    assert escaped == f"ping @{ZW}{word[1:]} now"


def test_escape_leaves_ordinary_at_signs_alone() -> None:
    assert escape("dev@example.com and @alice") == "dev@example.com and @alice"


def test_escape_defuses_a_quote_at_the_start_of_a_line() -> None:
    assert escape("> quoted\nnot > quoted") == f"{ZW}&gt; quoted\nnot &gt; quoted"


def test_escape_keeps_emoji_and_non_latin_text() -> None:
    assert escape("déployé 🚀 :tada: 部署") == "déployé 🚀 :tada: 部署"


def test_escape_strips_control_characters_but_keeps_newline_and_tab() -> None:
    assert escape("a\x00b\x1b[31mc\r\n\td\x7f\x85") == "ab[31mc\n\td"


def test_escape_strips_bidi_overrides_and_lone_surrogates() -> None:
    assert escape("main\u202etxt.exe\u2066x\u2069\ud800") == "maintxt.exex"


# --- code ----------------------------------------------------------------------------------


def test_code_wraps_an_identifier_in_one_inline_code_span() -> None:
    assert code("feature/*bold*_x_~y~") == "`feature/*bold*_x_~y~`"


def test_code_replaces_backticks_so_the_span_cannot_be_closed_early() -> None:
    stand_in = "\u02cb"  # MODIFIER LETTER GRAVE ACCENT
    assert code("a`b```c") == f"`a{stand_in}b{stand_in * 3}c`"


def test_code_escapes_entities_and_broadcasts() -> None:
    assert code("<!channel> & @here") == f"`&lt;!channel&gt; &amp; @{ZW}here`"


def test_code_puts_a_multi_line_text_on_one_line() -> None:
    assert code("a\nb\tc\r") == "`a b c`"


def test_code_of_empty_text_is_still_a_span() -> None:
    assert code("") == "` `"


def test_code_with_a_limit_keeps_both_backticks() -> None:
    assert code("x" * 100, limit=10) == f"`{'x' * 7}{ELLIPSIS}`"
    assert code("&&&&&&", limit=10) == f"`&amp;{ELLIPSIS}`"


def test_code_refuses_a_limit_too_small_for_a_span() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        code("x", limit=2)


# --- link ----------------------------------------------------------------------------------


def test_link_makes_an_http_link_with_an_escaped_label() -> None:
    assert link("https://shop.example.com/a?b=1&c=2", "Open <preview>") == (
        "<https://shop.example.com/a?b=1&amp;c=2|Open &lt;preview&gt;>"
    )


def test_link_without_a_label_shows_the_url() -> None:
    assert link("http://x.example.com") == "<http://x.example.com>"


def test_link_label_cannot_split_the_link_with_a_pipe() -> None:
    result = link("https://ok.example.com", "a|<https://evil|b>")
    assert result.count("|") == 1
    assert result.startswith("<https://ok.example.com|")


def test_link_url_cannot_smuggle_a_label_or_close_the_link() -> None:
    assert link("https://ok.example.com/x|evil>y<z", "ok") == (
        "<https://ok.example.com/x%7Cevil%3Ey%3Cz|ok>"
    )


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://x.example.com",
        "//x.example.com",
        "/relative",
        "https://",
        "https://exa mple.com",
        "https://éxample.com",
        "https://x.example.com/a\nb",
        "http://[::1",
        "",
    ],
)
def test_link_refuses_anything_but_an_absolute_http_url(url: str) -> None:
    result = link(url, "<b>*label*</b>")
    assert "<" not in result
    assert shown(result) == "<b>*label*</b>"


def test_a_refused_link_without_label_shows_the_escaped_url() -> None:
    assert link("javascript:alert('<x>')") == "javascript:alert('&lt;x&gt;')"


# --- truncate ------------------------------------------------------------------------------


def test_truncate_leaves_short_text_alone() -> None:
    assert truncate("abc", 3) == "abc"


def test_truncate_cuts_long_text_to_the_limit_with_an_ellipsis() -> None:
    assert truncate("abcdef", 4) == f"abc{ELLIPSIS}"


def test_truncate_never_cuts_an_entity_in_half() -> None:
    escaped = escape("ab<<<<")  # "ab&lt;&lt;&lt;&lt;"
    assert truncate(escaped, 8) == f"ab&lt;{ELLIPSIS}"
    assert truncate(escaped, 7) == f"ab&lt;{ELLIPSIS}"
    assert truncate(escaped, 6) == f"ab{ELLIPSIS}"


def test_truncate_keeps_long_strings_with_escapes_intact() -> None:
    escaped = escape("Q&A " * 1000)
    result = truncate(escaped, 3000)
    assert len(result) <= 3000
    assert result.endswith(ELLIPSIS)
    assert "&" not in ENTITY.sub("", result)


def test_truncate_never_cuts_a_link_in_half() -> None:
    mrkdwn = "see " + link("https://x.example.com/a&b", "the preview") + " now"
    assert truncate(mrkdwn, 20) == f"see {ELLIPSIS}"
    assert truncate(mrkdwn, len(mrkdwn) - 1) == mrkdwn[: mrkdwn.index(">") + 1] + f" n{ELLIPSIS}"


def test_truncate_to_one_character_is_just_the_ellipsis() -> None:
    assert truncate("abc", 1) == ELLIPSIS


def test_truncate_refuses_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        truncate("abc", 0)


# --- properties ----------------------------------------------------------------------------

readable = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from("\n\té🚀部"),
    )
)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_T9_escape_never_yields_angle_brackets_or_broadcasts(text: str) -> None:
    escaped = escape(text)
    assert "<" not in escaped
    assert ">" not in escaped
    assert not re.search(r"@(channel|here|everyone)", escaped, re.IGNORECASE)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_escape_leaves_every_formatting_marker_between_zero_width_spaces(text: str) -> None:
    escaped = escape(text)
    unguarded = escaped.replace(f"{ZW}*{ZW}", "").replace(f"{ZW}_{ZW}", "")
    unguarded = unguarded.replace(f"{ZW}~{ZW}", "").replace(f"{ZW}`{ZW}", "")
    assert not set("*_~`") & set(unguarded)


@settings(max_examples=500, deadline=None)
@given(readable)
def test_escaped_text_reads_as_the_original(text: str) -> None:
    assert shown(escape(text)) == text


@settings(max_examples=500, deadline=None)
@given(st.text(), st.none() | st.integers(3, 50))
def test_code_is_one_span_with_exactly_two_backticks_at_its_ends(
    text: str, limit: int | None
) -> None:
    span = code(text, limit=limit)
    assert span.count("`") == 2
    assert span.startswith("`")
    assert span.endswith("`")
    assert "<" not in span
    assert ">" not in span
    assert "\n" not in span
    if limit is not None:
        assert len(span) <= limit


@settings(max_examples=500, deadline=None)
@given(st.text(), st.integers(1, 80))
def test_truncate_never_exceeds_the_limit_nor_ends_in_a_partial_entity(
    text: str, limit: int
) -> None:
    result = truncate(escape(text), limit)
    assert len(result) <= limit
    assert "&" not in ENTITY.sub("", result)


@settings(max_examples=500, deadline=None)
@given(readable, st.integers(1, 80))
def test_truncate_only_shortens_from_the_end(text: str, limit: int) -> None:
    escaped = escape(text)
    result = truncate(escaped, limit)
    assert result == escaped or (
        result.endswith(ELLIPSIS) and escaped.startswith(result.removesuffix(ELLIPSIS))
    )


urls = st.one_of(st.text(), st.text().map(lambda path: f"https://x.example.com/{path}"))


@settings(max_examples=500, deadline=None)
@given(urls, st.text())
def test_T9_link_never_yields_more_than_one_link_or_any_mention(url: str, label: str) -> None:
    result = link(url, label)
    if result.startswith("<"):
        assert result.endswith(">")
        target, _, text = result[1:-1].partition("|")
        assert target.startswith(("http://", "https://"))
        assert not set("<>|") & set(target + text)
    else:
        text = result
        assert not set("<>") & set(text)
    assert not re.search(r"@(channel|here|everyone)", text, re.IGNORECASE)


def test_link_ignores_whitespace_around_the_url() -> None:
    assert link(" https://x.example.com/\n", "go") == "<https://x.example.com/|go>"


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=30), urls, st.text(max_size=30), st.integers(1, 120))
def test_truncating_mrkdwn_with_a_link_never_leaves_a_link_open(
    before: str, url: str, label: str, limit: int
) -> None:
    result = truncate(escape(before) + link(url, label) + escape(before), limit)
    assert len(result) <= limit
    assert result.count("<") == result.count(">")
    assert "&" not in ENTITY.sub("", result)
