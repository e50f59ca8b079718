"""Golden tests for report contexts: the numbers a teacher reads, worked out by hand.

The golden session (tests/fixtures_reports.two_students), 2 minutes:
  Ann: 120 present samples, attentive, neutral      → presence 100 %, attention 100 %,
       engagement .9 × 5 / 4.5 = 1.0 → "100", negative 0 %
  Ben: 60 present, looking aside, sad; 30 camera off; 30 absent
       → presence 60 / (60 + 30) = 67 % (camera off excluded), attention 0 %,
         engagement .3 × 2 / 4.5 = .133 → "13", negative 100 %, camera off 30 s
  Cleo opted out: her 120 absent samples must change nothing.
Class: average presence (100 + 66.7) / 2 = 83 %, engagement (1.0 + .133) / 2 = .567 → "57",
attention 50 %, negative 50 %. A 2-minute class is charted in 10-s windows (see
`reports.context.window_for`): in minute 0 every window has Ann high and Ben low → class .567
(the first such window, 0:00–0:10, is the lowest); in minute 1 Ben is camera-off or absent,
so the class is Ann alone (1.0).
"""

from __future__ import annotations

import re

from analysis.records import Participant, SessionInfo
from reports import charts
from reports import format as fmt
from reports.context import ClassReport, Fact, StudentReport, build_reports
from tests.fixtures_reports import SID, absent, camera_off, info, present, probs, strip_emotions, two_students

EMOTION_WORDS = re.compile(
    r"\b(emotions?|emotional|mood|expressions?|angry|anger|disgust\w*|fear\w*|happy|sad|surprise\w*|"
    r"neutral|affect|valence|feelings?)\b", re.IGNORECASE)


def facts(items: tuple[Fact, ...]) -> dict[str, str]:
    return {f.label: f.value for f in items}


def student(reports: tuple[StudentReport, ...], name: str) -> StudentReport:
    return next(s for s in reports if s.name == name)


