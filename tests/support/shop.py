"""The project `shop` that end-to-end and trust tests deploy: its people, its channel, the CI
secret, and the `cibot.yaml` a test's `cibot serve` reads.

Tests import these from here, never from a conftest: conftest files hold fixtures (and
hooks) only, for pytest to find, so no test depends on which conftest happens to be loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.service import CibotProcess

SECRET = "e2e-webhook-secret"
CHANNEL = "C0E2E0CHAN"
QA = ("U0QA1", "U0QA2")
OWNERS = ("U0OWNER1", "U0OWNER2")
EVERYONE = (*QA, *OWNERS)

Launch = Callable[..., CibotProcess]
"""The `launch` fixture: starts `cibot serve` with these keys of the project (`policy={…}`)."""


def service_config(
    database_url: str, kubeconfig_path: Path, slack_api_url: str, namespace: str
) -> dict[str, Any]:
    """`cibot.yaml` for a test: the fake Slack, the local cluster, quick retries, one project."""
    return {
        "database": {"url": database_url},
        "slack": {
            "bot_token": "xoxb-fake",
            "signing_secret": "e2e-signing-secret",
            "api_url": slack_api_url,
        },
        "kubernetes": {"kubeconfig": str(kubeconfig_path)},
        "webhooks": {"secret": SECRET},
        "jobs": {
            "poll_interval_seconds": 0.2,
            "drain_seconds": 2,
            "backoff_base_seconds": 0.2,
            "backoff_max_seconds": 2,
        },
        "retry": {"attempts": 3, "base_seconds": 0.1, "max_seconds": 1},
        "logging": {"level": "info", "format": "json"},
        "projects": [
            {
                "id": "shop",
                "name": "Shop",
                "url": "https://shop.example.com",
                "channel": CHANNEL,
                "qa": list(QA),
                "owners": list(OWNERS),
                "namespace": namespace,
                "rollout_timeout": 10,
            }
        ],
    }
