"""The simulcast layer rule: up for small or missing faces, down only with room to spare."""

from __future__ import annotations

import pytest

from bot.connectors.layers import LayerChooser, LayerRule, face_widths, next_layer

RULE = LayerRule(min_face_px=120, window=3, top=2)


def test_waits_for_a_full_window() -> None:
    assert next_layer(0, [50, 50], RULE) == 0
    assert next_layer(0, [50, 50, 50], RULE) == 1


def test_small_median_face_moves_up_and_stops_at_the_top() -> None:
    assert next_layer(1, [100, 130, 110], RULE) == 2
    assert next_layer(2, [60, 60, 60], RULE) == 2


def test_no_face_at_all_moves_up_one_face_does_not() -> None:
    assert next_layer(0, [None, None, None], RULE) == 1
    assert next_layer(0, [None, None, 140], RULE) == 0  # one large face: the layer is fine


def test_large_faces_move_down_only_with_margin() -> None:
    # half of 310 is 155 >= 1.25 * 120 = 150: down
    assert next_layer(2, [310, 320, 330], RULE) == 1
    # half of 290 is 145 < 150: stay (would be close to the floor after the move)
    assert next_layer(2, [290, 320, 330], RULE) == 2
    # a missing face in the window keeps the layer (cannot judge the move)
    assert next_layer(2, [None, 320, 330], RULE) == 2
    assert next_layer(0, [400, 400, 400], RULE) == 0  # already the lowest


def test_judges_only_the_last_window() -> None:
    assert next_layer(0, [20, 20, 20, 200, 200, 200], RULE) == 0


def test_chooser_moves_once_then_starts_afresh() -> None:
    c = LayerChooser(RULE, layer=0)
    assert [c.add(80), c.add(90), c.add(100)] == [None, None, 1]
    assert c.layer == 1
    # the old layer's sizes are forgotten: two more samples are not a window yet
    assert [c.add(200), c.add(210)] == [None, None]
    assert c.add(220) is None  # 200/2 = 100 < 150: stays at 1
    assert c.layer == 1


def test_a_student_who_walks_away_brings_the_layer_back_down() -> None:
    c = LayerChooser(RULE, layer=0)
    moves = [c.add(None) for _ in range(6)]
    assert moves == [None, None, 1, None, None, 2]
    moves = [c.add(400) for _ in range(3)]
    assert moves == [None, None, 1]


def test_start_layer_is_clamped() -> None:
    assert LayerChooser(RULE, layer=7).layer == 2
    assert LayerChooser(LayerRule(top=1), layer=-1).layer == 0


@pytest.mark.parametrize("bad", [{"min_face_px": 0}, {"window": 0}, {"bottom": 3, "top": 2},
                                 {"margin": 0.5}, {"scale": 1.0}])
def test_bad_rules_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LayerRule(**bad)  # type: ignore[arg-type]


def test_face_widths_by_feed() -> None:
    from analysis.records import FaceReading, Observation, State

    small, big = FaceReading(1, (0, 0, 90, 110), 0.9), FaceReading(2, (200, 0, 150, 180), 0.9)
    obs = [Observation("s", "p1", 1.0, State.PRESENT, (small, big)),  # the largest face counts
           Observation("s", "p2", 1.0, State.ABSENT),  # video, nobody: None
           Observation("s", "p3", 1.0, State.CAMERA_OFF),  # says nothing about the layer
           Observation("s", "p4", 1.0, State.PRESENT, (small,))]  # no video feed known: left out
    assert face_widths(obs, {"p1": "11", "p2": "12", "p3": "13"}) == {"11": 150.0, "12": None}
