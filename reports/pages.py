"""What the templates see: frozen view models of already-formatted strings and finished charts.

Templates only lay these out; every number in them was computed and formatted in
`reports.context`, so tests can check a report's numbers without rendering it.
"""

from __future__ import annotations

from dataclasses import dataclass

from reports.charts import Chart


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class Header:
    class_name: str
    teacher: str
    date: str
    time_range: str
    duration: str
    source: str
    sampling: str
    emotions_enabled: bool


@dataclass(frozen=True)
class StudentRow:
    name: str
    href: str
    presence: str
    attention: str
    engagement: str
    negative: str
    camera_off: str
    n_reasons: int
    in_class: str = ""  # joined–left, minutes since the start of the session
    time_in_class: str = ""
    arrival: str = ""  # "late by 7 min", "left 12 min early", "" when on time and stayed


@dataclass(frozen=True)
class MomentRow:
    when: str  # lecture time, "12:30–13:10"
    clock: str  # time of day, "" when the start time is unknown
    what: str
    who: str


@dataclass(frozen=True)
class ConcernRow:
    name: str
    href: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class EmotionRow:
    label: str
    share: str
    width: float  # bar length, percent of the column
    class_share: str = ""


@dataclass(frozen=True)
class ClassReport:
    header: Header
    has_data: bool
    attendance: tuple[Fact, ...]
    overview: tuple[Fact, ...]
    timeline: Chart | None
    heatmap: Chart | None
    moments: tuple[MomentRow, ...]
    moments_rule: str
    more_moments: int
    concerns: tuple[ConcernRow, ...]
    students: tuple[StudentRow, ...]
    emotions: tuple[EmotionRow, ...]  # empty when emotion inference was off
    quality: tuple[Fact, ...]
    n_opted_out: int


@dataclass(frozen=True)
class StudentReport:
    header: Header
    participant_id: str
    name: str
    stem: str  # safe file-name stem
    has_data: bool
    overview: tuple[Fact, ...]
    timeline: Chart | None
    emotions: tuple[EmotionRow, ...]
    moments: tuple[MomentRow, ...]
    class_moments: str  # one line, "" when none
    camera_off: tuple[str, ...]
    reasons: tuple[str, ...]
    quality: tuple[Fact, ...]


@dataclass(frozen=True)
class Reports:
    class_report: ClassReport
    students: tuple[StudentReport, ...]
