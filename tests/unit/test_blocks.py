"""Block Kit for every view: valid for Slack, the right buttons, and no text that acts as markup."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cibot.adapters.slack.actions import (
    REASON_MAX,
    REJECT_MODAL_CALLBACK,
    REJECT_REASON_BLOCK,
    REJECT_REASON_INPUT,
)
from cibot.adapters.slack.blocks import FALLBACK_LIMIT, mention, reject_modal, render
from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.policy import Policy, Quorum, UnknownAuthor
from cibot.domain.project import Project
from cibot.domain.review import Action, Decision, Outcome, Tally, Verdict, VerdictRecord
from cibot.fakeslack import Button, buttons, validate_blocks, validate_view, visible_text
from cibot.service.views import (
    BuildCard,
    MessageView,
    Notice,
    OwnerDM,
    ProductionNotice,
    QaDM,
    RejectReasonModal,
    VerdictReply,
)

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
QA_1, QA_2, OWNER = "U01QA", "U02QA", "U03OWNER"
CONFIGURED_IDS = frozenset({QA_1, QA_2, OWNER})
DIGEST = "sha256:" + "a" * 64
PROJECT = Project(
    id="shop",
    name="Shop",
    url="https://shop.example.com",
    channel="C0123456789",
    qa=frozenset({QA_2, QA_1}),
    owners=frozenset({OWNER}),
    namespace="shop",
)
TOKEN = re.compile(r"<([^<>]*)>")
LONG = "x" * 10_000
HOSTILE_REASON = "*bold* <!channel> " + LONG

Rendered = tuple[str, list[dict[str, Any]]]


def a_build(state: BuildState = BuildState.READY, **changes: Any) -> Build:
    build = Build(
        id="b-1",
        project_id="shop",
        type=BuildType.BRANCH,
        target="feature/login",
        image="registry.example.com:5000/shop:abc123",
        state=state,
        created_at=NOW,
        updated_at=NOW,
        commit="0123456789abcdef",
        author="Ann",
        build_number=42,
        ci_url="https://ci.example.com/runs/42",
        digest=DIGEST,
        preview_url="https://feature-login.branch.shop.example.com",
    )
    return replace(build, **changes)


NEWER = a_build(id="b-2", image="registry.example.com:5000/shop:def456")


def deploy(outcome: Outcome | None = None, reason: str | None = None) -> Decision:
    return Decision("b-1", Action.DEPLOY, OWNER, NOW, outcome=outcome, reason=reason)


def close() -> Decision:
    return Decision("b-1", Action.CLOSE, OWNER, NOW)


def verdict(user: str, kind: Verdict, reason: str | None = None) -> VerdictRecord:
    return VerdictRecord("b-1", user, kind, NOW, reason=reason)


TALLY = Tally(approved=(QA_1, QA_2), rejected=(OWNER,))


def strings(node: object) -> Iterator[str]:
    """Every string anywhere in the blocks: texts, confirm dialogs, values."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def assert_markup_is_ours(text: str, blocks: object) -> None:
    """Only mentions of configured ids and http(s) links; no command, no stray `<` or `>`."""
    for string in [text, *strings(blocks)]:
        assert "<!" not in string
        for token in TOKEN.findall(string):
            if token.startswith("@"):
                assert token[1:] in CONFIGURED_IDS, string
            else:
                assert token.startswith(("https://", "http://")), string
        assert not re.search("[<>]", TOKEN.sub("", string)), string


def valid(rendered: Rendered) -> Rendered:
    """The rendering, after checking Slack would take it and it says only what we meant."""
    text, blocks = rendered
    validate_blocks(blocks)
    assert 0 < len(text) <= 3000
    assert all(len(s) <= 3000 for s in strings(blocks))
    assert_markup_is_ours(text, blocks)
    return rendered


def shown(view: MessageView) -> tuple[str, list[Button]]:
    _, blocks = valid(render(view))
    return visible_text(blocks), buttons(blocks)


# --- mentions ----------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["U123", "W0ABC99"])
def test_a_slack_user_id_becomes_a_mention(user: str) -> None:
    assert mention(user) == f"<@{user}>"


@pytest.mark.parametrize("user", ["<@U999|x>", "u123", "U123\n", "U-1", "", "<!channel>"])
def test_anything_that_is_not_a_user_id_is_shown_escaped_rather_than_mentioned(
    user: str,
) -> None:
    assert "<" not in mention(user)


