"""Timetable import: iCalendar exports → lessons and skipped events, and their occurrences.

Fixtures in tests/fixtures/ic follow real exports (see its README). Every expected time below
was worked out by hand from the fixture, not read back from the code.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.timetable.ical import CalendarError, parse_calendar
from bot.timetable.model import Lesson, Timetable
from bot.timetable.occurrences import between, local_midnight, next_runs

IC = Path(__file__).parent / "fixtures" / "ic"
UTC = ZoneInfo("UTC")


def load(name: str) -> Timetable:
    return parse_calendar((IC / name).read_bytes())


def lesson(tt: Timetable, name: str) -> Lesson:
    found = [x for x in tt.lessons if x.class_name == name]
    assert len(found) == 1, [x.class_name for x in tt.lessons]
    return found[0]


def reasons(tt: Timetable) -> dict[str, str]:
    return {s.summary: s.reason for s in tt.skipped}


def iso(values: list[datetime]) -> list[str]:
    return [v.isoformat() for v in values]


# -- Google ------------------------------------------------------------------------------------

def test_google_mon_thu_berlin_runs_at_0915_local_without_the_excluded_dates() -> None:
    tt = load("google_berlin_mon_thu.ics")
    maths = lesson(tt, "Maths 7b")
    assert maths.timezone == "Europe/Berlin"
    assert maths.meeting_url == "janus+https://sfu.school.example/janus?room=7001"
    assert maths.duration == timedelta(minutes=45)
    runs = next_runs(maths, local_midnight(date(2026, 3, 1), maths.timezone), 10)
    assert iso([r.start for r in runs]) == [
        "2026-03-02T09:15:00+01:00", "2026-03-05T09:15:00+01:00", "2026-03-09T09:15:00+01:00",
        # 12 Mar excluded (EXDATE with TZID); 16 Mar moved to Tue 17 Mar 14:00
        "2026-03-17T14:00:00+01:00", "2026-03-19T09:15:00+01:00", "2026-03-23T09:15:00+01:00",
        "2026-03-26T09:15:00+01:00",
        # DST from 29 Mar: still 09:15 local; 2 Apr excluded by an EXDATE written in UTC (07:15Z)
        "2026-03-30T09:15:00+02:00", "2026-04-06T09:15:00+02:00", "2026-04-09T09:15:00+02:00"]
    moved = runs[3]
    assert moved.key.isoformat() == "2026-03-16T09:15:00+01:00" and moved.moved
    assert all(not r.moved for r in runs if r is not moved)
    assert [e.isoformat() for e in maths.recurrence.exdates] == [  # type: ignore[union-attr]
        "2026-03-12T09:15:00+01:00", "2026-04-02T09:15:00+02:00"]


def test_google_until_ends_the_series_on_the_last_thursday() -> None:
    maths = lesson(load("google_berlin_mon_thu.ics"), "Maths 7b")
    last = between(maths, datetime(2026, 7, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert iso([r.start for r in last]) == [
        "2026-07-02T09:15:00+02:00", "2026-07-06T09:15:00+02:00", "2026-07-09T09:15:00+02:00",
        "2026-07-13T09:15:00+02:00", "2026-07-16T09:15:00+02:00"]


def test_google_single_utc_event_is_a_one_off_in_the_calendar_zone() -> None:
    tt = load("google_berlin_mon_thu.ics")
    makeup = lesson(tt, "Maths 7b make-up")
    assert makeup.one_off and makeup.timezone == "Europe/Berlin"  # X-WR-TIMEZONE applied to the UTC time
    assert makeup.start.isoformat() == "2026-03-25T14:00:00+01:00"
    assert makeup.meeting_url == "janus+https://sfu.school.example/janus?room=7001"  # from the description
    assert next_runs(makeup, makeup.start + timedelta(minutes=1)) == []


def test_google_meet_and_all_day_events_are_skipped_with_reasons() -> None:
    why = reasons(load("google_berlin_mon_thu.ics"))
    assert set(why) == {"English 7b", "Easter holidays"}
    assert "Google Meet" in why["English 7b"] and "cannot join" in why["English 7b"]
    assert "all-day" in why["Easter holidays"]


# -- Outlook / Exchange --------------------------------------------------------------------------

def test_outlook_windows_zone_id_maps_to_berlin_and_keeps_overrides() -> None:
    tt = load("outlook365_windows_zone.ics")
    physics = lesson(tt, "Physics 9a")
    assert physics.timezone == "Europe/Berlin"
    assert physics.meeting_url == "janus+https://sfu.school.example/janus?room=9001"  # folded description line
    runs = between(physics, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 10, tzinfo=UTC))
    starts = iso([r.start for r in runs])
    assert "2026-04-02T09:15:00+02:00" not in starts
    assert starts[-3:] == ["2026-03-30T09:15:00+02:00", "2026-04-06T09:15:00+02:00", "2026-04-09T09:15:00+02:00"]
    double = next(r for r in runs if r.start.date() == date(2026, 3, 9))
    assert double.end.isoformat() == "2026-03-09T11:00:00+01:00"  # the override made it a double lesson
    last = between(physics, datetime(2026, 7, 10, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert iso([r.start for r in last]) == ["2026-07-13T09:15:00+02:00", "2026-07-16T09:15:00+02:00"]


def test_outlook_teams_and_all_day_are_skipped() -> None:
    why = reasons(load("outlook365_windows_zone.ics"))
    assert "Microsoft Teams" in why["Chemistry 9a"]
    assert "all-day" in why["Sports day"]


def test_exchange_display_names_with_and_without_vtimezone() -> None:
    tt = load("exchange_display_names.ics")
    algebra = lesson(tt, "Algebra II (period 1)")
    assert algebra.timezone == "America/New_York"
    runs = next_runs(algebra, datetime(2026, 3, 1, tzinfo=UTC), 4)
    # US DST starts 8 Mar 2026: 08:30 local on both sides; Wed 11 Mar is excluded
    assert iso([r.start for r in runs]) == ["2026-03-02T08:30:00-05:00", "2026-03-04T08:30:00-05:00",
                                            "2026-03-09T08:30:00-04:00", "2026-03-16T08:30:00-04:00"]
    latin = lesson(tt, "Latin exchange")  # display name, no VTIMEZONE block at all
    assert latin.timezone == "Europe/Berlin"
    assert [r.start.hour for r in next_runs(latin, datetime(2026, 3, 1, tzinfo=UTC), 8)] == [10] * 8


def test_customized_time_zone_is_matched_by_its_rules() -> None:
    geo = lesson(load("exchange_display_names.ics"), "Geography with our London partner school")
    assert geo.timezone == "Europe/London"
    runs = next_runs(geo, datetime(2026, 3, 1, tzinfo=UTC), 10)
    assert len(runs) == 6  # COUNT=6
    assert iso([r.start for r in runs[1:3]]) == ["2026-03-26T15:00:00+00:00", "2026-04-02T15:00:00+01:00"]


# -- Apple ---------------------------------------------------------------------------------------

def test_apple_rdate_exdate_override_across_uk_dst() -> None:
    tt = load("apple_london.ics")
    history = lesson(tt, "History 10c")
    assert history.timezone == "Europe/London" and history.meeting_url == "classroom:history-10c"
    runs = between(history, datetime(2026, 10, 19, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
    assert iso([r.start for r in runs]) == [
        "2026-10-19T09:00:00+01:00", "2026-10-21T09:00:00+01:00",
        "2026-10-24T10:00:00+01:00",  # RDATE: a Saturday make-up lesson
        # 26 and 28 Oct excluded (half term); BST ends 25 Oct
        "2026-11-02T09:00:00+00:00"]
    sept = between(history, datetime(2026, 9, 14, tzinfo=UTC), datetime(2026, 9, 19, tzinfo=UTC))
    assert [(r.key.isoformat(), r.start.isoformat()) for r in sept] == [
        ("2026-09-14T09:00:00+01:00", "2026-09-14T09:00:00+01:00"),
        ("2026-09-16T09:00:00+01:00", "2026-09-17T15:00:00+01:00")]
    assert "Zoom" in reasons(tt)["Drama club"]


# -- RFC 5545 ------------------------------------------------------------------------------------

def test_rfc5545_every_other_week_mwf_matches_the_rfc_list() -> None:
    rule = lesson(load("rfc5545_examples.ics"), "Every other week on Monday, Wednesday and Friday")
    runs = between(rule, datetime(1997, 1, 1, tzinfo=UTC), datetime(1998, 1, 1, tzinfo=UTC))
    # RFC 5545 §3.8.5.3: "(1997 9:00 AM EDT) September 1,3,5,15,17,19,29; October 1,3,13,15,17
    #                     (1997 9:00 AM EST) October 27,29,31; November 10,12,14,24,26,28; December 8,10,12,22"
    expected = [(9, d) for d in (1, 3, 5, 15, 17, 19, 29)] + [(10, d) for d in (1, 3, 13, 15, 17, 27, 29, 31)] + \
        [(11, d) for d in (10, 12, 14, 24, 26, 28)] + [(12, d) for d in (8, 10, 12, 22)]
    assert [(r.start.month, r.start.day) for r in runs] == expected
    assert {r.start.hour for r in runs} == {9}
    assert {r.start.utcoffset() for r in runs if r.start.month == 9} == {timedelta(hours=-4)}
    assert {r.start.utcoffset() for r in runs if r.start.month == 12} == {timedelta(hours=-5)}


def test_rfc5545_count_until_and_rdate_periods() -> None:
    tt = load("rfc5545_examples.ics")
    year = (datetime(1996, 1, 1, tzinfo=UTC), datetime(1998, 1, 1, tzinfo=UTC))
    daily = between(lesson(tt, "Daily for 10 occurrences"), *year)
    assert [r.start.day for r in daily] == list(range(2, 12))  # September 2-11, 1997
    assert daily[0].duration == timedelta(hours=1)  # DURATION:PT1H
    weekly = between(lesson(tt, "Weekly until December 24"), *year)
    assert len(weekly) == 17 and weekly[-1].start.isoformat() == "1997-12-23T09:00:00-05:00"
    periods = between(lesson(tt, "RDATE periods"), *year)
    # DTSTART 2 Apr is excluded; the two PERIODs keep their own lengths (2 h and PT3H)
    assert [(r.start.isoformat(), r.duration) for r in periods] == [
        ("1996-04-03T02:00:00+00:00", timedelta(hours=2)), ("1996-04-04T01:00:00+00:00", timedelta(hours=3))]


# -- broken input ------------------------------------------------------------------------------

def test_messy_feed_imports_the_valid_lessons_and_names_every_other_event() -> None:
    tt = load("messy_feed.ics")
    assert sorted(x.class_name for x in tt.lessons) == [
        "Chess club", "German 8c", "History 8c", "Maths 8c make-up", "PE 8c"]
    why = reasons(tt)
    expected = {
        "Art 8c": "floating time", "Music 8c": "no DTSTART", "Biology 8c": "ends before it starts",
        "French 8c": "FORTNIGHTLY", "Astronomy club": "unknown time zone 'Mars/Olympus_Mons'",
        "Latin 8c": "cancelled",
    }
    assert set(why) == set(expected)
    for summary, fragment in expected.items():
        assert fragment in why[summary], (summary, why[summary])


def test_an_event_without_any_link_is_a_lesson_that_needs_a_meeting_url() -> None:
    pe = lesson(load("messy_feed.ics"), "PE 8c")  # LOCATION:Gym
    assert pe.meeting_url == ""
    assert pe.notes and pe.notes[0].startswith("no meeting link in LOCATION, URL or the description: set the class")
    assert [r.start.isoformat() for r in next_runs(pe, datetime(2026, 9, 1, tzinfo=UTC), 2)] == [
        "2026-09-09T10:00:00+02:00", "2026-09-16T10:00:00+02:00"]


def test_messy_feed_until_date_duration_and_unquoted_display_zone() -> None:
    tt = load("messy_feed.ics")
    german = lesson(tt, "German 8c")
    assert german.duration == timedelta(minutes=50)
    runs = between(german, datetime(2026, 10, 26, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert iso([r.start for r in runs]) == [  # UNTIL=20261104 (a date) includes 4 Nov
        "2026-10-26T08:15:00+01:00", "2026-10-28T08:15:00+01:00", "2026-11-02T08:15:00+01:00",
        "2026-11-04T08:15:00+01:00"]
    assert lesson(tt, "History 8c").timezone == "Europe/Berlin"


def test_floating_times_use_the_default_zone_when_given() -> None:
    tt = parse_calendar((IC / "messy_feed.ics").read_bytes(), default_tz="Europe/Vienna")
    art = lesson(tt, "Art 8c")
    assert art.timezone == "Europe/Vienna" and art.start.isoformat() == "2026-09-07T10:00:00+02:00"
    assert art.notes == ("its times name no zone (floating): read as Europe/Vienna",)


def test_an_event_without_uid_gets_a_stable_made_up_one() -> None:
    raw = (IC / "messy_feed.ics").read_bytes()
    chess = lesson(parse_calendar(raw), "Chess club")
    assert chess.uid.startswith("no-uid-") and "no UID" in chess.notes[0]
    again = lesson(parse_calendar(raw.replace(b"DTSTAMP:20260901T080000Z", b"DTSTAMP:20261126T120000Z")), "Chess club")
    assert again.uid == chess.uid  # a new export (new DTSTAMP) is the same class
    moved = parse_calendar(raw.replace(b"20260909T140000", b"20260909T150000"))
    assert lesson(moved, "Chess club").uid != chess.uid


@pytest.mark.parametrize("data", [b"", b"hello", b"BEGIN:VCALENDAR\nBEGIN:VEVENT\n", b"\x00\xff" * 10])
def test_unreadable_files_are_one_clear_error(data: bytes) -> None:
    with pytest.raises(CalendarError):
        parse_calendar(data)


def test_an_unparsable_date_skips_that_event_only() -> None:
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:bad\r\nSUMMARY:Bad\r\n"
            "DTSTART;TZID=Europe/Berlin:2026XX\r\nEND:VEVENT\r\n"
            "BEGIN:VEVENT\r\nUID:ok\r\nSUMMARY:Good\r\nDTSTART;TZID=Europe/Berlin:20260302T091500\r\n"
            "DTEND;TZID=Europe/Berlin:20260302T100000\r\nRRULE:FREQ=WEEKLY\r\nLOCATION:classroom:good\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    tt = parse_calendar(text)
    assert [x.class_name for x in tt.lessons] == ["Good"]
    assert tt.skipped[0].uid == "bad" and "DTSTART" in tt.skipped[0].reason


def test_parsing_is_deterministic_and_crlf_insensitive() -> None:
    raw = (IC / "outlook365_windows_zone.ics").read_bytes()
    a, b = parse_calendar(raw), parse_calendar(raw.replace(b"\n", b"\r\n"))
    assert a == b


@pytest.mark.slow  # hundreds of mangled files: 8 s
def test_mangled_exports_never_raise_anything_but_calendar_error() -> None:
    """Lines dropped, files cut short, bytes replaced: one clear error or some events skipped,
    never another exception (the CLI must never print a traceback)."""
    import random

    from bot.timetable.plan import plan_import

    rng = random.Random(16)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    for path in sorted(IC.glob("*.ics")):
        lines = path.read_bytes().split(b"\n")
        for _ in range(25):
            mangled = list(lines)
            for _ in range(rng.randint(1, 4)):
                if not mangled:
                    break
                i = rng.randrange(len(mangled))
                action = rng.choice(("drop", "cut", "garble", "dup"))
                if action == "drop":
                    del mangled[i]
                elif action == "cut":
                    mangled = mangled[: i + 1]
                    mangled[-1] = mangled[-1][: rng.randrange(len(mangled[-1]) + 1)]
                elif action == "garble" and mangled[i]:
                    j = rng.randrange(len(mangled[i]))
                    mangled[i] = mangled[i][:j] + bytes([rng.choice(b":;=,\"\\Z0T")]) + mangled[i][j + 1:]
                else:
                    mangled.insert(i, mangled[i])
            try:
                tt = parse_calendar(b"\n".join(mangled))
            except CalendarError:
                continue
            plan_import(tt, now=now)


def test_cp1252_exports_and_sub_daily_rules() -> None:
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\nSUMMARY:Franz\xf6sisch\r\n"
            "DTSTART;TZID=Europe/Berlin:20260302T091500\r\nDTEND;TZID=Europe/Berlin:20260302T100000\r\n"
            "RRULE:FREQ=WEEKLY;BYDAY=MO,TH\r\nEXDATE;VALUE=DATE:20260305\r\nLOCATION:classroom:french\r\n"
            "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:b\r\nSUMMARY:Spam\r\nDTSTART;TZID=Europe/Berlin:20260302T091500\r\n"
            "RRULE:FREQ=MINUTELY\r\nLOCATION:classroom:spam\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    tt = parse_calendar(text.encode("cp1252"))
    french = lesson(tt, "Französisch")
    # a DATE EXDATE on a timed series removes that day's lesson
    assert [r.start.day for r in next_runs(french, datetime(2026, 3, 1, tzinfo=UTC), 3)] == [2, 9, 12]
    assert "more often than a lesson" in reasons(tt)["Spam"]


def test_this_and_future_override_and_a_cancelled_occurrence() -> None:
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\nSUMMARY:Art\r\n"
            "DTSTART;TZID=Europe/Berlin:20260302T091500\r\nDTEND;TZID=Europe/Berlin:20260302T100000\r\n"
            "RRULE:FREQ=WEEKLY;BYDAY=MO\r\nLOCATION:classroom:art-1\r\nEND:VEVENT\r\n"
            "BEGIN:VEVENT\r\nUID:a\r\nSUMMARY:Art\r\n"
            "RECURRENCE-ID;RANGE=THISANDFUTURE;TZID=Europe/Berlin:20260316T091500\r\n"
            "DTSTART;TZID=Europe/Berlin:20260316T110000\r\nDTEND;TZID=Europe/Berlin:20260316T114500\r\n"
            "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:a\r\nSUMMARY:Art\r\n"
            "RECURRENCE-ID;TZID=Europe/Berlin:20260309T091500\r\nSTATUS:CANCELLED\r\n"
            "DTSTART;TZID=Europe/Berlin:20260309T091500\r\nDTEND;TZID=Europe/Berlin:20260309T100000\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    art = lesson(parse_calendar(text), "Art")
    runs = next_runs(art, datetime(2026, 3, 1, tzinfo=UTC), 4)
    assert [(r.start.isoformat(), r.key.isoformat()) for r in runs] == [
        ("2026-03-02T09:15:00+01:00", "2026-03-02T09:15:00+01:00"),  # 9 Mar cancelled
        ("2026-03-16T11:00:00+01:00", "2026-03-16T09:15:00+01:00"),  # from 16 Mar on: 11:00
        ("2026-03-23T11:00:00+01:00", "2026-03-23T09:15:00+01:00"),
        ("2026-03-30T11:00:00+02:00", "2026-03-30T09:15:00+02:00")]


def test_a_duplicated_uid_keeps_the_latest_revision_and_lists_the_other() -> None:
    event = ("BEGIN:VEVENT\r\nUID:dup\r\nSUMMARY:{s}\r\nSEQUENCE:{n}\r\n"
             "DTSTART;TZID=Europe/Berlin:2026030{d}T091500\r\nDURATION:PT45M\r\nRRULE:FREQ=WEEKLY\r\nLOCATION:classroom:dup-1\r\nEND:VEVENT\r\n")
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + event.format(s="Old", n=1, d=2) + event.format(s="New", n=3, d=3)
            + "END:VCALENDAR\r\n")
    tt = parse_calendar(text)
    assert [x.class_name for x in tt.lessons] == ["New"]
    assert [(k.summary, k.reason) for k in tt.skipped] == [
        ("Old", "another event has the same UID (kept SEQUENCE 3, this one has 1)")]
