"""Each test's database migrated as `cibot db upgrade` migrates it, without a process per test.

The tests start `cibot serve` nearly two hundred times and migrated each one's empty database
first with `cibot db upgrade`: a process that imports SQLAlchemy and Alembic and runs every
migration, over a second of CPU each — some two minutes of CPU of the test command on two
cores. Within one pytest process the code does not change, so the real `cibot db upgrade` runs
once on SQLite and once per PostgreSQL server (F14 runs one of its own) on a template database
of this process, and each test's empty database becomes a copy of that template: a file copy
on SQLite, `CREATE DATABASE … TEMPLATE` on PostgreSQL (the server copies the files: the
schema, Alembic's revision row and all).

Only an *empty* database is copied over; one that holds anything is migrated by the real
command. The tests of migrating itself (tests/e2e/test_cli.py, test_wheel.py, test_image.py,
test_previous_release.py's newer-schema refusal, tests/integration/test_schema_compatibility.py)
run `cibot db upgrade` themselves.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

Upgrade = Callable[[str], None]  # runs the real `cibot db upgrade` on a database URL


def migrate(url: str, upgrade: Upgrade) -> None:
    """Leave the database at `url` migrated to this tree's head, copying a template if it is
    empty, else running `upgrade` on it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _sqlite(parsed, url, upgrade)
    elif parsed.get_backend_name() == "postgresql":
        _postgresql(parsed, url, upgrade)
    else:
        upgrade(url)


_sqlite_template: list[Path] = []  # at most one: the file that `cibot db upgrade` migrated
_postgres_templates: dict[str, str] = {}  # per server (F14 runs one of its own): a database


def _sqlite(parsed: URL, url: str, upgrade: Upgrade) -> None:
    target = Path(parsed.database or "")
    if not parsed.database or target.exists():  # in memory, or something to bring forward
        upgrade(url)
        return
    if not _sqlite_template:
        folder = Path(tempfile.mkdtemp(prefix="cibot-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = folder / "cibot.db"
        upgrade(parsed.set(database=str(template)).render_as_string(hide_password=False))
        if Path(f"{template}-wal").exists():  # not closed cleanly: a copy could miss rows
            raise RuntimeError(f"cibot db upgrade left a write-ahead log beside {template}")
        _sqlite_template.append(template)
    shutil.copyfile(_sqlite_template[0], target)


def _postgresql(parsed: URL, url: str, upgrade: Upgrade) -> None:
    if not _empty(parsed):
        upgrade(url)
        return
    server = parsed.set(database="").render_as_string(hide_password=False)
    template = _postgres_templates.get(server)
    if template is None:
        template = f"template_{uuid.uuid4().hex[:12]}"
        _admin(parsed, f'CREATE DATABASE "{template}"')
        atexit.register(_drop, parsed, template)
        upgrade(parsed.set(database=template).render_as_string(hide_password=False))
        _postgres_templates[server] = template
    _admin(  # nobody uses an empty, fresh database: FORCE only ends the emptiness check's
        parsed,
        f'DROP DATABASE "{parsed.database}" WITH (FORCE)',
        f'CREATE DATABASE "{parsed.database}" TEMPLATE "{template}"',
    )


def _admin(parsed: URL, *statements: str) -> None:
    """Run `statements` outside a transaction, from the server's `postgres` database."""
    engine = sa.create_engine(
        parsed.set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def _empty(parsed: URL) -> bool:
    """True when the database has no table at all (a fresh one from the tests' fixtures)."""
    engine = sa.create_engine(parsed.set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            tables: int = conn.execute(
                sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar_one()
        return tables == 0
    finally:
        engine.dispose()


def _drop(parsed: URL, name: str) -> None:
    with contextlib.suppress(sa.exc.OperationalError):  # a server already down: nothing to drop
        _admin(parsed, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
