"""Course aggregation across a term: golden numbers worked out by hand from the samples below."""

from __future__ import annotations

import pytest

from analysis.aggregate import summarize
from analysis.course import CourseSession, Drop, course_view
from analysis.records import FaceReading, Observation, State
from analysis.summaries import StudentDigest, student_digest

BOX = (10, 10, 80, 80)


def student(pid: str, spec: str, t0: float = 0.0, sid: str = "x") -> list[Observation]:
    """One sample per second from t0: P present and looking, p present looking away, A no face,
    C camera off."""
    out = []
    for i, ch in enumerate(spec):
        t = t0 + i
        if ch in "Pp":
            face = FaceReading(1, BOX, 0.9, attentive=ch == "P", eyes_open=True)
            out.append(Observation(sid, pid, t, State.PRESENT, (face,)))
        else:
            out.append(Observation(sid, pid, t, State.ABSENT if ch == "A" else State.CAMERA_OFF))
    return out


def sums(**specs: str | tuple[str, float]) -> dict[str, StudentDigest]:
    """The digests the store keeps, from the samples (the same path the session end takes)."""
    obs: list[Observation] = []
    for pid, spec in specs.items():
        text, t0 = (spec, 0.0) if isinstance(spec, str) else spec
        obs += student(pid, text, t0)
    return {pid: student_digest("x", pid, s) for pid, s in summarize(obs).items()}


TERM = [
    CourseSession("S1", "2026-09-07T07:15:00Z", "recorded",
                  sums(s1="PPPPPPppAA", s2=("CCCCCPPPPP", 400.0))),  # s3 missing: absent; s2 late
    CourseSession("S2", "2026-09-10T07:15:00Z", "missed"),  # not recorded: nobody is absent
    CourseSession("S3", "2026-09-14T07:15:00Z", "interrupted",
                  sums(s1="PPPPpppppp", s3=("PPPPPPPPPP", 1000.0))),  # s2 unseen: not recorded
    CourseSession("S4", "2026-09-17T07:15:00Z", "recorded",
                  sums(s1=("PPPPPPPPPP", 1000.0), s2="PPPPPPPPPP", s3="AAAAAAAAAA"), settings="model-v2"),
]


def test_student_golden_numbers() -> None:
    course = course_view(list(reversed(TERM)), roster=["s1", "s2", "s3"])  # any input order
    s1, s2, s3 = (course.student(s) for s in ("s1", "s2", "s3"))
    assert [c.status for c in s1.sessions] == ["attended", "not_recorded", "attended", "absent"]
    # S1: presence 8/10, attention 6/8, engagement (6×1.0 + 2×0.4)/8; S3: 10/10, 4/10, (4 + 6×0.4)/10
    assert (s1.attended, s1.absent, s1.late, s1.not_recorded) == (2, 1, 0, 1)  # S4: arrived after 15 min
    assert s1.sessions[3].joined_s == 1000.0 and s1.sessions[3].late is None
    assert s1.attendance_rate == pytest.approx(2 / 3)
    assert s1.presence == pytest.approx((0.8 + 1.0) / 2)
    assert s1.attention == pytest.approx((0.75 + 0.4) / 2)
    assert s1.engagement == pytest.approx((0.85 + 0.64) / 2)
    assert s1.camera_off_share == pytest.approx(0.0)
    assert [c.status for c in s2.sessions] == ["attended", "not_recorded", "not_recorded", "attended"]
    assert (s2.attended, s2.absent, s2.late, s2.not_recorded, s2.attendance_rate) == (2, 0, 1, 2, 1.0)
    assert s2.sessions[0].late is True and s2.sessions[0].joined_s == 400.0
    assert s2.camera_off_share == pytest.approx((0.5 + 0.0) / 2)
    assert (s2.presence, s2.attention, s2.engagement) == (1.0, 1.0, 1.0)
    assert [c.status for c in s3.sessions] == ["absent", "not_recorded", "attended", "attended"]
    assert s3.sessions[2].late is None  # interrupted session: lateness not judged
    assert (s3.attended, s3.absent, s3.late) == (2, 1, 0)
    assert s3.presence == pytest.approx(0.5)  # 1.0 and 0.0 (no face all lesson)
    assert (s3.attention, s3.engagement) == (1.0, 1.0)  # S4 had no readable face: not averaged


