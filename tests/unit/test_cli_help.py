"""`cibot --help` and every command's help speak to the person running it.

The real command line (the `cibot` Typer app, every command and group in it) prints its
help here; the text must say what each command does for its user, give an example where a
command takes more than a config file, and carry no developer's notes or a type beside a
flag (a flag takes no value).
"""

from __future__ import annotations

import pytest
import typer
from typer._click.core import Command
from typer.core import TyperGroup
from typer.testing import CliRunner

from cibot.entrypoints.cli import app
from tests.support.service import run_cli

# Words that belong in docstrings for developers, never in a user's help.
DEVELOPERS_WORDS = ("composition root", "frozen", "handed to", "adapter", "bootstrap", "use case")
# Commands whose help shows an example: all but the groups with nothing to run themselves.
WITHOUT_EXAMPLE = {"cibot", "cibot db"}


def commands() -> list[tuple[str, Command]]:
    found: list[tuple[str, Command]] = []

    def walk(path: str, command: Command) -> None:
        found.append((path, command))
        if isinstance(command, TyperGroup):
            for name, sub in sorted(command.commands.items()):
                walk(f"{path} {name}", sub)

    walk("cibot", typer.main.get_command(app))
    return found


COMMANDS = commands()


def help_of(path: str) -> str:
    done = CliRunner().invoke(
        app, [*path.split()[1:], "--help"], prog_name="cibot", env={"COLUMNS": "100"}
    )
    assert done.exit_code == 0, done.output
    return done.output


def test_every_command_is_listed() -> None:
    paths = {path for path, _ in COMMANDS}
    assert paths >= {
        "cibot",
        "cibot serve",
        "cibot check",
        "cibot audit",
        "cibot notify",
        "cibot notify-branch-deleted",
        "cibot slack-manifest",
        "cibot db",
        "cibot db upgrade",
        "cibot jobs",
        "cibot jobs retry",
    }


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_the_help_says_what_the_command_does_for_its_user(path: str, command: Command) -> None:
    text = help_of(path)

    assert f"Usage: {path}" in text
    assert "<bool>" not in text, "a flag takes no value: no type beside it"
    for words in DEVELOPERS_WORDS:
        assert words not in text.lower(), f"a developer's note in the help of {path}: {words}"
    assert command.help and len(command.help.split()) >= 8, f"{path} says too little"
    if path not in WITHOUT_EXAMPLE:
        assert "Example" in text, f"{path} gives no example"
    for param in command.params:
        if param.name != "help":
            assert getattr(param, "help", None), f"{path}: {param.name} is not explained"


def test_the_installed_command_prints_the_same_help() -> None:
    done = run_cli("--help", env={"COLUMNS": "100"})

    assert done.returncode == 0, done.stderr
    assert "Usage: cibot" in done.stdout
    assert "<bool>" not in done.stdout
    assert "composition root" not in done.stdout
    assert "approve" in done.stdout
