"""The calendar trigger under APScheduler 3's own run-time logic, with injected clocks (no sleeps)."""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler

from bot.timetable.ical import parse_calendar
from bot.timetable.model import Lesson
from bot.timetable.occurrences import forget_all
from bot.timetable.trigger import CalendarTrigger

IC = Path(__file__).parent / "fixtures" / "ic"
UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def maths() -> Lesson:
    tt = parse_calendar((IC / "google_berlin_mon_thu.ics").read_bytes())
    return next(x for x in tt.lessons if x.class_name == "Maths 7b")


def one(text: str) -> Lesson:
    cal = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:t1\r\nSUMMARY:T\r\n"
           f"LOCATION:classroom:test\r\n{text}END:VEVENT\r\nEND:VCALENDAR\r\n")
    tt = parse_calendar(cal)
    assert len(tt.lessons) == 1, tt.skipped
    return tt.lessons[0]


def simulate(trigger: CalendarTrigger, start: datetime, wakeups: list[datetime]) -> list[datetime]:
    """What APScheduler 3's `_process_jobs` does at each wake-up (coalesce on): the job's due run
    times from `Job._get_run_times`, one run for them, then the trigger's next fire time."""
    job = Job(BackgroundScheduler(), id="j", func=print, trigger=trigger, executor="default", args=(), kwargs={},
              name="j", misfire_grace_time=None, coalesce=True, max_instances=1,
              next_run_time=trigger.get_next_fire_time(None, start))
    fired: list[datetime] = []
    for now in wakeups:
        run_times = job._get_run_times(now)
        if run_times:
            fired.append(run_times[-1])
            job.next_run_time = trigger.get_next_fire_time(run_times[-1], now)
    return fired


def test_fires_once_per_meeting_at_its_start_across_dst() -> None:
    trigger = CalendarTrigger(maths())
    start = datetime(2026, 3, 1, tzinfo=UTC)
    expected = [o.start for o in trigger.preview(start, 12)]
    wakeups = []
    for t in expected:  # the scheduler wakes at each run time, and again a little later
        wakeups += [t, t + timedelta(seconds=1), t + timedelta(hours=2)]
    fired = simulate(trigger, start, wakeups)
    assert fired == expected
    assert [t.astimezone(UTC).strftime("%m-%d %H:%M") for t in fired[6:9]] == [
        "03-26 08:15", "03-30 07:15", "04-06 07:15"]  # 09:15 CET = 08:15 UTC, 09:15 CEST = 07:15 UTC
    keys = [trigger.occurrence_at(t).key for t in fired]  # type: ignore[union-attr]
    assert len(set(keys)) == len(keys)
    moved = trigger.occurrence_at(datetime(2026, 3, 17, 14, 0, tzinfo=BERLIN))
    assert moved is not None and moved.key == datetime(2026, 3, 16, 9, 15, tzinfo=BERLIN)
    assert datetime(2026, 3, 16, 9, 15, tzinfo=BERLIN) not in fired  # the original slot does not fire


def test_downtime_coalesces_missed_meetings_into_one_run() -> None:
    trigger = CalendarTrigger(maths())
    start = datetime(2026, 3, 1, tzinfo=UTC)
    fired = simulate(trigger, start, [datetime(2026, 3, 2, 8, 15, tzinfo=UTC),  # Mon 09:15 Berlin
                                      datetime(2026, 3, 10, 12, 0, tzinfo=UTC),  # back after a week down
                                      datetime(2026, 3, 17, 13, 0, tzinfo=UTC)])  # moved lesson: 14:00 Berlin
    assert [t.isoformat() for t in fired] == [
        "2026-03-02T09:15:00+01:00", "2026-03-09T09:15:00+01:00", "2026-03-17T14:00:00+01:00"]


