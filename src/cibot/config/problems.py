"""The vocabulary of configuration errors: a `Problem` names a file line and a key path.

It exists so that every stage (YAML syntax, interpolation, validation, readiness) reports in one
shape, and so that the rule about never echoing secret values lives in one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
Loc = tuple[str | int, ...]

_SECRET_NAME = re.compile(r"secret|token|password|passwd|credential|key", re.IGNORECASE)
_SECRET_SECTIONS = frozenset({"slack", "webhooks"})
_MAX_SHOWN = 60


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the configuration, at a line (when known) and a key path."""

    line: int | None
    key: str
    message: str
    severity: Severity = "error"

    def format(self, source: str) -> str:
        """`cibot.yaml:14: projects[0].qa: …`, compiler style; non-errors name their severity."""
        where = source if self.line is None else f"{source}:{self.line}"
        severity = "" if self.severity == "error" else self.severity
        return ": ".join(part for part in (where, severity, self.key, self.message) if part)


class ConfigError(Exception):
    """The configuration cannot be used; `.problems` lists everything found, by line."""

    def __init__(self, problems: Iterable[Problem], source: str = "cibot.yaml") -> None:
        self.problems: list[Problem] = sorted(problems, key=_by_line)
        self.source = source
        super().__init__(report(self.problems, source))


def report(problems: Sequence[Problem], source: str) -> str:
    """A readable multi-line report: a heading, then one indented line per problem."""
    count = f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
    lines = [f"{source}: {count} in the configuration"]
    lines.extend(f"  {problem.format(source)}" for problem in problems)
    return "\n".join(lines)


def render_path(loc: Loc) -> str:
    """`('projects', 0, 'qa')` -> `projects[0].qa`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def is_secret(loc: Loc) -> bool:
    """Whether the value at `loc` may be a secret, and so must never be echoed."""
    names = [part for part in loc if isinstance(part, str)]
    if names and names[0] in _SECRET_SECTIONS:
        return True
    if names[:2] == ["database", "url"] or (names[:1] == ["projects"] and "env" in names[1:2]):
        return True
    return any(_SECRET_NAME.search(name) for name in names)


def shown(value: object) -> str:
    """A short rendering of a (non-secret) value for an error message."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _by_line(problem: Problem) -> tuple[bool, int]:
    return (problem.line is not None, problem.line or 0)
