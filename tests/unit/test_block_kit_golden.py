"""Every message, modal and Home tab ci-bot draws, compared with what it drew before.

The fixture `block_kit_golden.json` holds the Block Kit of each view kind in each of its
states, recorded once; a change of wording or shape shows up here as a diff to review, and a
refactor of the builders must leave it alone. Run with `CIBOT_REGENERATE_GOLDEN=1` to record
it again after a deliberate change (and read the diff before committing it).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest

from cibot.adapters.slack.blocks import modal, render
from cibot.adapters.slack.blocks.home import home_view
from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.policy import Freeze, Policy, Quorum, UnknownAuthor
from cibot.domain.project import Project
from cibot.domain.release import Release, ReleaseKind
from cibot.domain.review import Action, Decision, Outcome, Tally, Verdict, VerdictRecord
from cibot.service.audit import AuditAction
from cibot.service.ports import AuditEvent
from cibot.service.views import (
    BuildCard,
    FreezeNotice,
    History,
    HomeView,
    IdleWarning,
    MessageView,
    ModalView,
    Notice,
    OverrideReasonModal,
    OwnerDM,
    ProductionNotice,
    ProjectHome,
    QaDM,
    RejectReasonModal,
    ReviewReminder,
    VerdictReply,
)

GOLDEN = Path(__file__).with_name("block_kit_golden.json")
NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
QA_1, QA_2, OWNER = "U01QA", "U02QA", "U03OWNER"
DIGEST = "sha256:" + "a" * 64
HOSTILE = "*bold* <!channel> @here `tick` <https://evil|Approve> " + "x" * 600
PROJECT = Project(
    id="shop",
    name="Shop & <Co>",
    url="https://shop.example.com",
    channel="C0SHOP",
    qa=frozenset({QA_1, QA_2}),
    owners=frozenset({OWNER}),
    namespace="shop",
)
STRICT = replace(
    PROJECT,
    policy=Policy(
        approvals_required=2,
        allow_override=True,
        approver_may_deploy=False,
        unknown_author=UnknownAuthor.BLOCK,
    ),
)
BUILD = Build(
    "b-1", "shop", BuildType.BRANCH, "feature/login", "registry.example.com:5000/shop:abc123",
    BuildState.READY, NOW - timedelta(hours=3), NOW - timedelta(hours=3),
    commit="0123456789abcdef", author="Ann", build_number=42,
    ci_url="https://ci.example.com/runs/42", digest=DIGEST,
    preview_url="https://feature-login.branch.shop.example.com", author_user="U09ANN",
    ready_at=NOW - timedelta(hours=2),
)  # fmt: skip
NEWER = replace(BUILD, id="b-2", image="registry.example.com:5000/shop:def456")
TALLY = Tally(approved=(QA_1,), rejected=(QA_2,))
MET = Quorum(required=1, approvals=(QA_1,))
UNMET = Quorum(
    required=2, approvals=(QA_1,), rejections=(QA_2,), uncounted=(("U09ANN", "the author"),)
)
FREEZE = Freeze(reason="release week <!here>", by=OWNER, since=NOW, until=NOW + timedelta(days=2))


def state(name: str, **changes: Any) -> Build:
    return replace(BUILD, state=BuildState[name], **changes)


def decided(action: Action, outcome: Outcome | None = None, **changes: Any) -> Decision:
    return Decision("b-1", action, OWNER, NOW, outcome=outcome, **changes)


def verdict(kind: Verdict, reason: str | None = None, user: str = QA_1) -> VerdictRecord:
    return VerdictRecord("b-1", user, kind, NOW, reason=reason)


def release(release_id: int, kind: ReleaseKind = ReleaseKind.PROMOTION) -> Release:
    return Release(
        "shop", f"b-{release_id}", f"registry.example.com/shop@{DIGEST}", DIGEST, kind, OWNER,
        NOW - timedelta(minutes=release_id), id=release_id,
    )  # fmt: skip


def event(index: int) -> AuditEvent:
    detail = {"reason": "<!channel> *x*", "skipped": None, "n": index}
    return AuditEvent(
        NOW - timedelta(minutes=index), AuditAction.VERDICT_APPROVED, "shop", "b-1", QA_1, detail
    )


DEPLOYED = decided(Action.DEPLOY, Outcome.DEPLOYED)
FAILED = decided(Action.DEPLOY, Outcome.FAILED, reason=HOSTILE)
MESSAGES: dict[str, MessageView] = {
    "card/accepted": BuildCard(PROJECT, state("ACCEPTED")),
    "card/deploying-with-note": BuildCard(PROJECT, state("DEPLOYING"), note="K8s <down>"),
    "card/ready-tally": BuildCard(PROJECT, BUILD, tally=TALLY),
    "card/ready-bare-build": BuildCard(
        PROJECT, replace(BUILD, commit=None, author=None, build_number=None, ci_url=None)
    ),
    "card/ready-author-unknown": BuildCard(PROJECT, replace(BUILD, author_user="")),
    "card/failed-hostile": BuildCard(PROJECT, state("FAILED", reason=HOSTILE)),
    "card/failed-no-reason": BuildCard(PROJECT, state("FAILED")),
    "card/superseded-by": BuildCard(PROJECT, state("SUPERSEDED"), superseded_by=NEWER),
    "card/superseded": BuildCard(PROJECT, state("SUPERSEDED")),
    "card/stale": BuildCard(PROJECT, state("STALE")),
    "card/closed": BuildCard(PROJECT, state("CLOSED"), decision=decided(Action.CLOSE)),
    "card/closed-reason": BuildCard(PROJECT, state("CLOSED", reason="branch deleted")),
    "card/promoting": BuildCard(PROJECT, state("PROMOTING"), decision=decided(Action.DEPLOY)),
    "card/promoted": BuildCard(PROJECT, state("PROMOTED"), tally=TALLY, decision=DEPLOYED),
    "card/override": BuildCard(
        PROJECT, state("PROMOTED"), decision=decided(Action.OVERRIDE, Outcome.DEPLOYED, note="hot")
    ),
    "card/promote-failed": BuildCard(PROJECT, BUILD, decision=FAILED),
    "card/closed-by-cibot": BuildCard(
        PROJECT, state("CLOSED"), decision=decided(Action.CLOSE, note="idle preview")
    ),
    "card/expired": BuildCard(PROJECT, state("EXPIRED"), tally=TALLY),
    "owner/ready-deployable": OwnerDM(PROJECT, BUILD, TALLY, quorum=MET),
    "owner/ready-no-quorum-override": OwnerDM(
        STRICT, replace(BUILD, author_user="U09ANN"), TALLY, quorum=UNMET, qa=(QA_1,)
    ),
    "owner/ready-no-qa": OwnerDM(PROJECT, BUILD, Tally(), quorum=MET, qa=()),
    "owner/frozen": OwnerDM(PROJECT, BUILD, TALLY, quorum=MET, freeze=FREEZE),
    "owner/frozen-open-ended": OwnerDM(
        PROJECT, BUILD, TALLY, quorum=MET, freeze=Freeze(reason="audit")
    ),
    "owner/author-unknown-blocked": OwnerDM(
        STRICT, replace(BUILD, author_user=""), TALLY, quorum=MET
    ),
    "owner/author-pending-blocked": OwnerDM(
        STRICT, replace(BUILD, author_user=None), TALLY, quorum=MET
    ),
    "owner/expires": OwnerDM(PROJECT, BUILD, TALLY, quorum=MET, expires_at=NOW),
    "owner/failed-still-promotable": OwnerDM(PROJECT, BUILD, TALLY, FAILED, quorum=MET),
    "owner/promoting": OwnerDM(PROJECT, state("PROMOTING"), TALLY, decided(Action.DEPLOY)),
    "owner/promoted": OwnerDM(PROJECT, state("PROMOTED"), TALLY, DEPLOYED),
    "owner/closed": OwnerDM(PROJECT, state("CLOSED"), TALLY, decided(Action.CLOSE)),
    "owner/closed-by-cibot": OwnerDM(
        PROJECT, state("CLOSED"), TALLY, decided(Action.CLOSE, note="branch deleted")
    ),
    "owner/superseded": OwnerDM(PROJECT, state("SUPERSEDED"), TALLY, superseded_by=NEWER),
    "owner/superseded-unknown": OwnerDM(PROJECT, state("SUPERSEDED"), TALLY),
    "owner/former": OwnerDM(PROJECT, BUILD, TALLY, quorum=MET, former=True),
    "owner/expired": OwnerDM(PROJECT, state("EXPIRED"), TALLY, FAILED),
    "owner/deploying-preview": OwnerDM(PROJECT, state("DEPLOYING"), Tally()),
    "qa/ready": QaDM(PROJECT, BUILD, QA_1),
    "qa/ready-expires": QaDM(PROJECT, BUILD, QA_1, expires_at=NOW),
    "qa/author": QaDM(PROJECT, BUILD, "U09ANN", is_author=True),
    "qa/approved": QaDM(PROJECT, BUILD, QA_1, verdict(Verdict.APPROVED)),
    "qa/rejected-reason": QaDM(PROJECT, BUILD, QA_2, verdict(Verdict.REJECTED, HOSTILE, QA_2)),
    "qa/rejected": QaDM(PROJECT, BUILD, QA_2, verdict(Verdict.REJECTED, user=QA_2)),
    "qa/approved-then-promoted": QaDM(
        PROJECT, state("PROMOTED"), QA_1, verdict(Verdict.APPROVED), DEPLOYED
    ),
    "qa/approved-then-closed": QaDM(
        PROJECT, state("CLOSED"), QA_1, verdict(Verdict.APPROVED), decided(Action.CLOSE)
    ),
    "qa/approved-then-expired": QaDM(PROJECT, state("EXPIRED"), QA_1, verdict(Verdict.APPROVED)),
    "qa/closed": QaDM(PROJECT, state("CLOSED"), QA_1, decision=decided(Action.CLOSE)),
    "qa/closed-by-cibot": QaDM(
        PROJECT, state("CLOSED"), QA_1, decision=decided(Action.CLOSE, note="idle")
    ),
    "qa/closed-no-decision": QaDM(PROJECT, state("CLOSED"), QA_1),
    "qa/promoted": QaDM(PROJECT, state("PROMOTED"), QA_1, decision=DEPLOYED),
    "qa/promoting": QaDM(PROJECT, state("PROMOTING"), QA_1, decision=decided(Action.DEPLOY)),
    "qa/superseded": QaDM(PROJECT, state("SUPERSEDED"), QA_1, superseded_by=NEWER),
    "qa/former": QaDM(PROJECT, BUILD, QA_1, former=True),
    "qa/expired": QaDM(PROJECT, state("EXPIRED"), QA_1),
    "qa/failed": QaDM(PROJECT, state("FAILED", reason="ImagePullBackOff"), QA_1),
    "reply/approved": VerdictReply(verdict(Verdict.APPROVED)),
    "reply/rejected": VerdictReply(verdict(Verdict.REJECTED, HOSTILE)),
    "reply/idle-ready": IdleWarning(PROJECT, BUILD, NOW - timedelta(days=3), NOW),
    "reply/idle-failed": IdleWarning(PROJECT, state("FAILED"), NOW - timedelta(days=3), NOW),
    "reply/reminder": ReviewReminder(PROJECT, BUILD, NOW - timedelta(days=1)),
    "production/deploying": ProductionNotice(PROJECT, state("PROMOTING"), decided(Action.DEPLOY)),
    "production/deploying-no-digest": ProductionNotice(
        PROJECT, state("PROMOTING", digest=None), decided(Action.OVERRIDE, note="hotfix")
    ),
    "production/deployed-can-roll-back": ProductionNotice(
        PROJECT, state("PROMOTED"), DEPLOYED, release(2), previous=release(1)
    ),
    "production/deployed-first": ProductionNotice(PROJECT, state("PROMOTED"), DEPLOYED, release(1)),
    "production/deployed-replaced": ProductionNotice(
        PROJECT,
        state("PROMOTED"),
        DEPLOYED,
        release(2),
        previous=release(1),
        replaced_by=release(3),
    ),
    "production/override-deployed": ProductionNotice(
        PROJECT,
        state("PROMOTED"),
        decided(Action.OVERRIDE, Outcome.DEPLOYED, note=HOSTILE),
        release(2, ReleaseKind.OVERRIDE),
    ),
    "production/failed": ProductionNotice(PROJECT, BUILD, FAILED),
    "production/failed-no-reason": ProductionNotice(
        PROJECT, BUILD, decided(Action.DEPLOY, Outcome.FAILED)
    ),
    "production/rolling-back": ProductionNotice(
        PROJECT, state("PROMOTED"), decided(Action.ROLLBACK), rolled_back_from=release(3)
    ),
    "production/rolled-back": ProductionNotice(
        PROJECT,
        state("PROMOTED"),
        decided(Action.ROLLBACK, Outcome.DEPLOYED),
        release(4, ReleaseKind.ROLLBACK),
        previous=release(3),
        rolled_back_from=release(3),
    ),
    "production/rollback-failed": ProductionNotice(
        PROJECT, state("PROMOTED"), decided(Action.ROLLBACK, Outcome.FAILED, reason="timeout")
    ),
    "notice/plain": Notice("You may not approve builds of Shop."),
    "notice/hostile": Notice(HOSTILE),
    "notice/too-long": Notice("y" * 3100),
    "notice/empty": Notice(""),
    "freeze/frozen": FreezeNotice(PROJECT, OWNER, frozen=True, reason="release <!here>"),
    "freeze/unfrozen": FreezeNotice(PROJECT, OWNER, frozen=False),
    "history/empty": History(PROJECT, ()),
    "history/pages": History(PROJECT, tuple(event(i) for i in range(25))),
}


def waiting_dm(index: int) -> OwnerDM | QaDM:
    build = replace(BUILD, id=f"b-w{index}", target=f"feature/{index}")
    if index % 2:
        return QaDM(PROJECT, build, QA_1)
    return OwnerDM(PROJECT, build, TALLY, quorum=MET)


def project_home(index: int, **changes: Any) -> ProjectHome:
    project = replace(PROJECT, id=f"p{index}", name=f"Project {index} <!here>")
    previews = tuple(
        state(name, id=f"b-p{index}-{name}", target=name.lower())
        for name in ("DEPLOYING", "READY", "FAILED", "PROMOTING", "PROMOTED")
    )
    return ProjectHome(project, ("QA", "owner"), previews, **changes)


HOMES: dict[str, HomeView] = {
    "home/empty": HomeView(QA_1, NOW),
    "home/full": HomeView(
        OWNER,
        NOW,
        waiting=(waiting_dm(0), waiting_dm(1)),
        projects=(
            project_home(
                1,
                release=release(2),
                release_build=state("PROMOTED"),
                previous=release(1),
                freeze=FREEZE,
                busy_with="b-9",
                may_roll_back=True,
            ),
            project_home(2, release=release(1, ReleaseKind.ROLLBACK)),
            ProjectHome(
                replace(PROJECT, id="p3"),
                ("QA",),
                previews=tuple(state("READY", id=f"b-many-{i}") for i in range(12)),
            ),
        ),
        events=tuple(event(i) for i in range(12)),
    ),
    "home/overflowing": HomeView(
        OWNER,
        NOW,
        waiting=tuple(waiting_dm(i) for i in range(20)),
        projects=tuple(project_home(i, release=release(1)) for i in range(30)),
        events=tuple(event(i) for i in range(30)),
    ),
}
MODALS: dict[str, ModalView] = {
    "modal/reject": RejectReasonModal(BUILD, PROJECT, channel="D0QA"),
    "modal/reject-no-channel": RejectReasonModal(BUILD, PROJECT),
    "modal/override": OverrideReasonModal(BUILD, STRICT, UNMET, channel="D0OWNER"),
}


def drawn() -> dict[str, Any]:
    """Every case, as the JSON Slack receives (key order aside)."""
    cases: dict[str, Any] = {}
    for name, view in MESSAGES.items():
        text, blocks = render(view)
        cases[name] = {"text": text, "blocks": blocks}
    for name, home in HOMES.items():
        cases[name] = home_view(home)
    for name, form in MODALS.items():
        cases[name] = modal(form)
    parsed: dict[str, Any] = json.loads(json.dumps(cases))
    return parsed


def test_every_view_is_drawn_exactly_as_recorded() -> None:
    now = drawn()
    if os.environ.get("CIBOT_REGENERATE_GOLDEN"):
        text = json.dumps(now, indent=1, sort_keys=True, ensure_ascii=False)
        GOLDEN.write_text(text + "\n", encoding="utf-8")
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(now) == sorted(recorded)
    for name, payload in recorded.items():
        assert now[name] == payload, name


@pytest.mark.parametrize("name", ["home/overflowing", "history/pages", "card/failed-hostile"])
def test_the_golden_cases_reach_the_limits_they_are_about(name: str) -> None:
    """The fixture covers the cuts: a Home tab at 100 blocks, history in pages of ten,
    and outside text cut to a readable length."""
    case = drawn()[name]
    match name:
        case "home/overflowing":
            assert 90 < len(case["blocks"]) <= 100
            assert "more project(s)" in json.dumps(case["blocks"])
        case "history/pages":
            assert len(case["blocks"]) == 4
        case _:
            assert "…" in case["blocks"][0]["text"]["text"]


def test_the_golden_cases_cover_every_kind_of_view() -> None:
    assert {type(view) for view in MESSAGES.values()} == set(get_args(MessageView))
    assert {type(form) for form in MODALS.values()} == set(get_args(ModalView))
