"""A class across a term: per session and per student, from each session's student summaries.

Input: one `CourseSession` per scheduled lesson, in any order, each with the
`analysis.summaries.StudentDigest` of every student seen (keyed by the student's course
identity: the caller links participants to students, `bot.course.identity`) and the run's status.
Output: frozen records a course report lays out. Pure functions, no clock, no store.

What counts as what (DESIGN.md, "Observation states"):

* A session ClassPulse did not record (`missed`, `no_capacity`, `failed`) is "not recorded" for
  every student: never an absence, and it takes no part in any average or rate.
* An `interrupted` session was recorded in part: a student seen in it attended (their numbers
  come from the recorded part); a student not seen is "not recorded" (they may have been there
  during the gap), never absent; lateness is not judged (the gap may cover the start).
* In a fully recorded session a roster student with no sample is absent; one who first appears
  more than `late_after_s` after the lesson start is late, more than `absent_after_s` after it
  is counted absent (virtual-classroom products default to 5 and 15 minutes); such a cell keeps
  the student's numbers and arrival time for display, but they are not averaged.
* A student not on the session's roster (joined the class later, or left it) is "not enrolled"
  there and counts for nothing.

Averages weight sessions equally for a student, and students equally for a session; each
signal averages only the sessions (or students) where it was measurable. A student's drop is
their last `RECENT_N` attended sessions against their own earlier ones (at least `MIN_EARLIER`),
reported with both numbers when it reaches `DROP` (15 points): reasons and numbers, never a
verdict. A change of the model or analysis settings between recorded sessions is marked on the
later one, with what changed, so a step in a trend is not read as the class changing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from analysis.summaries import StudentDigest

SessionStatus = Literal["recorded", "interrupted", "missed", "no_capacity", "failed"]
CellStatus = Literal["attended", "absent", "not_recorded", "not_enrolled"]
Signal = Literal["presence", "attention", "engagement"]
NOT_RECORDED: frozenset[str] = frozenset({"missed", "no_capacity", "failed"})
LATE_AFTER_S = 300.0
ABSENT_AFTER_S = 900.0
RECENT_N = 3
MIN_EARLIER = 3
DROP = 0.15
SIGNALS: tuple[Signal, ...] = ("presence", "attention", "engagement")


@dataclass(frozen=True)
class CourseSession:
    """One scheduled lesson of the class."""

    session_id: str
    started_at: str  # ISO 8601 (orders the sessions)
    status: SessionStatus
    summaries: Mapping[str, StudentDigest] = field(default_factory=dict)  # student id → digest
    roster: tuple[str, ...] | None = None  # students enrolled then; None: the course roster
    settings: str = ""  # analysis settings, JSON (a change is marked)
    lesson_start_s: float = 0.0  # the lesson's start in the session's seconds (the bot may join early)
    model_version: str = ""  # the emotion model ("" when emotions were off; a change is marked)
    note: str = ""  # why it was not recorded, or what interrupted it (shown as is)


@dataclass(frozen=True)
class StudentSession:
    """One student in one session."""

    session_id: str
    status: CellStatus
    presence: float | None = None  # share of camera-on time with a face
    attention: float | None = None  # share of readable samples looking at the screen
    engagement: float | None = None  # 0..1
    camera_off_share: float | None = None  # of the student's samples
    joined_s: float | None = None  # first sample, seconds after the lesson start
    late: bool | None = None  # None: not judged (not attended, an interrupted session, or counted absent)

    def value(self, signal: Signal) -> float | None:
        return {"presence": self.presence, "attention": self.attention, "engagement": self.engagement}[signal]


@dataclass(frozen=True)
class Drop:
    """A student's recent level of one signal, clearly below their own earlier level."""

    signal: Signal
    earlier: float
    recent: float
    n_earlier: int
    n_recent: int

    @property
    def points(self) -> float:
        return self.earlier - self.recent


@dataclass(frozen=True)
class StudentTrend:
    student_id: str
    sessions: tuple[StudentSession, ...]  # one per course session, in course order
    attended: int
    absent: int
    late: int
    not_recorded: int
    attendance_rate: float | None  # attended / (attended + absent)
    presence: float | None
    attention: float | None
    engagement: float | None
    camera_off_share: float | None
    drops: tuple[Drop, ...]


