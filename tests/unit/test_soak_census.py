"""The soak's census (tests/support/soak.py): budgets refused when malformed, one table."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import soak


def test_a_budget_defaults_to_ci_and_refuses_what_is_not_a_positive_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CIBOT_SOAK_RUNS", raising=False)
    assert soak.runs() == 1
    monkeypatch.setenv("CIBOT_SOAK_RUNS", "25")
    assert soak.runs() == 25
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv("CIBOT_SOAK_RUNS", bad)
        with pytest.raises(ValueError, match="CIBOT_SOAK_RUNS"):
            soak.runs()


def test_the_census_counts_lost_and_doubled_and_the_table_sums_per_suite_and_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(soak.REPORT_DIR, raising=False)
    assert soak.Census("s", "sqlite").write("t", passed=True) is None, "unset: nothing written"
    monkeypatch.setenv(soak.REPORT_DIR, str(tmp_path))
    first, second = soak.Census("crash", "sqlite"), soak.Census("crash", "sqlite")
    first.case()
    first.answered(503)
    first.answered(202)
    first.effect(0)
    second.case()
    second.effect(3)
    first.write("t[1]", passed=False)
    second.write("t[2]", passed=True)

    table = soak.table(tmp_path).splitlines()

    assert len(table) == 3
    cells = [c.strip() for c in table[2].strip("|").split("|")]
    assert cells == ["crash", "sqlite", "2", "1", "1", "2", "1 passed / 1 failed"]
