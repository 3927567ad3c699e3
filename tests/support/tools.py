"""Tools the packaging tests drive as a user would: uv (scripts/lib/bootstrap.sh installs it)
and helm (scripts/helm-build.sh builds it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def uv() -> str:
    """The uv that made the virtual environment: on PATH under scripts/test, else its cache."""
    found = shutil.which("uv")
    if found:
        return found
    cache = Path(os.environ.get("CIBOT_CACHE_DIR") or Path.home() / ".cache" / "cibot")
    candidates = sorted(cache.glob("uv-*/bin/uv"))
    assert candidates, "uv not found: run scripts/test (it installs uv) or put uv on PATH"
    return str(candidates[-1])


def helm() -> str:
    """The helm binary, built from its Go module on first use (a few minutes), then cached."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "helm-build.sh")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout.strip().splitlines()[-1]


def locked_runtime_packages() -> set[str]:
    """The names of the packages uv.lock pins for running ci-bot here (no development tools)."""
    done = subprocess.run(
        [uv(), "export", "--locked", "--no-dev", "--no-hashes", "--no-emit-project",
         "--no-header", "--no-annotate", "--format", "requirements-txt"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = (line.strip() for line in done.stdout.splitlines())
    requirements = [Requirement(line) for line in lines if line and not line.startswith(("#", "-"))]
    return {  # those for this platform (Linux, as the image): colorama is for Windows only
        normalise(r.name) for r in requirements if r.marker is None or r.marker.evaluate()
    }


def normalise(name: str) -> str:
    """A distribution's name as PEP 503 compares them."""
    return name.lower().replace("_", "-").replace(".", "-")
