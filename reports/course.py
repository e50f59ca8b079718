"""The course report's context: a class across a term, as formatted strings and finished charts.

The caller (the CLI, the API, the demo) builds a frozen `CourseInput` from whatever it stores
(`bot.course.inputs`): the sessions with their status and per-student digests, and the name
to show for each student. Nothing here reads a store or imports `bot`. `build_course_report`
runs the term aggregation (`analysis.course.course_view`) and formats it; templates compute
nothing.

Wording follows the class report's rules: levels and numbers, never verdicts; "not recorded"
is never an absence; the course report shows no emotion readings at all, and with emotion
inference off not even the words (the explanation of engagement changes with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from analysis.course import (
    ABSENT_AFTER_S,
    DROP,
    LATE_AFTER_S,
    MIN_EARLIER,
    RECENT_N,
    ClassSession,
    Course,
    CourseSession,
    Drop,
    StudentTrend,
    course_view,
)
from reports import course_charts as cc
from reports import format as fmt
from reports.charts import Chart
from reports.pages import Fact

STATUS_TEXT = {"recorded": "recorded", "interrupted": "recorded in part (interrupted)",
               "missed": "not recorded (missed run)", "no_capacity": "not recorded (no capacity)",
               "failed": "not recorded (failed)"}
SIGNAL_TEXT = {"presence": "On camera with a face", "attention": "Looking at the screen", "engagement": "Engagement"}


@dataclass(frozen=True)
class CourseInput:
    """Everything a course report needs, built by the caller."""

    class_name: str
    teacher: str
    sessions: tuple[CourseSession, ...]
    names: tuple[tuple[str, str], ...]  # (student id, name to show), in report order
    roster: tuple[str, ...] | None = None  # None: every student seen is enrolled where seen
    emotions_enabled: bool = True
    late_after_s: float = LATE_AFTER_S
    absent_after_s: float = ABSENT_AFTER_S
    generated_at: str = ""  # ISO 8601


@dataclass(frozen=True)
class SessionRow:
    number: int
    date: str  # "Mon 7 Sep 2026, 07:15 UTC"
    short_date: str  # "Mon 7 Sep, 07:15"
    label: str  # short, for charts and the CSV header
    status: str
    recorded: bool
    attendance: str  # "12 of 14"
    late: str
    absent: str
    presence: str
    attention: str
    engagement: str
    camera_off: str
    note: str
    changes: tuple[str, ...]


@dataclass(frozen=True)
class StudentRow:
    student_id: str
    name: str
    anchor: str
    attended: str  # "10 of 12 recorded"
    late: int
    absent: int
    not_recorded: int
    rate: str
    presence: str
    attention: str
    engagement: str
    camera_off: str
    n_drops: int


@dataclass(frozen=True)
class DropRow:
    name: str
    anchor: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Multiple:
    name: str
    anchor: str
    chart: Chart
    line: str  # counts under the chart


@dataclass(frozen=True)
class CourseReport:
    class_name: str
    teacher: str
    span: str
    generated: str
    emotions_enabled: bool
    facts: tuple[Fact, ...]
    sessions: tuple[SessionRow, ...]
    chart: Chart | None
    drops: tuple[DropRow, ...]
    drop_rule: str
    students: tuple[StudentRow, ...]
    legend: Chart
    multiples: tuple[Multiple, ...]
    changes: tuple[str, ...]  # "Session 5 (12 Oct): model … → …"
    not_recorded: tuple[str, ...]
    course: Course  # the numbers behind it (CSV export, tests)


def _when(iso: str) -> datetime | None:
    return fmt.parse_time(iso)


def session_labels(sessions: Sequence[CourseSession]) -> list[str]:
    """Short labels: "7 Sep", with the time when two sessions share a day."""
    times = [_when(s.started_at) for s in sessions]
    labels = [f"{t.day} {t:%b}" if t else "?" for t in times]
    for fmt_ in (" %H:%M", ":%S"):  # add the time, then the seconds, while two labels are the same
        labels = [f"{x}{t:{fmt_}}" if t and labels.count(x) > 1 else x for x, t in zip(labels, times, strict=True)]
    return labels


def _date(iso: str) -> str:
    t = _when(iso)
    if t is None:
        return fmt.MISSING
    zone = t.tzname() or ""
    return f"{t:%a} {t.day} {t:%b %Y}, {t:%H:%M} {'UTC' if zone in ('UTC', 'UTC+00:00') else zone}".strip()


def _short_date(iso: str) -> str:
    t = _when(iso)
    return fmt.MISSING if t is None else f"{t:%a} {t.day} {t:%b}, {t:%H:%M}"


def drop_text(d: Drop) -> str:
    """A fall against the student's own earlier level: both numbers, never a verdict."""
    what = SIGNAL_TEXT[d.signal]
    if d.signal == "engagement":
        nums = f"{fmt.score100(d.recent)} against {fmt.score100(d.earlier)}"
    else:
        nums = f"{fmt.pct(d.recent)} against {fmt.pct(d.earlier)}"
    return (f"{what}: {nums} — the last {d.n_recent} sessions attended against the {d.n_earlier} before "
            f"({fmt.signed_points(-d.points)} points)")


