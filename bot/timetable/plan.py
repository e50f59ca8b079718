"""The import plan of ``classpulse timetable import FILE.ics [--owner T] [--from DATE] [--json]``.

A pure function from a parsed calendar (and what the store already holds, by UID) to what an
import would do: the classes to create or update with their schedules and next runs, and every
event left out with the reason. The CLI prints it (text or JSON) and the API returns it; the
caller applies it to the store and scheduler. Keyed by UID, so importing the same file again
plans "unchanged" for every lesson: re-importing is idempotent.

JSON (``--json``)::

    {"calendar": NAME, "from": ISO, "owner": OWNER|null,
     "schedules": [{"class": SUMMARY, "meeting_url": URL, "timezone": IANA,
                    "next_runs": [local ISO times with offset, up to 10],
                    "uid": UID, "action": "create"|"update"|"unchanged", "kind": "recurring"|"one-off",
                    "duration_min": N, "recurrence": TEXT, "notes": [...]}],
     "skipped": [{"uid": UID, "summary": SUMMARY, "reason": TEXT}],
     "not_in_file": [UID, ...]}
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from icalendar import vRecur

from bot.timetable.model import Lesson, Recurrence, Skipped, Timetable
from bot.timetable.occurrences import local_midnight, next_runs

Action = Literal["create", "update", "unchanged"]
N_RUNS = 10
_FREQ = {"SECONDLY": "every second", "MINUTELY": "every minute", "HOURLY": "hourly", "DAILY": "daily",
         "WEEKLY": "weekly", "MONTHLY": "monthly", "YEARLY": "yearly"}
_UNIT = {"SECONDLY": "seconds", "MINUTELY": "minutes", "HOURLY": "hours", "DAILY": "days", "WEEKLY": "weeks",
         "MONTHLY": "months", "YEARLY": "years"}
_DAYS = {"MO": "Mon", "TU": "Tue", "WE": "Wed", "TH": "Thu", "FR": "Fri", "SA": "Sat", "SU": "Sun"}


@dataclass(frozen=True)
class Existing:
    """What the store holds for a UID from an earlier import (supplied by the caller)."""

    uid: str
    fingerprint: str
    class_id: str = ""


@dataclass(frozen=True)
class PlannedSchedule:
    lesson: Lesson
    action: Action
    fingerprint: str
    next_runs: tuple[datetime, ...]
    class_id: str = ""  # the existing class, for "update" and "unchanged"

    @property
    def kind(self) -> Literal["recurring", "one-off"]:
        return "one-off" if self.lesson.one_off else "recurring"


@dataclass(frozen=True)
class ImportPlan:
    schedules: tuple[PlannedSchedule, ...]
    skipped: tuple[Skipped, ...]
    start: datetime | date  # `now`, or the --from date (read in each lesson's zone)
    owner: str | None = None
    calendar: str = ""
    product: str = ""
    not_in_file: tuple[str, ...] = ()  # UIDs imported before that this file no longer has


def fingerprint(lesson: Lesson) -> str:
    """Changes whenever anything a schedule depends on changes (name, link, zone, recurrence)."""
    text = "\x1f".join((lesson.uid, lesson.class_name, lesson.meeting_url, lesson.timezone, lesson.source))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _after(lesson: Lesson, start: datetime | date) -> datetime:
    return start if isinstance(start, datetime) else local_midnight(start, lesson.timezone)


def _gone_reason(lesson: Lesson, start: datetime | date) -> str:
    when = start.isoformat() if isinstance(start, date) and not isinstance(start, datetime) else \
        start.astimezone(lesson.start.tzinfo).isoformat(timespec="minutes")
    if lesson.one_off:
        return f"a one-off lesson on {lesson.start.isoformat(timespec='minutes')}, before {when}"
    return f"no meeting on or after {when}: the series has ended"


def plan_import(timetable: Timetable, *, now: datetime, start_date: date | None = None, owner: str | None = None,
                existing: Mapping[str, Existing] | None = None, n_runs: int = N_RUNS) -> ImportPlan:
    """What importing `timetable` would do. `now` must be aware; `start_date` (--from) replaces
    it with the start of that day in each lesson's zone."""
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    known = dict(existing or {})
    start: datetime | date = start_date if start_date is not None else now
    schedules: list[PlannedSchedule] = []
    skipped = list(timetable.skipped)
    for lesson in timetable.lessons:
        try:
            runs = tuple(o.start for o in next_runs(lesson, _after(lesson, start), n_runs))
        except Exception as exc:  # the expander failing late in a series: this lesson only
            skipped.append(Skipped(lesson.uid, lesson.class_name, f"its recurrence cannot be expanded: {exc}"))
            continue
        if not runs:
            skipped.append(Skipped(lesson.uid, lesson.class_name, _gone_reason(lesson, start)))
            continue
        fp = fingerprint(lesson)
        before = known.get(lesson.uid)
        action: Action = "create" if before is None else ("unchanged" if before.fingerprint == fp else "update")
        schedules.append(PlannedSchedule(lesson, action, fp, runs, before.class_id if before else ""))
    in_file = {x.uid for x in timetable.lessons} | {s.uid for s in timetable.skipped}
    return ImportPlan(tuple(schedules), tuple(skipped), start, owner, timetable.name, timetable.product,
                      tuple(sorted(uid for uid in known if uid not in in_file)))


# -- describing a recurrence -----------------------------------------------------------------------

