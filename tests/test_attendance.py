"""Class span and each student's joining and leaving, worked out by hand."""

from __future__ import annotations

from analysis.aggregate import summarize
from analysis.attendance import class_span, student_attendance
from tests.fixtures_reports import absent, camera_off, present


def test_span_excludes_the_bots_waiting_and_students_are_late_or_leave_early() -> None:
    # The bot is in the meeting 0..3600 s. Ann 120..3000 (the class start), Ben joins at
    # 720 (10 min late) and leaves at 2100 (15 min early), Cleo 300 s late exactly: on time.
    # After Ann leaves at 3000 the bot waits 600 s in the empty room.
    obs = [*present("a", range(120, 3000)), *present("b", range(720, 1500)), *camera_off("b", range(1500, 2100)),
           *present("c", range(420, 1000)), *absent("c", range(1000, 2000)), *present("c", range(2600, 3000))]
    sums = summarize(obs)
    span = class_span(sums, 3600.0)
    assert span is not None
    assert (span.start_s, span.end_s, span.duration_s) == (120.0, 3000.0, 2880.0)
    assert (span.waited_before_s, span.waited_after_s) == (120.0, 600.0)
    ann, ben, cleo = (student_attendance(sums[p], span) for p in "abc")
    assert ann is not None and ben is not None and cleo is not None
    assert (ann.late, ann.left_early, ann.in_class_s) == (False, False, 2880.0)
    assert (ben.joined_s, ben.left_s, ben.late_by_s, ben.left_early_by_s) == (720.0, 2100.0, 600.0, 900.0)
    assert (ben.late, ben.left_early, ben.in_class_s) == (True, True, 1380.0)  # camera off still counts as in class
    assert (cleo.late_by_s, cleo.late, cleo.left_early) == (300.0, False, False)
    assert cleo.in_class_s == 2580.0 - 600.0  # 2000..2600 without any sample is not time in class


def test_no_students() -> None:
    assert class_span({}, 600.0) is None


def test_a_session_shorter_than_its_samples_is_stretched() -> None:
    span = class_span(summarize(present("a", range(0, 100))), 50.0)
    assert span is not None and (span.session_s, span.waited_after_s) == (100.0, 0.0)