# --- the channel card --------------------------------------------------------------------


@pytest.mark.parametrize("state", list(BuildState))
def test_a_card_in_every_state_is_valid_block_kit(state: BuildState) -> None:
    card = BuildCard(PROJECT, a_build(state, reason="boom"), NEWER, "slow", TALLY, deploy())
    text, buttons_ = shown(card)
    assert "feature/login" in text
    assert buttons_ == []


@pytest.mark.parametrize("state", [BuildState.READY, BuildState.PROMOTING, BuildState.PROMOTED])
def test_a_live_card_shows_the_tally_with_mentions(state: BuildState) -> None:
    text, _ = shown(BuildCard(PROJECT, a_build(state), tally=TALLY))
    assert (
        f":white_check_mark: 2 approved (<@{QA_1}>, <@{QA_2}>) · :x: 1 rejected (<@{OWNER}>)"
        in text
    )


def test_a_card_without_verdicts_shows_no_tally() -> None:
    text, _ = shown(BuildCard(PROJECT, a_build()))
    assert "approved" not in text
    assert "rejected" not in text


def test_a_card_still_deploying_shows_no_tally_even_with_verdicts() -> None:
    text, _ = shown(BuildCard(PROJECT, a_build(BuildState.DEPLOYING), tally=TALLY))
    assert "approved" not in text


@pytest.mark.parametrize(
    ("decision", "line"),
    [
        (deploy(), f"Deploying to production (started by <@{OWNER}>)…"),
        (deploy(Outcome.DEPLOYED), f"Deployed to production by <@{OWNER}>"),
        (deploy(Outcome.FAILED, "quota"), f"Production deploy by <@{OWNER}> failed: quota"),
        (close(), f"Closed by <@{OWNER}>"),
    ],
)
def test_a_card_shows_the_latest_owner_decision(decision: Decision, line: str) -> None:
    text, _ = shown(BuildCard(PROJECT, a_build(BuildState.PROMOTED), decision=decision))
    assert line in text


def test_a_card_fallback_text_is_a_short_summary() -> None:
    text, _ = valid(render(BuildCard(PROJECT, a_build())))
    assert text == "Shop: `feature/login` preview ready"


# --- an owner's DM -----------------------------------------------------------------------


def test_a_ready_owner_dm_offers_deploy_and_close_carrying_only_the_build_id() -> None:
    _, blocks = valid(render(OwnerDM(PROJECT, a_build(), Tally())))
    deploy_button, close_button = buttons(blocks)
    assert (deploy_button.action_id, deploy_button.value) == ("deploy_production", "b-1")
    assert deploy_button.text == "Deploy to production"
    assert deploy_button.style == "primary"
    assert (close_button.action_id, close_button.value) == ("close_build", "b-1")
    assert close_button.text == "Close"


def test_both_owner_buttons_ask_for_confirmation_first() -> None:
    _, blocks = valid(render(OwnerDM(PROJECT, a_build(), Tally())))
    deploy_button, close_button = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert (
        "Deploy registry.example.com:5000/shop:abc123 to production?"
        in (deploy_button["confirm"]["text"]["text"])
    )
    assert "will be deleted" in close_button["confirm"]["text"]["text"]


def test_an_owner_dm_links_the_preview_and_names_the_qa_members_sorted() -> None:
    text, _ = shown(OwnerDM(PROJECT, a_build(), Tally()))
    assert "Preview of `feature/login` (branch) for Shop is ready: <https://feature-login." in text
    assert f"QA: <@{QA_1}>, <@{QA_2}>" in text
    assert "No QA verdicts yet" in text


def test_an_owner_dm_shows_the_build_facts_and_the_tally() -> None:
    text, _ = shown(OwnerDM(PROJECT, a_build(), TALLY))
    for fact in ("`registry.example.com:5000/shop:abc123`", "`0123456789ab`", "#42", "Ann"):
        assert fact in text
    assert "<https://ci.example.com/runs/42|CI run>" in text
    assert f"2 approved (<@{QA_1}>, <@{QA_2}>)" in text