def describe_rule(rule: str) -> str:
    """``FREQ=WEEKLY;BYDAY=MO,TH;UNTIL=20260716T215959Z`` → "weekly on Mon, Thu until 2026-07-16"."""
    try:
        parts = vRecur.from_ical(rule)
    except ValueError:
        return rule
    freq = str((parts.get("FREQ") or [""])[0]).upper()
    interval = int((parts.get("INTERVAL") or [1])[0])
    text = _FREQ.get(freq, rule) if interval == 1 else f"every {interval} {_UNIT.get(freq, freq.lower())}"
    days = [str(d) for d in parts.get("BYDAY") or []]
    if days:
        which = ", ".join(_DAYS.get(d[-2:], d) if len(d) == 2 else _nth_day(d) for d in days)
        positions = [int(n) for n in parts.get("BYSETPOS") or []]
        text += f" on {' and '.join(_ordinal(n) for n in positions)} of {which}" if positions else f" on {which}"
    month_days = [int(n) for n in parts.get("BYMONTHDAY") or []]
    if month_days:
        text += " on " + ", ".join("the last day" if n == -1 else f"day {n}" for n in month_days)
    months = [int(n) for n in parts.get("BYMONTH") or []]
    if months:
        text += " in " + ", ".join(date(2000, m, 1).strftime("%b") for m in months if 1 <= m <= 12)
    until = (parts.get("UNTIL") or [None])[0]
    if until is not None:
        text += f" until {until.date().isoformat() if isinstance(until, datetime) else until.isoformat()}"
    count = (parts.get("COUNT") or [None])[0]
    if count is not None:
        text += f", {count} times"
    return text


def _ordinal(n: int) -> str:
    """1 → "the 1st", -1 → "the last", -2 → "the 2nd last" (BYSETPOS, BYDAY's prefix)."""
    if n == -1:
        return "the last"
    k = abs(n)
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"the {k}{suffix}" + (" last" if n < 0 else "")


def _nth_day(value: str) -> str:
    """``1MO`` → "the 1st Mon", ``-1FR`` → "the last Fri"; anything else as written."""
    try:
        return f"{_ordinal(int(value[:-2]))} {_DAYS[value[-2:]]}"
    except (ValueError, KeyError):
        return value


def describe(recurrence: Recurrence | None) -> str:
    if recurrence is None:
        return "once"
    parts = [describe_rule(r) for r in recurrence.rules] or [f"on {len(recurrence.rdates) + 1} listed dates"]
    moved = sum(o.start is not None for o in recurrence.overrides)
    cancelled = sum(o.start is None for o in recurrence.overrides)
    extra = len(recurrence.rdates) if recurrence.rules else 0
    for n, what in ((extra, "extra date"), (len(recurrence.exdates), "date excluded"), (moved, "moved"),
                    (cancelled, "cancelled")):
        if n:
            plural = what.replace("date", "dates") if n > 1 and "date" in what else what
            parts.append(f"{n} {plural}")
    return "; ".join(parts)


# -- output --------------------------------------------------------------------------------------

def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def _start_text(start: datetime | date) -> str:
    return start.isoformat(timespec="seconds") if isinstance(start, datetime) else start.isoformat()


def plan_json(plan: ImportPlan) -> dict[str, Any]:
    return {
        "calendar": plan.calendar, "from": _start_text(plan.start), "owner": plan.owner,
        "schedules": [{
            "class": s.lesson.class_name, "meeting_url": s.lesson.meeting_url, "timezone": s.lesson.timezone,
            "next_runs": [_iso(t) for t in s.next_runs],
            "uid": s.lesson.uid, "merged_uids": list(s.lesson.members), "action": s.action, "kind": s.kind,
            "duration_min": round(s.lesson.duration.total_seconds() / 60, 2),
            "recurrence": describe(s.lesson.recurrence), "notes": list(s.lesson.notes),
        } for s in plan.schedules],
        "skipped": [{"uid": k.uid, "summary": k.summary, "reason": k.reason} for k in plan.skipped],
        "not_in_file": list(plan.not_in_file),
    }


def _run_text(t: datetime) -> str:
    return f"{t:%a %Y-%m-%d %H:%M}"


def plan_text(plan: ImportPlan, *, runs_shown: int = 3) -> str:
    """The plan for a terminal: one block per schedule, then every skipped event with its reason."""
    head = f"Timetable {plan.calendar!r}" if plan.calendar else "Timetable"
    if plan.product:
        head += f" ({plan.product})"
    lines = [head + (f" for {plan.owner}" if plan.owner else "") + f", runs from {_start_text(plan.start)}",
             f"{len(plan.schedules)} schedule(s), {len(plan.skipped)} event(s) skipped", ""]
    for s in plan.schedules:
        lesson = s.lesson
        lines.append(f"{s.action:<9} {lesson.class_name}  [uid {lesson.uid}]")
        lines.append(f"          {lesson.meeting_url or '(no meeting link yet)'}")
        lines.append(f"          {lesson.timezone}, {lesson.duration.total_seconds() / 60:g} min, "
                     f"{describe(lesson.recurrence)}")
        shown = ", ".join(_run_text(t) for t in s.next_runs[:runs_shown])
        more = f" (+{len(s.next_runs) - runs_shown} more)" if len(s.next_runs) > runs_shown else ""
        lines.append(f"          next: {shown}{more}")
        lines.extend(f"          note: {n}" for n in lesson.notes)
    if plan.skipped:
        lines += ["", "Skipped:"]
        lines.extend(f"  {k.summary or '(no title)'} [uid {k.uid or '-'}]: {k.reason}" for k in plan.skipped)
    if plan.not_in_file:
        lines += ["", "Imported before but not in this file (kept; delete them if they are over):"]
        lines.extend(f"  {uid}" for uid in plan.not_in_file)
    return "\n".join(lines) + "\n"
