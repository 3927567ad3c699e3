"""`${VAR}` interpolation, so that secrets stay out of the configuration file.

Grammar, applied to scalar values (never to keys), in one pass (substituted text is not
re-scanned):

- `${NAME}` — the variable's value; an unset variable is an error;
- `${NAME:-default}` — the default when the variable is unset or empty (the default may be empty);
- `$${` — a literal `${`; any other `$` is kept as it is.

NAME is a C identifier. Error messages name variables, never values or defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)\}|\$\{")
_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)


class InterpolationError(ValueError):
    """A reference that cannot be resolved; `.missing` names unset variables, if any."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Replace every `${…}` reference in `text`, or raise `InterpolationError`."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        body = match.group("body")
        if body is None:
            raise InterpolationError("unterminated '${': close it with '}' or write '$${'")
        return _resolve(body, env, missing)

    result = _TOKEN.sub(replace, text)
    if missing:
        raise InterpolationError(_missing_message(missing), tuple(missing))
    return result


def _resolve(body: str, env: Mapping[str, str], missing: list[str]) -> str:
    parsed = _BODY.fullmatch(body)
    if parsed is None:
        raise InterpolationError(
            "bad reference: write ${NAME} or ${NAME:-default}, NAME made of letters, digits and _"
        )
    name, default = parsed.group("name"), parsed.group("default")
    if default is not None and "${" in default:
        raise InterpolationError(f"nested references are not supported (in the default of {name})")
    value = env.get(name)
    if default is not None:
        return value or default
    if value is None:
        missing.append(name)
        return ""
    return value


def _missing_message(names: list[str]) -> str:
    unique = list(dict.fromkeys(names))
    if len(unique) == 1:
        return f"environment variable {unique[0]} is not set"
    return f"environment variables {', '.join(unique)} are not set"
