"""The soak's budgets and census: the trust tests, run with more volume by `scripts/soak`.

CI runs the crash, fuzz, model and two-replica tests once, with small budgets. `scripts/soak`
runs the same tests with larger ones, read here from the environment (each defaulting to the
budget CI uses, so CI is unchanged):

- `CIBOT_SOAK_RUNS`: how many times each crash test runs (per database);
- `CIBOT_SOAK_FUZZ`: Hypothesis examples per fuzz test (one request per example);
- `CIBOT_SOAK_SEQUENCES`: Hypothesis examples (step sequences) of the stateful model;
- `CIBOT_SOAK_BUILDS`: builds the two-replica test spreads over its replicas.

Each of those tests keeps a `Census` of what it checked: cases run, 5xx answers, lost effects
(an accepted build or click whose card, DM, rollout or row is missing) and doubled effects
(one applied twice). The counts come from the tests' own checks, taken before they assert.
When `CIBOT_SOAK_REPORT_DIR` is set, each test writes its census there as one JSON file, with
whether it passed; `scripts/soak` sums them into one table. Unset, nothing is written.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

REPORT_DIR = "CIBOT_SOAK_REPORT_DIR"


def budget(name: str, default: int) -> int:
    """A positive whole number from the environment, or `default`; anything else is refused."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def runs() -> int:
    return budget("CIBOT_SOAK_RUNS", 1)


@dataclass
class Census:
    """What one test ran and what went wrong, counted where the test checks it."""

    suite: str
    database: str
    cases: int = 0
    server_errors: int = 0
    lost: int = 0
    doubled: int = 0

    def case(self) -> None:
        self.cases += 1

    def answered(self, status: int) -> int:
        """An answer's status, counted when it is a 5xx."""
        if status >= 500:
            self.server_errors += 1
        return status

    def effect(self, seen: int, expected: int = 1) -> int:
        """An effect the test expects `expected` times and found `seen` times."""
        self.lost += max(0, expected - seen)
        self.doubled += max(0, seen - expected)
        return seen

    def write(self, test: str, passed: bool) -> Path | None:
        """The census as a JSON file in `CIBOT_SOAK_REPORT_DIR`, if that is set."""
        folder = os.environ.get(REPORT_DIR)
        if not folder:
            return None
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test)[-120:]
        path = Path(folder) / f"{name}-{uuid.uuid4().hex[:8]}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**asdict(self), "test": test, "passed": passed}))
        return path


def table(*folders: Path) -> str:
    """One line per suite and database, summed over the census files in `folders`."""
    rows: dict[tuple[str, str], list[int]] = {}
    for path in sorted(p for folder in folders for p in folder.glob("*.json")):
        found = json.loads(path.read_text())
        sums = rows.setdefault((found["suite"], found["database"]), [0] * 6)
        keys = ("cases", "server_errors", "lost", "doubled")
        for i, key in enumerate(keys):
            sums[i] += found[key]
        sums[4 if found["passed"] else 5] += 1
    header = ("suite", "database", "cases run", "5xx", "lost", "doubled", "passed/failed")
    lines = [header] + [
        (suite, db, *(str(n) for n in sums[:4]), f"{sums[4]} passed / {sums[5]} failed")
        for (suite, db), sums in sorted(rows.items())
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def fmt(line: tuple[str, ...]) -> str:
        pairs = enumerate(zip(line, widths, strict=True))
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in pairs]
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(lines[0]), rule, *(fmt(line) for line in lines[1:])])


if __name__ == "__main__":
    import sys

    print(table(*(Path(a) for a in sys.argv[1:])))