def all_text(obj: object) -> str:
    """Every string inside a context (dataclasses, tuples), to search for words."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, tuple | list):
        return " ".join(all_text(x) for x in obj)
    if hasattr(obj, "__dataclass_fields__"):
        return " ".join(all_text(getattr(obj, k)) for k in obj.__dataclass_fields__)
    return ""


def test_class_golden_numbers() -> None:
    c: ClassReport = build_reports(*two_students()).class_report
    assert c.has_data and c.n_opted_out == 1
    assert c.header.time_range == "10:00–10:02 UTC" and c.header.duration == "2 min"
    assert c.header.date == "Monday 2 March 2026"
    att = facts(c.attendance)
    assert att == {"Students": "2", "Seen on camera": "2", "Camera off the whole time": "0",
                   "No video received": "0", "Average presence": "83%", "Late / left early": "0 / 0"}
    assert facts(c.overview) == {"Average engagement": "57", "Looking at the screen": "50%",
                                 "Lowest class engagement": "57 (minutes 0:00–0:10)",
                                 "Negative expressions": "50%"}
    rows = {r.name: r for r in c.students}
    assert list(rows) == ["Ann Archer", "Ben Brook"]  # Cleo opted out: no row
    ben = rows["Ben Brook"]
    assert (ben.presence, ben.attention, ben.engagement, ben.negative, ben.camera_off, ben.n_reasons) == (
        "67%", "0%", "13", "100%", "30 s", 3)
    ann = rows["Ann Archer"]
    assert (ann.presence, ann.attention, ann.engagement, ann.negative, ann.camera_off) == (
        "100%", "100%", "100", "0%", fmt.MISSING)
    assert (ann.in_class, ann.time_in_class, ann.arrival) == ("0:00–2:00", "2 min", "")
    assert (ben.in_class, ben.time_in_class, ben.arrival) == ("0:00–2:00", "2 min", "")  # camera off is in class
    q = facts(c.quality)
    assert q["Samples"] == "240 from 2 students"  # Cleo's 120 samples are not counted
    assert q["Camera-off time"] == "30 s" and q["Uncertain face readings"] == "0%"
    assert {e.label: e.share for e in c.emotions}["Sad"] == "50%"
    assert c.moments == ()  # Ben alone looked away: a moment needs two students


def test_late_left_early_and_the_class_without_the_bots_waiting() -> None:
    # The bot joins at 10:00 and leaves at 11:00. Ann is there 10:02–10:47 (the class), Ben joins
    # at 10:12 and leaves at 10:30; after Ann leaves the bot waits 13 min in the empty room.
    people = [Participant(SID, "a", "Ann Archer"), Participant(SID, "b", "Ben Brook")]
    obs = [*present("a", range(120, 2820)), *present("b", range(720, 1800))]
    hour = SessionInfo(SID, "Biology 7", teacher="Ms Rivera", started_at="2026-03-02T10:00:00+00:00",
                       ended_at="2026-03-02T11:00:00+00:00")
    c = build_reports(hour, people, obs).class_report
    assert (c.header.time_range, c.header.duration) == ("10:02–10:47 UTC", "45 min")
    att = facts(c.attendance)
    assert att["Bot in the meeting"] == "1 h" and att["Late / left early"] == "1 / 1"
    notes = {f.label: f.note for f in c.attendance}
    assert notes["Bot in the meeting"] == ("waited 2 min for the first student and 13 min in the empty room after "
                                           "the last one left; the class itself: 45 min")
    rows = {r.name: r for r in c.students}
    assert (rows["Ben Brook"].in_class, rows["Ben Brook"].time_in_class) == ("12:00–30:00", "18 min")
    assert rows["Ben Brook"].arrival == "late by 10 min; left 17 min early"
    assert (rows["Ann Archer"].in_class, rows["Ann Archer"].arrival) == ("2:00–47:00", "")
    ben = student(build_reports(hour, people, obs).students, "Ben Brook")
    assert {f.label: f.note for f in ben.overview}["In the data"] == (
        "minutes since the start of class; late by 10 min; left 17 min early")


def test_concerns_are_levels_with_numbers() -> None:
    c = build_reports(*two_students()).class_report
    assert [x.name for x in c.concerns] == ["Ben Brook"]
    assert c.concerns[0].href == "students/ben-brook"
    assert c.concerns[0].reasons == (
        "Attention very low: looking at the screen in 0% of readable samples",
        "Absence frequent: no face on camera in 33% of camera-on time",
        "Negative expression readings high: 100% on average (angry, disgusted, fearful or sad)",
    )


def test_student_golden_numbers() -> None:
    reports = build_reports(*two_students()).students
    assert [s.name for s in reports] == ["Ann Archer", "Ben Brook"]
    ben = student(reports, "Ben Brook")
    o = facts(ben.overview)
    assert o["On camera with a face"] == "67%" and o["Looking at the screen"] == "0%"
    assert o["Engagement"] == "13" and o["Camera off"] == "30 s" and o["Negative expressions"] == "100%"
    assert o["In the data"] == "0:00–2:00"
    assert ben.camera_off == ("1:00–1:30 (30 s)",)
    # Ben is low for the whole first minute: six 10-s windows, one minute, which a short class lists.
    assert [(m.when, m.what) for m in ben.moments] == [("0:00–1:00", "Low engagement"),
                                                       ("0:00–1:00", "Mostly negative expression readings")]
    assert ben.emotions[0].label == "Sad" and ben.emotions[0].share == "100%"
    assert ben.emotions[0].class_share == "50%"
    assert len(ben.reasons) == 3
    assert ben.timeline is not None and "Shaded: Camera off; No face on camera" in ben.timeline.alt
    ann = student(reports, "Ann Archer")
    assert facts(ann.overview)["Engagement"] == "100" and ann.reasons == ()


def test_emotions_off_removes_every_emotion_word() -> None:
    _, people, obs = two_students()
    # the session ran with emotions off, yet stray probabilities were stored: they must not leak
    off = build_reports(info(emotions=False), people, obs)
    assert off.class_report.emotions == () and all(s.emotions == () for s in off.students)
    found = EMOTION_WORDS.findall(all_text(off))
    assert found == []
    # engagement then comes from gaze only: Ben looked aside → 0.4 → "40"
    assert {r.name: r.engagement for r in off.class_report.students}["Ben Brook"] == "40"
    same = build_reports(info(emotions=False), people, strip_emotions(obs))
    assert same == off


def test_emotions_on_does_mention_them() -> None:
    assert EMOTION_WORDS.search(all_text(build_reports(*two_students())))


def test_opted_out_student_never_appears() -> None:
    reports = build_reports(*two_students())
    assert "Cleo" not in all_text(reports)
    assert "c" not in [s.participant_id for s in reports.students]


def test_empty_session() -> None:
    r = build_reports(info(), [], [])
    c = r.class_report
    assert not c.has_data and r.students == ()
    assert c.timeline is None and c.heatmap is None
    assert facts(c.attendance)["Students"] == "0"
    assert facts(c.quality)["Samples"] == "0 from 0 students"


def test_listed_student_without_samples_gets_a_no_data_report() -> None:
    people = [Participant(SID, "a", "Ann"), Participant(SID, "z", "Zed")]
    r = build_reports(info(), people, present("a", range(30)))
    zed = student(r.students, "Zed")
    assert not zed.has_data and zed.timeline is None
    assert facts(r.class_report.attendance)["No video received"] == "1"


def test_one_student_with_missing_samples() -> None:
    obs = [*present("a", range(0, 40)), *present("a", range(160, 180))]  # t = 40 … 159 missing
    r = build_reports(info(minutes=3), [Participant(SID, "a", "Ann")], obs)
    c = r.class_report
    assert facts(c.quality)["Gaps without samples"] == "2 min"  # 39 → 160: 121 s apart, 1 s expected
    ann = r.students[0]
    assert facts(ann.overview)["Engagement"] == "100"
    # 10-s windows: t 0-39 fill 4 windows, t 160-179 fill 2, so 6 of 18 are high, 12 have no data.
    assert c.heatmap is not None and "high 33%, no data 67%" in c.heatmap.alt


def test_unlisted_participant_is_named_by_id() -> None:
    r = build_reports(info(), [], present("guest-7", range(20)))
    assert [s.name for s in r.students] == ["guest-7"]


def test_camera_off_student_is_not_disengaged() -> None:
    people = [Participant(SID, "a", "Ann"), Participant(SID, "b", "Bo")]
    obs = [*present("a", range(120)), *camera_off("b", range(120))]
    r = build_reports(info(), people, obs)
    assert facts(r.class_report.attendance)["Camera off the whole time"] == "1"
    assert facts(r.class_report.overview)["Average engagement"] == "100"  # Bo is not a zero
    bo = student(r.students, "Bo")
    assert bo.reasons == () and facts(bo.overview)["On camera with a face"] == fmt.MISSING


def test_student_names_are_untrusted() -> None:
    people = [Participant(SID, "a", "../../etc/passwd"), Participant(SID, "b", "<script>x</script>"),
              Participant(SID, "c", "../../etc/passwd")]
    obs = [*present("a", range(10)), *present("b", range(10)), *absent("c", range(10))]
    stems = [s.stem for s in build_reports(info(), people, obs).students]
    assert sorted(stems) == ["etc-passwd", "etc-passwd-2", "script-x-script"]
    assert all(re.fullmatch(r"[a-z0-9-]+", s) for s in stems)


def test_format_helpers() -> None:
    assert (fmt.pct(None), fmt.pct(0.666), fmt.score100(0.5666)) == (fmt.MISSING, "67%", "57")
    points = (fmt.signed_points(-0.18), fmt.signed_points(0.2), fmt.signed_points(0.001))
    assert points == ("−18", "+20", "±0")
    assert (fmt.clock(75), fmt.clock(3725)) == ("1:15", "1:02:05")
    assert (fmt.duration(45), fmt.duration(200), fmt.duration(3000), fmt.duration(3900)) == (
        "45 s", "3 min 20 s", "50 min", "1 h 5 min")
    assert fmt.wall_clock("2026-03-02T10:00:00+00:00", 90) == "10:01 UTC"
    assert fmt.wall_clock("", 90) == "" and fmt.session_seconds("x", "") is None
    assert fmt.safe_stem("Zoë Łukasiewicz", "k") == "zoe-lukasiewicz"
    assert fmt.safe_stem("王小明", "p1").startswith("student-")


def test_charts_escape_names_and_break_lines_at_gaps() -> None:
    hm = charts.heatmap("t", [("<b>&Bob</b>", ["high", "low"])], 60, 120)
    assert "<b>" not in hm.svg and "&lt;b&gt;&amp;Bob&lt;/b&gt;" in hm.svg
    assert hm.svg.count("<rect") == 2 + 1 + 7  # two runs, the frame, seven legend boxes
    line = charts.line_chart("t", [0, 60, 120, 180], 60, 240,
                             [charts.Series("s", (0.5, 0.6, None, 0.7), charts.BLUE)])
    assert line.svg.count("<polyline") == 1 and line.svg.count("<circle") == 1  # a gap splits the line
    assert "lowest 50 at 0:00–1:00" in line.alt and line.data_uri.startswith("data:image/svg+xml;base64,")


def test_probs_helper_is_in_label_order() -> None:
    assert probs(neutral=1.0)[-1] == 1.0


def test_an_outage_is_no_signal_in_the_class_report_not_camera_off() -> None:
    from analysis.records import Observation, State

    lost = [Observation(SID, pid, float(t), State.NO_SIGNAL) for pid in ("a", "b") for t in range(40, 52)]
    obs = [*present("a", range(0, 40)), *present("b", range(0, 40)), *lost,
           *present("a", range(52, 90)), *present("b", range(52, 90))]
    r = build_reports(info(minutes=2), [Participant(SID, "a", "Ann"), Participant(SID, "b", "Bo")], obs)
    q = facts(r.class_report.quality)
    assert q["No signal"] == fmt.duration(2 * 12.0) and q["Camera-off time"] == "0 s", q
    assert q["Gaps without samples"] == "0 s"
    assert facts(student(r.students, "Ann").overview)["Camera off"] == "never"
