"""Single events that are one class: a timetable package's feed writes every period as an event.

School timetable packages (WebUntis' iCal subscription, MIS exports) write no RRULE: each
lesson period is a VEVENT of its own, with a UID of its own, for the weeks the feed covers.
Imported one by one they would make a class per period. Here the one-off lessons of a
calendar that share their title, meeting link and zone become one lesson whose meetings are
their dates (DTSTART and ``RDATE;VALUE=PERIOD``, so a double period keeps its own length),
named by a UID made from what they share: re-importing next week's feed (a window that moved
on) updates the same class. Periods of a day less than `JOIN_GAP` apart (a double lesson with a
short break) become one meeting, so the bot joins once.

Pure: lessons in, grouped components out; `bot.timetable.ical` reads each back as a lesson.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import icalendar

from bot.timetable.model import Lesson

#: Periods of one day closer than this are one meeting (the short break of a double lesson).
JOIN_GAP = timedelta(minutes=15)
SERIES_PREFIX = "series-"


@dataclass(frozen=True)
class SingleSeries:
    """Several one-off lessons read as one: the UID to use, the event to read, the members."""

    uid: str
    event: icalendar.Event
    members: tuple[Lesson, ...]
    meetings: int  # after joining adjacent periods


def series_uid(class_name: str, meeting_url: str, timezone: str) -> str:
    key = "\x1f".join((" ".join(class_name.casefold().split()), meeting_url, timezone))
    return SERIES_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:20]


def _meetings(members: Sequence[Lesson]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for lesson in sorted(members, key=lambda x: x.start):
        start, end = lesson.start, lesson.start + lesson.duration
        if out and out[-1][0].date() == start.date() and start - out[-1][1] <= JOIN_GAP:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def single_event_series(lessons: Sequence[Lesson]) -> list[SingleSeries]:
    """Groups of two or more one-off lessons with the same title (case and spacing aside),
    meeting link and zone, each as one event with its dates."""
    groups: dict[tuple[str, str, str], list[Lesson]] = defaultdict(list)
    for lesson in lessons:
        if lesson.recurrence is None:
            groups[(" ".join(lesson.class_name.casefold().split()), lesson.meeting_url, lesson.timezone)].append(lesson)
    out = []
    for (_, url, zone), members in groups.items():
        if len(members) < 2:
            continue
        members.sort(key=lambda x: (x.start, x.uid))
        meetings = _meetings(members)
        uid = series_uid(members[0].class_name, url, zone)
        event = icalendar.Event()
        event.add("UID", uid)
        event.add("SUMMARY", members[0].class_name)
        (first_start, first_end), rest = meetings[0], meetings[1:]
        event.add("DTSTART", first_start, parameters={"TZID": zone})
        event.add("DTEND", first_end, parameters={"TZID": zone})
        for start, end in rest:
            event.add("RDATE", [(start, end)], parameters={"VALUE": "PERIOD", "TZID": zone})
        if url:
            event.add("LOCATION", url)
        out.append(SingleSeries(uid, event, tuple(members), len(meetings)))
    return out
