"""F10: the database is busy or locked: CI gets 503 with `Retry-After`, never a 2xx without a
committed row; its retry (same `webhook-id`) is then accepted once.

Another connection holds the write lock: SQLite's (`BEGIN IMMEDIATE`), or on PostgreSQL an
exclusive lock on the deliveries table. ci-bot waits a bounded time (SQLite's busy timeout,
PostgreSQL's `lock_timeout`) and answers 503. Without the bound, CI would hang for as long as
the lock is held (PostgreSQL had no `lock_timeout`: fixed); without the translation of the
driver's error, it would get a 500.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.support.ci import body_of, post_build
from tests.support.rows import Rows
from tests.support.service import CibotProcess
from tests.support.shop import SECRET
from tests.support.trust import IMAGE

pytestmark = pytest.mark.kubernetes


@contextmanager
def write_lock_held(url: str) -> Iterator[None]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(parsed.database), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as pg:
        pg.execute("LOCK TABLE webhook_deliveries IN ACCESS EXCLUSIVE MODE")
        yield
        pg.rollback()


async def test_F10_while_another_connection_holds_the_lock_ci_gets_503_and_nothing_is_stored(
    cibot: CibotProcess, cibot_config: dict[str, Any]
) -> None:
    url = cibot_config["database"]["url"]
    rows = Rows(url)
    body = body_of(project="shop", image=IMAGE, type="branch", target="main")

    with write_lock_held(url):
        busy = post_build(cibot.url, SECRET, body, webhook_id="msg_f10")

    assert busy.status_code == 503, busy.text
    assert busy.headers["Retry-After"].isdigit()
    assert rows.counts()["builds"] == 0, "no row, so no 2xx"
    retry = post_build(cibot.url, SECRET, body, webhook_id="msg_f10")
    again = post_build(cibot.url, SECRET, body, webhook_id="msg_f10")
    assert retry.status_code == again.status_code == 202
    assert retry.json() == again.json()
    assert rows.counts()["builds"] == 1
    rows.dispose()
