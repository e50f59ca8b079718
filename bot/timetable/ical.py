"""Reading an iCalendar (RFC 5545) timetable into `Lesson`s and `Skipped` events.

Parsing is icalendar's; recurrence expansion is recurring-ical-events' (see
`bot.timetable.occurrences`); zone handling of each value is `bot.timetable.values`. This
module does what neither library does for a school timetable:

* names every zone in IANA terms (`bot.timetable.zones`: Windows IDs and display names from
  Outlook/Exchange, VTIMEZONE-only zones), keeping wall-clock times: a lesson written as
  09:15 "W. Europe Standard Time" runs at 09:15 Europe/Berlin on both sides of a DST change;
  values written in UTC (Google's EXDATEs, Outlook's UNTIL) keep their instant;
* applies Google's ``X-WR-TIMEZONE`` to floating and UTC times (the x-wr-timezone package,
  as recurring-ical-events does), with the zone name resolved the same way;
* groups a UID's components (the series and its RECURRENCE-ID overrides) into one lesson;
* reads a date UNTIL on a timed series as "up to and including that day";
* refuses what cannot become a scheduled run, with the reason: all-day events, cancelled
  events, events whose meeting links ClassPulse cannot join (Teams, Meet, …), without a start,
  ending before they start, with an unknown zone or a recurrence rule that cannot be expanded.
  An event with no link at all is kept, with a note that its class needs a meeting URL.

Bad input never raises past `parse_calendar` except as `CalendarError` for a file that is
not an iCalendar at all; a bad event is one `Skipped` and the others still import.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
from icalendar.cal import Component
from icalendar.error import BrokenCalendarProperty

from bot.timetable.links import meeting_link
from bot.timetable.model import Lesson, Override, Recurrence, Skipped, Timetable
from bot.timetable.occurrences import occurrences, remember
from bot.timetable.series import JOIN_GAP, single_event_series
from bot.timetable.values import localize, normalize_values, text, zone_resolver
from bot.timetable.zones import UnknownZone, ZoneResolver, iana_of, resolve

#: A timed event without DTEND or DURATION lasts this long (RFC 5545 would make it zero).
DEFAULT_DURATION = timedelta(minutes=45)
#: Longer timed events are not lessons (a school trip, a holiday written with times).
MAX_DURATION = timedelta(hours=12)
_CONFERENCE_PROPS = ("X-GOOGLE-CONFERENCE", "X-MICROSOFT-SKYPETEAMSMEETINGURL", "X-MICROSOFT-ONLINEMEETINGCONFLINK")
_MAX_BYTES = 10 * 1024 * 1024
NO_UID_PREFIX = "no-uid-"
_FREQS = frozenset({"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
_SUB_DAILY = frozenset({"SECONDLY", "MINUTELY", "HOURLY"})
_FOLD = re.compile(rb"\r?\n[ \t]")
#: An unquoted Windows display name as TZID: ``;TZID=(UTC+01:00) Amsterdam, …:2026…``. RFC 5545
#: needs the quotes (the name holds a colon); some generators leave them out.
#: Outlook/Exchange's ``TZID=tzone://Microsoft/Utc`` unquoted (the colon of the URI ends the
#: parameter for a parser): quoted before parsing.
_UNQUOTED_URI_TZID = re.compile(rb'(;TZID=)(tzone://[^:;"\r\n]*)(?=[:;])', re.IGNORECASE)
_UNQUOTED_DISPLAY_TZID = re.compile(rb'(;TZID=)(\((?:UTC|GMT)[^)\r\n"]*\)[^:;"\r\n]*)(?=[:;])', re.IGNORECASE)


_LEGACY_RULE = ("its recurrence is a vCalendar 1.0 rule (a VERSION:1.0 file, e.g. 'W1 MO TH #0'), which "
                "ClassPulse cannot read: export the calendar as iCalendar 2.0 (.ics)")


class CalendarError(ValueError):
    """The file as a whole cannot be read as an iCalendar."""


class EventError(ValueError):
    """One event cannot be imported; the message is the skip reason."""


def _summary(component: Component) -> str:
    return text(component, "SUMMARY")[:200]


def _uid(component: Component) -> str:
    return text(component, "UID").strip()


# -- one event -----------------------------------------------------------------------------------

def _add_dt(event: icalendar.Event, name: str, value: Any, zone: str, extra: Mapping[str, str] | None = None) -> None:
    params: dict[str, str] = dict(extra or {})
    if isinstance(value, tuple):
        params["VALUE"] = "PERIOD"
        if zone != "UTC":
            params["TZID"] = zone
        event.add(name, [value], parameters=params)
    elif name in ("EXDATE", "RDATE"):
        event.add(name, [value], parameters=params)
    else:
        event.add(name, value, parameters=params)


def _copy(component: Component, values: Mapping[str, list[Any]], zone: str, *, start: datetime,
          end: datetime) -> icalendar.Event:
    """The component with only what expansion needs, every datetime in `zone`."""
    event = icalendar.Event()
    event.add("UID", _uid(component))
    if _summary(component):
        event.add("SUMMARY", _summary(component))
    _add_dt(event, "DTSTART", start, zone)
    _add_dt(event, "DTEND", end, zone)
    if "RECURRENCE-ID" in values:
        rid_prop = component.get("RECURRENCE-ID")
        rng = str((getattr(rid_prop, "params", None) or {}).get("RANGE", "")).upper()
        _add_dt(event, "RECURRENCE-ID", values["RECURRENCE-ID"][0], zone,
                {"RANGE": "THISANDFUTURE"} if rng == "THISANDFUTURE" else None)
    rules = component.get("RRULE")
    for rule in rules if isinstance(rules, list) else ([rules] if rules is not None else []):
        event.add("RRULE", _until_end_of_day(rule, start))
    for name in ("EXDATE", "RDATE"):
        for value in values.get(name, []):
            _add_dt(event, name, value, zone)
    status = text(component, "STATUS").upper()
    if status:
        event.add("STATUS", status)
    seq = text(component, "SEQUENCE")
    if seq.isdigit():
        event.add("SEQUENCE", int(seq))
    return event


def _until_end_of_day(rule: Any, start: datetime) -> Any:
    """A date UNTIL on a timed series (invalid in RFC 5545, common in hand-made feeds) read as
    "up to and including that day", as calendar apps show it, not as midnight at its start."""
    until = (rule.get("UNTIL") or [None])[0]
    if until is None or isinstance(until, datetime) or not isinstance(until, date):
        return rule
    fixed = icalendar.vRecur(dict(rule))
    end = datetime.combine(until, datetime.max.time().replace(microsecond=0), start.tzinfo)
    fixed["UNTIL"] = [end.astimezone(ZoneInfo("UTC"))]
    return fixed


def _is_all_day(component: Component, start: Any) -> bool:
    if not isinstance(start, datetime):
        return True
    return text(component, "X-MICROSOFT-CDO-ALLDAYEVENT").upper() == "TRUE"


def _end_of(component: Component, values: Mapping[str, list[Any]], start: datetime, zone: ZoneInfo,
            notes: list[str]) -> datetime:
    if "DTEND" in values:
        end = values["DTEND"][0]
        if not isinstance(end, datetime):
            raise EventError("DTEND is a date while DTSTART has a time")
        return end
    duration = component.get("DURATION")
    if duration is not None:
        value = duration.dt
        if isinstance(value, timedelta):
            return start + value
    notes.append(f"no end time given: {int(DEFAULT_DURATION.total_seconds() // 60)} min assumed")
    return start + DEFAULT_DURATION


def _zone_of(start: datetime, default_tz: str | None) -> ZoneInfo:
    name = iana_of(start.tzinfo) if start.tzinfo is not None else default_tz
    if not name:
        raise EventError("floating time (no TZID and no X-WR-TIMEZONE) and no default zone given: the zone of "
                         "the lesson is unknown (import again with --tz ZONE, or ?tz=ZONE in the API)")
    return ZoneInfo(name)


def _ruletext(rule: Any) -> str:
    return rule.to_ical().decode() if hasattr(rule, "to_ical") else str(rule)


def _lesson(uid: str, master: Component, overrides: list[Component], vtz: ZoneResolver, wr_zone: ZoneInfo | None,
            default_tz: str | None, classroom_base: str, product: str) -> Lesson:
    if master.get("DTSTART") is None:
        raise EventError("no DTSTART")
    values = normalize_values(master, vtz, wr_zone)
    start = values["DTSTART"][0]
    if _is_all_day(master, start):
        raise EventError("all-day event: ClassPulse needs a start time to join a lesson")
    if text(master, "STATUS").upper() == "CANCELLED":
        raise EventError("cancelled (STATUS:CANCELLED)")
    zone = _zone_of(start, default_tz)
    notes: list[str] = []
    if start.tzinfo is None:
        notes.append(f"its times name no zone (floating): read as {zone.key}")
    if uid.startswith(NO_UID_PREFIX):
        notes.append("no UID in the calendar: identified by its title, start and rule, so changing those "
                     "in the calendar makes a new class on the next import")
    values = localize(values, zone)
    start = values["DTSTART"][0]
    end = _end_of(master, values, start, zone, notes)
    if end < start:
        raise EventError(f"ends before it starts ({end.isoformat()} < {start.isoformat()})")
    if end - start > MAX_DURATION:
        raise EventError(f"lasts {(end - start).total_seconds() / 3600:.1f} h: longer than a lesson "
                         f"({MAX_DURATION.total_seconds() / 3600:g} h at most)")
    extra = [text(master, p) for p in _CONFERENCE_PROPS]
    link = meeting_link(text(master, "LOCATION"), text(master, "URL"), text(master, "DESCRIPTION"),
                        classroom_base=classroom_base, extra=extra)
    if link.unsupported:
        raise EventError(link.reason)
    if not link.url:
        notes.append(f"{link.reason}: set the class's meeting URL (janus+https://…, classroom:CODE or zoom:?…) "
                     "before its first run")
    summary = _summary(master)
    if not summary:
        notes.append("no SUMMARY: the class is named after its UID")

    cal = icalendar.Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", "-//ClassPulse//timetable import//EN")
    cal.add("X-CLASSPULSE-SOURCE", product or "unknown")
    cal.add_component(_copy(master, values, zone.key, start=start, end=end))
    kept: list[Override] = []
    for comp in overrides:
        kept.append(_override(comp, vtz, wr_zone, zone, end - start, cal))
    rules = master.get("RRULE")
    rule_list = rules if isinstance(rules, list) else ([rules] if rules is not None else [])
    for rule in rule_list:
        freq = [str(f).upper() for f in (rule.get("FREQ") or [])] if hasattr(rule, "get") else []
        if len(freq) != 1 or freq[0] not in _FREQS:
            raise EventError(f"RRULE {_ruletext(rule)!r} has no valid FREQ (one of {', '.join(sorted(_FREQS))})")
        if freq[0] in _SUB_DAILY:
            raise EventError(f"RRULE {_ruletext(rule)!r} repeats {freq[0].lower()}: more often than a lesson")
    recurrence = None
    if rule_list or values.get("RDATE") or kept:
        recurrence = Recurrence(
            rules=tuple(_ruletext(r) for r in rule_list),
            exdates=tuple(sorted(v if isinstance(v, datetime) else datetime.combine(v, start.timetz())
                                 for v in values.get("EXDATE", []))),
            rdates=tuple(sorted(v[0] if isinstance(v, tuple) else v for v in values.get("RDATE", [])
                                if isinstance(v, (datetime, tuple)))),
            overrides=tuple(sorted(kept, key=lambda o: o.original_start)))
    source = cal.to_ical().decode()
    remember(source, recurring_ical_events.of(cal))
    lesson = Lesson(uid=uid, class_name=summary or f"Lesson {uid[:40]}", meeting_url=link.url,
                    timezone=zone.key, start=start, duration=end - start, recurrence=recurrence,
                    source=source, notes=tuple(notes))
    _check_expands(lesson)
    return lesson


def _override(comp: Component, vtz: ZoneResolver, wr_zone: ZoneInfo | None, zone: ZoneInfo, duration: timedelta,
              cal: icalendar.Calendar) -> Override:
    values = localize(normalize_values(comp, vtz, wr_zone), zone)
    rid = values["RECURRENCE-ID"][0]
    if not isinstance(rid, datetime):
        raise EventError("an override (RECURRENCE-ID) of this timed series is a date, not a time")
    cancelled = text(comp, "STATUS").upper() == "CANCELLED"
    start = values.get("DTSTART", [rid])[0]
    if not isinstance(start, datetime):
        raise EventError(f"the occurrence of {rid.isoformat()} was moved to an all-day date")
    end = values["DTEND"][0] if isinstance(values.get("DTEND", [None])[0], datetime) else start + duration
    cal.add_component(_copy(comp, values, zone.key, start=start, end=end))
    rng = str((getattr(comp.get("RECURRENCE-ID"), "params", None) or {}).get("RANGE", "")).upper()
    return Override(original_start=rid, start=None if cancelled else start, end=None if cancelled else end,
                    this_and_future=rng == "THISANDFUTURE")


def _check_expands(lesson: Lesson) -> None:
    """Expand the first occurrences now, so a rule the expander cannot handle is a skip reason
    at import time rather than an error when the scheduler fires."""
    try:
        list(itertools.islice(occurrences(lesson, lesson.start - timedelta(days=1)), 3))
    except Exception as exc:  # recurring-ical-events and dateutil raise many kinds of errors
        raise EventError(f"its recurrence cannot be expanded: {exc}") from None


# -- the calendar --------------------------------------------------------------------------------

def _calendars(data: bytes | str) -> list[Component]:
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > _MAX_BYTES:
        raise CalendarError(f"the file is {len(raw) / 1e6:.1f} MB; timetables over {_MAX_BYTES // 10**6} MB "
                            "are refused")
    raw = raw.removeprefix(b"\xef\xbb\xbf").strip()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:  # RFC 5545 says UTF-8; older Windows exports write cp1252
        raw = raw.decode("cp1252", errors="replace").encode("utf-8")
    if not raw.upper().startswith(b"BEGIN:VCALENDAR"):
        raise CalendarError("not an iCalendar file (it must start with BEGIN:VCALENDAR)")
    if _UNQUOTED_DISPLAY_TZID.search(_FOLD.sub(b"", raw)):
        raw = _UNQUOTED_DISPLAY_TZID.sub(rb'\1"\2"', _FOLD.sub(b"", raw))
    if _UNQUOTED_URI_TZID.search(_FOLD.sub(b"", raw)):
        raw = _UNQUOTED_URI_TZID.sub(rb'\1"\2"', _FOLD.sub(b"", raw))
    try:
        cals = icalendar.Calendar.from_ical(raw, multiple=True)
    except Exception as exc:  # icalendar raises ValueError, KeyError or IndexError on broken files
        raise CalendarError(f"not a readable iCalendar file: {exc}") from None
    if not cals:
        if b"END:VCALENDAR" not in raw.upper():
            raise CalendarError("the file is cut short: END:VCALENDAR is missing (an interrupted download or copy?)")
        raise CalendarError("no VCALENDAR in the file")
    return list(cals)


def _made_up_uid(event: Component) -> str:
    """A UID for an event that has none (RFC 5545 requires one; some generators omit it):
    stable while its title, start and rule stay the same, so re-importing the file is still
    idempotent. DTSTAMP is left out: exports rewrite it every time."""
    parts = [_summary(event)]
    for name in ("DTSTART", "RRULE", "RECURRENCE-ID"):
        prop = event.get(name)
        parts.append(prop.to_ical().decode(errors="replace") if hasattr(prop, "to_ical") else str(prop or ""))
        parts.append(str((getattr(prop, "params", None) or {}).get("TZID", "")))
    return NO_UID_PREFIX + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def _events_by_uid(cal: Component) -> dict[str, list[Component]]:
    groups: dict[str, list[Component]] = defaultdict(list)
    for event in cal.walk("VEVENT"):
        groups[_uid(event) or _made_up_uid(event)].append(event)
    return groups


def _broken_reason(exc: BrokenCalendarProperty) -> str:
    """icalendar keeps an unparsable property as "broken" and raises when it is read."""
    m = re.search(r"broken property '([^']+)'", str(exc))
    cause = exc.__cause__ or exc
    return f"broken event: its {m.group(1) if m else 'property'} cannot be read ({cause})"


def _split(events: Iterable[Component]) -> tuple[list[Component], list[Component]]:
    masters: list[Component] = []
    overrides: list[Component] = []
    for event in events:
        (overrides if event.get("RECURRENCE-ID") is not None else masters).append(event)
    return masters, overrides


def _sequence(event: Component) -> int:
    seq = text(event, "SEQUENCE").strip()
    return int(seq) if seq.isdigit() else 0


def _x_wr_zone(cal: Component) -> ZoneInfo | None:
    name = text(cal, "X-WR-TIMEZONE").strip()
    if not name:
        return None
    try:
        return ZoneInfo(resolve(name))
    except UnknownZone:
        return None


def _join_single_events(lessons: list[Lesson], vtz: ZoneResolver, classroom_base: str,
                        product: str) -> list[Lesson]:
    """One-off lessons of the same title, link and zone as one lesson (`bot.timetable.series`:
    timetable packages write each period as an event of its own)."""
    out = list(lessons)
    for group in single_event_series(lessons):
        try:
            merged = _lesson(group.uid, group.event, [], vtz, None, None, classroom_base, product)
        except Exception:  # not expected for events built from valid lessons: keep them apart then
            continue
        note = (f"{len(group.members)} single events with this title and link read as one class with "
                f"{group.meetings} meetings (a timetable package writes each period as an event; periods "
                f"less than {int(JOIN_GAP.total_seconds() // 60)} min apart are one meeting)")
        kept = tuple(n for n in merged.notes if "UID" not in n)
        out = [x for x in out if x not in group.members]
        out.append(replace(merged, notes=(note, *kept), members=tuple(m.uid for m in group.members)))
    return out


def parse_calendar(data: bytes | str, *, default_tz: str | None = None, classroom_base: str = "") -> Timetable:
    """Lessons and skipped events of an iCalendar file; `default_tz` reads floating times when
    the calendar names no zone; `classroom_base` is the built-in classroom's public URL.

    Raises `CalendarError` only when the file as a whole is unreadable. icalendar's warnings
    (e.g. "globally unique TZID guessed") are silenced: what matters is in the plan's notes and
    skip reasons, and a warning on the terminal reads like an error to a teacher.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _parse_calendar(data, default_tz=default_tz, classroom_base=classroom_base)


