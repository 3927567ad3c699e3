"""Schema migrations: `cibot db upgrade`, and the check `serve` makes before it starts.

Alembic is configured in code (no alembic.ini to ship); the scripts live in `migrations/`.

Kubernetes runs old and new versions on one database: during a rolling update the old pods
serve on the schema the new version just migrated, and `helm rollback` (or a node drain that
restarts an old pod) starts the old version on it too. So migrations are additive (expand
now, contract in a later release), and each says, in its module, the oldest revision whose
code may still serve on the schema it leaves (`serves_from`). An upgrade records, in the
same transaction, the newest such floor along the chain (table `schema_compat`): an older
version, which cannot know the newer scripts, reads it there. This version then

- serves on its own schema, and on a newer one whose record names a revision it knows;
- refuses a newer schema whose record does not (a contracting change), saying so;
- refuses an older or empty schema, saying to run `cibot db upgrade`.

Alembic is imported only when it has work to do. Each start of `cibot serve` asks whether
the database is at this version's head: that is one read of the stamped revision and of the
scripts' `revision`/`down_revision` lines (`script_head`), where loading Alembic and its
script directory would cost a tenth of a second of every start. Any other answer (an older,
empty or newer schema, or scripts that are not one plain chain) goes to Alembic as before.
"""

from __future__ import annotations

import ast
import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cibot.adapters.store.database import Database
from cibot.adapters.store.tables import schema_compat

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")
PG_UPGRADE_LOCK = 0x63_69_62_6F_74  # "cibot": one upgrade at a time (several pods' init steps)
VERSION_TABLE = "alembic_version"  # where Alembic stamps the revision (its default name)
# `revision = "0011_scale"`, `down_revision: str | None = None`: a script's place in the chain.
_LINK = re.compile(r"^(revision|down_revision)\b(?:\s*:[^=\n]*)?\s*=\s*(.+?)\s*$", re.MULTILINE)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _scripts(config: Config | None = None) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config or alembic_config("sqlite://"))


def head_revision() -> str | None:
    return _scripts().get_current_head()


def script_head(versions: Path = MIGRATIONS / "versions") -> str | None:
    """The head revision, read from the scripts' text without Alembic: the one revision no
    script names as its `down_revision`. None when a script's links are not plain strings
    or the chain has no single head (merges, branches): Alembic is the judge of those."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        links = dict(_LINK.findall(path.read_text(encoding="utf-8")))
        try:
            revision = ast.literal_eval(links["revision"])
            down = ast.literal_eval(links["down_revision"])
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            return None
        revisions.add(revision)
        if down is not None:
            parents.add(down)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stamped(connection: Connection) -> list[str]:
    """The revisions stamped in the database (none: no ci-bot schema)."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return []
    version = sa.table(VERSION_TABLE, sa.column("version_num"))
    return [str(row.version_num) for row in connection.execute(sa.select(version.c.version_num))]


def revisions_oldest_first(scripts: ScriptDirectory | None = None) -> list[str]:
    scripts = scripts or _scripts()
    return [s.revision for s in reversed(list(scripts.walk_revisions()))]


def declared(revision: str, scripts: ScriptDirectory | None = None) -> str | None:
    """The `serves_from` a migration declares, or None when it says nothing."""
    script = (scripts or _scripts()).get_revision(revision)
    value = getattr(script.module, "serves_from", None) if script else None
    return str(value) if value is not None else None


def serves_from(scripts: ScriptDirectory, revision: str) -> str:
    """The oldest revision whose code may serve on the schema at `revision`.

    The newest floor declared along the chain up to `revision`; a migration that declares
    none admits only its own code.
    """
    chain = revisions_oldest_first(scripts)
    chain = chain[: chain.index(revision) + 1]
    floor = 0
    for position, rev in enumerate(chain):
        named = declared(rev, scripts) or rev
        if named not in chain[: position + 1]:
            raise ValueError(f"migration {rev}: serves_from {named!r} is not an earlier revision")
        floor = max(floor, chain.index(named))
    return chain[floor]


