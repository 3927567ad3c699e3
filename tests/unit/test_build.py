"""The build state machine's rule for moves decided on a build as it was read."""

from __future__ import annotations

import pytest

from cibot.domain.build import LIVE, BuildState, still_applies

S = BuildState


@pytest.mark.parametrize(
    ("read", "current"),
    [
        (S.ACCEPTED, S.DEPLOYING),
        (S.DEPLOYING, S.READY),
        (S.READY, S.DEPLOYING),
        (S.FAILED, S.READY),
    ],
)
def test_a_decision_on_a_live_build_holds_while_it_moves_along_the_live_states(
    read: BuildState, current: BuildState
) -> None:
    assert still_applies(read, current)


@pytest.mark.parametrize(
    ("read", "current"),
    [
        (S.READY, S.PROMOTING),
        (S.READY, S.CLOSED),
        (S.ACCEPTED, S.SUPERSEDED),
        (S.PROMOTED, S.READY),
    ],
)
def test_a_decision_is_void_once_someone_else_took_the_build_elsewhere(
    read: BuildState, current: BuildState
) -> None:
    assert not still_applies(read, current)


@pytest.mark.parametrize("state", list(BuildState))
def test_a_build_that_did_not_move_may_always_be_moved_as_decided(state: BuildState) -> None:
    assert still_applies(state, state)
    assert (state in LIVE) or not any(still_applies(state, other) for other in LIVE - {state})