@pytest.mark.parametrize(
    ("state", "decision", "newer", "line"),
    [
        (
            BuildState.PROMOTED,
            deploy(Outcome.DEPLOYED),
            None,
            f"Deployed to production by <@{OWNER}>",
        ),
        (BuildState.PROMOTING, deploy(), None, f"Deploying to production (started by <@{OWNER}>)…"),
        (BuildState.CLOSED, close(), None, f"Closed by <@{OWNER}>"),
        (BuildState.SUPERSEDED, None, NEWER, "Superseded by build `b-2` (`registry.example"),
        (BuildState.SUPERSEDED, None, None, "Superseded by a newer build"),
        (BuildState.FAILED, None, None, "The preview failed to deploy"),
    ],
)
def test_an_owner_dm_that_cannot_be_acted_on_says_why_and_has_no_buttons(
    state: BuildState, decision: Decision | None, newer: Build | None, line: str
) -> None:
    text, buttons_ = shown(OwnerDM(PROJECT, a_build(state), TALLY, decision, newer))
    assert line in text
    assert buttons_ == []


@pytest.mark.parametrize("view", ["card", "owner"])
def test_the_card_and_the_owner_dm_say_when_the_author_is_unknown_to_slack(view: str) -> None:
    unknown = a_build(author="ghost@example.com", author_user="")
    drawn = BuildCard(PROJECT, unknown) if view == "card" else OwnerDM(PROJECT, unknown, Tally())

    text, _ = shown(drawn)

    assert "by ghost@example.com (author unknown to Slack)" in text
    assert "unknown to Slack" not in shown(OwnerDM(PROJECT, a_build(author_user="U9"), Tally()))[0]


def test_with_unknown_author_block_the_owner_dm_says_why_and_offers_no_deploy() -> None:
    blocking = replace(PROJECT, policy=Policy(unknown_author=UnknownAuthor.BLOCK))
    quorum = Quorum(required=1, approvals=(QA_1,))

    text, buttons_ = shown(
        OwnerDM(blocking, a_build(author="ghost@example.com", author_user=""), TALLY, quorum=quorum)
    )

    assert "Not ready for production: its author is unknown to Slack, so four eyes" in text
    assert [b.action_id for b in buttons_] == ["close_build"]


def test_an_owner_dm_says_when_an_approver_may_not_deploy() -> None:
    strict = replace(PROJECT, policy=Policy(approver_may_deploy=False))

    assert (
        "An owner who did not approve it deploys it" in shown(OwnerDM(strict, a_build(), TALLY))[0]
    )
    assert "did not approve" not in shown(OwnerDM(PROJECT, a_build(), TALLY))[0]


def test_after_a_failed_production_deploy_the_owner_dm_says_so_and_keeps_its_buttons() -> None:
    view = OwnerDM(PROJECT, a_build(), TALLY, deploy(Outcome.FAILED, "ImagePullBackOff"))
    text, buttons_ = shown(view)
    assert "failed: ImagePullBackOff — still promotable" in text
    assert [b.action_id for b in buttons_] == ["deploy_production", "close_build"]


def test_a_closed_owner_dm_no_longer_links_the_deleted_preview() -> None:
    text, _ = shown(OwnerDM(PROJECT, a_build(BuildState.CLOSED), Tally(), close()))
    assert "feature-login.branch" not in text


# --- a QA member's DM --------------------------------------------------------------------


def test_a_ready_qa_dm_offers_approve_and_reject_carrying_only_the_build_id() -> None:
    text, buttons_ = shown(QaDM(PROJECT, a_build(), QA_1))
    assert "Please review the preview of `feature/login` (branch) for Shop: <https://" in text
    assert [(b.action_id, b.value, b.style, b.text) for b in buttons_] == [
        ("qa_approve", "b-1", "primary", "Approve"),
        ("qa_reject", "b-1", "danger", "Reject"),
    ]


@pytest.mark.parametrize(
    ("given_verdict", "line"),
    [
        (verdict(QA_1, Verdict.APPROVED), "Approved"),
        (verdict(QA_1, Verdict.REJECTED, "login is broken"), "Rejected (login is broken)"),
        (verdict(QA_1, Verdict.REJECTED), "Rejected"),
    ],
)
def test_a_qa_dm_with_a_verdict_shows_it_instead_of_the_buttons(
    given_verdict: VerdictRecord, line: str
) -> None:
    text, buttons_ = shown(QaDM(PROJECT, a_build(), QA_1, given_verdict))
    assert line in text
    assert buttons_ == []


