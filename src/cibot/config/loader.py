"""Reading `cibot.yaml`: text -> `Settings`, or one `ConfigError` listing every problem.

The stages, each collecting problems rather than stopping at the first: YAML syntax and
interpolation (`document`), then pydantic validation (`model`), whose errors are mapped back to
file lines (`translate`). The line map stays on the `Settings` for later reports (`line_of`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from cibot.config.document import read_document
from cibot.config.model import Settings, clashing_names, duplicate_ids, unsigned_projects
from cibot.config.problems import ConfigError, Loc, Problem, render_path
from cibot.config.translate import nearest_line, problems_from

DEFAULT_PATH = "cibot.yaml"
_LAST_PART = re.compile(r"(\.[^.\[]*|\[\d+\])$")


def parse_config(
    text: str, source: str = DEFAULT_PATH, env: Mapping[str, str] | None = None
) -> Settings:
    """Validate `text` (named `source` in messages); `env` defaults to the process environment."""
    document = read_document(text, os.environ if env is None else env)
    problems = list(document.problems)
    settings: Settings | None = None
    if document.data is not None or not problems:
        try:
            settings = Settings.model_validate({} if document.data is None else document.data)
        except ValidationError as exc:
            found = problems_from(exc, document.lines)
            found += _project_rules(document.data, document.lines)
            problems += _new_keys(found, problems)
    if settings is None or problems:
        raise ConfigError(dict.fromkeys(problems), source)
    settings._lines = document.lines
    return settings


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the file at `path`."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError([Problem(None, "", "not UTF-8 text")], source) from None
    except OSError as exc:
        message = f"cannot read the file: {exc.strerror or type(exc).__name__}"
        raise ConfigError([Problem(None, "", message)], source) from None
    return parse_config(text, source, env)


def config_path(explicit: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """`--config`, else `$CIBOT_CONFIG`, else `cibot.yaml`."""
    env = os.environ if env is None else env
    return Path(explicit or env.get("CIBOT_CONFIG") or DEFAULT_PATH)


def line_of(settings: Settings, key: str) -> int | None:
    """The file line of `key` (e.g. `projects[0].qa`), else of its nearest enclosing key.

    None when not even the top-level key is in the file (or the settings came from no file).
    """
    lines = settings._lines
    while key not in lines:
        parent = _LAST_PART.sub("", key)
        if parent == key:
            return None
        key = parent
    return lines[key]


def _project_rules(data: object, lines: Mapping[str, int]) -> list[Problem]:
    """The cross-project rules, on raw data: pydantic skips them when any project is invalid.

    When it did run them, they yield the same problems as here, and duplicates are dropped.
    """
    if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
        return []
    projects = [item if isinstance(item, dict) else None for item in data["projects"]]
    webhooks = data.get("webhooks")
    global_secret = webhooks.get("secret") if isinstance(webhooks, dict) else None
    rules = duplicate_ids([project.get("id") if project else None for project in projects])
    rules += clashing_names(
        [
            (project.get("id"), project.get("namespace")) if project else (None, None)
            for project in projects
        ]
    )
    own = [project.get("webhook_secret") if project else "n/a" for project in projects]
    rules += unsigned_projects(own, global_secret)
    return [_problem(("projects", *where), message, lines) for where, message in rules]


def _problem(loc: Loc, message: str, lines: Mapping[str, int]) -> Problem:
    return Problem(nearest_line(lines, loc), render_path(loc), message)


def _new_keys(found: list[Problem], known: list[Problem]) -> list[Problem]:
    """Drop validation noise about a key already reported (e.g. a value left unset)."""
    reported = {problem.key for problem in known}
    return [problem for problem in found if problem.key not in reported]