@dataclass(frozen=True)
class ClassSession:
    """The class in one session."""

    session_id: str
    started_at: str
    status: SessionStatus
    recorded: bool  # any data (recorded or interrupted)
    n_enrolled: int
    n_attended: int
    n_absent: int
    n_late: int
    n_not_recorded: int
    attendance_rate: float | None
    presence: float | None
    attention: float | None
    engagement: float | None
    camera_off_share: float | None
    changes: tuple[str, ...] = ()  # what changed in the model or settings since the previous recorded session
    note: str = ""

    @property
    def settings_changed(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class Course:
    sessions: tuple[ClassSession, ...]
    students: tuple[StudentTrend, ...]

    def student(self, student_id: str) -> StudentTrend:
        return next(s for s in self.students if s.student_id == student_id)


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def cell(session: CourseSession, student_id: str, enrolled: bool, *, late_after_s: float = LATE_AFTER_S,
         absent_after_s: float = ABSENT_AFTER_S) -> StudentSession:
    """One student in one session (see the module docstring for the rules)."""
    if not enrolled:
        return StudentSession(session.session_id, "not_enrolled")
    if session.status in NOT_RECORDED:
        return StudentSession(session.session_id, "not_recorded")
    summary = session.summaries.get(student_id)
    if summary is None or summary.n_samples == 0:
        status: CellStatus = "not_recorded" if session.status == "interrupted" else "absent"
        return StudentSession(session.session_id, status)
    joined = None if summary.first_t is None else max(0.0, summary.first_t - session.lesson_start_s)
    late: bool | None = None
    status = "attended"
    if session.status == "recorded" and joined is not None:
        if joined > absent_after_s:
            status = "absent"
        else:
            late = joined > late_after_s
    return StudentSession(session.session_id, status, summary.presence, summary.attention, summary.engagement,
                          summary.camera_off_share, joined, late)


def _settings(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 40 else text[:39] + "…"


def changes(before: CourseSession, after: CourseSession) -> tuple[str, ...]:
    """What changed from one recorded session to the next: the model, then each analysis setting."""
    out = []
    if before.model_version != after.model_version:
        out.append(f"model {before.model_version or 'none'} → {after.model_version or 'none'}")
    if before.settings != after.settings:
        a, b = _settings(before.settings), _settings(after.settings)
        if a is None or b is None:
            out.append("analysis settings changed")
        else:
            out += [f"{key}: {_short(a.get(key, '—'))} → {_short(b.get(key, '—'))}"
                    for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
    return tuple(out)


def _drops(cells: Sequence[StudentSession], recent_n: int, min_earlier: int, drop: float) -> tuple[Drop, ...]:
    out = []
    for signal in SIGNALS:
        values = [v for c in cells if c.status == "attended" and (v := c.value(signal)) is not None]
        if len(values) < recent_n + min_earlier:
            continue
        earlier, recent = values[:-recent_n], values[-recent_n:]
        e, r = sum(earlier) / len(earlier), sum(recent) / len(recent)
        if e - r >= drop - 1e-12:
            out.append(Drop(signal, e, r, len(earlier), len(recent)))
    return tuple(out)


def course_view(sessions: Sequence[CourseSession], roster: Sequence[str] | None = None, *,
                late_after_s: float = LATE_AFTER_S, absent_after_s: float = ABSENT_AFTER_S,
                recent_n: int = RECENT_N, min_earlier: int = MIN_EARLIER, drop: float = DROP) -> Course:
    """The course: sessions in start order, students in roster order (then any others seen)."""
    if late_after_s > absent_after_s:
        raise ValueError("late_after_s must not exceed absent_after_s")
    ordered = sorted(sessions, key=lambda s: (s.started_at, s.session_id))
    students = list(dict.fromkeys([*(roster or ()), *(sid for s in ordered for sid in (s.roster or ())),
                                   *(sid for s in ordered for sid in s.summaries)]))
    course_roster = set(roster) if roster is not None else None

    def enrolled(s: CourseSession, sid: str) -> bool:
        if s.roster is not None:
            return sid in s.roster
        return course_roster is None or sid in course_roster or sid in s.summaries

    grid = {sid: tuple(cell(s, sid, enrolled(s, sid), late_after_s=late_after_s, absent_after_s=absent_after_s)
                       for s in ordered) for sid in students}
    trends = []
    for sid, cells in grid.items():
        attended = [c for c in cells if c.status == "attended"]
        n_absent = sum(c.status == "absent" for c in cells)
        trends.append(StudentTrend(
            student_id=sid, sessions=cells, attended=len(attended), absent=n_absent,
            late=sum(c.late is True for c in cells), not_recorded=sum(c.status == "not_recorded" for c in cells),
            attendance_rate=_rate(len(attended), len(attended) + n_absent),
            presence=_mean([c.presence for c in attended]), attention=_mean([c.attention for c in attended]),
            engagement=_mean([c.engagement for c in attended]),
            camera_off_share=_mean([c.camera_off_share for c in attended]),
            drops=_drops(cells, recent_n, min_earlier, drop)))
    class_sessions = []
    previous: CourseSession | None = None
    for i, s in enumerate(ordered):
        column = [grid[sid][i] for sid in students if grid[sid][i].status != "not_enrolled"]
        attended = [c for c in column if c.status == "attended"]
        n_absent = sum(c.status == "absent" for c in column)
        recorded = s.status not in NOT_RECORDED
        changed = changes(previous, s) if recorded and previous is not None else ()
        if recorded:
            previous = s
        class_sessions.append(ClassSession(
            session_id=s.session_id, started_at=s.started_at, status=s.status, recorded=recorded,
            n_enrolled=len(column), n_attended=len(attended), n_absent=n_absent,
            n_late=sum(c.late is True for c in column),
            n_not_recorded=sum(c.status == "not_recorded" for c in column),
            attendance_rate=_rate(len(attended), len(attended) + n_absent),
            presence=_mean([c.presence for c in attended]), attention=_mean([c.attention for c in attended]),
            engagement=_mean([c.engagement for c in attended]),
            camera_off_share=_mean([c.camera_off_share for c in attended]), changes=changed, note=s.note))
    return Course(tuple(class_sessions), tuple(trends))
