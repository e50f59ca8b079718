"""``classpulse timetable import FILE.ics [--owner T] [--from DATE] [--json]`` without the CLI wiring.

The CLI reads the file and calls `import_timetable`; it prints `stdout` and `stderr` and exits
with `exit_code` (0: planned, 2: the file or an option is unusable). Nothing here raises for bad
input, so the command never prints a traceback. Applying the plan (classes, schedules with a
`CalendarTrigger`) is the caller's, with the store it owns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from bot.timetable.ical import CalendarError, parse_calendar
from bot.timetable.plan import Existing, ImportPlan, plan_import, plan_json, plan_text
from bot.timetable.zones import UnknownZone, resolve


@dataclass(frozen=True)
class CommandResult:
    stdout: str
    stderr: str
    exit_code: int
    plan: ImportPlan | None = None


def one_line(message: str, limit: int = 300) -> str:
    """An error message as one printable line: a parser's message may quote the file's bytes
    (line breaks, control characters), which would break the one-line error and the terminal."""
    flat = "".join(ch if ch.isprintable() else " " for ch in message)
    flat = " ".join(flat.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parse_from(text: str | None) -> date | None:
    """``--from`` as a date; ValueError naming the option when it is not YYYY-MM-DD."""
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--from {text!r}: expected a date as YYYY-MM-DD") from None


def import_timetable(data: bytes, *, source: str, now: datetime, owner: str | None = None,
                     start: str | None = None, as_json: bool = False, default_tz: str | None = None,
                     existing: Mapping[str, Existing] | None = None, classroom_base: str = "") -> CommandResult:
    """Plan the import of `data` (read from `source`, named in errors)."""
    try:
        start_date = parse_from(start)
        zone = resolve(default_tz) if default_tz else None
        plan = plan_import(parse_calendar(data, default_tz=zone, classroom_base=classroom_base), now=now,
                           start_date=start_date, owner=owner, existing=existing)
    except (CalendarError, ValueError, UnknownZone) as exc:
        return CommandResult("", f"error: {source}: {one_line(str(exc))}\n", 2)
    out = json.dumps(plan_json(plan), indent=2, ensure_ascii=False) + "\n" if as_json else plan_text(plan)
    return CommandResult(out, "", 0, plan)
