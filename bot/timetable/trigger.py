"""An APScheduler 3 trigger that fires at each meeting of a calendar lesson.

Cron cannot say "Mondays and Thursdays except 12 March, and the 16th moved to Tuesday 14:00";
an RFC 5545 recurrence set can. `CalendarTrigger` asks `bot.timetable.occurrences` (so the
import preview and the scheduler agree) for the first meeting after the previous fire time:

* each occurrence fires once: APScheduler passes the previous fire time, and the next one is
  the first meeting starting strictly after it; a moved lesson is one occurrence (its override
  replaces the original slot), so it fires at its new time only;
* a run is keyed by the occurrence's original start (`occurrence_at(fire_time).key`): the runner
  records it, and a trigger rebuilt after a re-import gets the keys already run in `done`, so a
  lesson moved after it already ran (or moved twice) never runs twice;
* times are the lesson's zone-aware local times (09:15 Europe/Berlin is 08:15 UTC in winter
  and 07:15 UTC in summer); a time that does not exist on a DST day is read with the offset
  before the gap, an ambiguous one as its first instance (RFC 5545 §3.3.5), as zoneinfo does.

Two meetings of one lesson at the same instant fire once (one class cannot meet twice at once);
`occurrence_at` then names the one with the earliest key.

The trigger is pickled into APScheduler's job store: its state is the frozen `Lesson` (whose
`source` text is all expansion needs), the keys already run and a version number.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from bot.timetable.model import Lesson, Occurrence
from bot.timetable.occurrences import occurrences

log = logging.getLogger(__name__)
_STATE_VERSION = 1
_TICK = timedelta(microseconds=1)


class CalendarTrigger(BaseTrigger):
    """Fires at the start of every meeting of `lesson` not in `done` and not before `not_before`."""

    __slots__ = ("done", "jitter", "lesson", "not_before")

    def __init__(self, lesson: Lesson, *, done: Iterable[datetime] = (), not_before: datetime | None = None,
                 jitter: int | None = None) -> None:
        if not_before is not None and not_before.tzinfo is None:
            raise ValueError("not_before must be timezone-aware")
        self.lesson = lesson
        self.done: frozenset[datetime] = frozenset(done)
        self.not_before = not_before
        self.jitter = jitter

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.lesson.timezone)

    def _next(self, after: datetime) -> Occurrence | None:
        if self.not_before is not None and after < self.not_before:
            after = self.not_before
        return next((o for o in occurrences(self.lesson, after) if o.key not in self.done), None)

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        after = now if previous_fire_time is None else previous_fire_time + _TICK
        try:
            occ = self._next(after)
        except Exception:  # never let one calendar stop the scheduler: this lesson stops firing
            log.exception("calendar trigger for %r cannot compute its next meeting; it will not fire again",
                          self.lesson.uid)
            return None
        return self._apply_jitter(occ.start if occ else None, self.jitter, now)

    def occurrence_at(self, fire_time: datetime) -> Occurrence | None:
        """The meeting a fire time belongs to (fire times may carry up to `jitter` seconds)."""
        slack = timedelta(seconds=self.jitter or 0)
        for occ in occurrences(self.lesson, fire_time - slack):
            if occ.start > fire_time:
                return None
            if occ.key not in self.done:
                return occ
        return None

    def with_done(self, *keys: datetime) -> CalendarTrigger:
        """This trigger with more occurrence keys marked as already run."""
        return CalendarTrigger(self.lesson, done=self.done | set(keys), not_before=self.not_before,
                               jitter=self.jitter)

    def preview(self, now: datetime, n: int = 10) -> list[Occurrence]:
        """The next `n` meetings this trigger will fire for, from `now`."""
        after = max(now, self.not_before) if self.not_before is not None else now
        return list(itertools.islice((o for o in occurrences(self.lesson, after) if o.key not in self.done), n))

    def __getstate__(self) -> dict[str, Any]:
        return {"version": _STATE_VERSION, "lesson": self.lesson, "done": sorted(self.done),
                "not_before": self.not_before, "jitter": self.jitter}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("version", 1) > _STATE_VERSION:
            raise ValueError(f"CalendarTrigger state version {state['version']} is newer than this code "
                             f"({_STATE_VERSION})")
        self.lesson = state["lesson"]
        self.done = frozenset(state["done"])
        self.not_before = state["not_before"]
        self.jitter = state["jitter"]

    def __str__(self) -> str:
        return f"calendar[{self.lesson.class_name!r} uid={self.lesson.uid!r} tz={self.lesson.timezone}]"

    def __repr__(self) -> str:
        return (f"<CalendarTrigger uid={self.lesson.uid!r} timezone={self.lesson.timezone!r} "
                f"done={len(self.done)} not_before={self.not_before!r}>")