@pytest.mark.parametrize(
    ("state", "decision", "newer", "line"),
    [
        (BuildState.SUPERSEDED, None, NEWER, "Superseded by build `b-2`"),
        (BuildState.CLOSED, close(), None, f"Closed by <@{OWNER}> — no review needed"),
        (BuildState.PROMOTED, deploy(Outcome.DEPLOYED), None, "Already deployed to production"),
    ],
)
def test_a_qa_dm_without_a_verdict_explains_why_no_review_is_needed_any_more(
    state: BuildState, decision: Decision | None, newer: Build | None, line: str
) -> None:
    text, buttons_ = shown(QaDM(PROJECT, a_build(state), QA_1, None, decision, newer))
    assert line in text
    assert buttons_ == []


def test_a_superseded_qa_dm_keeps_the_verdict_and_says_it_was_superseded() -> None:
    view = QaDM(PROJECT, a_build(BuildState.SUPERSEDED), QA_1, verdict(QA_1, Verdict.APPROVED))
    text, buttons_ = shown(replace(view, superseded_by=NEWER))
    assert "Approved" in text
    assert "Superseded by build `b-2`" in text
    assert buttons_ == []


# --- replies, announcements, notices -----------------------------------------------------


def test_an_approval_reply_mentions_the_qa_member() -> None:
    text, blocks = valid(render(VerdictReply(verdict(QA_1, Verdict.APPROVED))))
    assert visible_text(blocks) == f"<@{QA_1}> has *approved* this build"
    assert text == f"<@{QA_1}> has *approved* this build"


def test_a_rejection_reply_quotes_the_reason_escaped_and_cut_short() -> None:
    _, blocks = valid(render(VerdictReply(verdict(QA_1, Verdict.REJECTED, HOSTILE_REASON))))
    text = visible_text(blocks)
    assert text.startswith(f"<@{QA_1}> has *rejected* this build: \u200b*\u200bbold")
    assert "&lt;!channel&gt;" in text
    assert len(text) < 600
    assert text.endswith("…")


def test_a_production_deploy_is_announced_with_the_image_pinned_by_digest() -> None:
    notice = ProductionNotice(PROJECT, a_build(BuildState.PROMOTED), deploy(Outcome.DEPLOYED))
    text, blocks = valid(render(notice))
    assert visible_text(blocks) == (
        ":rocket: *Shop* `feature/login` (image pinned as "
        f"`registry.example.com:5000/shop@{DIGEST}`) was deployed to production by "
        f"<@{OWNER}>: <https://shop.example.com|shop.example.com>"
    )
    assert text == "Shop `feature/login`: deployed to production"


def test_a_production_announcement_says_plainly_when_the_digest_is_unknown() -> None:
    build = a_build(BuildState.PROMOTED, digest=None)
    text, _ = shown(ProductionNotice(PROJECT, build, deploy(Outcome.DEPLOYED)))
    assert "digest unknown, so not pinned" in text
    assert "@sha256" not in text


def test_a_failed_production_deploy_is_announced_with_its_reason_and_a_way_forward() -> None:
    notice = ProductionNotice(
        PROJECT, a_build(), deploy(Outcome.FAILED, "ProgressDeadlineExceeded")
    )
    text, _ = shown(notice)
    assert (
        f"by <@{OWNER}> failed: ProgressDeadlineExceeded. The build can be deployed again." in text
    )


def test_a_notice_is_one_section_of_escaped_text_with_the_same_fallback() -> None:
    text, blocks = valid(render(Notice("not allowed: <!here> only QA may approve")))
    assert len(blocks) == 1
    assert blocks[0]["text"]["text"] == text == "not allowed: &lt;!here&gt; only QA may approve"


def test_a_view_without_a_renderer_is_refused() -> None:
    with pytest.raises(TypeError, match="no Block Kit renderer for str"):
        render("hello")  # type: ignore[arg-type]  # mypy refuses it first


# --- the reject-reason modal -------------------------------------------------------------


def test_the_reject_modal_asks_for_an_optional_reason_and_carries_the_build_id() -> None:
    modal = reject_modal(RejectReasonModal(a_build(), PROJECT))
    validate_view(modal, allowed_types=frozenset({"modal"}))
    assert modal["callback_id"] == REJECT_MODAL_CALLBACK
    assert modal["private_metadata"] == "b-1|"
    assert (modal["title"]["text"], modal["submit"]["text"], modal["close"]["text"]) == (
        "Reject build",
        "Reject",
        "Cancel",
    )
    (field,) = (b for b in modal["blocks"] if b["type"] == "input")
    assert field["block_id"] == REJECT_REASON_BLOCK
    assert field["optional"] is True
    element = field["element"]
    assert element["type"] == "plain_text_input"
    assert element["action_id"] == REJECT_REASON_INPUT
    assert element["multiline"] is True
    assert element["max_length"] == REASON_MAX
    assert "`feature/login`" in visible_text(modal["blocks"])


