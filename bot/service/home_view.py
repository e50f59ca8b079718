"""The dashboard home's "Today": the runs still to come before midnight, and the next one after.

Pure: schedule rows, their triggers and a clock in, frozen rows out. "Today" is the calendar
day in each schedule's own time zone (a school's timetable zone), so a class at 09:15 in
Berlin is listed as 09:15 on a server that runs in UTC. Skip dates are honoured; runs that
already happened are the sessions (listed apart), so they are not repeated here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from bot.db.records import ScheduleRecord
from bot.service.schedules import parse_timezone, skipped
from bot.service.wall_clock import occurrences

LOOK_AHEAD_DAYS = 31  # how far "next class after today" looks


@dataclass(frozen=True)
class UpcomingRun:
    at: datetime  # aware, in the schedule's time zone
    schedule_id: str
    class_id: str
    class_name: str
    duration_s: float
    in_s: float  # seconds from now

    @property
    def local_time(self) -> str:
        return f"{self.at:%H:%M} {self.at.tzname()}"

    @property
    def local_day(self) -> str:
        return f"{self.at:%a %d %b} {self.local_time}"

    @property
    def starts_in(self) -> str:
        minutes = max(0, round(self.in_s / 60))
        if minutes < 60:
            return f"in {minutes} min"
        h, m = divmod(minutes, 60)
        return f"in {h} h {m:02d} min" if h < 24 else f"in {h // 24} d {h % 24} h"


def _runs(row: ScheduleRecord, trigger: Any, start: datetime, until: datetime) -> Iterable[datetime]:
    for when in occurrences(trigger, start, until, limit=200):
        if not skipped(row, when):
            yield when


def upcoming(rows: Iterable[ScheduleRecord], class_names: dict[str, str], trigger_for: Callable[[ScheduleRecord], Any],
             now: datetime) -> tuple[list[UpcomingRun], UpcomingRun | None]:
    """(the runs from `now` to the end of today in each schedule's zone, by time; the first run after
    today when there is none left today). A row whose trigger cannot be built is left out."""
    today: list[UpcomingRun] = []
    later: list[UpcomingRun] = []
    for row in rows:
        try:
            zone = parse_timezone(row.timezone)
            trigger = trigger_for(row)
        except ValueError:
            continue
        local = now.astimezone(zone)
        midnight = datetime.combine(local.date() + timedelta(days=1), time(0), zone)
        name = class_names.get(row.class_id, row.class_id)

        def make(when: datetime, r: ScheduleRecord = row, z: Any = zone, n: str = name) -> UpcomingRun:
            return UpcomingRun(when.astimezone(z), r.schedule_id, r.class_id, n, r.duration_s,
                               (when - now).total_seconds())

        today += [make(w) for w in _runs(row, trigger, now, midnight)]
        nxt = next(iter(_runs(row, trigger, midnight, midnight + timedelta(days=LOOK_AHEAD_DAYS))), None)
        if nxt is not None:
            later.append(make(nxt))
    today.sort(key=lambda r: (r.at, r.class_name))
    return today, (None if today else min(later, key=lambda r: r.at, default=None))
