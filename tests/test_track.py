"""FaceTracker: stable ids across samples, gaps, several faces and newcomers (hand-built boxes)."""

from __future__ import annotations

import pytest

from analysis.detect import Detection
from analysis.records import Box
from analysis.track import (
    FaceTracker,
    TrackerConfig,
    center_shift,
    greedy_assignment,
    iou,
    match_score,
    scale_change,
)


def shifted(box: Box, dx: int = 0, dy: int = 0) -> Box:
    return box[0] + dx, box[1] + dy, box[2], box[3]


A: Box = (100, 100, 80, 80)
B: Box = (400, 120, 90, 90)
C: Box = (250, 300, 70, 70)


def test_iou_and_geometry() -> None:
    assert iou(A, A) == 1.0
    assert iou(A, B) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert center_shift(A, shifted(A, dx=40)) == pytest.approx(0.5)
    assert scale_change((0, 0, 10, 10), (0, 0, 20, 20)) == pytest.approx(2.0)


def test_match_score_gates_jumps_and_size_changes() -> None:
    config = TrackerConfig()
    assert match_score(A, shifted(A, dx=10), 0, config) is not None
    assert match_score(A, B, 0, config) is None  # far away
    assert match_score(A, (100, 100, 200, 200), 0, config) is None  # size jumped
    near_after_gap = shifted(A, dx=70)  # 0.875 face sizes: too far now, fine after a gap
    assert match_score(A, near_after_gap, 0, config) is None
    assert match_score(A, near_after_gap, 3, config) is not None


def test_greedy_assignment_takes_best_pairs_once() -> None:
    scores: list[list[float | None]] = [[0.9, 0.8], [0.85, None]]
    assert sorted(greedy_assignment(scores)) == [(0, 0)]
    assert sorted(greedy_assignment([[0.2, 0.9], [0.8, 0.1]])) == [(0, 1), (1, 0)]
    assert greedy_assignment([]) == []


def test_single_face_keeps_its_id_while_moving() -> None:
    tracker = FaceTracker()
    ids = [tracker.update([shifted(A, dx=8 * t, dy=-3 * t)]) for t in range(20)]
    assert ids == [[1]] * 20


def test_face_keeps_id_across_a_short_gap() -> None:
    tracker = FaceTracker(TrackerConfig(max_gap=4))
    assert tracker.update([A]) == [1]
    assert tracker.update([shifted(A, dx=5)]) == [1]
    for _ in range(4):
        assert tracker.update([]) == []
    assert tracker.active_ids == [1]
    assert tracker.update([shifted(A, dx=40, dy=10)]) == [1]


def test_face_gets_a_new_id_after_a_long_gap() -> None:
    tracker = FaceTracker(TrackerConfig(max_gap=2))
    assert tracker.update([A]) == [1]
    for _ in range(3):
        tracker.update([])
    assert tracker.active_ids == []
    assert tracker.update([A]) == [2]


def test_face_reappearing_far_away_is_new() -> None:
    tracker = FaceTracker()
    assert tracker.update([A]) == [1]
    tracker.update([])
    assert tracker.update([B]) == [2]


def test_several_faces_keep_ids_whatever_the_detection_order() -> None:
    tracker = FaceTracker()
    assert tracker.update([A, B, C]) == [1, 2, 3]
    for t in range(1, 10):
        a, b, c = shifted(A, dx=t), shifted(B, dy=-t), shifted(C, dx=-t, dy=t)
        order = [(c, 3), (a, 1), (b, 2)] if t % 2 else [(b, 2), (c, 3), (a, 1)]
        ids = tracker.update([box for box, _ in order])
        assert ids == [expected for _, expected in order]


def test_new_face_gets_a_new_id_and_others_keep_theirs() -> None:
    tracker = FaceTracker()
    assert tracker.update([A, B]) == [1, 2]
    assert tracker.update([A, C, B]) == [1, 3, 2]
    assert tracker.update([C]) == [3]
    assert tracker.update([B, A, C]) == [2, 1, 3]


def test_gallery_of_nine_tiles() -> None:
    tiles = [(c * 320 + 110, r * 240 + 60, 100, 100) for r in range(3) for c in range(3)]
    tracker = FaceTracker()
    first = tracker.update(tiles)
    assert first == list(range(1, 10))
    for t in range(30):
        visible = [(i, shifted(b, dx=(t % 5) - 2)) for i, b in enumerate(tiles) if (i + t) % 4]
        ids = tracker.update([box for _, box in visible])
        assert ids == [first[i] for i, _ in visible]


def test_gap_does_not_steal_an_id_from_a_face_still_seen() -> None:
    tracker = FaceTracker()
    assert tracker.update([A, shifted(A, dx=95)]) == [1, 2]
    tracker.update([shifted(A, dx=95)])  # face 1 missing
    assert tracker.update([shifted(A, dx=95), A]) == [2, 1]


def test_accepts_detections_and_never_reuses_ids() -> None:
    tracker = FaceTracker()
    assert tracker.update([Detection(box=A, score=0.9)]) == [1]
    tracker.reset()
    assert tracker.update([Detection(box=A, score=0.9)]) == [2]
