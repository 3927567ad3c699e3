"""ci-bot's image, built from the real Dockerfile and run as Kubernetes would run it.

`scripts/localimage build` builds (or reuses) the image with buildah. `Container` runs it
with runc, from an OCI runtime spec made from the image's own config (its user, working
directory, environment and command): the root filesystem read-only, a tmpfs on /tmp (the
chart mounts an emptyDir there), no capabilities, no new privileges, and the host's network
(loopback), so the process inside reaches the local control plane and the fake Slack as a
pod reaches its cluster. Anything the image tries to write outside its volumes fails.
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
LOCALIMAGE = ROOT / "scripts" / "localimage"


def build() -> str:
    """The image's name, built when the sources changed (minutes), else at once."""
    done = subprocess.run(
        [str(LOCALIMAGE), "build"], capture_output=True, text=True, timeout=1800, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout.strip().splitlines()[-1]


def buildah(*args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(LOCALIMAGE), "buildah", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"buildah {' '.join(args)}: {done.stderr}"
    return done.stdout


def image_config(image: str) -> dict[str, Any]:
    """The image's OCI config: labels, user, environment, command."""
    inspected = json.loads(buildah("inspect", "--type", "image", image))
    config: dict[str, Any] = inspected["OCIv1"]["config"]
    return config


@contextlib.contextmanager
def rootfs(image: str) -> Iterator[Path]:
    """The image's files, mounted read-write on the host (for reading; for runc's root)."""
    container = buildah("from", "--pull=never", image).strip()
    try:
        yield Path(buildah("mount", container).strip())
    finally:
        buildah("umount", container)
        buildah("rm", container)


def portable_kubeconfig(path: Path) -> str:
    """The kubeconfig with its certificate files inlined, so it works inside a container."""
    config = yaml.safe_load(path.read_text())
    for entry, key in [(c["cluster"], "certificate-authority") for c in config["clusters"]] + [
        (u["user"], k) for u in config["users"] for k in ("client-certificate", "client-key")
    ]:
        if key in entry:
            entry[f"{key}-data"] = base64.b64encode(Path(entry.pop(key)).read_bytes()).decode()
    return yaml.safe_dump(config)


_CAPABILITY_SETS = ("bounding", "effective", "permitted", "ambient")  # all empty: none at all
_TMPFS = ["nosuid", "nodev", "mode=1777", "size=65536k"]
_SYSTEM_MOUNTS: list[dict[str, Any]] = [  # what runc's default spec mounts, and /tmp
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
    {
        "destination": "/dev/pts",
        "type": "devpts",
        "source": "devpts",
        "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
    },
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": _TMPFS},  # noqa: S108
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": _TMPFS},  # noqa: S108
]


def _bind(destination: str, source: Path, writable: bool) -> dict[str, Any]:
    options = ["rbind", "rw" if writable else "ro"]
    return {"destination": destination, "type": "bind", "source": str(source), "options": options}


@dataclass
class Container:
    """One run of the image under runc: `run` waits for it, `start` leaves it running."""

    image: str
    root: Path  # the mounted image (rootfs())
    workdir: Path  # where the bundle (the runtime spec) is written
    binds: dict[str, tuple[Path, bool]] = field(default_factory=dict)  # dest → (source, writable)
    env: dict[str, str] = field(default_factory=dict)
    name: str = field(default_factory=lambda: f"cibot-test-{uuid.uuid4().hex[:10]}")
    proc: subprocess.Popen[bytes] | None = None

    def bind(self, destination: str, source: Path, *, writable: bool = False) -> Container:
        self.binds[destination] = (source, writable)
        return self

    def _spec(self, args: Sequence[str]) -> dict[str, Any]:
        config = image_config(self.image)
        uid, _, gid = (config.get("User") or "0:0").partition(":")
        env = [*config.get("Env", []), *(f"{k}={v}" for k, v in self.env.items())]
        mounts = [*_SYSTEM_MOUNTS, *(_bind(d, src, rw) for d, (src, rw) in self.binds.items())]
        none: list[str] = []
        return {
            "ociVersion": "1.0.2",
            "process": {
                "terminal": False,
                "user": {"uid": int(uid or 0), "gid": int(gid or uid or 0)},
                "args": list(args or config.get("Cmd") or []),
                "env": env,
                "cwd": config.get("WorkingDir") or "/",
                "capabilities": dict.fromkeys(
                    ("bounding", "effective", "permitted", "ambient"), none
                ),
                "noNewPrivileges": True,
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 4096}],
            },
            "root": {"path": str(self.root), "readonly": True},
            "hostname": "cibot",
            "mounts": mounts,
            "linux": {  # no network namespace: the host's loopback, as a pod's cluster network
                "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")],
                "resources": {"devices": [{"allow": False, "access": "rwm"}]},
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"],
            },
        }

    def _bundle(self, args: Sequence[str]) -> Path:
        bundle = self.workdir / self.name
        bundle.mkdir(parents=True, exist_ok=True)
        (bundle / "config.json").write_text(json.dumps(self._spec(args)))
        return bundle

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `args` (default: the image's command) to the end."""
        bundle = self._bundle(args)
        try:
            return subprocess.run(
                ["runc", "run", "--bundle", str(bundle), self.name],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        finally:
            subprocess.run(
                ["runc", "delete", "--force", self.name], capture_output=True, check=False
            )

    def start(self, *args: str, log: Path) -> Container:
        bundle = self._bundle(args)
        out = log.open("ab")
        self.proc = subprocess.Popen(
            ["runc", "run", "--bundle", str(bundle), self.name],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )
        return self

    def wait_until_healthy(self, url: str, log: Path, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the container exited {self.proc.returncode}:\n{log.read_text()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"no answer from {url} within {timeout} s:\n{log.read_text()}")

    def stop(self) -> int | None:
        """SIGTERM, as the kubelet sends; the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        subprocess.run(["runc", "kill", self.name, "TERM"], capture_output=True, check=False)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            subprocess.run(["runc", "kill", self.name, "KILL"], capture_output=True, check=False)
            self.proc.wait(timeout=10)
            return None
        finally:
            subprocess.run(
                ["runc", "delete", "--force", self.name], capture_output=True, check=False
            )
