"""T2: a replayed CI request changes nothing.

Defence: a 5-minute timestamp window; `webhook-id` unique per project (the first answer is
replayed). Without the window an old captured request would be accepted again; without the
unique id the same request would make a second build.
"""

from __future__ import annotations

import math
import time

import pytest

from tests.support.ci import body_of, post_build
from tests.support.shop import SECRET
from tests.support.trust import IMAGE, Shared, unique

pytestmark = pytest.mark.kubernetes


async def test_T2_the_same_request_twice_makes_one_build(shared: Shared) -> None:
    body = body_of(project="shop", image=IMAGE, type="branch", target=unique("t2"))
    before = shared.rows.counts()["builds"]

    first = post_build(shared.url, SECRET, body, webhook_id="msg_t2_same")
    again = post_build(shared.url, SECRET, body, webhook_id="msg_t2_same")

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert shared.rows.counts()["builds"] == before + 1


@pytest.mark.parametrize("skew", [-301, 301])
async def test_T2_a_timestamp_301_seconds_off_either_way_is_refused(
    shared: Shared, skew: int
) -> None:
    body = body_of(project="shop", image=IMAGE, type="branch", target=unique("t2"))
    before = shared.rows.counts()

    # The header carries whole seconds: round away from now, or +301 can land at +300.4.
    now = time.time()
    stamp = (math.ceil(now) if skew > 0 else math.floor(now)) + skew
    response = post_build(shared.url, SECRET, body, timestamp=stamp)

    assert response.status_code == 401
    assert shared.rows.counts()["builds"] == before["builds"]
    assert shared.rows.counts()["webhook_deliveries"] == before["webhook_deliveries"]


async def test_T2_the_same_id_with_another_body_is_422_and_keeps_the_first(shared: Shared) -> None:
    target = unique("t2")
    body = body_of(project="shop", image=IMAGE, type="branch", target=target)
    first = post_build(shared.url, SECRET, body, webhook_id="msg_t2_other")
    before = shared.rows.counts()["builds"]

    other = post_build(shared.url, SECRET, body.replace(b"1.0", b"6.6"), webhook_id="msg_t2_other")

    assert first.status_code == 202
    assert other.status_code == 422
    assert other.json()["field"] == "webhook-id"
    assert shared.rows.counts()["builds"] == before
    assert shared.rows.build(first.json()["build_id"])["image"] == IMAGE
