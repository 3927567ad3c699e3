"""T9: injection through names and text.

Defence: strict field syntax; DNS-1123 slugs with a hash; Slack text escaped. The unit
properties prove the parts one by one (tests/unit/test_naming.py `test_T9_*`: any target →
a valid label ≤ 63, deterministic, distinct; tests/unit/test_slack_text.py `test_T9_*`:
escaped text never yields `<!channel>`, a mention or a link). Here the same holds for the
whole way in: whatever target the intake accepts renders only valid object names, labels and
hosts, distinct per target; and a hostile branch name sent to the real server shows on the
card as text, not as a broadcast, a mention or a link.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cibot.adapters.kubernetes import manifests
from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.naming import is_dns_label, is_dns_name, is_label_value
from cibot.entrypoints.web.notification import BuildNotification, InvalidNotification, validate
from tests.support.flow import card_saying, report_build
from tests.support.shop import CHANNEL, QA, SECRET
from tests.support.trust import IMAGE, Shared
from tests.support.usecases import PROJECT

NOW = datetime(2026, 12, 1, tzinfo=UTC)
EXAMPLES = 300

# Ref-like text with the characters an attacker would try, and any printable ASCII.
hostile = st.text(alphabet="abcXYZ019-_./<>!@|&*`~#", min_size=1, max_size=220)
targets = st.one_of(
    hostile,
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=220),
)


def accepted_target(target: str) -> bool:
    try:
        fields = {"project": "shop", "image": IMAGE, "type": "branch", "target": target}
        validate(fields, BuildNotification)
    except InvalidNotification:
        return False
    return True


def rendered(target: str, build_type: BuildType) -> list[dict[str, object]]:
    build = Build("b1", PROJECT.id, build_type, target, IMAGE, BuildState.ACCEPTED, NOW, NOW)
    return manifests.render_preview(PROJECT, build)


@settings(max_examples=EXAMPLES, deadline=None)
@given(targets, st.sampled_from(BuildType))
def test_T9_any_accepted_target_renders_only_valid_names_labels_and_hosts(
    target: str, build_type: BuildType
) -> None:
    assume(accepted_target(target))  # counted by Hypothesis: the budget is of accepted ones
    for manifest in rendered(target, build_type):
        meta = manifest["metadata"]
        assert isinstance(meta, dict)
        assert is_dns_label(meta["name"]) and len(meta["name"]) <= 63
        assert all(is_label_value(v) for v in meta["labels"].values())
        spec: Any = manifest.get("spec") or {}
        for rule in spec.get("rules", []):
            assert is_dns_name(rule["host"])
    assert rendered(target, build_type) == rendered(target, build_type), "deterministic"


@settings(max_examples=EXAMPLES, deadline=None)
@given(targets, targets)
def test_T9_two_accepted_targets_never_share_an_object(a: str, b: str) -> None:
    assume(a != b and accepted_target(a) and accepted_target(b))
    names = {m["metadata"]["name"] for m in rendered(a, BuildType.BRANCH)}  # type: ignore[index]
    others = {m["metadata"]["name"] for m in rendered(b, BuildType.BRANCH)}  # type: ignore[index]
    assert names.isdisjoint(others)


MARKUP = re.compile(r"<(?:!|@|#|https?:|mailto:)[^>]*>")


@pytest.mark.kubernetes
async def test_T9_a_hostile_branch_name_reaches_the_card_as_plain_text(shared: Shared) -> None:
    target = f"x/<!channel>-<!here>-<@{QA[0]}>-<#{CHANNEL}>-<!everyone|all>-_it_-`code`-&amp;"
    assert accepted_target(target)

    response = report_build(
        shared.url, SECRET, project="shop", image=IMAGE, type="branch", target=target
    )

    assert response.status_code == 202, response.text
    build_id = response.json()["build_id"]
    await card_saying(shared.slack, CHANNEL, build_id, "is ready")
    card = next(m for m in shared.slack.state.messages(CHANNEL) if build_id in m.visible_text)
    raw = str(card.blocks) + card.text
    assert [m for m in MARKUP.findall(raw) if ".branch.shop.example.com/" not in m] == []
    assert "<!channel>" not in raw and f"<@{QA[0]}>" not in raw
