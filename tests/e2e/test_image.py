"""The container image, built from the real Dockerfile (scripts/localimage) and run as
Kubernetes runs it: an unprivileged user, a read-only root filesystem, a volume for state.

The first build takes a few minutes (the base image from Debian packages, then the image);
afterwards it is rebuilt only when the Dockerfile, the lock or the sources change.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import AsyncClient

from cibot.fakeslack import FakeSlackServer
from tests.support.ci import body_of, post_build
from tests.support.flow import card_saying
from tests.support.image import Container, build, image_config, portable_kubeconfig, rootfs
from tests.support.kube import only_deployment
from tests.support.service import free_port
from tests.support.shop import CHANNEL, SECRET, service_config
from tests.support.tools import locked_runtime_packages, normalise

ROOT = Path(__file__).resolve().parents[2]
SIZE_CEILING_MB = 350  # uncompressed root filesystem; measured 2026-12: about 300 (see docs)
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture(scope="module")
def image() -> str:
    return build()


@pytest.fixture(scope="module")
def root(image: str) -> Iterator[Path]:
    with rootfs(image) as path:
        yield path


@pytest.fixture
def container(image: str, root: Path, tmp_path: Path) -> Container:
    return Container(image, root, tmp_path / "bundles")


def test_the_image_runs_cibot_serve_as_an_unprivileged_user_with_its_version_labels(
    image: str, container: Container
) -> None:
    config = image_config(image)
    labels = config["Labels"]

    assert config["Cmd"] == ["cibot", "serve"]
    assert not config.get("Entrypoint")
    assert config["User"] == "10001:10001"
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.source"]
    assert labels["org.opencontainers.image.revision"]
    done = container.run("cibot", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"cibot {VERSION}"


def test_the_image_cannot_write_outside_its_volumes(container: Container, tmp_path: Path) -> None:
    """The control for the tests below: the root really is read-only where they run."""
    volume = tmp_path / "state"
    volume.mkdir(mode=0o777)
    volume.chmod(0o777)
    container.bind("/var/lib/cibot", volume, writable=True)

    done = container.run("sh", "-c", "touch /app/x; touch /var/lib/cibot/y && touch /tmp/z")

    assert "Read-only file system" in done.stderr
    assert done.returncode == 0, done.stderr
    assert (volume / "y").exists()


def test_the_image_holds_exactly_the_locked_runtime_dependencies(root: Path) -> None:
    site = next((root / "app" / "lib").glob("python3.*/site-packages"))
    installed = {
        normalise(d.stem.rsplit("-", 1)[0]) for d in site.iterdir() if d.suffix == ".dist-info"
    }

    assert installed == locked_runtime_packages() | {"cibot"}
    assert not (root / "app" / "bin" / "pip").exists()
    assert not any((root / "usr" / "bin").glob("gcc*")), "no compiler in the runtime stage"
    assert not (root / "opt" / "uv").exists(), "uv stays in the build stage"


def test_the_image_stays_under_its_size_ceiling(root: Path) -> None:
    total = sum(f.lstat().st_size for f in root.rglob("*") if f.is_file() and not f.is_symlink())
    megabytes = total / 1_000_000
    print(f"image root filesystem: {megabytes:.0f} MB")  # the figure for the note
    assert megabytes < SIZE_CEILING_MB


@dataclass
class Mounted:
    """The container with a config, a kubeconfig and a state volume mounted where the chart
    mounts them; `settings` is the config as written."""

    container: Container
    settings: dict[str, Any]
    volume: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings['server']['port']}"


@pytest.fixture
def mount(
    container: Container,
    tmp_path: Path,
    kubeconfig_path: Path,
    fake_slack: FakeSlackServer,
    namespace: str,
) -> Callable[[str], Mounted]:
    def mounted(database_url: str) -> Mounted:
        volume = tmp_path / "state"
        volume.mkdir(mode=0o777, exist_ok=True)
        volume.chmod(0o777)
        kubeconfig = tmp_path / "kubeconfig.yaml"
        kubeconfig.write_text(portable_kubeconfig(kubeconfig_path))
        kubeconfig.chmod(0o644)
        url = database_url
        if url.startswith("sqlite"):
            url = "sqlite:////var/lib/cibot/cibot.db"  # on the volume
        config = service_config(url, Path("/etc/cibot/kubeconfig"), fake_slack.api_url, namespace)
        config["server"] = {"host": "127.0.0.1", "port": free_port()}
        path = tmp_path / "cibot.yaml"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o644)
        container.bind("/etc/cibot/cibot.yaml", path)
        container.bind("/etc/cibot/kubeconfig", kubeconfig)
        container.bind("/var/lib/cibot", volume, writable=True)
        return Mounted(container, config, volume)

    return mounted


@pytest.mark.kubernetes
def test_the_image_checks_a_config_against_the_real_cluster_and_slack(
    mount: Callable[[str], Mounted], sqlite_url: str
) -> None:
    done = mount(sqlite_url).container.run("cibot", "check")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "all needed permissions" in done.stdout
    assert "all well" in done.stdout


@pytest.mark.kubernetes
async def test_the_image_serves_a_signed_build_to_a_ready_preview_on_a_read_only_root(
    mount: Callable[[str], Mounted],
    database_url: str,
    fake_slack: FakeSlackServer,
    kube: AsyncClient,
    namespace: str,
) -> None:
    mounted = mount(database_url)
    container = mounted.container
    migrated = container.run("cibot", "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    log = mounted.volume.parent / "serve.log"

    container.start(log=log)  # the image's own command: cibot serve
    try:
        container.wait_until_healthy(mounted.url, log)
        body = body_of(project="shop", image="registry.example.test/shop/web:7", type="branch",
                       target="image-test")  # fmt: skip
        accepted = post_build(mounted.url, SECRET, body)
        assert accepted.status_code == 202, accepted.text
        await card_saying(fake_slack, CHANNEL, accepted.json()["build_id"], "is ready")
        deployment = await only_deployment(kube, namespace)
        assert deployment.metadata is not None and deployment.metadata.labels
        assert deployment.metadata.labels["app.kubernetes.io/managed-by"] == "cibot"
    finally:
        code = container.stop()
    assert code == 0, log.read_text()
    if database_url.startswith("sqlite"):
        assert (mounted.volume / "cibot.db").exists(), "state went to the volume"
