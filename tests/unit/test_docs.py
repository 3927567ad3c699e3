"""The README and docs/ stand alone and stay true: their links lead to files of this
repository, and the threat model names, for every row, a test that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
THREAT_MODEL = ROOT / "docs" / "threat-model.md"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file_of_the_repository(doc: Path) -> None:
    text = doc.read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    relative = [link for link in links if "://" not in link and not link.startswith("mailto:")]

    assert "../shared" not in text, "the project's docs never point outside the repository"
    missing = [link for link in relative if not (doc.parent / link).resolve().exists()]
    assert not missing, f"{doc.name} links to files that do not exist: {missing}"
    for link in relative:
        assert (doc.parent / link).resolve().is_relative_to(ROOT), link


def proof_paths() -> tuple[list[str], list[str]]:
    """(paths the threat model gives as proof, globs of tests it says are being added)."""
    rows = [line for line in THREAT_MODEL.read_text().splitlines() if line.startswith("| ")]
    paths: list[str] = []
    pending: list[str] = []
    for row in rows:
        found = re.findall(r"`(tests/[^`:]+\.py)(?:::[^`]*)?`", row)
        (pending if "being added" in row else paths).extend(found)
    return paths, pending


def test_every_proof_the_threat_model_names_exists() -> None:
    paths, _ = proof_paths()

    assert len(paths) >= 40
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"the threat model names tests that do not exist: {missing}"


def test_every_trust_test_file_has_its_row_in_the_threat_model() -> None:
    paths, pending = proof_paths()
    listed = {ROOT / p for p in paths}
    for pattern in pending:
        listed |= set(ROOT.glob(pattern))

    unlisted = [
        p.relative_to(ROOT).as_posix()
        for p in sorted((ROOT / "tests" / "trust").glob("test_*.py"))
        if p not in listed
    ]
    assert not unlisted, f"trust tests without a row in docs/threat-model.md: {unlisted}"
