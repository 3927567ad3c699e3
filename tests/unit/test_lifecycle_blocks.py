"""Block Kit for the lifecycle: expired builds, builds ci-bot closed, idle warnings, reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cibot.adapters.slack.blocks import render
from cibot.domain.build import BuildState
from cibot.domain.review import Action, Decision, Outcome, Tally, Verdict, VerdictRecord
from cibot.service.views import (
    BuildCard,
    IdleWarning,
    MessageView,
    OwnerDM,
    QaDM,
    ReviewReminder,
)
from tests.unit.test_blocks import (
    HOSTILE_BUILD,
    NOW,
    PROJECT,
    QA_1,
    TALLY,
    a_build,
    deploy,
    shown,
    strings,
    valid,
    verdict,
)

EXPIRED = a_build(BuildState.EXPIRED)
BY_CIBOT = Decision("b-1", Action.CLOSE, "cibot", NOW, note="branch deleted")


def test_an_expired_card_says_so_and_no_longer_links_the_preview() -> None:
    text, _ = shown(BuildCard(PROJECT, EXPIRED, tally=TALLY))
    assert "expired: nobody decided in time" in text
    assert "feature-login.branch" not in text


@pytest.mark.parametrize(
    "decision", [None, deploy(Outcome.FAILED, "CrashLoopBackOff")], ids=["undecided", "failed"]
)
def test_an_expired_owner_dm_says_it_expired_and_has_no_buttons(decision: Decision | None) -> None:
    view = OwnerDM(PROJECT, EXPIRED, TALLY, decision, expires_at=NOW + timedelta(hours=1))
    text, buttons_ = shown(view)
    assert "Expired: nobody decided in time" in text
    assert "still promotable" not in text and "Expires " not in text
    assert buttons_ == []


@pytest.mark.parametrize("given", [None, verdict(QA_1, Verdict.APPROVED)], ids=["none", "approved"])
def test_an_expired_qa_dm_says_it_expired_and_has_no_buttons(given: VerdictRecord | None) -> None:
    text, buttons_ = shown(QaDM(PROJECT, EXPIRED, QA_1, given))
    assert "Expired: nobody decided in time" in text
    assert buttons_ == []


def test_a_build_ci_bot_closed_says_why_on_the_card_and_in_every_dm() -> None:
    closed = a_build(BuildState.CLOSED, reason="branch deleted")

    card, _ = shown(BuildCard(PROJECT, closed, decision=BY_CIBOT))
    owner, _ = shown(OwnerDM(PROJECT, closed, Tally(), BY_CIBOT))
    qa, _ = shown(QaDM(PROJECT, closed, QA_1, None, BY_CIBOT))

    assert "was closed: branch deleted" in card
    assert "Closed: branch deleted" in owner
    assert "Closed (branch deleted) — no review needed" in qa


def test_an_idle_warning_says_since_when_and_when_the_preview_goes() -> None:
    warning = IdleWarning(PROJECT, a_build(), NOW, NOW + timedelta(days=7))
    text, buttons_ = shown(warning)
    assert "has been idle since 2025-03-04 05:06 UTC" in text
    assert "closed at 2025-03-11 05:06 UTC" in text
    assert "A verdict or a deploy keeps it" in text
    assert buttons_ == []


def test_an_idle_warning_about_a_failed_build_promises_nothing_that_could_keep_it() -> None:
    text, _ = shown(IdleWarning(PROJECT, a_build(BuildState.FAILED), NOW, NOW))
    assert "keeps it" not in text


def test_a_reminder_links_the_preview_and_says_how_long_it_has_waited() -> None:
    text, buttons_ = shown(ReviewReminder(PROJECT, a_build(), NOW))
    assert text.startswith(":bell: Reminder: the preview of `feature/login` (branch) for Shop")
    assert "waiting for your review since 2025-03-04 05:06 UTC: <https://feature-login" in text
    assert buttons_ == []


@pytest.mark.parametrize(
    "view",
    [
        IdleWarning(PROJECT, HOSTILE_BUILD, NOW, NOW),
        ReviewReminder(PROJECT, HOSTILE_BUILD, NOW),
        OwnerDM(PROJECT, HOSTILE_BUILD, Tally(), BY_CIBOT),
    ],
)
def test_hostile_names_in_lifecycle_messages_are_shown_not_obeyed(view: MessageView) -> None:
    text, blocks = valid(render(view))
    everything = "\n".join([text, *strings(blocks)])
    assert "<!channel>" not in everything
    assert "<@U999" not in everything
