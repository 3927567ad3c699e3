"""A `cibot serve` for tests of the front door alone: requests, signatures, answers.

Such tests never reach Kubernetes, so the server gets a kubeconfig that names an address
nobody listens on, and needs no cluster to start. The fake Slack and SQLite are real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support import slack_requests

CHANNEL, QA, OWNERS = "C0DOOR0001", ("U0DOORQA1",), ("U0DOOROWN1",)


def unreachable_kubeconfig(workdir: Path) -> Path:
    """A kubeconfig for an API server that is not there (port 9 on loopback: discard)."""
    path = workdir / "unreachable-kubeconfig.yaml"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "none", "user": {"token": "unused"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
        "current-context": "none",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def project(project_id: str, **keys: Any) -> dict[str, Any]:
    return {
        "id": project_id,
        "url": f"https://{project_id}.example.com",
        "channel": CHANNEL,
        "qa": list(QA),
        "owners": list(OWNERS),
        **keys,
    }


def door_config(
    workdir: Path, slack_api_url: str, *projects: dict[str, Any], **sections: Any
) -> dict[str, Any]:
    """The config of a door-only server on SQLite; `sections` replace whole sections."""
    return {
        "database": {"url": f"sqlite+aiosqlite:///{workdir / 'door.db'}"},
        "slack": {
            "bot_token": "xoxb-fake",
            "signing_secret": slack_requests.SIGNING_SECRET,
            "api_url": slack_api_url,
        },
        "kubernetes": {"kubeconfig": str(unreachable_kubeconfig(workdir))},
        "jobs": {"poll_interval_seconds": 0.2},
        "retry": {"attempts": 1, "base_seconds": 0, "max_seconds": 0},
        "logging": {"level": "warning", "format": "json"},
        "projects": list(projects) or [project("shop")],
        **sections,
    }
