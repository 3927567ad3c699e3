"""T10: a payload cannot pick its namespace or reach production.

Defence: strict field syntax (unknown fields refused by name); the namespace comes from the
configuration only; production is reachable only through an owner's decision. Without the
strict syntax, `namespace` or `type: production` would be silently taken or ignored. The
"no path from intake to production without an owner decision" half is the stateful model,
tests/trust/test_model_build_state_machine.py (TestT10BuildStateMachine), and the graph
check below.
"""

from __future__ import annotations

from typing import Any

import pytest

from cibot.domain.build import BuildState, can_move
from tests.support.flow import report_build
from tests.support.shop import SECRET
from tests.support.trust import IMAGE, Shared

pytestmark = pytest.mark.kubernetes


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"namespace": "kube-system"}, "namespace"),
        ({"type": "production"}, "type"),
        ({"environment": "production"}, "environment"),
        ({"target": "../../etc"}, "target"),
        ({"image": "Not An Image!"}, "image"),
        ({"build_number": "twelve"}, "build_number"),
        ({"project": "shop", "digest": "sha256:" + "0" * 64}, "digest"),
    ],
)
async def test_T10_a_payload_asking_for_a_namespace_or_production_is_422_naming_the_field(
    shared: Shared, fields: dict[str, Any], field: str
) -> None:
    base: dict[str, Any] = {"project": "shop", "image": IMAGE, "type": "branch", "target": "main"}
    before = shared.rows.counts()["builds"]

    response = report_build(shared.url, SECRET, **{**base, **fields})

    assert response.status_code == 422
    assert response.json()["field"] == field
    assert field in response.json()["error"]
    assert shared.rows.counts()["builds"] == before


def test_T10_the_only_way_into_production_is_from_a_ready_build() -> None:
    """PROMOTING is entered only from READY (an owner's click) or PROMOTED (a redeploy)."""
    sources = {s for s in BuildState if can_move(s, BuildState.PROMOTING)}
    assert sources == {BuildState.READY, BuildState.PROMOTED}
    assert not can_move(BuildState.ACCEPTED, BuildState.PROMOTING)
    assert not can_move(BuildState.DEPLOYING, BuildState.PROMOTING)
