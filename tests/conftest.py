"""Fixtures shared by every test layer: the real database backends and the real cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support import testbed

# The test command draws the same Hypothesis examples on every run, so a red CI run is red
# again on a re-run and a green one does not turn red by luck. `HYPOTHESIS_PROFILE=explore`
# draws fresh examples (and remembers failures in .hypothesis/) to find what those miss.
settings.register_profile("repeatable", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    return testbed.postgres_url()


@pytest.fixture(scope="session")
def kubeconfig_path() -> Path:
    return testbed.kubeconfig()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'cibot.db'}"


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with testbed.fresh_postgres_database(postgres_server_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this fixture runs once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url
