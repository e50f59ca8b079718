"""The session state machine and leave policy, rule by rule."""

import pytest

from bot.connectors.base import FailureReason
from bot.sessions.lifecycle import (
    TRANSITIONS,
    InvalidTransition,
    LeavePolicy,
    LeaveReason,
    Lifecycle,
    Presence,
    State,
    leave_reason,
)

HAPPY = [State.JOINING, State.IN_CLASS, State.LEAVING, State.PROCESSING, State.DONE]


def test_happy_path_and_history() -> None:
    lc = Lifecycle()
    for s in HAPPY:
        lc.to(s)
    assert lc.history == [State.SCHEDULED, *HAPPY] and lc.finished and lc.failure is None


@pytest.mark.parametrize("state", [s for s in State if s not in (State.DONE, State.FAILED)])
def test_every_unfinished_state_can_fail_with_a_reason(state: State) -> None:
    lc = Lifecycle()
    for s in HAPPY[: HAPPY.index(state) + 1] if state in HAPPY else []:
        lc.to(s)
    assert lc.state is state
    lc.fail(FailureReason.WRONG_SECRET, "pin refused")
    assert lc.state is State.FAILED and lc.failure is FailureReason.WRONG_SECRET
    assert lc.detail == "pin refused"


def test_illegal_transitions_are_refused() -> None:
    for src, allowed in TRANSITIONS.items():
        for dst in State:
            if dst in allowed or dst is State.FAILED:
                continue
            lc = Lifecycle(state=src)
            with pytest.raises(InvalidTransition):
                lc.to(dst)
    lc = Lifecycle()
    with pytest.raises(InvalidTransition, match="fail"):
        lc.to(State.FAILED)
    lc.fail(FailureReason.NETWORK, "x")
    with pytest.raises(InvalidTransition):
        lc.fail(FailureReason.NETWORK, "again")


POLICY = LeavePolicy(empty_timeout_s=10, nobody_timeout_s=60, max_duration_s=100, media_timeout_s=20)


def test_leaves_when_empty_long_enough_only_after_someone_came() -> None:
    p = Presence(in_class_since=0)
    p.update(5, 0)
    assert leave_reason(POLICY, p, 30) is None  # nobody yet: empty timer does not run
    p.update(31, 2)
    p.update(40, 0)
    assert p.empty_since == 40
    assert leave_reason(POLICY, p, 49) is None
    p.update(45, 1)  # someone came back: timer reset
    p.update(46, 0)
    assert leave_reason(POLICY, p, 55) is None
    assert leave_reason(POLICY, p, 56) is LeaveReason.EMPTY


def test_nobody_joined_max_duration_and_no_media() -> None:
    p = Presence(in_class_since=100)
    assert leave_reason(POLICY, p, 159) is None
    assert leave_reason(POLICY, p, 160) is LeaveReason.NOBODY_JOINED
    p.update(110, 3)
    assert leave_reason(POLICY, p, 199) is None
    assert leave_reason(POLICY, p, 200) is LeaveReason.MAX_DURATION
    q = Presence(in_class_since=0, video_since=5)
    q.update(1, 1)
    assert leave_reason(POLICY, q, 24) is None
    assert leave_reason(POLICY, q, 25) is LeaveReason.NO_MEDIA
    q.frames = 1
    assert leave_reason(POLICY, q, 25) is None
