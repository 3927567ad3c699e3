"""The trust suite's world (TRUST.md): four projects with their people and channels, the
configuration a trust test expects, and the one `cibot serve` many rows share.

Tests import these from here, never from tests/trust/conftest.py, which holds the fixtures.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cibot.fakeslack import Channel, FakeSlackServer, User
from tests.support import slack_requests
from tests.support.rows import Rows
from tests.support.service import CibotProcess
from tests.support.shop import CHANNEL, EVERYONE, OWNERS, QA, service_config

IMAGE = "registry.example.test/shop/web:1.0"
OTHER_CHANNEL = "C0OTHER000"
OTHER_OWNER, OTHER_QA = "U0OTHEROWN", "U0OTHERQA"
STRICT_CHANNEL = "C0STRICT00"
EXPIRING_CHANNEL = "C0EXPIRE00"
STRICT_QA = ("U0SQA1", "U0SQA2", "U0SQA3")
STRICT_OWNERS = ("U0SOWNER",)
STRANGER = "U0STRANGER"


def base_config(database_url: str, kubeconfig: Path, slack_api_url: str, ns: str) -> dict[str, Any]:
    """The e2e configuration, with the policy a trust test expects: one approval, four eyes."""
    config = service_config(database_url, kubeconfig, slack_api_url, ns)
    config["slack"].update(team_id=slack_requests.TEAM, app_id=slack_requests.APP)
    shop = config["projects"][0]
    shop["policy"] = {
        "approvals_required": 1,
        "allowed_images": ["registry.example.test/shop/*"],
    }
    strict = {"approvals_required": 2, "four_eyes": True, "author_may_deploy": False}
    config["projects"] += [
        _project("strict", STRICT_CHANNEL, STRICT_QA, STRICT_OWNERS, ns, policy=strict),
        _project(
            "expiring",
            EXPIRING_CHANNEL,
            QA,
            OWNERS,
            ns,
            policy={"approvals_required": 0, "expires_after": "4s"},
        ),
        _project("other", OTHER_CHANNEL, (OTHER_QA,), (OTHER_OWNER,), ns),
    ]
    return config


def _project(
    project_id: str,
    channel: str,
    qa: tuple[str, ...],
    owners: tuple[str, ...],
    ns: str,
    **keys: Any,
) -> dict[str, Any]:
    return {
        "id": project_id,
        "name": project_id.title(),
        "url": f"https://{project_id}.example.com",
        "channel": channel,
        "qa": list(qa),
        "owners": list(owners),
        "namespace": ns,
        "rollout_timeout": 10,
        **keys,
    }


def workspace() -> FakeSlackServer:
    people = (*EVERYONE, *STRICT_QA, *STRICT_OWNERS, OTHER_OWNER, OTHER_QA, STRANGER)
    users = [User(id=u, name=u.lower()) for u in people]
    channels = [
        Channel(id=CHANNEL, name="shop-builds", members=frozenset(EVERYONE)),
        Channel(id=STRICT_CHANNEL, name="strict", members=frozenset((*STRICT_QA, *STRICT_OWNERS))),
        Channel(id=EXPIRING_CHANNEL, name="expiring", members=frozenset(EVERYONE)),
        Channel(id=OTHER_CHANNEL, name="other", members=frozenset((OTHER_OWNER, OTHER_QA))),
    ]
    server = FakeSlackServer(users=users, channels=channels)
    # Relaxed on purpose: dozens of rows share this one workspace for minutes, each standing
    # for a short scenario of its own; the budget they would spend together is no row's.
    # Slack's tiers are proven on a workspace of their own (F18), and F1 arms its 429s.
    server.state.limits.relax()
    return server


@dataclass
class Shared:
    """One running `cibot serve` that many tests use, with its Slack, namespace and rows."""

    cibot: CibotProcess
    slack: FakeSlackServer
    namespace: str
    rows: Rows

    @property
    def url(self) -> str:
        return self.cibot.url


def unique(prefix: str = "t") -> str:
    """A target no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
