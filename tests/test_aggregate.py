"""Aggregation on hand-built series: every expected number is worked out in the comments."""

from __future__ import annotations

import math

import pytest

from analysis import aggregate as agg
from analysis import classwide, concerns
from analysis.records import Observation, Quality, State
from tests.fixtures_reports import SID, absent, camera_off, face, present, probs

approx = pytest.approx


# -- per sample ---------------------------------------------------------------------------------

def test_concentration_index_weights() -> None:
    neutral, happy = probs(neutral=1.0), probs(happy=1.0)
    assert agg.engagement(True, True, neutral) == approx(1.0)  # .9 × 5 / 4.5
    assert agg.engagement(False, True, happy) == approx(0.6 * 2 / 4.5)
    mixed = probs(angry=0.1, happy=0.2, sad=0.1, neutral=0.6)  # ew = .025 + .12 + .03 + .54 = .715
    assert agg.engagement(True, None, mixed) == approx(0.715 * 5 / 4.5)
    assert agg.engagement(True, False, neutral) == 0.0  # eyes closed
    assert agg.engagement(None, False, None) == 0.0  # closed eyes need no head pose
    assert agg.engagement(None, True, neutral) is None  # unknown gaze is never guessed


def test_engagement_without_emotions_uses_gaze_only() -> None:
    assert agg.engagement(True, True, None) == approx(1.0)
    assert agg.engagement(False, True, None) == approx(0.4)
    assert agg.engagement(False, None, None) == approx(0.4)


def test_unnormalised_probabilities_are_normalised() -> None:
    assert agg.engagement(True, True, probs(neutral=0.5)) == approx(1.0)


def test_score_negative_affect_and_valence() -> None:
    p = probs(angry=0.1, fear=0.05, happy=0.3, sad=0.15, surprise=0.2, neutral=0.2)
    s = agg.score(present("x", [0], emotions=p)[0])
    assert s.negative == approx(0.1 + 0.05 + 0.15)
    assert s.valence == approx(0.3 + 0.5 * 0.2 - 0.3)
    assert s.uncertain is False and s.attentive is True


def test_flagged_faces_keep_presence_but_not_emotion() -> None:
    tiny = agg.score(present("x", [0], emotions=probs(sad=1.0), quality=[Quality.TINY])[0])
    assert (tiny.uncertain, tiny.attentive, tiny.emotions, tiny.engagement) == (True, None, None, None)
    turned = agg.score(present("x", [0], attentive=False, emotions=probs(happy=1.0),
                               quality=[Quality.TURNED_AWAY])[0])
    # the pose is still known (turned away = not attentive); the expression is not trusted
    assert (turned.uncertain, turned.attentive, turned.emotions) == (True, False, None)
    assert turned.engagement == approx(0.4)


def test_primary_face_is_the_largest() -> None:
    small = face(attentive=False)
    big = face(attentive=True)
    big = type(big)(1, (0, 0, 300, 300), 0.9, attentive=True, eyes_open=True)
    obs = Observation(SID, "x", 0.0, State.PRESENT, (small, big))
    assert agg.score(obs).attentive is True


# -- windows ------------------------------------------------------------------------------------

def test_windows_presence_excludes_camera_off() -> None:
    obs = [
        *present("x", range(10)),  # window 0: 10 present, attentive, no emotions → CI 1.0
        *present("x", range(10, 14), attentive=False),  # window 1: 4 present aside (0.4)
        *absent("x", range(14, 17)),  # 3 absent
        *camera_off("x", range(17, 20)),  # 3 camera off
        *present("x", range(20, 22)),  # window 2: 2 present, 8 camera off
        *camera_off("x", range(22, 30)),
    ]
    w = agg.windows(obs, 10)["x"]
    assert [x.start for x in w] == [0, 10, 20]
    assert w[0].level == "high" and w[0].signals.engagement == approx(1.0)
    s1 = w[1].signals
    assert (s1.n_samples, s1.n_present, s1.n_absent, s1.n_camera_off) == (10, 4, 3, 3)
    assert s1.presence_share == approx(4 / 7)  # 4 / (4 + 3): camera off not in the denominator
    assert s1.attention_share == 0.0
    assert s1.engagement == approx(0.4)
    assert w[1].level == "nominal"
    assert w[2].signals.presence_share == 1.0  # camera off never lowers presence
    assert w[2].level == "camera_off"


def test_window_levels() -> None:
    obs = [
        *present("x", range(5), quality=[Quality.BLURRED]),  # window 0: 5 present, none scored
        *present("x", range(5, 10)),
        *absent("x", range(10, 16)), *present("x", range(16, 20)),  # window 1: 4 / 10 present
        *present("x", range(20, 30), attentive=False, eyes_open=False),  # window 2: eyes closed
        *present("x", range(30, 32)),  # window 3: only 2 samples, both scored → too few
    ]
    w = agg.windows(obs, 10)["x"]
    assert w[0].signals.uncertain_share == 0.5
    assert w[0].level == "high"  # 5 of 10 scored = exactly MIN_CERTAIN_SHARE
    assert w[1].level == "absent" and w[1].signals.presence_share == approx(0.4)
    assert w[2].level == "low" and w[2].signals.engagement == 0.0
    assert w[3].level == "uncertain"
    uncertain = agg.windows(present("y", range(4), quality=[Quality.DARK]) + present("y", range(4, 7)), 10)
    assert uncertain["y"][0].level == "uncertain"  # 3 scored of 7 present < 50 %


