"""The real parts the tests run against: PostgreSQL and the local Kubernetes control plane.

`scripts/test` starts both and passes their addresses in the environment; when a developer
runs pytest directly, the same scripts are called here (they reuse a running instance).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]


def _script_output(script: str, *args: str) -> str:
    result = subprocess.run(
        [str(ROOT / "scripts" / script), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    return result.stdout.strip().splitlines()[-1]


def postgres_url() -> str:
    """URL of a PostgreSQL server whose `cibot` role may create databases."""
    return os.environ.get("CIBOT_TEST_POSTGRES_URL") or _script_output("localpg", "up")


def kubeconfig() -> Path:
    """Path of an admin kubeconfig for the local control plane."""
    path = os.environ.get("CIBOT_TEST_KUBECONFIG") or _script_output("localk8s", "up")
    return Path(path)


@contextlib.contextmanager
def fresh_postgres_database(server_url: str, prefix: str = "test") -> Iterator[str]:
    """A new, empty database on the PostgreSQL server (its asyncpg URL), dropped afterwards."""
    server = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        database = server.set(drivername="postgresql+asyncpg", database=name)
        yield database.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