def test_the_reject_modal_shows_a_hostile_target_as_text() -> None:
    modal = reject_modal(RejectReasonModal(a_build(target="<!channel>" + LONG), PROJECT))
    validate_view(modal, allowed_types=frozenset({"modal"}))
    assert_markup_is_ours("", modal)


# --- hostile text ------------------------------------------------------------------------


def every_view(build: Build, reason: str, note: str = "") -> list[MessageView]:
    """Each view type in the states that say the most, all built around `build`."""
    failed = deploy(Outcome.FAILED, reason)
    rejected = verdict(QA_2, Verdict.REJECTED, reason)
    return [
        BuildCard(PROJECT, build, NEWER, note or None, TALLY, failed),
        BuildCard(PROJECT, replace(build, state=BuildState.FAILED, reason=reason)),
        BuildCard(PROJECT, replace(build, state=BuildState.STALE, reason=reason)),
        OwnerDM(PROJECT, build, TALLY, failed),
        OwnerDM(PROJECT, replace(build, state=BuildState.SUPERSEDED), TALLY, None, build),
        QaDM(PROJECT, build, QA_1),
        QaDM(PROJECT, build, QA_2, rejected, failed),
        QaDM(PROJECT, replace(build, state=BuildState.CLOSED), QA_1, None, close()),
        VerdictReply(rejected),
        ProductionNotice(PROJECT, build, failed),
        ProductionNotice(PROJECT, build, deploy(Outcome.DEPLOYED)),
        ProductionNotice(PROJECT, replace(build, digest=reason), deploy()),
        Notice(reason),
    ]


HOSTILE_BUILD = a_build(
    target="<!channel>",
    author="<@U999|x>",
    commit="<!here>`",
    image="<https://evil.example|Approve>",
    ci_url="javascript:alert(1)",
)


@pytest.mark.parametrize("view", every_view(HOSTILE_BUILD, HOSTILE_REASON, "<!everyone>"))
def test_hostile_text_never_mentions_forges_a_link_or_overflows_a_block(view: MessageView) -> None:
    text, blocks = valid(render(view))
    everything = "\n".join([text, *strings(blocks)])
    assert "<!channel>" not in everything
    assert "<@U999" not in everything
    assert "<https://evil" not in everything
    assert "javascript:" not in "".join(TOKEN.findall(everything))
    if not isinstance(view, Notice):
        assert len(text) <= FALLBACK_LIMIT


def test_a_ten_thousand_character_target_is_cut_to_fit_every_block() -> None:
    build = a_build(target=LONG, author=LONG, image=LONG, commit=LONG)
    for view in every_view(build, LONG, LONG):
        valid(render(view))
    valid(render(OwnerDM(PROJECT, build, Tally())))


MARKUP = [
    "<!channel>",
    "<!here|here>",
    "<@U999|x>",
    "<#C1>",
    "<https://evil.example|Approve>",
    "https://ok.example",
    "&lt;!channel&gt;",
    "&amp;",
    "@everyone",
    "*",
    "_",
    "~",
    "`",
    "```",
    "|",
    "<",
    ">",
    "\n&gt; ",
    "\u202e",
    "\x00",
    "x" * 3000,
]
# Arbitrary text, with markup fragments mixed in so that they meet the escaping often.
hostile_text = st.lists(st.one_of(st.sampled_from(MARKUP), st.text()), max_size=6).map("".join)


@settings(max_examples=60, deadline=None)
@given(
    target=hostile_text,
    author=hostile_text,
    reason=hostile_text,
    image=hostile_text,
    ci_url=hostile_text,
    state=st.sampled_from(BuildState),
)
def test_any_target_author_or_reason_renders_valid_blocks_with_only_our_markup(
    *, target: str, author: str, reason: str, image: str, ci_url: str, state: BuildState
) -> None:
    build = a_build(state, target=target, author=author, image=image, ci_url=ci_url, reason=reason)
    for view in every_view(build, reason, reason):
        valid(render(view))
    modal = reject_modal(RejectReasonModal(build, replace(PROJECT, name=reason or "x")))
    validate_view(modal, allowed_types=frozenset({"modal"}))
    assert_markup_is_ours("", modal)