def _session_row(i: int, s: ClassSession, cs: CourseSession, label: str) -> SessionRow:
    recorded = s.recorded
    att = f"{s.n_attended} of {s.n_attended + s.n_absent}" if recorded else fmt.MISSING
    if recorded and s.n_not_recorded:
        att += f" ({s.n_not_recorded} not recorded)"
    return SessionRow(
        number=i + 1, date=_date(s.started_at), short_date=_short_date(s.started_at), label=label,
        status=STATUS_TEXT.get(s.status, s.status),
        recorded=recorded, attendance=att, late=str(s.n_late) if recorded else fmt.MISSING,
        absent=str(s.n_absent) if recorded else fmt.MISSING, presence=fmt.pct(s.presence),
        attention=fmt.pct(s.attention), engagement=fmt.score100(s.engagement), camera_off=fmt.pct(s.camera_off_share),
        note=cs.note, changes=s.changes)


def _student_row(t: StudentTrend, name: str, anchor: str) -> StudentRow:
    return StudentRow(
        student_id=t.student_id, name=name, anchor=anchor, attended=f"{t.attended} of {t.attended + t.absent}",
        late=t.late, absent=t.absent, not_recorded=t.not_recorded, rate=fmt.pct(t.attendance_rate),
        presence=fmt.pct(t.presence), attention=fmt.pct(t.attention), engagement=fmt.score100(t.engagement),
        camera_off=fmt.pct(t.camera_off_share), n_drops=len(t.drops))


def build_course_report(inp: CourseInput) -> CourseReport:
    """The course report's context (see the module docstring)."""
    names = dict(inp.names)
    course = course_view(inp.sessions, inp.roster if inp.roster is not None else [sid for sid, _ in inp.names],
                         late_after_s=inp.late_after_s, absent_after_s=inp.absent_after_s)
    ordered = sorted(inp.sessions, key=lambda s: (s.started_at, s.session_id))
    labels = session_labels(ordered)
    stems = fmt.unique_stems((t.student_id, names.get(t.student_id, t.student_id)) for t in course.students)
    rows = tuple(_session_row(i, s, cs, labels[i])
                 for i, (s, cs) in enumerate(zip(course.sessions, ordered, strict=True)))
    students = tuple(_student_row(t, names.get(t.student_id, t.student_id), "s-" + stems[t.student_id])
                     for t in course.students)
    drops = tuple(DropRow(r.name, r.anchor, tuple(drop_text(d) for d in t.drops))
                  for r, t in zip(students, course.students, strict=True) if t.drops)
    multiples = tuple(Multiple(r.name, r.anchor, cc.student_multiple(r.name, t, course.sessions),
                               f"attended {t.attended} (late {t.late}) · absent {t.absent} · "
                               f"not recorded {t.not_recorded}")
                      for r, t in zip(students, course.students, strict=True))
    n_rec = sum(s.recorded for s in course.sessions)
    n_part = sum(s.status == "interrupted" for s in course.sessions)
    rates = [t.attendance_rate for t in course.students if t.attendance_rate is not None]
    facts = (
        Fact("Sessions", f"{len(course.sessions)}",
             f"{n_rec} recorded ({n_part} in part), {len(course.sessions) - n_rec} not recorded by ClassPulse"),
        Fact("Students", str(len(course.students))),
        Fact("Average attendance", fmt.pct(sum(rates) / len(rates) if rates else None),
             "of the sessions ClassPulse recorded; not-recorded sessions never count as absence"),
        Fact("Late / absent", f"late after {fmt.duration(inp.late_after_s)}, "
             f"absent after {fmt.duration(inp.absent_after_s)}", "from the start of the recording"),
    )
    changes = tuple(f"Session {r.number} ({r.label}): {c}" for r in rows for c in r.changes)
    not_recorded = tuple(f"Session {r.number} ({r.date}): {r.status}{' — ' + r.note if r.note else ''}"
                         for r in rows if not r.recorded)
    first, last = (_when(ordered[0].started_at), _when(ordered[-1].started_at)) if ordered else (None, None)
    span = (f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}" if first and last else fmt.MISSING)
    return CourseReport(
        class_name=inp.class_name, teacher=inp.teacher, span=span, generated=_date(inp.generated_at),
        emotions_enabled=inp.emotions_enabled, facts=facts, sessions=rows,
        chart=cc.term_chart(course.sessions, labels) if course.sessions else None,
        drops=drops,
        drop_rule=(f"A student is listed when their last {RECENT_N} sessions attended are at least "
                   f"{round(DROP * 100)} points below their own earlier level (at least {MIN_EARLIER} earlier "
                   "sessions). Sessions they missed or that were not recorded are left out of both."),
        students=students, legend=cc.legend_chart(), multiples=multiples, changes=changes,
        not_recorded=not_recorded, course=course)