def _parse_calendar(data: bytes | str, *, default_tz: str | None, classroom_base: str) -> Timetable:
    lessons: list[Lesson] = []
    skipped: list[Skipped] = []
    name = product = ""
    for cal in _calendars(data):
        name = name or text(cal, "X-WR-CALNAME")
        product = product or text(cal, "PRODID")
        vtz = zone_resolver(cal)
        wr_zone = _x_wr_zone(cal)
        groups = _events_by_uid(cal)
        found: list[Lesson] = []
        legacy = text(cal, "VERSION").strip() == "1.0"  # vCalendar 1.0: its RRULE grammar is not RFC 5545's
        for uid, events in groups.items():
            masters, overrides = _split(events)
            if len(masters) > 1:  # the same UID twice: keep the latest revision, list the others
                masters.sort(key=_sequence, reverse=True)
                skipped.extend(Skipped(uid, _summary(m), f"another event has the same UID (kept SEQUENCE "
                                                         f"{_sequence(masters[0])}, this one has {_sequence(m)})")
                               for m in masters[1:])
                masters = masters[:1]
            jobs = [(uid, masters[0], overrides)] if masters else [
                (f"{uid}#{text(o, 'RECURRENCE-ID') or i}", o, []) for i, o in enumerate(overrides)]
            for key, master, extra in jobs:
                summary = _summary(master)
                try:
                    found.append(_lesson(key, master, extra, vtz, wr_zone, default_tz, classroom_base, product))
                except (EventError, UnknownZone) as exc:
                    skipped.append(Skipped(key, summary, _LEGACY_RULE if legacy and "RRULE" in str(exc) else str(exc)))
                except BrokenCalendarProperty as exc:
                    skipped.append(Skipped(key, summary, _broken_reason(exc)))
                except Exception as exc:  # a property icalendar could not parse: skip this event only
                    skipped.append(Skipped(key, summary, f"broken event: {type(exc).__name__}: {exc}"))
        lessons.extend(_join_single_events(found, vtz, classroom_base, product))
    return Timetable(tuple(sorted(lessons, key=lambda x: (x.class_name.casefold(), x.uid))),
                     tuple(skipped), name=name, product=product)

