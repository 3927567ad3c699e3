"""YAML text -> plain data, a map from key path to file line, and the problems found on the way.

pydantic validates plain data and knows nothing of files; PyYAML's composed node tree knows every
line. Walking the nodes ourselves (instead of `yaml.safe_load`) gives the line map, catches
duplicate keys (which PyYAML silently accepts) and is the natural place for `${VAR}`
interpolation.

Scalars become text, not YAML 1.1 types: `pydantic` types each value by its field, so an env
value `0755` stays `"0755"` and a name `no` stays `"no"`, while `port: 8080` still validates as an
int. `null`, `~` and empty plain scalars become `None`; so does a plain (unquoted) scalar that
interpolates to nothing, e.g. `bot_token: ${SLACK_BOT_TOKEN:-}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from cibot.config.interpolate import InterpolationError, interpolate
from cibot.config.problems import Loc, Problem, render_path

_CORE = "tag:yaml.org,2002:"
_NULL_TAG = _CORE + "null"
_MERGE_TAG = _CORE + "merge"
_TEXT_TAGS = frozenset(_CORE + name for name in ("str", "int", "float", "bool", "timestamp"))
_MAX_NODES = 100_000  # aliases can make a small file expand into a huge tree


@dataclass
class Document:
    """What the YAML said: data for pydantic, lines for error messages, problems so far."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


class _TooLarge(Exception):
    pass


def read_document(text: str, env: Mapping[str, str]) -> Document:
    """Compose `text`, then walk its nodes into a `Document`."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        return Document(None, problems=[_syntax_problem(exc, text)])
    if root is None:
        return Document({})
    walker = _Walker(env)
    walker.lines[""] = _line(root)
    try:
        data = walker.value(root, ())
    except _TooLarge:
        problem = Problem(None, "", f"the document expands to more than {_MAX_NODES} values")
        return Document(None, walker.lines, [problem])
    return Document(data, walker.lines, walker.problems)


def _syntax_problem(exc: yaml.YAMLError, text: str) -> Problem:
    """Built from the error's parts: its str() quotes a snippet of the file, maybe a secret."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return Problem(None, "", "not readable as YAML text")
    message = f"invalid YAML: {exc.problem or exc.context or 'syntax error'}"
    if exc.problem and exc.context:
        started = f" started at line {exc.context_mark.line + 1}" if exc.context_mark else ""
        message += f" ({exc.context}{started})"
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    if "flow" in (exc.context or "") and line and "${" in _text_line(text, line):
        message += '; inside [...] or {...}, quote a ${VAR} value: "${VAR}"'
    return Problem(line, "", message)


def _text_line(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


class _Walker:
    """One walk over a node tree; collects lines and problems instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.lines: dict[str, int] = {}
        self.problems: list[Problem] = []
        self._active: set[int] = set()
        self._count = 0

    def value(self, node: Node, loc: Loc) -> Any:
        self._count += 1
        if self._count > _MAX_NODES:
            raise _TooLarge
        if id(node) in self._active:
            self._problem(node, loc, "an alias refers to itself")
            return None
        self._active.add(id(node))
        try:
            return self._dispatch(node, loc)
        finally:
            self._active.discard(id(node))

    def _dispatch(self, node: Node, loc: Loc) -> Any:
        if isinstance(node, MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, SequenceNode):
            return self._sequence(node, loc)
        assert isinstance(node, ScalarNode)
        return self._scalar(node, loc)

    def _sequence(self, node: SequenceNode, loc: Loc) -> list[Any]:
        items: list[Any] = []
        for index, item in enumerate(node.value):
            self.lines[render_path((*loc, index))] = _line(item)
            items.append(self.value(item, (*loc, index)))
        return items

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[str, Any]:
        merged = self._merged(node, loc)
        explicit: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, ScalarNode):
                message = "a key must be a plain name, not a list or mapping"
                self.problems.append(Problem(_line(key_node), render_path(loc), message))
                continue
            key, line = str(key_node.value), _line(key_node)
            if key in first_line:
                message = f"duplicate key {key!r} (first at line {first_line[key]})"
                self.problems.append(Problem(line, render_path((*loc, key)), message))
                continue
            first_line[key] = self.lines[render_path((*loc, key))] = line
            explicit[key] = self.value(value_node, (*loc, key))
        return {**merged, **explicit}

    def _merged(self, node: MappingNode, loc: Loc) -> dict[str, Any]:
        """YAML merge keys (`<<: *defaults`): earlier sources win, explicit keys win over all."""
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in reversed(sources):
                if not isinstance(source, MappingNode):
                    self._problem(source, loc, "'<<' merges a mapping or a list of mappings")
                    continue
                merged.update(self.value(source, loc))
        return merged

    def _scalar(self, node: ScalarNode, loc: Loc) -> str | None:
        if node.tag == _NULL_TAG:
            return None
        if node.tag not in _TEXT_TAGS:
            self._problem(node, loc, f"unsupported YAML tag {node.tag}")
            return None
        try:
            text = interpolate(str(node.value), self.env)
        except InterpolationError as exc:
            self._problem(node, loc, str(exc))
            return None
        plain = node.style is None
        return None if plain and not text else text

    def _problem(self, node: Node, loc: Loc, message: str) -> None:
        key = render_path(loc)
        self.problems.append(Problem(self.lines.get(key, _line(node)), key, message))
