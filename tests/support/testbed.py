"""The real parts the tests run against: PostgreSQL and the local Kubernetes control plane.

`scripts/test` starts both and passes their addresses in the environment; when a developer
runs pytest directly, the same scripts are called here (they reuse a running instance).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script_output(script: str, *args: str) -> str:
    result = subprocess.run(
        [str(ROOT / "scripts" / script), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    return result.stdout.strip().splitlines()[-1]


def postgres_url() -> str:
    """URL of a PostgreSQL server whose `cibot` role may create databases."""
    return os.environ.get("CIBOT_TEST_POSTGRES_URL") or _script_output("localpg", "up")


def kubeconfig() -> Path:
    """Path of an admin kubeconfig for the local control plane."""
    path = os.environ.get("CIBOT_TEST_KUBECONFIG") or _script_output("localk8s", "up")
    return Path(path)
