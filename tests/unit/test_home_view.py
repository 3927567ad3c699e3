"""The Home tab's Block Kit: a pure function of a small read model (`HomeView`).

Valid as Slack checks a Home view (the fake Slack's validator: type, blocks, 100 of them at
most), the DMs' own buttons for what waits for the person, production and the previews of
each project, and CI's text shown, never obeyed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cibot.adapters.slack.blocks.home import MAX_BLOCKS, fit, home_view
from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.policy import Freeze, Quorum
from cibot.domain.project import Project
from cibot.domain.release import Release, ReleaseKind
from cibot.domain.review import Tally
from cibot.fakeslack import buttons, validate_view, visible_text
from cibot.service.audit import AuditAction
from cibot.service.ports import AuditEvent
from cibot.service.views import HomeView, OwnerDM, ProjectHome, QaDM

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
QA, OWNER = "U0QA", "U0OWNER"
DIGEST = "sha256:" + "d" * 64
PROJECT = Project(
    id="shop",
    name="Shop",
    url="https://shop.example.com",
    channel="C0SHOP",
    qa=frozenset({QA}),
    owners=frozenset({OWNER}),
    namespace="shop",
)
HOME = frozenset({"home"})
MENTION_OR_LINK = re.compile(r"<[!#@]|<https?://evil")


def a_build(build_id: str = "b1", state: BuildState = BuildState.READY, **changes: Any) -> Build:
    build = Build(
        build_id, "shop", BuildType.BRANCH, "feature/login", "registry.example.com/shop:1.0",
        state, NOW - timedelta(hours=3), NOW - timedelta(hours=3), digest=DIGEST,
        preview_url="https://feature-login.branch.shop.example.com",
        ready_at=NOW - timedelta(hours=2),
    )  # fmt: skip
    return replace(build, **changes)


def a_release(release_id: int, build_id: str, actor: str = OWNER, **changes: Any) -> Release:
    release = Release(
        "shop", build_id, f"registry.example.com/shop@{DIGEST}", DIGEST,
        ReleaseKind.PROMOTION, actor, NOW - timedelta(minutes=release_id), id=release_id,
    )  # fmt: skip
    return replace(release, **changes)


def drawn(view: HomeView) -> dict[str, Any]:
    payload = home_view(view)
    validate_view(payload, allowed_types=HOME)  # what Slack would refuse, the fake refuses
    return payload


def test_a_qa_members_home_offers_their_review_with_the_dms_buttons_and_the_preview() -> None:
    build = a_build()
    view = HomeView(
        QA,
        NOW,
        waiting=(QaDM(PROJECT, build, QA),),
        projects=(ProjectHome(PROJECT, ("QA",), previews=(build,)),),
    )

    payload = drawn(view)
    text = visible_text(payload)

    assert payload["type"] == "home"
    assert [(b.action_id, b.value) for b in buttons(payload)] == [
        ("qa_approve", "b1"),
        ("qa_reject", "b1"),
    ]
    assert "Waiting for you" in text
    assert "<https://feature-login.branch.shop.example.com|feature-login" in text
    assert "ready since 2026-12-04 08:00 UTC" in text, "the preview's age"
    assert "No production release yet" in text
    assert "Nothing recorded yet" in text


def test_an_owners_home_shows_production_its_previous_release_and_offers_a_roll_back() -> None:
    first, second = a_build("b1", BuildState.PROMOTED), a_build("b2", BuildState.PROMOTED)
    release, previous = a_release(2, "b2"), a_release(1, "b1", actor="U0OTHER")
    project = ProjectHome(
        PROJECT,
        ("owner",),
        previews=(second,),
        release=release,
        release_build=second,
        previous=previous,
        freeze=Freeze("holidays", by=OWNER, since=NOW),
        may_roll_back=True,
    )
    text = visible_text(drawn(HomeView(OWNER, NOW, projects=(project,))))
    [roll_back] = buttons(drawn(HomeView(OWNER, NOW, projects=(project,))))

    assert f"*Production* runs release #2: `registry.example.com/shop@{DIGEST}`" in text
    assert f"build `b2`, `feature/login` (branch): deployed by <@{OWNER}>" in text
    assert "Before it: release #1" in text and "by <@U0OTHER>" in text
    assert "Production is frozen" in text and "holidays" in text
    assert (roll_back.action_id, roll_back.value, roll_back.style) == (
        "rollback_production",
        "2",
        "danger",
    )
    assert first.id not in text.split("Before it")[0], "the previous build is named below"


def test_an_owners_waiting_build_has_deploy_and_close_as_in_their_dm() -> None:
    build = a_build()
    owner = OwnerDM(PROJECT, build, Tally(approved=(QA,)), quorum=Quorum(1, approvals=(QA,)))
    payload = drawn(HomeView(OWNER, NOW, waiting=(owner,)))
    assert [b.action_id for b in buttons(payload)] == ["deploy_production", "close_build"]


def test_a_person_in_no_project_is_told_so() -> None:
    text = visible_text(drawn(HomeView("U0STRANGER", NOW)))
    assert "not QA or owner of any project" in text
    assert "Nothing is waiting for your verdict or decision" in text


def test_the_latest_audit_lines_are_shown_newest_first_as_given() -> None:
    events = tuple(
        AuditEvent(NOW - timedelta(minutes=i), AuditAction.VERDICT_APPROVED, "shop", f"b-{i}", QA)
        for i in range(7)
    )
    text = visible_text(drawn(HomeView(QA, NOW, events=events)))
    assert "verdict.approved" in text
    assert text.index("b-0") < text.index("b-6")


def test_ci_text_is_shown_and_never_obeyed() -> None:
    hostile = a_build(target="<!channel>-*x*", image="evil/<https://evil.example|click>")
    hostile = replace(hostile, preview_url="javascript:alert(1)")
    project = ProjectHome(PROJECT, ("QA",), previews=(hostile,))
    payload = drawn(HomeView(QA, NOW, waiting=(QaDM(PROJECT, hostile, QA),), projects=(project,)))
    assert not MENTION_OR_LINK.search(visible_text(payload))


def test_a_home_with_more_than_fits_is_cut_with_how_many_more_and_stays_valid() -> None:
    builds = [a_build(f"b{i}") for i in range(40)]
    waiting = tuple(QaDM(PROJECT, b, QA) for b in builds)
    many = tuple(
        ProjectHome(replace(PROJECT, id=f"p{i}", name=f"Project {i}"), ("QA",), previews=(b,))
        for i, b in enumerate(builds)
    )
    payload = drawn(HomeView(QA, NOW, waiting=waiting, projects=many))
    text = visible_text(payload)

    assert len(payload["blocks"]) <= MAX_BLOCKS
    assert re.search(r"…and \d+ more waiting for you", text)
    assert re.search(r"…and \d+ more project\(s\)", text)
    assert "Latest activity" in text, "the tail is never cut"


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(1, 12), max_size=30), room=st.integers(1, 100))
def test_fit_never_goes_past_its_room_and_says_how_many_it_left_out(
    sizes: list[int], room: int
) -> None:
    items: list[list[dict[str, Any]]] = [
        [{"type": "divider", "n": i}] * size for i, size in enumerate(sizes)
    ]
    taken = fit(items, room, lambda n: {"type": "more", "n": n})
    assert len(taken) <= room
    shown = {b["n"] for b in taken if b["type"] == "divider"}
    more = [b["n"] for b in taken if b["type"] == "more"]
    assert len(shown) + sum(more) == len(items), "every item shown or counted"
