"""Named points where a test can make ci-bot die as if the machine had lost power.

Crash tests prove that nothing is lost and nothing is done twice when the process dies at
the worst moments of the flow. `cibot serve` arms at most one point, read once at start from
`CIBOT_CRASH_AT` (see `arm`); `crashpoint(name)` then calls `os._exit(137)` when that point
is reached — no cleanup, no flush, no graceful stop, like `kill -9`. Unarmed (always, in
production), `crashpoint` is a comparison with None and nothing else.

The points, in the order of the flow:
- `after_accept`: a build is committed, its 202 not yet sent (web/build_complete.py);
- `mid_apply`: the first manifest of an environment is applied, the others not (cluster.py);
- `after_rollout`: a preview's outcome is committed, its card not yet updated (preview.py);
- `after_click`: a click is committed with its jobs, not yet acknowledged (web/slack.py).
"""

from __future__ import annotations

import os

POINTS = frozenset({"after_accept", "mid_apply", "after_rollout", "after_click"})
EXIT_CODE = 137  # what a shell reports for a process killed by SIGKILL

_armed: str | None = None


def arm(point: str | None) -> None:
    """Arm `point` (None or "" disarms); an unknown name is refused, never silently ignored."""
    global _armed  # noqa: PLW0603 - one process-wide switch, set once by the entrypoint
    if point and point not in POINTS:
        raise ValueError(f"unknown crash point {point!r}; known: {', '.join(sorted(POINTS))}")
    _armed = point or None


def crashpoint(name: str) -> None:
    """Die here, at once, if `name` is the armed point."""
    if _armed is not None and name == _armed:
        os._exit(EXIT_CODE)