def test_class_golden_numbers() -> None:
    course = course_view(TERM, roster=["s1", "s2", "s3"])
    c1, c2, c3, c4 = course.sessions
    assert (c1.n_enrolled, c1.n_attended, c1.n_absent, c1.n_late, c1.n_not_recorded) == (3, 2, 1, 1, 0)
    assert c1.attendance_rate == pytest.approx(2 / 3)
    assert (c1.presence, c1.attention, c1.engagement, c1.camera_off_share) == pytest.approx(
        ((0.8 + 1.0) / 2, (0.75 + 1.0) / 2, (0.85 + 1.0) / 2, 0.25))
    assert (c2.recorded, c2.n_attended, c2.n_absent, c2.n_not_recorded, c2.attendance_rate) == (False, 0, 0, 3, None)
    assert c2.presence is None and c2.engagement is None
    assert (c3.recorded, c3.n_attended, c3.n_absent, c3.n_not_recorded, c3.attendance_rate) == (True, 2, 0, 1, 1.0)
    assert (c3.presence, c3.attention, c3.engagement) == pytest.approx((1.0, 0.7, 0.82))
    assert (c4.n_attended, c4.n_absent, c4.n_late) == (2, 1, 0)
    assert (c4.presence, c4.attention) == pytest.approx((0.5, 1.0))
    assert [c.settings_changed for c in course.sessions] == [False, False, False, True]


def test_not_recorded_is_never_an_absence() -> None:
    only_gaps = [CourseSession(f"S{i}", f"2026-09-{i:02d}", status) for i, status in
                 enumerate(("missed", "no_capacity", "failed", "interrupted"), start=1)]
    course = course_view(only_gaps, roster=["a", "b"])
    for trend in course.students:
        assert (trend.absent, trend.not_recorded, trend.attendance_rate) == (0, 4, None)
    assert all(s.n_absent == 0 for s in course.sessions)


def test_enrolment_changes() -> None:
    sessions = [CourseSession("S1", "2026-09-01", "recorded", sums(a="PPPP"), roster=("a",)),
                CourseSession("S2", "2026-09-08", "recorded", sums(a="PPPP"), roster=("a", "b"))]
    b = course_view(sessions).student("b")
    assert [c.status for c in b.sessions] == ["not_enrolled", "absent"]
    assert (b.absent, b.attendance_rate) == (1, 0.0)


def attention_session(i: int, share_spec: str, status: str = "recorded") -> CourseSession:
    return CourseSession(f"S{i:02d}", f"2026-10-{i:02d}", status,  # type: ignore[arg-type]
                         sums(a=share_spec, b="PPPPPPPPPP") if status == "recorded" else {})


def test_a_fall_against_their_own_earlier_level_is_reported_with_numbers() -> None:
    specs = ["P" * 9 + "p", "P" * 8 + "pp", "P" * 17 + "p" * 3,  # 0.90, 0.80, 0.85
             "P" * 6 + "p" * 4, "P" * 13 + "p" * 7, "P" * 11 + "p" * 9]  # 0.60, 0.65, 0.55
    sessions = [attention_session(i + 1, s) for i, s in enumerate(specs)]
    sessions.insert(4, attention_session(20, "", status="missed"))  # a gap changes nothing
    course = course_view(sessions, roster=["a", "b"])
    attention, engagement = course.student("a").drops
    assert attention == Drop("attention", pytest.approx(0.85), pytest.approx(0.6), 3, 3)  # type: ignore[arg-type]
    assert attention.points == pytest.approx(0.25)
    # engagement = 0.4 + 0.6 × attention here (1.0 looking, 0.4 looking away): 0.91 → 0.76, 15 points
    assert (engagement.signal, engagement.earlier, engagement.recent) == (
        "engagement", pytest.approx(0.91), pytest.approx(0.76))
    assert course.student("b").drops == ()


def test_no_drop_reported_without_enough_earlier_sessions() -> None:
    specs = ["P" * 10, "P" * 10, "p" * 10, "p" * 10, "p" * 10]
    course = course_view([attention_session(i + 1, s) for i, s in enumerate(specs)], roster=["a"])
    assert course.student("a").drops == ()


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="late_after_s"):
        course_view(TERM, late_after_s=1000, absent_after_s=900)


def test_changes_say_what_changed() -> None:
    from analysis.course import changes

    a = CourseSession("A", "1", "recorded", settings='{"detector": "yunet", "sample_interval_s": 1.0}',
                      model_version="vgg@1")
    b = CourseSession("B", "2", "recorded", settings='{"detector": "blazeface", "sample_interval_s": 1.0}',
                      model_version="vgg@2")
    assert changes(a, b) == ("model vgg@1 → vgg@2", "detector: yunet → blazeface")
    assert changes(a, a) == ()
    c = CourseSession("C", "3", "recorded", settings="not json", model_version="vgg@1")
    assert changes(a, c) == ("analysis settings changed",)
    off = CourseSession("D", "4", "recorded", settings=a.settings)
    assert changes(a, off) == ("model vgg@1 → none",)
    course = course_view([a, CourseSession("M", "1.5", "missed"), b])  # a gap between them changes nothing
    assert [s.changes for s in course.sessions] == [(), (), ("model vgg@1 → vgg@2", "detector: yunet → blazeface")]
