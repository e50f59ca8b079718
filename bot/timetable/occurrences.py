"""The meetings of a lesson: its occurrences, expanded by recurring-ical-events.

recurring-ical-events implements RFC 5545's recurrence set (RRULE incl. UNTIL/COUNT, RDATE
incl. PERIOD, EXDATE, RECURRENCE-ID overrides incl. RANGE=THISANDFUTURE) over zone-aware
datetimes, so 09:15 Europe/Berlin stays 09:15 across DST. It works on the lesson's normalised
`source`, so import previews and the scheduler's trigger compute the same runs.

Each `Occurrence` carries its key, the original start (RECURRENCE-ID): the scheduler keys a
run by it, so a moved lesson is one run however often it is moved or re-imported. After a
RANGE=THISANDFUTURE override, recurring-ical-events gives every later occurrence the override's
RECURRENCE-ID; their keys are their own original starts (start minus the override's shift). Cancelled
occurrences (STATUS:CANCELLED overrides) are not meetings and never returned.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from bot.timetable.model import Lesson, Occurrence

_CACHE_SIZE = 1024
_queries: OrderedDict[str, recurring_ical_events.CalendarQuery] = OrderedDict()


_lock = threading.Lock()  # imports run in executor threads, triggers in the event loop's


def _query(source: str) -> recurring_ical_events.CalendarQuery:
    """The expander for a lesson's source text, parsed once and kept (least recently used out)."""
    with _lock:
        query = _queries.get(source)
        if query is not None:
            _queries.move_to_end(source)
            return query
    query = recurring_ical_events.of(icalendar.Calendar.from_ical(source))
    remember(source, query)
    return query


def remember(source: str, query: recurring_ical_events.CalendarQuery) -> None:
    """Keep an expander built from the calendar object `source` was written from (the import
    has it at hand: parsing the text again would cost as much as the import itself)."""
    with _lock:
        _queries[source] = query
        while len(_queries) > _CACHE_SIZE:
            _queries.popitem(last=False)


def forget_all() -> None:
    """Drop every kept expander (tests: expand from the text alone, as after a restart)."""
    with _lock:
        _queries.clear()


def _aware(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)
    return datetime.combine(value, datetime.min.time(), zone)


def _dt(component: icalendar.cal.Component, name: str) -> Any:
    prop = component.get(name)
    return None if prop is None else getattr(prop, "dt", None)


def _occurrence(lesson: Lesson, component: icalendar.cal.Component, zone: ZoneInfo) -> Occurrence | None:
    if str(component.get("STATUS", "")).upper() == "CANCELLED":
        return None
    start = _aware(_dt(component, "DTSTART"), zone)
    end_value, rid = _dt(component, "DTEND"), _dt(component, "RECURRENCE-ID")
    end = _aware(end_value, zone) if end_value is not None else start + lesson.duration
    key = _aware(rid, zone) if rid is not None else start
    shift = _future_shifts(lesson).get(key)
    if shift is not None:  # RANGE=THISANDFUTURE: every later occurrence carries the override's id
        key = start - shift
    return Occurrence(lesson.uid, key, start, end)


def _future_shifts(lesson: Lesson) -> dict[datetime, timedelta]:
    """RANGE=THISANDFUTURE overrides: original start → how far they moved the occurrences."""
    if lesson.recurrence is None:
        return {}
    return {o.original_start: o.start - o.original_start for o in lesson.recurrence.overrides
            if o.this_and_future and o.start is not None}


def occurrences(lesson: Lesson, after: datetime) -> Iterator[Occurrence]:
    """The lesson's meetings starting at or after `after` (aware), in start order."""
    if after.tzinfo is None:
        raise ValueError("`after` must be timezone-aware")
    zone = ZoneInfo(lesson.timezone)
    after = after.astimezone(zone)
    for component in _query(lesson.source).after(after):
        occ = _occurrence(lesson, component, zone)
        if occ is not None and occ.start >= after:
            yield occ


def next_runs(lesson: Lesson, after: datetime, n: int = 10) -> list[Occurrence]:
    """The next `n` meetings starting at or after `after`."""
    return list(itertools.islice(occurrences(lesson, after), n))


def between(lesson: Lesson, start: datetime, end: datetime) -> list[Occurrence]:
    """Meetings starting in [start, end)."""
    return list(itertools.takewhile(lambda o: o.start < end, occurrences(lesson, start)))


def in_progress(lesson: Lesson, at: datetime, longest: timedelta = timedelta(hours=12)) -> Occurrence | None:
    """The meeting under way at `at` (start <= at < end), if any: the scheduler sizes a run by
    its own meeting, since a moved lesson, a PERIOD date or a double period may be longer or
    shorter than the series' DTSTART/DTEND."""
    found = [o for o in between(lesson, at - longest, at + timedelta(seconds=1)) if o.start <= at < o.end]
    return found[-1] if found else None


def local_midnight(day: date, timezone: str) -> datetime:
    """The start of `day` in `timezone` (what ``--from DATE`` means for a lesson there)."""
    return datetime.combine(day, datetime.min.time(), ZoneInfo(timezone))

