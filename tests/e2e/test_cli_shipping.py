"""The command line as someone installing ci-bot first meets it: `--version` and the Slack app
manifest. Nothing here needs a cluster or a server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.support.service import CIBOT, run_cli

ROOT = Path(__file__).resolve().parents[2]


def project_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


def test_version_prints_the_installed_version_and_exits_zero() -> None:
    done = run_cli("--version")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"cibot {project_version()}"


# What only the service and the verbs that read the config use; each costs tens of ms to load.
SERVICE_STACKS = ("cibot.config", "sqlalchemy", "alembic", "fastapi", "slack_bolt", "lightkube")


@pytest.mark.parametrize("args", [["--version"], ["notify", "--help"], ["--help"]])
def test_version_and_help_load_neither_the_config_nor_the_service_stacks(
    args: list[str],
) -> None:
    """`cibot notify` runs once per build in CI, `--version` and `--help` at the terminal:
    none of them waits for the web, database, Slack and Kubernetes stacks of `serve`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", CIBOT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    imported = set(re.findall(r"^import time:.*\| +(\S+)$", done.stderr, re.MULTILINE))
    assert "typer" in imported, "the import log was read"
    loaded = [m for m in imported for s in SERVICE_STACKS if m == s or m.startswith(f"{s}.")]
    assert loaded == []


def test_slack_manifest_points_slack_at_the_public_url_of_the_config(tmp_path: Path) -> None:
    config = tmp_path / "cibot.yaml"
    config.write_text("server: {public_url: 'https://cibot.example.com'}\nprojects: []\n")

    done = run_cli("slack-manifest", "--config", str(config))

    assert done.returncode == 0, done.stderr
    manifest = yaml.safe_load(done.stdout)
    settings = manifest["settings"]
    assert settings["interactivity"]["request_url"] == "https://cibot.example.com/slack/events"
    assert settings["socket_mode_enabled"] is False
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/cibot"
    assert command["url"] == "https://cibot.example.com/slack/events"
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert "chat:write" in manifest["oauth_config"]["scopes"]["bot"]


def test_slack_manifest_takes_the_url_from_the_command_line_and_prints_json_on_request(
    tmp_path: Path,
) -> None:
    done = run_cli(
        "slack-manifest", "--url", "https://bot.example.org/", "--json",
        env={"CIBOT_CONFIG": str(tmp_path / "absent.yaml")},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["settings"]["interactivity"]["request_url"] == (
        "https://bot.example.org/slack/events"
    )


def test_slack_manifest_in_socket_mode_names_no_request_url() -> None:
    done = run_cli("slack-manifest", "--socket-mode", env={"CIBOT_CONFIG": "/nonexistent.yaml"})

    assert done.returncode == 0, done.stderr
    manifest = yaml.safe_load(done.stdout)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in manifest["settings"]["interactivity"]
    assert "url" not in manifest["features"]["slash_commands"][0]


def test_slack_manifest_follows_slack_mode_of_the_config_unless_told_otherwise(
    tmp_path: Path,
) -> None:
    config = tmp_path / "cibot.yaml"
    config.write_text(
        "server: {public_url: 'https://cibot.example.com'}\nslack: {mode: socket}\nprojects: []\n"
    )

    by_config = run_cli("slack-manifest", "--config", str(config))
    over_http = run_cli("slack-manifest", "--config", str(config), "--no-socket-mode")

    assert by_config.returncode == 0, by_config.stderr
    settings = yaml.safe_load(by_config.stdout)["settings"]
    assert settings["socket_mode_enabled"] is True
    assert "request_url" not in settings["interactivity"]
    assert over_http.returncode == 0, over_http.stderr
    settings = yaml.safe_load(over_http.stdout)["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["interactivity"]["request_url"] == "https://cibot.example.com/slack/events"


def test_slack_manifest_refuses_a_url_with_socket_mode(tmp_path: Path) -> None:
    config = tmp_path / "cibot.yaml"
    config.write_text("slack: {mode: socket}\nprojects: []\n")

    flagged = run_cli("slack-manifest", "--socket-mode", "--url", "https://cibot.example.com")
    configured = run_cli("slack-manifest", "--config", str(config), "--url", "https://x.example")

    for done in (flagged, configured):
        assert done.returncode == 2
        assert "--url" in done.stderr and "Socket Mode" in done.stderr
        assert done.stdout == ""


def test_slack_manifest_without_any_url_says_which_option_is_missing(tmp_path: Path) -> None:
    config = tmp_path / "cibot.yaml"
    config.write_text("projects: []\n")

    done = run_cli("slack-manifest", "--config", str(config))

    assert done.returncode == 2
    assert "server.public_url" in done.stderr and "--url" in done.stderr
    assert done.stdout == ""


def test_slack_manifest_refuses_a_url_slack_would_refuse() -> None:
    done = run_cli("slack-manifest", "--url", "ftp://cibot.example.com")

    assert done.returncode == 2
    assert "--url" in done.stderr and "http" in done.stderr