def test_windows_share_one_grid_and_mark_missing_samples() -> None:
    obs = [*present("a", range(10)), *present("a", range(30, 40)), *present("b", range(60))]
    w = agg.windows(obs, 10)
    assert len(w["a"]) == len(w["b"]) == 6
    assert [x.level for x in w["a"]] == ["high", "no_data", "no_data", "high", "no_data", "no_data"]
    assert w["a"][1].signals.n_samples == 0 and w["a"][1].signals.presence_share is None
    assert len(agg.windows(obs, 10, end=90)["a"]) == 9


def test_window_emotion_shares_and_negative_affect() -> None:
    obs = [*present("x", range(5), emotions=probs(sad=0.8, neutral=0.2)),
           *present("x", range(5, 10), emotions=probs(happy=0.6, neutral=0.4))]
    sig = agg.windows(obs, 10)["x"][0].signals
    shares = sig.emotion_shares()
    assert shares is not None
    assert (shares["sad"], shares["happy"], shares["neutral"]) == approx((0.4, 0.3, 0.3))
    assert sig.negative_affect == approx(0.4)
    assert sig.valence == approx((-0.8 + 0.6) / 2)
    # engagement: sad/neutral ew = .24 + .18 = .42 → .4667; happy/neutral ew = .36 + .36 = .72 → .8
    assert sig.engagement == approx((0.42 * 5 / 4.5 + 0.72 * 5 / 4.5) / 2)


def test_emotions_off_gives_no_emotion_numbers() -> None:
    obs = [*present("x", range(10)), *present("x", range(10, 20), attentive=False)]
    w = agg.windows(obs, 10)["x"]
    assert all(x.signals.emotions is None and x.signals.negative_affect is None for x in w)
    assert [x.signals.engagement for x in w] == [approx(1.0), approx(0.4)]
    assert [x.level for x in w] == ["high", "nominal"]


def test_relative_engagement_against_own_baseline() -> None:
    obs = [*present("x", range(10)), *present("x", range(10, 20), attentive=False)]
    w = agg.windows(obs, 10, baseline_s=10)["x"]
    assert w[0].signals.relative_engagement == approx(0.0)
    assert w[1].signals.relative_engagement == approx(-0.6)  # 0.4 − baseline 1.0
    summary = agg.summarize(obs, baseline_s=10)["x"]
    assert summary.baseline == approx(1.0)
    assert summary.signals.relative_engagement == approx(-0.6)
    short = agg.summarize(present("y", range(5)), baseline_s=10)["y"]  # < 10 samples: no baseline
    assert short.baseline is None and short.signals.relative_engagement is None


def test_bad_window_size() -> None:
    with pytest.raises(ValueError):
        agg.windows(present("x", [0]), 0)


# -- summaries ----------------------------------------------------------------------------------

def test_summary_periods_and_gaps() -> None:
    obs = [*present("x", range(5)), *camera_off("x", range(5, 10)), *present("x", range(10, 20)),
           *absent("x", range(20, 25)), *absent("x", range(35, 40)),  # a 10 s hole splits the absence
           *present("x", range(40, 50))]
    s = agg.summarize(obs)["x"]
    assert s.interval_s == 1.0
    assert s.camera_off_periods == ((5.0, 10.0),)
    assert s.absence_periods == ((20.0, 25.0), (35.0, 40.0))
    assert (s.camera_off_s, s.absent_s, s.longest_absence_s) == (5.0, 10.0, 5.0)
    assert s.gap_s == 10.0  # t = 24 → 35: 11 s apart, one sample interval expected
    assert s.signals.presence_share == approx(25 / 35)
    assert (s.first_t, s.last_t) == (0.0, 49.0)


def test_empty_input() -> None:
    assert agg.windows([], 10) == {}
    assert agg.summarize([]) == {}
    assert classwide.class_series({}) == []
    assert classwide.class_moments({}) == []
    assert concerns.needs_attention({}) == []
    assert agg.level_of(agg.signals([])) == "no_data"


# -- the class ----------------------------------------------------------------------------------

def test_class_series() -> None:
    obs = [*present("a", range(10), emotions=probs(neutral=1.0)),  # CI 1.0
           *present("b", range(10), attentive=False, emotions=probs(sad=1.0)),  # CI .3 × 2 / 4.5
           *camera_off("c", range(10)),
           *absent("d", range(10))]
    series = classwide.class_series(agg.windows(obs, 10))
    assert len(series) == 1
    cw = series[0]
    assert (cw.n_students, cw.n_present, cw.n_absent, cw.n_camera_off) == (4, 2, 1, 1)
    assert cw.engagement == approx((1.0 + 0.6 / 4.5) / 2)
    assert cw.attention_share == approx(0.5)
    assert cw.negative_affect == approx(0.5) and cw.negative_share == approx(0.5)


