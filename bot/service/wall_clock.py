"""A cron trigger that counts local wall-clock times: each one fires once, across DST changes.

APScheduler 3's `CronTrigger` with a zoneinfo time zone fires ``30 2 * * sun`` in
Europe/Berlin twice on the autumn change (02:30 CEST and again 02:30 CET), and with
``*/30`` in the repeated hour it steps backwards in time, so the job would keep
re-running. `WallClockTrigger` asks an inner `CronTrigger` for *wall-clock* times only
(it runs in UTC on naive local times, where nothing repeats or is skipped) and maps each
wall time to one instant with `resolve`:

- an ambiguous wall time (autumn, the hour that happens twice) fires at its first
  occurrence;
- a nonexistent wall time (spring, the hour that is skipped) moves to the next valid
  time, the moment the clocks jump (02:30 → 03:00 in Berlin); `moved_by_dst` tells the
  scheduler so it can be recorded;
- a wall time never fires twice: after 02:30 CEST, the next is the next *wall* time
  after 02:30.

`check_cadence` refuses expressions that never fire (``0 9 31 2 *``) or fire more often
than `MIN_INTERVAL_S` (every second, every five minutes).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

MIN_INTERVAL_S = 600  # a class is never scheduled more often than every 10 minutes
_TICK = timedelta(microseconds=1)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall-clock time of an instant (via UTC: astimezone to the same zone is a no-op)."""
    return instant.astimezone(UTC).astimezone(tz).replace(tzinfo=None)


def resolve(wall: datetime, tz: ZoneInfo) -> tuple[datetime, bool]:
    """(the instant a local wall time fires at, whether it was moved because it does not exist)."""
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first, False
    if _wall(first, tz) == wall:  # ambiguous (it exists twice): the first occurrence
        return first, False
    # nonexistent: zoneinfo maps it on both sides of the gap; the clocks jump between the two instants
    lo, hi = sorted((first.astimezone(UTC), second.astimezone(UTC)))
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
            lo = mid
        else:
            hi = mid
    return hi.replace(microsecond=0).astimezone(tz), True


class WallClockTrigger(BaseTrigger):
    """Local wall-clock cron for one time zone; picklable for APScheduler's job store."""

    def __init__(self, inner: CronTrigger, zone: str) -> None:
        self.inner = inner  # timezone UTC, fields and start/end dates in local wall time
        self.zone = zone

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def next_wall(self, after: datetime) -> datetime | None:
        """The first wall time of the expression strictly after the naive wall time `after`."""
        nxt = self.inner.get_next_fire_time(None, (after + _TICK).replace(tzinfo=UTC))
        return None if nxt is None else nxt.replace(tzinfo=None)

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        tz = self.tz
        if previous_fire_time is not None:
            after, floor = _wall(previous_fire_time, tz), previous_fire_time
        else:
            after, floor = _wall(now, tz) - _TICK, now - _TICK
        for _ in range(10_000):  # only DST folds make us skip; this is a guard, never reached
            wall = self.next_wall(after)
            if wall is None:
                return None
            instant, _moved = resolve(wall, tz)
            if instant > floor:
                return instant
            after = wall
        return None

    def moved_by_dst(self, instant: datetime) -> bool:
        """True when `instant` is not one of the expression's wall times but a spring-gap substitute."""
        wall = _wall(instant, self.tz)
        return self.next_wall(wall - _TICK) != wall

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "inner": self.inner, "zone": self.zone}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.inner = state["inner"]
        self.zone = state["zone"]

    def __str__(self) -> str:
        return f"wall-clock {self.inner} in {self.zone}"

    def __repr__(self) -> str:
        return f"<WallClockTrigger ({self.inner!r}, zone={self.zone!r})>"


def occurrences(trigger: BaseTrigger, start: datetime, until: datetime | None = None,
                limit: int = 500) -> Iterator[datetime]:
    """Fire instants from `start` (inclusive) to `until` (exclusive), at most `limit`."""
    prev: datetime | None = None
    for _ in range(limit):
        nxt = trigger.get_next_fire_time(prev, start)
        if nxt is None or (until is not None and nxt >= until):
            return
        yield nxt
        prev = nxt


def check_cadence(trigger: WallClockTrigger, start: datetime, min_interval_s: int = MIN_INTERVAL_S,
                  horizon_days: int = 1500) -> None:
    """ValueError when the expression never fires or fires more often than every `min_interval_s`.

    Looks at up to 500 runs within `horizon_days` (four years and more: a 29 February
    cron fires), which covers every pattern a crontab can repeat.
    """
    runs = list(occurrences(trigger, start, start + timedelta(days=horizon_days)))
    if not runs:
        raise ValueError(f"it never fires (no run within {horizon_days // 365} years): check day and month")
    gaps = [(b - a).total_seconds() for a, b in pairwise(runs)]
    if gaps and min(gaps) < min_interval_s:
        raise ValueError(f"it fires {min(gaps):g} s apart; schedules may fire at most every "
                         f"{min_interval_s // 60} minutes")
