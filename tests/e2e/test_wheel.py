"""`uv build` makes a wheel and an sdist, and the wheel alone, installed with the locked
dependencies in a clean virtual environment, gives a working `cibot`: its migrations, its
fake Slack and its command line are all in it."""

from __future__ import annotations

import signal
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.service import free_port
from tests.support.tools import uv

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(uv(), "build", "--out-dir", str(out))
    return out


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtual environment with the locked runtime dependencies and the wheel."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    base_python = getattr(sys, "_base_executable", sys.executable)
    run(uv(), "venv", "--python", base_python, str(venv))
    requirements = venv.parent / "requirements.txt"
    exported = run(uv(), "export", "--locked", "--no-dev", "--no-emit-project", "--no-hashes",
                   "--format", "requirements-txt")  # fmt: skip
    requirements.write_text(exported.stdout)
    (wheel,) = dist.glob("*.whl")
    run(uv(), "pip", "install", "--python", str(venv / "bin" / "python"), "--no-deps",
        "-r", str(requirements), str(wheel))  # fmt: skip
    return venv / "bin"


def test_uv_build_makes_a_wheel_and_an_sdist_with_the_migrations(dist: Path) -> None:
    (wheel,) = dist.glob(f"cibot-{VERSION}-py3-none-any.whl")
    (sdist,) = dist.glob(f"cibot-{VERSION}.tar.gz")

    names = zipfile.ZipFile(wheel).namelist()
    assert "cibot/adapters/store/migrations/env.py" in names
    assert "cibot/adapters/store/migrations/versions/0001_initial.py" in names
    assert any(n.endswith("entry_points.txt") for n in names)
    assert "cibot/fakeslack/static/play.js" in names  # the playground's page
    assert not any(n.startswith("tests/") for n in names)
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert f"cibot-{VERSION}/pyproject.toml" in members
    assert f"cibot-{VERSION}/src/cibot/entrypoints/cli.py" in members


def test_the_installed_wheel_gives_a_working_cibot(installed: Path, tmp_path: Path) -> None:
    cibot = str(installed / "cibot")
    config = tmp_path / "cibot.yaml"
    config.write_text(yaml.safe_dump({
        "database": {"url": f"sqlite:///{tmp_path / 'cibot.db'}"},
        "server": {"public_url": "https://cibot.example.com"},
        "projects": [],
    }))  # fmt: skip

    assert run(cibot, "--version", cwd=tmp_path).stdout.strip() == f"cibot {VERSION}"
    upgraded = run(cibot, "db", "upgrade", "--config", str(config), cwd=tmp_path)
    assert "is at revision" in upgraded.stdout
    manifest = yaml.safe_load(run(cibot, "slack-manifest", "--config", str(config)).stdout)
    assert manifest["settings"]["interactivity"]["request_url"].startswith("https://cibot.")


@pytest.mark.kubernetes
def test_the_installed_wheel_serves_with_its_own_fake_slack(
    installed: Path, tmp_path: Path, kubeconfig_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "cibot.yaml"
    config.write_text(yaml.safe_dump({
        "database": {"url": f"sqlite:///{tmp_path / 'cibot.db'}"},
        "server": {"host": "127.0.0.1", "port": port},
        "kubernetes": {"kubeconfig": str(kubeconfig_path)},
        "projects": [],
    }))  # fmt: skip
    run(str(installed / "cibot"), "db", "upgrade", "--config", str(config))
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen([str(installed / "cibot"), "serve", "--config", str(config)],
                             stdout=log, stderr=log, cwd=tmp_path)  # fmt: skip
    try:
        deadline, status = time.monotonic() + 60, 0
        while time.monotonic() < deadline and serve.poll() is None and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code
            except httpx.HTTPError:
                time.sleep(0.2)
        assert status == 200, (tmp_path / "serve.log").read_text()
    finally:
        serve.send_signal(signal.SIGTERM)  # how it stops is the job runner's tests' business
        serve.wait(timeout=30)
    assert "using a local fake Slack" in (tmp_path / "serve.log").read_text()
