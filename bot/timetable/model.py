"""What a timetable import reads out of a calendar: frozen records, no I/O.

One `Lesson` per calendar UID whose events ClassPulse can run: a recurring series (RRULE and/or
RDATE, with its EXDATEs and RECURRENCE-ID overrides) or a one-off timed event (a make-up lesson).
Everything else becomes a `Skipped` with the reason, so an import lists every event it leaves out.

All datetimes are aware and in the lesson's IANA zone (`Lesson.timezone`), whatever zone names
the export used. `Lesson.source` is the lesson as a small normalised iCalendar text (IANA TZIDs
only): the input of `bot.timetable.occurrences`, and what a stored schedule keeps, so runs are
computed by the same code at import time and when the scheduler fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Override:
    """One moved or cancelled occurrence of a series (a component with RECURRENCE-ID)."""

    original_start: datetime  # the RECURRENCE-ID: which occurrence it replaces
    start: datetime | None  # None: cancelled (STATUS:CANCELLED)
    end: datetime | None
    this_and_future: bool = False  # RANGE=THISANDFUTURE: the change applies to later ones too


@dataclass(frozen=True)
class Recurrence:
    """The recurrence as the calendar wrote it (RFC 5545 §3.8.5), zone-normalised."""

    rules: tuple[str, ...]  # RRULE values, e.g. "FREQ=WEEKLY;BYDAY=MO,TH;UNTIL=20260630T215959Z"
    exdates: tuple[datetime, ...]
    rdates: tuple[datetime, ...]  # starts of extra occurrences (a PERIOD's start)
    overrides: tuple[Override, ...]


@dataclass(frozen=True)
class Lesson:
    """One class's meetings from one calendar UID."""

    uid: str
    class_name: str  # SUMMARY
    meeting_url: str  # joinable (see bot.timetable.links); "" when the event had no link (see notes)
    timezone: str  # IANA name
    start: datetime  # DTSTART (the first occurrence of a series)
    duration: timedelta
    recurrence: Recurrence | None  # None: a one-off event
    source: str  # normalised iCalendar text of this UID's components
    notes: tuple[str, ...] = ()  # assumptions made while reading it (shown by the import plan)
    members: tuple[str, ...] = ()  # UIDs of the single events read as this one lesson (bot.timetable.series)

    @property
    def one_off(self) -> bool:
        return self.recurrence is None


@dataclass(frozen=True)
class Skipped:
    """An event the import leaves out, and why (shown to the teacher, never dropped silently)."""

    uid: str
    summary: str
    reason: str


@dataclass(frozen=True)
class Timetable:
    """A parsed calendar file."""

    lessons: tuple[Lesson, ...]
    skipped: tuple[Skipped, ...]
    name: str = ""  # X-WR-CALNAME
    product: str = ""  # PRODID: which program wrote the file


@dataclass(frozen=True)
class Occurrence:
    """One meeting of a lesson. `key` is the occurrence's original start (its RECURRENCE-ID):
    a moved lesson keeps the key of the slot it replaces, so a run keyed by it happens once."""

    uid: str
    key: datetime
    start: datetime
    end: datetime

    @property
    def moved(self) -> bool:
        return self.start != self.key

    @property
    def duration(self) -> timedelta:
        return self.end - self.start
