"""pydantic validation errors -> `Problem`s that name the key path and its line in the file.

pydantic reports a `loc` such as `('projects', 0, 'qa', 1)` and a message; users need
`cibot.yaml:14: projects[0].qa[1]: …`. This module does that translation, expands the multi-key
errors raised by `model.refuse`, suggests the closest key for a typo, and shows the offending
value only where it cannot be a secret.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from cibot.config.model import REFUSED, Settings
from cibot.config.problems import Loc, Problem, is_secret, render_path, shown

_FRIENDLIER = {
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "missing": "required, but missing",
}
_SCALARS = (str, int, float, bool)


def problems_from(error: ValidationError, lines: Mapping[str, int]) -> list[Problem]:
    """Every error in `error`, each with its key path and the nearest known line."""
    problems: list[Problem] = []
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if part != "[key]")
        for where, message in _messages(item, loc):
            problems.append(Problem(nearest_line(lines, where), render_path(where), message))
    return problems


def nearest_line(lines: Mapping[str, int], loc: Loc) -> int | None:
    """The line of `loc`, or of its closest enclosing key when `loc` is not in the file."""
    for end in range(len(loc), -1, -1):
        line = lines.get(render_path(loc[:end]))
        if line is not None:
            return line
    return None


def _messages(item: ErrorDetails, loc: Loc) -> list[tuple[Loc, str]]:
    if item["type"] == REFUSED:
        problems: tuple[tuple[Loc, str], ...] = item.get("ctx", {})["problems"]
        return [((*loc, *where), message) for where, message in problems]
    if item["type"] == "extra_forbidden":
        return [(loc, _unknown_key(loc))]
    message = _FRIENDLIER.get(item["type"]) or _own_words(item)
    value = item.get("input")
    if item["type"] != "missing" and isinstance(value, _SCALARS) and not is_secret(loc):
        message += f" (got {shown(value)})"
    return [(loc, message)]


def _own_words(item: ErrorDetails) -> str:
    """Our validators' messages without pydantic's "Value error, " prefix."""
    error = item.get("ctx", {}).get("error")
    return str(error) if item["type"] == "value_error" and error is not None else item["msg"]


def _unknown_key(loc: Loc) -> str:
    known = _known_keys(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), known, n=1) if known else []
    return f"unknown key (did you mean {close[0]!r}?)" if close else "unknown key"


def _known_keys(loc: Loc) -> list[str]:
    """The keys the model at `loc` accepts, found by following field annotations."""
    model: type[BaseModel] | None = Settings
    for part in loc:
        if model is None:
            return []
        if isinstance(part, str):
            field = model.model_fields.get(part)
            model = _model_in(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
