"""The policy's pure rules: image allow-lists, freeze windows, the quorum's arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from cibot.domain.lifecycle import IdleStep, Lifecycle, idle_check
from cibot.domain.policy import (
    DateWindow,
    Freeze,
    ImageRule,
    Policy,
    WeeklyWindow,
    quorum,
    split_image,
)
from cibot.domain.verdicts import Verdict, VerdictRecord

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # a Friday, 16:00 in Berlin


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx", ("docker.io", "library/nginx")),
        ("nginx:1.27", ("docker.io", "library/nginx")),
        ("acme/web:1", ("docker.io", "acme/web")),
        ("ghcr.io/acme/web:1", ("ghcr.io", "acme/web")),
        ("localhost:5000/web@sha256:" + "a" * 64, ("localhost:5000", "web")),
        ("Registry.Example.com/a/b/c:tag", ("registry.example.com", "a/b/c")),
        ("localhost/web", ("localhost", "web")),
    ],
)
def test_an_image_is_split_into_registry_and_repository_as_runtimes_do(
    image: str, expected: tuple[str, str]
) -> None:
    assert split_image(image) == expected


@pytest.mark.parametrize(
    ("rule", "image", "allowed"),
    [
        ("ghcr.io", "ghcr.io/anyone/anything:1", True),
        ("ghcr.io/acme/web", "ghcr.io/acme/web:1", True),
        ("ghcr.io/acme/web", "ghcr.io/acme/web-evil:1", False),
        ("ghcr.io/acme/web", "ghcr.io/acme/web/sub:1", False),
        ("ghcr.io/acme/*", "ghcr.io/acme/web:1", True),
        ("ghcr.io/acme/*", "ghcr.io/acme/team/web:1", True),
        ("ghcr.io/acme/*", "ghcr.io/acmecorp/web:1", False),
        ("ghcr.io/acme/*", "ghcr.io.evil.com/acme/web:1", False),
        ("docker.io/library/*", "nginx:1", True),
        ("ghcr.io", "evil.com/ghcr.io/web:1", False),
    ],
)
def test_an_allow_list_rule_allows_exactly_its_registry_repository_or_path(
    rule: str, image: str, allowed: bool
) -> None:
    assert Policy(allowed_images=(ImageRule.parse(rule),)).image_allowed(image) is allowed


def test_without_an_allow_list_any_image_is_allowed() -> None:
    assert Policy().image_allowed("anything.example/at/all:1")


def test_a_date_window_covers_its_start_but_not_its_end() -> None:
    window = DateWindow(NOW, NOW + timedelta(hours=1), "migration")
    assert window.covers(NOW)
    assert not window.covers(NOW + timedelta(hours=1))
    assert not window.covers(NOW - timedelta(seconds=1))


def test_a_weekly_window_spans_the_weekend_in_its_own_time_zone() -> None:
    weekend = WeeklyWindow(4, time(16, 0), 0, time(8, 0), "Europe/Berlin", "weekend")

    assert weekend.covers(NOW), "Friday 16:00 in Berlin"
    assert not weekend.covers(NOW - timedelta(minutes=1))
    assert weekend.covers(NOW + timedelta(days=2, hours=15)), "Monday 07:00 in Berlin"
    assert not weekend.covers(NOW + timedelta(days=2, hours=16)), "Monday 08:00 in Berlin"
    assert weekend.ends(NOW) == datetime(2026, 12, 7, 7, 0, tzinfo=UTC)


def test_a_weekly_window_within_one_day() -> None:
    lunch = WeeklyWindow(2, time(12, 0), 2, time(13, 0), "UTC")
    wednesday_noon = datetime(2026, 12, 2, 12, 30, tzinfo=UTC)
    assert lunch.covers(wednesday_noon)
    assert not lunch.covers(wednesday_noon + timedelta(hours=1))
    assert not lunch.covers(wednesday_noon + timedelta(days=1))


def test_an_owners_freeze_comes_before_a_window_and_a_window_says_until_when() -> None:
    window = DateWindow(NOW - timedelta(hours=1), NOW + timedelta(hours=1), "migration")
    policy = Policy(freeze_windows=(window,))
    manual = Freeze("release week", by="U0OWNER")

    assert policy.freeze(manual, NOW) == manual
    assert policy.freeze(None, NOW) == Freeze("migration", until=NOW + timedelta(hours=1))
    assert policy.freeze(None, NOW + timedelta(hours=2)) is None


def approval(user: str, minute: int = 0, verdict: Verdict = Verdict.APPROVED) -> VerdictRecord:
    return VerdictRecord("b1", user, verdict, NOW + timedelta(minutes=minute))


def test_the_quorum_counts_current_qa_only_and_never_the_author() -> None:
    verdicts = [approval("U0A", 2), approval("U0B", 1), approval("U0GONE"), approval("U0ME")]

    seen = quorum(Policy(approvals_required=2), {"U0A", "U0B", "U0ME"}, "U0ME", verdicts)

    assert seen.approvals == ("U0B", "U0A"), "oldest first"
    assert seen.uncounted == (("U0GONE", "no longer in QA"), ("U0ME", "the author's own approval"))
    assert seen.met and seen.missing() == ""


def test_without_four_eyes_the_authors_approval_counts() -> None:
    seen = quorum(Policy(four_eyes=False), {"U0ME"}, "U0ME", [approval("U0ME")])
    assert seen.met


@pytest.mark.parametrize(
    ("required", "verdicts", "missing"),
    [
        (1, [], "it needs 1 more QA approval (0 of 1)"),
        (3, [approval("U0A")], "it needs 2 more QA approvals (1 of 3)"),
        (1, [approval("U0A"), approval("U0B", 1, Verdict.REJECTED)], "it was rejected by U0B"),
    ],
)
def test_what_is_missing_is_said_in_words(
    required: int, verdicts: list[VerdictRecord], missing: str
) -> None:
    seen = quorum(Policy(approvals_required=required), {"U0A", "U0B"}, None, verdicts)
    assert not seen.met
    assert seen.missing() == missing


LIFE = Lifecycle(preview_ttl=timedelta(days=7), preview_ttl_warning=timedelta(days=1))


def test_an_idle_preview_is_warned_about_then_removed_never_earlier_than_promised() -> None:
    since = NOW
    early = idle_check(LIFE, since, NOW + timedelta(days=1))
    warn = idle_check(LIFE, since, NOW + timedelta(days=6))
    late = idle_check(LIFE, since, NOW + timedelta(days=9))  # ci-bot was down for days
    assert early is not None and warn is not None and late is not None

    assert (early.step, early.at) == (IdleStep.WAIT, NOW + timedelta(days=6))
    assert (warn.step, warn.at) == (IdleStep.WARN, NOW + timedelta(days=7))
    assert (late.step, late.at) == (IdleStep.WARN, NOW + timedelta(days=10)), "a full day's notice"

    promised = NOW + timedelta(days=7)
    kw = {"warned_for": since, "removal_at": promised}
    waiting = idle_check(LIFE, since, NOW + timedelta(days=6, hours=1), **kw)
    removing = idle_check(LIFE, since, promised, **kw)
    assert waiting is not None and removing is not None
    assert (waiting.step, waiting.at) == (IdleStep.WAIT, promised)
    assert removing.step is IdleStep.REMOVE


def test_a_warning_counts_only_for_the_idle_period_it_was_given_in() -> None:
    active_again = NOW + timedelta(days=6, hours=2)
    seen = idle_check(
        LIFE,
        active_again,
        NOW + timedelta(days=7),
        warned_for=NOW,
        removal_at=NOW + timedelta(days=7),
    )
    assert seen is not None and seen.step is IdleStep.WAIT


def test_previews_without_a_ttl_are_never_checked() -> None:
    assert idle_check(Lifecycle(preview_ttl=None), NOW, NOW + timedelta(days=365)) is None