def test_next_fire_time_with_injected_now() -> None:
    trigger = CalendarTrigger(maths())
    now = datetime(2026, 3, 2, 9, 20, tzinfo=BERLIN)  # just after Monday's start: Thursday is next
    assert trigger.get_next_fire_time(None, now) == datetime(2026, 3, 5, 9, 15, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(datetime(2026, 3, 2, 9, 15, tzinfo=BERLIN), now) == \
        datetime(2026, 3, 5, 9, 15, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(None, datetime(2026, 7, 17, tzinfo=UTC)) is None  # after UNTIL


def test_a_lesson_moved_after_it_ran_does_not_run_again() -> None:
    # Monday 9 March ran at 09:15; afterwards the teacher moves "the 9 March lesson" to 10 March.
    lesson = maths()
    ran = datetime(2026, 3, 9, 9, 15, tzinfo=BERLIN)
    moved = lesson.source.replace(
        "END:VCALENDAR",
        "BEGIN:VEVENT\r\nUID:4l1v0c2m9h8r3d5k7j6f0a1b2c@google.com\r\nSUMMARY:Maths 7b\r\n"
        "DTSTART;TZID=Europe/Berlin:20260310T100000\r\nDTEND;TZID=Europe/Berlin:20260310T104500\r\n"
        "RECURRENCE-ID;TZID=Europe/Berlin:20260309T091500\r\nEND:VEVENT\r\nEND:VCALENDAR")
    reimported = replace(lesson, source=moved)
    fresh = CalendarTrigger(reimported)
    assert fresh.get_next_fire_time(None, datetime(2026, 3, 9, 12, tzinfo=BERLIN)) == \
        datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN)  # without the record it would run again
    rebuilt = CalendarTrigger(reimported, done=[ran])  # the runner hands over the keys it ran
    # 10 Mar is the 9 March occurrence (done); 12 Mar is excluded; 16 Mar was moved to 17 Mar 14:00
    assert rebuilt.get_next_fire_time(None, datetime(2026, 3, 9, 12, tzinfo=BERLIN)) == \
        datetime(2026, 3, 17, 14, 0, tzinfo=BERLIN)
    assert rebuilt.occurrence_at(datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN)) is None


def test_nonexistent_and_ambiguous_local_times_follow_rfc5545() -> None:
    # Sundays 02:30 Berlin: 29 Mar 2026 has no 02:30 (read with the offset before the gap,
    # = 03:30 CEST = 01:30 UTC); 25 Oct 2026 has two (the first, CEST, = 00:30 UTC).
    lesson = one("DTSTART;TZID=Europe/Berlin:20260322T023000\r\nDURATION:PT30M\r\n"
                 "RRULE:FREQ=WEEKLY;COUNT=33\r\n")
    trigger = CalendarTrigger(lesson)
    fired = simulate(trigger, datetime(2026, 3, 1, tzinfo=UTC),
                     [datetime(2026, 3, 22, 2, tzinfo=UTC) + timedelta(hours=6 * i) for i in range(4 * 7 * 34)])
    utc = {t.astimezone(UTC).strftime("%m-%d %H:%M") for t in fired}
    assert {"03-22 01:30", "03-29 01:30", "04-05 00:30", "10-18 00:30", "10-25 00:30", "11-01 01:30"} <= utc
    assert len(fired) == 33


def test_not_before_and_done() -> None:
    lesson = maths()
    trigger = CalendarTrigger(lesson, not_before=datetime(2026, 4, 1, tzinfo=UTC),
                              done=[datetime(2026, 4, 6, 9, 15, tzinfo=BERLIN)])
    assert [o.start.strftime("%m-%d") for o in trigger.preview(datetime(2026, 3, 1, tzinfo=UTC), 3)] == [
        "04-09", "04-13", "04-16"]
    assert trigger.get_next_fire_time(None, datetime(2026, 3, 1, tzinfo=UTC)) == \
        datetime(2026, 4, 9, 9, 15, tzinfo=BERLIN)


def test_survives_pickling_as_the_job_store_does() -> None:
    trigger = CalendarTrigger(maths(), done=[datetime(2026, 3, 2, 9, 15, tzinfo=BERLIN)])
    now = datetime(2026, 3, 1, tzinfo=UTC)
    expected = trigger.preview(now, 5)
    copy = pickle.loads(pickle.dumps(trigger))
    forget_all()  # as after a restart: expand from the stored text alone
    assert copy.preview(now, 5) == expected
    assert copy.get_next_fire_time(None, now) == datetime(2026, 3, 5, 9, 15, tzinfo=BERLIN)
    assert "Maths 7b" in str(copy)


def test_an_expansion_error_stops_this_lesson_not_the_scheduler(caplog) -> None:  # type: ignore[no-untyped-def]
    broken = replace(maths(), source="BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR")
    assert CalendarTrigger(broken).get_next_fire_time(None, datetime(2026, 3, 1, tzinfo=UTC)) is None
    assert "will not fire again" in caplog.text
