"""The Helm chart (charts/cibot) as an operator uses it: helm lint, template and install.

helm is built from its Go module on first use (scripts/helm-build.sh) and cached.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.tools import helm

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "cibot"


def run_helm(
    *args: str, values: dict[str, Any] | None = None, kubeconfig: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    command = [helm(), *args]
    if kubeconfig:
        command += ["--kubeconfig", str(kubeconfig)]
    if values is not None:
        command += ["--values", "-"]
    return subprocess.run(
        command,
        input=yaml.safe_dump(values) if values is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def render(values: dict[str, Any], *extra: str) -> list[dict[str, Any]]:
    """`helm template` of the chart: every object it would create."""
    done = run_helm("template", "cibot", str(CHART), "--namespace", "cibot", *extra, values=values)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def refusal(values: dict[str, Any]) -> str:
    """The error `helm template` gives for these values (it must refuse them)."""
    done = run_helm("template", "cibot", str(CHART), values=values)
    assert done.returncode != 0, "helm accepted values it should refuse"
    return done.stderr


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = of_kind(objects, kind)
    return found
