"""Runs a schedule should have started and did not: what to record, as a pure function.

APScheduler forgets such runs: with ``coalesce`` a service that was down over several
start times fires the newest one (if still within ``misfire_grace_s``) and drops the
others silently, and a run later than the grace time only raises an event. Teachers need
to see "not recorded" for those classes (DESIGN.md: a `missed` run never reads as the
students' absence), so every one becomes a `ScheduleRecord`.

`missed_after_downtime` is the rule; `ScheduleRecords` is where records go: the service
database's ``schedule_runs`` table (`bot.db.service_state.DbScheduleRecords`, one row per
schedule, due time and kind), shared by every API node; each record is also logged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


@dataclass(frozen=True)
class ScheduleRecord:
    """One run of a schedule that did not happen as planned."""

    schedule_id: str
    due_at: datetime  # the instant the run was due (UTC)
    kind: str  # "missed" (never started) or "moved" (started at another time: spring DST gap)
    reason: str  # missed: "service_down" | "beyond_grace"; moved: "dst_gap"
    detail: str = ""


def missed_after_downtime(schedule_id: str, due: Iterable[datetime], now: datetime, grace_s: float,
                          skipped: Callable[[datetime], bool] = lambda _when: False) -> list[ScheduleRecord]:
    """The records for runs due before `now` while the service was not running.

    `due` are the run times from the first one the service did not handle up to `now`.
    The newest one still fires if it is at most `grace_s` late (APScheduler's coalescing);
    every other due run is missed, except on skip dates (no class was planned then).
    """
    past = sorted(t for t in due if t <= now)
    fires = past[-1] if past and (now - past[-1]).total_seconds() <= grace_s else None
    out = []
    for t in past:
        if t == fires or skipped(t):
            continue
        late = now - t
        reason = "beyond_grace" if t == past[-1] else "service_down"
        out.append(ScheduleRecord(schedule_id, t.astimezone(UTC), "missed", reason,
                                  f"the service was not running at the start time ({_human(late)} late)"))
    return out


def _human(delta: timedelta) -> str:
    s = int(delta.total_seconds())
    return f"{s // 3600} h {s // 60 % 60} min" if s >= 3600 else f"{s // 60} min {s % 60} s"


class ScheduleRecords(Protocol):
    def add(self, record: ScheduleRecord) -> bool:
        """Keep a record; False when the same (schedule, due time, kind) is already kept."""
        ...

    def of(self, schedule_id: str) -> list[ScheduleRecord]:
        ...
