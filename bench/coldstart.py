"""Benchmark: how long `cibot serve` takes to answer, what it holds idle, and how fast the
small commands are.

    uv run python -m bench.coldstart [--runs 7] [--against REV]

Each run starts the real `cibot serve` (SQLite, migrated beforehand; a fake Slack; the local
Kubernetes control plane; the default jobs settings) and times it from the spawn to its first
200 on /healthz (polled every 5 ms), and the CPU time it used until then (user +
system: on a busy machine the steadier figure), then reads its resident memory (VmRSS)
after --idle seconds, and stops it with SIGTERM. It also times `cibot --version` and
`cibot notify --help`, and prints what `cibot serve` imports: the 15 imports with the longest
cumulative time, and the self time summed per package, from Python's `-X importtime`.

With --against REV the same is measured, in the same run and interleaved, on the source of
that commit (`git archive`, run with this environment's packages through PYTHONPATH), and
the ratio this tree / REV is printed.

Bytecode: the image compiles it at build time (UV_COMPILE_BYTECODE), so the runs here use a
bytecode cache too (PYTHONPYCACHEPREFIX in a temporary directory, filled by a first run that
is not counted); without it every start compiles every module and takes seconds.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import yaml
from tests.support.service import CIBOT, free_port

from bench.harness import config, fake_slack
from cibot.fakeslack import FakeSlackServer

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Variant:
    """One source tree of ci-bot, run with this environment's installed packages."""

    name: str
    env: dict[str, str]
    workdir: Path
    starts: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    version: list[float] = field(default_factory=list)
    notify_help: list[float] = field(default_factory=list)
    config_path: Path | None = None


