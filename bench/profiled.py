"""`cibot serve` under cProfile, for the benchmarks' `--profile` modes.

The server runs through a small wrapper script that starts cProfile before `cibot`'s own
`main` and writes the profile when it gets SIGUSR1; so the profile covers the real server,
started the way the benchmark starts it, and ends before the shutdown (which is not timed).
"""

from __future__ import annotations

import asyncio
import pstats
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.service import CibotProcess

_WRAPPER = """#!{python}
import cProfile, signal, sys
from cibot.entrypoints.cli import main
profile = cProfile.Profile()
def dump(*_):
    profile.disable()
    profile.dump_stats({out!r})
signal.signal(signal.SIGUSR1, dump)
profile.enable()
sys.exit(main())
"""

Function = tuple[str, int, str]  # pstats' key: (file, line, name)


@dataclass(frozen=True)
class Profiled:
    """The executable to start `cibot serve` with, and where its profile will be."""

    executable: str
    out: Path


def profiled_cibot(workdir: Path) -> Profiled:
    out = workdir / "serve.prof"
    wrapper = workdir / "cibot-profiled"
    wrapper.write_text(_WRAPPER.format(python=sys.executable, out=str(out)))
    wrapper.chmod(0o755)
    return Profiled(str(wrapper), out)


async def collect(process: CibotProcess, profiled: Profiled) -> pstats.Stats:
    """Ask the running server for its profile (SIGUSR1) and read it."""
    assert process.proc is not None
    process.proc.send_signal(signal.SIGUSR1)
    for _ in range(600):
        if profiled.out.exists():
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)  # written in one go, but let it finish
    return pstats.Stats(str(profiled.out))


def entries(stats: pstats.Stats) -> dict[Function, Any]:
    """(calls, primitive calls, own time, cumulative time, callers) of each function."""
    found: dict[Function, Any] = stats.stats  # type: ignore[attr-defined]
    return found


def find(stats: pstats.Stats, file_suffix: str, name: str) -> Function:
    """The one function named `name` in a file whose path ends with `file_suffix`."""
    matches = [f for f in entries(stats) if f[0].endswith(file_suffix) and f[2] == name]
    if len(matches) != 1:
        raise LookupError(f"{file_suffix}:{name} is in the profile {len(matches)} times")
    return matches[0]


def cumulative(stats: pstats.Stats, function: Function) -> float:
    """Seconds spent in `function` and what it called, over the whole profile."""
    return float(entries(stats)[function][3])


def callees(stats: pstats.Stats, caller: Function) -> list[tuple[Function, float]]:
    """What `caller` called, each with the seconds spent in it on those calls, most first."""
    spent = []
    for function, (_, _, _, _, callers) in entries(stats).items():
        if caller in callers:
            spent.append((function, float(callers[caller][3])))
    return sorted(spent, key=lambda item: -item[1])


def where(function: Function) -> str:
    """`cibot/service/review.py:85 click`: the path from the package on."""
    file, line, name = function
    short = file.split("site-packages/")[-1].split("src/")[-1].split("lib/python3")[-1]
    return f"{short}:{line} {name}"
