"""`${VAR}` interpolation: the small grammar that keeps secrets out of `cibot.yaml`."""

from __future__ import annotations

import pytest

from cibot.config.interpolate import InterpolationError, interpolate


def test_a_reference_is_replaced_by_the_variable() -> None:
    assert interpolate("token ${TOKEN}!", {"TOKEN": "xoxb-1"}) == "token xoxb-1!"


def test_a_default_is_used_when_the_variable_is_unset_or_empty() -> None:
    assert interpolate("${PORT:-8080}", {}) == "8080"
    assert interpolate("${PORT:-8080}", {"PORT": ""}) == "8080"
    assert interpolate("${PORT:-8080}", {"PORT": "9090"}) == "9090"


def test_an_empty_default_gives_an_empty_string() -> None:
    assert interpolate("${TOKEN:-}", {}) == ""


def test_a_set_but_empty_variable_without_default_is_empty() -> None:
    assert interpolate("a${EMPTY}b", {"EMPTY": ""}) == "ab"


def test_a_double_dollar_escapes_a_literal_reference() -> None:
    assert interpolate("$${HOME} and $HOME and $$", {"HOME": "/root"}) == "${HOME} and $HOME and $$"


def test_substituted_values_are_not_scanned_again() -> None:
    assert interpolate("${A}", {"A": "${B}", "B": "no"}) == "${B}"


def test_every_missing_variable_is_named_once() -> None:
    with pytest.raises(InterpolationError) as caught:
        interpolate("${A}-${B}-${A}", {})
    assert caught.value.missing == ("A", "B", "A")
    assert str(caught.value) == "environment variables A, B are not set"


def test_one_missing_variable_is_named() -> None:
    with pytest.raises(InterpolationError, match="environment variable TOKEN is not set"):
        interpolate("${TOKEN}", {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${UNCLOSED", "unterminated"),
        ("${not a name}", "bad reference"),
        ("${1ABC}", "bad reference"),
        ("${A:default}", "bad reference"),
        ("${A:-${B}}", "nested references are not supported"),
    ],
)
def test_malformed_references_are_errors(text: str, message: str) -> None:
    with pytest.raises(InterpolationError, match=message):
        interpolate(text, {"A": "a", "B": "b"})


def test_error_messages_never_quote_a_default() -> None:
    with pytest.raises(InterpolationError) as caught:
        interpolate("${TOKEN:hunter2}", {})
    assert "hunter2" not in str(caught.value)