def test_class_moments_merge_and_thresholds() -> None:
    obs = []
    for pid in "abcd":
        obs += present(pid, range(40))
    obs += camera_off("e", range(40))  # camera off: not in the denominator
    # a and b look away in windows 1 and 2 (2 of 4 with video = 50 %); only a in window 3
    obs = [o for o in obs if not (o.participant_id in "ab" and 10 <= o.t < 30)
           and not (o.participant_id == "a" and 30 <= o.t < 40)]
    obs += present("a", range(10, 30), attentive=False) + present("b", range(10, 30), attentive=False)
    obs += absent("a", range(30, 40))
    moments = classwide.class_moments(agg.windows(obs, 10))
    assert len(moments) == 1
    m = moments[0]
    assert (m.kind, m.start, m.end, m.n_students, m.n_with_video) == ("looked_away", 10.0, 30.0, 2, 4)
    assert m.participant_ids == ("a", "b") and m.share == 0.5
    assert classwide.class_moments(agg.windows(obs, 10), min_share=0.6) == []


def test_class_moment_needs_two_students_and_finds_negative_turns() -> None:
    alone = present("a", range(10), attentive=False)
    assert classwide.class_moments(agg.windows(alone, 10)) == []  # 100 %, but one student
    obs = [*present("a", range(20), emotions=probs(sad=0.6, neutral=0.4)),
           *present("b", range(20), emotions=probs(angry=0.5, neutral=0.5)),
           *[o for p in "cde" for o in present(p, range(20), emotions=probs(neutral=1.0))]]
    moments = classwide.class_moments(agg.windows(obs, 10))
    assert [(m.kind, m.start, m.end, m.n_students, m.n_with_video) for m in moments] == [("negative", 0, 20, 2, 5)]
    assert math.isclose(moments[0].share, 0.4)


def test_a_glance_of_one_window_is_not_a_moment() -> None:
    # 2 of 5 look away for one 10-s window only: everyday noise in a small class.
    obs = [o for p in "abcde" for o in present(p, range(40))]
    obs = [o for o in obs if not (o.participant_id in "ab" and 10 <= o.t < 20)]
    obs += present("a", range(10, 20), attentive=False) + present("b", range(10, 20), attentive=False)
    assert classwide.class_moments(agg.windows(obs, 10)) == []
    [m] = classwide.class_moments(agg.windows(obs, 10), min_windows=1)
    assert (m.kind, m.start, m.end, m.participant_ids) == ("looked_away", 10, 20, ("a", "b"))


# -- students who may need attention -------------------------------------------------------------

def test_needs_attention_levels() -> None:
    obs = [*present("a", range(30)), *present("a", range(30, 100), attentive=False),  # 30 % attentive
           *present("b", range(100), emotions=probs(sad=0.6, neutral=0.4)),
           *present("c", range(60)), *absent("c", range(60, 260)), *present("c", range(260, 300)),
           *present("d", range(20), attentive=False)]  # too few samples to say anything
    found = {c.participant_id: [(r.signal, r.level, round(r.value, 6)) for r in c.reasons]
                for c in concerns.needs_attention(agg.summarize(obs))}
    assert found == {"a": [("attention", "very low", 0.3)], "b": [("negative_affect", "high", 0.6)],
                        "c": [("absence", "long", 200.0)]}


def test_engagement_drop_reason() -> None:
    obs = [*present("x", range(300)), *present("x", range(300, 400), attentive=False)]
    reasons = [(r.signal, r.level, round(r.value, 6)) for r in concerns.reasons_for(agg.summarize(obs)["x"])]
    assert reasons == [("engagement_drop", "much lower", -0.6)]  # 75 % attentive raises nothing


def test_baseline_is_median_of_minute_means() -> None:
    # minute 0: 1.0 throughout; minute 1: 0.4 throughout; minute 2: half and half → 0.7
    obs = [*present("x", range(60)), *present("x", range(60, 120), attentive=False),
           *present("x", range(120, 150)), *present("x", range(150, 180), attentive=False)]
    scores = agg.score_all(obs)["x"]
    assert agg.baseline(scores, baseline_s=180) == approx(0.7)
    assert agg.baseline(scores, baseline_s=60) == approx(1.0)
    # mostly attentive (1.0) with some looking aside: a median of single samples would be 1.0,
    # and the later mean of the same behaviour would then always read as a drop
    steady = agg.score_all(present("z", range(40)) + present("z", range(40, 60), attentive=False))["z"]
    assert agg.baseline(steady) == approx((40 + 20 * 0.4) / 60)
    late = agg.score_all(present("y", range(100, 109)))["y"]
    assert agg.baseline(late) is None  # 9 samples < BASELINE_MIN_SAMPLES