def base_env(pycache: Path, src: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env.pop("PYTHONPATH", None)
    if src is not None:  # ahead of the editable install's path: that tree's `cibot` package
        env["PYTHONPATH"] = str(src)
    return env


def source_of(rev: str, into: Path) -> Path:
    """The `src/` of commit `rev`, unpacked under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "src"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def run(variant: Variant, *args: str, stderr: int | None = subprocess.DEVNULL) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [CIBOT, *args], env=variant.env, stdout=subprocess.DEVNULL, stderr=stderr, check=False
    )
    took = time.perf_counter() - started
    assert done.returncode == 0, f"cibot {' '.join(args)} exited {done.returncode}"
    return took


def prepare(variant: Variant, slack: FakeSlackServer) -> None:
    """A migrated SQLite database of the variant's own schema, and a config for it."""
    cfg = config(f"sqlite:///{variant.workdir / 'cibot.db'}", slack, "bench-coldstart")
    cfg["server"] = {"host": "127.0.0.1", "port": free_port()}
    variant.config_path = variant.workdir / "cibot.yaml"
    variant.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    run(variant, "db", "upgrade", "--config", str(variant.config_path))


def healthz(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (less noisy than wall time on a busy
    machine: time spent waiting for a core does not count)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_once(
    variant: Variant, idle: float, extra_env: dict[str, str] | None = None, count: bool = True
) -> str:
    """One cold start: record (when `count`) its time to /healthz and RSS idle; its log."""
    assert variant.config_path is not None
    port = free_port()
    cfg = yaml.safe_load(variant.config_path.read_text())
    cfg["server"]["port"] = port
    variant.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    log_path = variant.workdir / "serve.log"
    with log_path.open("wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [CIBOT, "serve", "--config", str(variant.config_path)],
            env={**variant.env, **(extra_env or {})},
            stdout=log,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 60
            while not healthz(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"cibot serve did not answer:\n{log_path.read_text()}")
                time.sleep(0.005)
            took = time.perf_counter() - started
            cpu = cpu_seconds(proc.pid)
            time.sleep(idle)
            rss = rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    if count:
        variant.starts.append(took)
        variant.cpu.append(cpu)
        variant.rss.append(rss)
    return log_path.read_text(errors="replace")


IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def print_imports(name: str, log: str) -> None:
    rows = [
        (int(m[1]), int(m[2]), len(m[3]) // 2, m[4]) for m in IMPORT_LINE.finditer(log)
    ]  # (self us, cumulative us, depth, module)
    total = sum(r[0] for r in rows)
    print(f"\n[{name}] `cibot serve` imports {len(rows)} modules, {total / 1e3:.0f} ms self time")
    print("  the 15 longest by cumulative time (ms, depth, module):")
    for self_us, cumulative, depth, module in sorted(rows, key=lambda r: -r[1])[:15]:
        print(f"    {cumulative / 1e3:7.1f} {self_us / 1e3:6.1f} self  {depth:2d}  {module}")
    per_package: Counter[str] = Counter()
    for self_us, _, _, module in rows:
        parts = module.split(".")
        per_package[".".join(parts[:2]) if parts[0] == "cibot" else parts[0]] += self_us
    print("  self time per package, the 15 largest (ms):")
    print("    " + ", ".join(f"{p} {us / 1e3:.0f}" for p, us in per_package.most_common(15)))


def print_cli_imports(variant: Variant) -> None:
    """`python -X importtime -c "import cibot.entrypoints.cli"`: top 15 by cumulative."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import cibot.entrypoints.cli"],
        env=variant.env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [(int(m[2]), m[4]) for m in IMPORT_LINE.finditer(done.stderr)]
    print(
        f"\n[{variant.name}] import cibot.entrypoints.cli: {max(r[0] for r in rows) / 1e3:.0f} ms"
    )
    print("    " + ", ".join(f"{m} {us / 1e3:.0f}" for us, m in sorted(rows)[::-1][:15]))


def p50(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="cold starts per tree")
    parser.add_argument("--against", metavar="REV", help="also measure this commit's source")
    parser.add_argument("--idle", type=float, default=2.0, help="seconds before reading RSS")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cibot-coldstart-") as tmp_name, fake_slack() as slack:
        tmp = Path(tmp_name)
        variants = [Variant("this tree", base_env(tmp / "pyc", None), tmp / "this")]
        if args.against:
            src = source_of(args.against, tmp / "against")
            variants.append(Variant(args.against, base_env(tmp / "pyc", src), tmp / "against"))
        for variant in variants:
            variant.workdir.mkdir(exist_ok=True)
            prepare(variant, slack)
            # A first run of each command fills the bytecode cache: not counted.
            serve_once(variant, 0, count=False)
            run(variant, "--version")
            run(variant, "notify", "--help")
            log = serve_once(variant, 0, {"PYTHONPROFILEIMPORTTIME": "1"}, count=False)
            print_imports(variant.name, log)
            print_cli_imports(variant)
        for _ in range(args.runs):
            for variant in variants:
                serve_once(variant, args.idle)
                variant.version.append(run(variant, "--version"))
                variant.notify_help.append(run(variant, "notify", "--help"))

    print(f"\n{args.runs} runs each, interleaved; RSS read {args.idle:.0f} s after the first 200")
    figures: dict[str, Callable[[Variant], float]] = {
        "cold start to /healthz p50 (s)": lambda v: p50(v.starts),
        "cold start to /healthz min (s)": lambda v: min(v.starts),
        "CPU to /healthz p50 (s)": lambda v: p50(v.cpu),
        "RSS idle p50 (MB)": lambda v: p50(v.rss),
        "cibot --version p50 (s)": lambda v: p50(v.version),
        "cibot notify --help p50 (s)": lambda v: p50(v.notify_help),
    }
    head = f"{'':34}" + "".join(f"{v.name:>14}" for v in variants)
    print(head + ("      ratio" if len(variants) == 2 else ""))
    for label, of in figures.items():
        values = [of(v) for v in variants]
        line = f"{label:34}" + "".join(f"{x:14.3f}" for x in values)
        if len(values) == 2:
            line += f"   {values[0] / values[1]:7.2f}x"
        print(line)


if __name__ == "__main__":
    main()