def record(connection: Connection, config: Config) -> None:
    """Write which code may serve on the schema just migrated (env.py, same transaction)."""
    from alembic.runtime.migration import MigrationContext

    if not sa.inspect(connection).has_table(schema_compat.name):
        return  # a schema from before 0006_ship
    current = MigrationContext.configure(connection).get_current_revision()
    connection.execute(schema_compat.delete())
    if current is not None:
        floor = serves_from(_scripts(config), current)
        connection.execute(schema_compat.insert().values(revision=current, serves_from=floor))


def lock_for_upgrade(connection: Connection) -> None:
    """On PostgreSQL, one upgrade at a time: a second waits, then finds nothing to do."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(PG_UPGRADE_LOCK)))


class NotMigrated(Exception):
    """The schema is missing, older than this version, or newer and not compatible with it."""


@dataclass(frozen=True, slots=True)
class Compatibility:
    """How the database's schema stands to this version's, when this version may serve on it."""

    current: str
    head: str
    newer: bool = False
    serves_from: str | None = None

    def describe(self) -> str:
        if not self.newer:
            return f"at revision {self.current}"
        return (
            f"at revision {self.current}, newer than this ci-bot's {self.head}; its migrations "
            f"let ci-bot from revision {self.serves_from} on serve on it"
        )


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _recorded(connection: Connection) -> tuple[str, str] | None:
    if not sa.inspect(connection).has_table(schema_compat.name):
        return None
    row = connection.execute(sa.select(schema_compat.c.revision, schema_compat.c.serves_from))
    found = row.first()
    return (found.revision, found.serves_from) if found else None


async def current_revision(database: Database) -> str | None:
    async with database.begin() as conn:
        return await conn.run_sync(_current)


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    from alembic.util.exc import CommandError

    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


async def ensure_migrated(database: Database) -> Compatibility:
    """May this version serve on the database? Raises NotMigrated, saying why, when not."""
    head = script_head()
    async with database.begin() as conn:
        stamped = await conn.run_sync(_stamped)
    if head is not None and stamped == [head]:  # at this version's head: Alembic not needed
        return Compatibility(head, head)
    async with database.begin() as conn:
        current = await conn.run_sync(_current)
        recorded = await conn.run_sync(_recorded)
    scripts, head = _scripts(), head_revision() or ""
    if current == head:
        return Compatibility(current, head)
    if current is None or _known(scripts, current):
        state = "has no ci-bot schema" if current is None else f"is at revision {current}"
        raise NotMigrated(
            f"the database {state}, this ci-bot needs {head}: run `cibot db upgrade` first"
        )
    newer = f"the database is at revision {current}, written by a newer ci-bot"
    if recorded is None or recorded[0] != current:
        raise NotMigrated(
            f"{newer} that recorded no compatible versions; this one is at {head}: "
            "run that newer version"
        )
    floor = recorded[1]
    if not _known(scripts, floor):
        raise NotMigrated(
            f"{newer}; its migrations let only ci-bot from revision {floor} on serve on it, "
            f"and this one is at {head}: run that newer version (or restore the database "
            "from the backup taken before the upgrade)"
        )
    return Compatibility(current, head, newer=True, serves_from=floor)


async def _newer_schema(url: str) -> Compatibility | None:
    """The compatibility of a newer schema; None when an upgrade has work to do."""
    database = Database(url)
    try:
        return await ensure_migrated(database)
    except NotMigrated:
        async with database.begin() as conn:
            current = await conn.run_sync(_current)
        if current is None or _known(_scripts(), current):
            return None
        raise
    finally:
        await database.dispose()


def upgrade(url: str, revision: str = "head") -> str:
    """Bring the schema to `revision`; says what it did. Blocking: call it from a thread.

    A schema newer than this version's is left alone when this version may serve on it
    (an old pod's init step after a rollback), and refused (NotMigrated) when not.
    """
    if revision == "head":
        standing = asyncio.run(_newer_schema(url))
        if standing is not None and standing.newer:
            return f"the database is {standing.describe()}: nothing to do"
    from alembic import command

    command.upgrade(alembic_config(url), revision)
    return f"the database is at revision {revision if revision != 'head' else head_revision()}"


async def upgrade_async(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
