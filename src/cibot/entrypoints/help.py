"""Typer's command and group, with help that reads as help for the person at the terminal.

Typer 0.29 writes the type of every option beside it, `<bool>` too; a flag takes no value,
so beside a flag (`--json`, `--version`, `--help`) that only says something untrue. These
classes leave a flag's type column empty and change nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

from typer._click.core import Context, Parameter
from typer.core import TyperCommand, TyperGroup


def _no_type_beside_flags(params: Sequence[Parameter]) -> list[Parameter]:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # Typer shows a metavar, when there is one, instead of the type
    return list(params)


class Command(TyperCommand):
    def get_params(self, ctx: Context) -> list[Parameter]:
        return _no_type_beside_flags(super().get_params(ctx))


class Group(TyperGroup):
    def get_params(self, ctx: Context) -> list[Parameter]:
        return _no_type_beside_flags(super().get_params(ctx))
