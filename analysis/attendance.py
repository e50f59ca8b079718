"""When the class happened and when each student was in it, from their samples.

The bot's time in the meeting is not the class: it joins before the first student and, when
everyone has left, waits `empty_timeout_s` in the empty room before it leaves. The class runs
from the first student's first sample to the end of the last student's last sample; the bot's
waiting before and after is reported apart.

A student is "late" when their first sample comes more than `late_after_s` after the class
started (the first student's arrival: the scheduled start is not known here), and "left early"
when their last sample ends more than `left_early_s` before the class ended. Virtual-classroom
products default to 5 minutes for lateness; the same is used for leaving early. A student who
joins more than `absent_after_s` (default 15 minutes) after the start is counted absent, as those
products do. Time in class is the span from joining to leaving without the gaps in which no
sample arrived (disconnections). Pure functions over `analysis.aggregate.StudentSummary`.

`ClassRoll` is what the caller (the service, which knows the class's roster) hands the report:
the rules of the class and the roster students no participant matched, so the report can list
them as "did not join" — or, when the platform does not show the bot every participant (Zoom),
as "not visible to ClassPulse", never as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from analysis.aggregate import StudentSummary

LATE_AFTER_S = 300.0
LEFT_EARLY_S = 300.0
ABSENT_AFTER_S = 900.0


@dataclass(frozen=True)
class Rules:
    """A class's attendance thresholds, in seconds after the class start."""

    late_after_s: float = LATE_AFTER_S
    absent_after_s: float = ABSENT_AFTER_S
    left_early_s: float = LEFT_EARLY_S

    def __post_init__(self) -> None:
        if not 0 <= self.late_after_s <= self.absent_after_s:
            raise ValueError("late_after_s must be between 0 and absent_after_s")


@dataclass(frozen=True)
class ClassRoll:
    """The roster side of one session, handed to the report by its caller (frozen, no I/O)."""

    rules: Rules = Rules()
    roster_size: int = 0  # students on the class roster when the session started (0: no roster)
    not_seen: tuple[str, ...] = ()  # roster names no participant of the session matched
    sees_everyone: bool = True  # False: the platform may hide participants from the bot (Zoom)
    unmatched: int = 0  # participants whose name fits no roster student (shown under their own name)
    to_confirm: int = 0  # participants with a fuzzy or ambiguous match awaiting the teacher
    matched: tuple[tuple[str, str], ...] = ()  # (participant id, roster name) of certain or confirmed matches


@dataclass(frozen=True)
class ClassSpan:
    """The class inside the bot's session, in seconds since the session started."""

    session_s: float  # the bot's whole time in the meeting
    start_s: float  # first student's first sample
    end_s: float  # end of the last student's last sample

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def waited_before_s(self) -> float:
        return self.start_s

    @property
    def waited_after_s(self) -> float:
        return max(0.0, self.session_s - self.end_s)


@dataclass(frozen=True)
class StudentAttendance:
    participant_id: str
    joined_s: float  # first sample
    left_s: float  # end of the last sample
    in_class_s: float  # left − joined, without gaps with no sample
    late_by_s: float  # after the class start; 0 when on time
    left_early_by_s: float  # before the class end; 0 when stayed
    late: bool
    left_early: bool
    counted_absent: bool = False  # joined more than `absent_after_s` after the start


def _end(summary: StudentSummary) -> float | None:
    return None if summary.last_t is None else summary.last_t + summary.interval_s


def class_span(summaries: Mapping[str, StudentSummary], session_s: float) -> ClassSpan | None:
    """The class span, or None when no student has a sample."""
    starts = [s.first_t for s in summaries.values() if s.first_t is not None]
    ends = [e for s in summaries.values() if (e := _end(s)) is not None]
    if not starts or not ends:
        return None
    end = max(ends)
    return ClassSpan(max(session_s, end), min(starts), end)


def student_attendance(summary: StudentSummary, span: ClassSpan, *, late_after_s: float = LATE_AFTER_S,
                       left_early_s: float = LEFT_EARLY_S,
                       absent_after_s: float = ABSENT_AFTER_S) -> StudentAttendance | None:
    """One student's arrival and departure against the class span; None without samples.

    Joining after `absent_after_s` counts as absent (and so not also as late)."""
    end = _end(summary)
    if summary.first_t is None or end is None:
        return None
    late_by = max(0.0, summary.first_t - span.start_s)
    early_by = max(0.0, span.end_s - end)
    return StudentAttendance(
        participant_id=summary.participant_id, joined_s=summary.first_t, left_s=end,
        in_class_s=max(0.0, end - summary.first_t - summary.gap_s), late_by_s=late_by, left_early_by_s=early_by,
        late=late_after_s < late_by <= absent_after_s, left_early=early_by > left_early_s,
        counted_absent=late_by > absent_after_s)
