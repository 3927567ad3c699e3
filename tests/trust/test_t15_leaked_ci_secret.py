"""T15: a leaked CI secret is rotated away: per-project secrets, two live during rotation.

Defence: each project may have its own secret; `previous_webhook_secrets` keeps the old one
accepted while CI moves to the new one; removing it refuses the old one from then on (and
another project's secret never works). Without per-project secrets one leak would open
every project; without the rotation list, changing a secret would break CI mid-way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cibot.adapters.store import migrate
from tests.support.flow import report_build
from tests.support.service import CibotProcess
from tests.support.trust import IMAGE

pytestmark = pytest.mark.kubernetes

OLD, NEW = "shop-secret-2025", "whsec_c2hvcC1zZWNyZXQtMjAyNg"


def _accepts(url: str, secret: str, target: str) -> int:
    response = report_build(url, secret, project="shop", image=IMAGE, type="branch", target=target)
    return response.status_code


async def test_T15_old_and_new_accepted_during_rotation_old_refused_after(
    sqlite_config: dict[str, Any], tmp_path: Path
) -> None:
    sqlite_config["jobs"]["workers"] = 0  # accept only: this is about the door, not the deploy
    project = sqlite_config["projects"][0]
    project["webhook_secret"] = NEW
    project["previous_webhook_secrets"] = [OLD]
    await migrate.upgrade_async(sqlite_config["database"]["url"])
    during = CibotProcess(sqlite_config, tmp_path).start()
    try:
        answers = {
            "new": _accepts(during.url, NEW, "rotating-new"),
            "old": _accepts(during.url, OLD, "rotating-old"),
            "global": _accepts(during.url, sqlite_config["webhooks"]["secret"], "rotating-global"),
        }
    finally:
        during.stop()
    assert answers == {"new": 202, "old": 202, "global": 401}

    del project["previous_webhook_secrets"]
    after = CibotProcess(sqlite_config, tmp_path).start()
    try:
        assert _accepts(after.url, NEW, "rotated-new") == 202
        assert _accepts(after.url, OLD, "rotated-old") == 401
    finally:
        after.stop()
