"""The rotation over students with camera on: fairness, re-planning, and the sampling it achieves."""

from __future__ import annotations

import math

import pytest

from bot.sessions.rotation import Rotation, coverage


def step(rot: Rotation, now: float) -> int | None:
    """One scheduler decision; a switched-to student delivers its first frame at once."""
    nxt = rot.due(now)
    if rot.current is not None:
        rot.frame(rot.current, now)
    return nxt


def test_round_robin_in_camera_on_order_with_dwell_from_first_frame() -> None:
    rot2: Rotation[int] = Rotation(dwell_s=3.0, frame_timeout_s=10.0)
    for u in (1, 2, 3):
        rot2.video_on(u)
    assert rot2.due(0.0) == 1
    assert rot2.due(1.0) is None  # subscribed, waiting for the first frame
    rot2.frame(1, 1.5)
    assert rot2.due(4.4) is None  # dwell counts from the first frame (1.5 + 3)
    assert rot2.due(4.6) == 2
    rot2.frame(2, 4.7)
    assert rot2.due(7.8) == 3
    rot2.frame(3, 7.9)
    assert rot2.due(11.0) == 1  # back to the start: round-robin


def test_a_student_who_sends_nothing_is_skipped_after_the_frame_timeout() -> None:
    rot: Rotation[int] = Rotation(dwell_s=3.0, frame_timeout_s=2.0)
    rot.video_on(1)
    rot.video_on(2)
    assert rot.due(0.0) == 1
    assert rot.due(1.9) is None
    assert rot.due(2.1) == 2


def test_camera_off_and_leaving_replan_at_once_and_late_joiners_come_next() -> None:
    rot: Rotation[int] = Rotation(dwell_s=3.0)
    for u in (1, 2, 3):
        rot.video_on(u)
    assert step(rot, 0.0) == 1
    rot.video_off(1)  # the watched student turns the camera off: move on now
    assert step(rot, 0.1) == 2
    rot.video_on(9)  # a late joiner is served before anyone already served
    assert step(rot, 3.2) == 3
    assert step(rot, 6.3) == 9
    rot.left(2)
    assert step(rot, 9.4) == 3  # 2 is gone; 1 is still off
    rot.video_on(1)  # back on: served before those served more recently
    assert step(rot, 12.5) == 1
    assert sorted(rot.candidates()) == [1, 3, 9]


def test_one_student_is_watched_continuously_and_nobody_means_no_subscription() -> None:
    rot: Rotation[int] = Rotation(dwell_s=1.0)
    assert rot.due(0.0) is None
    rot.video_on(5)
    assert step(rot, 0.0) == 5
    assert step(rot, 10.0) is None and rot.current == 5


def test_restrict_limits_the_rotation() -> None:
    rot: Rotation[int] = Rotation(dwell_s=1.0)
    for u in (1, 2, 3):
        rot.video_on(u)
    rot.restrict({2, 3})
    picks = [step(rot, t * 1.1) for t in range(4)]
    assert [p for p in picks if p is not None] == [2, 3, 2, 3]


def simulate(n: int, *, dwell_s: float, interval_s: float, switch_s: float, duration_s: float) -> dict[int, int]:
    """Samples per student: the sampler ticks every interval and samples only the watched student,
    whose frames start `switch_s` after the subscription."""
    rot: Rotation[int] = Rotation(dwell_s=dwell_s, frame_timeout_s=10 * dwell_s)
    for u in range(n):
        rot.video_on(u)
    samples = dict.fromkeys(range(n), 0)
    switched_at = 0.0
    t = 0.0
    dt = 0.01
    next_tick = interval_s
    while t < duration_s:
        if rot.due(t) is not None:
            switched_at = t
        if rot.current is not None and t >= switched_at + switch_s:
            rot.frame(rot.current, t)
            if t >= next_tick - 1e-9:
                samples[rot.current] += 1
        if t >= next_tick - 1e-9:
            next_tick += interval_s
        t = round(t + dt, 6)
    return samples


@pytest.mark.parametrize("n", [10, 30])
def test_achieved_sampling_rate_matches_the_documented_formula(n: int) -> None:
    dwell, interval, switch = 3.0, 1.0, 0.5
    cov = coverage(n, dwell_s=dwell, interval_s=interval, switch_s=switch)
    duration = 20 * cov.cycle_s
    samples = simulate(n, dwell_s=dwell, interval_s=interval, switch_s=switch, duration_s=duration)
    per_min = [60.0 * s / duration for s in samples.values()]
    assert min(per_min) >= 0.9 * cov.samples_per_min and max(per_min) <= 1.1 * cov.samples_per_min
    assert max(samples.values()) - min(samples.values()) <= 2 * math.ceil(dwell / interval)  # fair
    expected = {10: (35.0, 5.14), 30: (105.0, 1.71)}[n]
    assert cov.cycle_s == expected[0] and round(cov.samples_per_min, 2) == expected[1]


def test_a_student_abandoned_without_a_frame_is_reported_as_unanswered() -> None:
    rot: Rotation[str] = Rotation(dwell_s=1.0, frame_timeout_s=1.0)
    rot.video_on("a")
    rot.video_on("b")
    assert rot.due(0.0) == "a"
    assert rot.due(1.1) == "b"  # "a" never sent a frame
    assert rot.unanswered == ["a"]
    rot.frame("b", 1.2)
    assert rot.due(2.3) == "a" and rot.unanswered == ["a"]  # "b" answered: not reported
