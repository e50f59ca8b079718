"""The timetable import plan: what `classpulse timetable import` prints (text and --json)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.timetable.ical import parse_calendar
from bot.timetable.plan import Existing, describe_rule, plan_import, plan_json, plan_text

IC = Path(__file__).parent / "fixtures" / "ic"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=ZoneInfo("UTC"))

# The acceptance case, written as a school would: a weekly Mon/Thu lesson at 09:15 Berlin time
# from September, one Thursday excluded (EXDATE), across the end of summer time on 25 Oct.
MON_THU = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//ClassPulse tests//acceptance//EN\r
BEGIN:VEVENT\r
UID:maths-5a-2026@school.example\r
DTSTAMP:20260801T000000Z\r
SUMMARY:Maths 5a\r
DTSTART;TZID=Europe/Berlin:20260914T091500\r
DTEND;TZID=Europe/Berlin:20260914T100000\r
RRULE:FREQ=WEEKLY;BYDAY=MO,TH;UNTIL=20270630T215959Z\r
EXDATE;TZID=Europe/Berlin:20261029T091500\r
LOCATION:janus+https://sfu.school.example/janus?room=501\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_acceptance_mon_thu_berlin_0915_with_the_excluded_date_missing() -> None:
    plan = plan_import(parse_calendar(MON_THU), now=NOW, start_date=date(2026, 10, 19))
    out = json.loads(json.dumps(plan_json(plan)))
    assert out["skipped"] == []
    [sched] = out["schedules"]
    assert (sched["class"], sched["timezone"]) == ("Maths 5a", "Europe/Berlin")
    assert sched["meeting_url"] == "janus+https://sfu.school.example/janus?room=501"
    assert sched["next_runs"] == [
        "2026-10-19T09:15:00+02:00", "2026-10-22T09:15:00+02:00",
        "2026-10-26T09:15:00+01:00",  # summer time ended on 25 Oct: still 09:15 local
        # Thu 29 Oct is excluded
        "2026-11-02T09:15:00+01:00", "2026-11-05T09:15:00+01:00", "2026-11-09T09:15:00+01:00",
        "2026-11-12T09:15:00+01:00", "2026-11-16T09:15:00+01:00", "2026-11-19T09:15:00+01:00",
        "2026-11-23T09:15:00+01:00"]
    assert len(sched["next_runs"]) == 10


def test_without_from_the_runs_start_now() -> None:
    plan = plan_import(parse_calendar(MON_THU), now=NOW)  # Thu 26 Nov 2026 11:00 Berlin: today's ran
    assert plan_json(plan)["schedules"][0]["next_runs"][:2] == [
        "2026-11-30T09:15:00+01:00", "2026-12-03T09:15:00+01:00"]


def test_reimport_is_idempotent_and_a_change_is_an_update() -> None:
    first = plan_import(parse_calendar(MON_THU), now=NOW)
    [s] = first.schedules
    assert s.action == "create"
    stored = {s.lesson.uid: Existing(s.lesson.uid, s.fingerprint, "cls-1")}
    again = plan_import(parse_calendar(MON_THU), now=NOW, existing=stored)
    assert [(x.action, x.class_id) for x in again.schedules] == [("unchanged", "cls-1")]
    moved = plan_import(parse_calendar(MON_THU.replace("T091500", "T101500").replace("T100000", "T110000")),
                        now=NOW, existing=stored)
    assert moved.schedules[0].action == "update"
    assert moved.schedules[0].next_runs[0].hour == 10


def test_uids_no_longer_in_the_file_are_listed() -> None:
    plan = plan_import(parse_calendar(MON_THU), now=NOW, existing={"old@x": Existing("old@x", "f")})
    assert plan.not_in_file == ("old@x",)
    assert "old@x" in plan_text(plan)


def test_past_one_off_and_ended_series_are_skipped_with_reasons() -> None:
    tt = parse_calendar((IC / "google_berlin_mon_thu.ics").read_bytes())
    plan = plan_import(tt, now=NOW)  # November 2026: the spring term's series and make-up are over
    assert plan.schedules == ()
    why = {k.summary: k.reason for k in plan.skipped}
    assert why["Maths 7b"].startswith("no meeting on or after 2026-11-26")
    assert why["Maths 7b make-up"].startswith("a one-off lesson on 2026-03-25T14:00+01:00")
    assert set(why) == {"Maths 7b", "Maths 7b make-up", "English 7b", "Easter holidays"}


def test_every_fixture_plans_without_error_and_names_every_event() -> None:
    for path in sorted(IC.glob("*.ics")):
        raw = path.read_bytes()
        tt = parse_calendar(raw)
        plan = plan_import(tt, now=NOW, start_date=date(1996, 1, 1), owner="t")
        n_events = raw.count(b"\nBEGIN:VEVENT") - raw.count(b"\nRECURRENCE-ID")
        read = sum(max(1, len(s.lesson.members)) for s in plan.schedules)  # single events read as one class
        assert read + len(plan.skipped) == n_events, path.name
        text = plan_text(plan)
        for k in plan.skipped:
            assert k.reason in text
        json.dumps(plan_json(plan))


def test_text_output() -> None:
    plan = plan_import(parse_calendar((IC / "outlook365_windows_zone.ics").read_bytes()), now=NOW,
                       start_date=date(2026, 3, 1), owner="ms.kim")
    text = plan_text(plan)
    assert "for ms.kim, runs from 2026-03-01" in text
    assert "create    Physics 9a" in text
    assert "Europe/Berlin, 45 min, weekly on Mon, Thu until 2026-07-16; 1 date excluded; 1 moved" in text
    assert "next: Mon 2026-03-02 09:15, Thu 2026-03-05 09:15, Mon 2026-03-09 09:15 (+7 more)" in text
    assert "Chemistry 9a" in text and "Microsoft Teams link" in text and "Sports day" in text


def test_describe_rule() -> None:
    assert describe_rule("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR;UNTIL=19971224T000000Z") == \
        "every 2 weeks on Mon, Wed, Fri until 1997-12-24"
    assert describe_rule("FREQ=DAILY;COUNT=10") == "daily, 10 times"
    assert describe_rule("FREQ=MONTHLY;BYDAY=1MO") == "monthly on the 1st Mon"
    assert describe_rule("FREQ=MONTHLY;BYDAY=-1FR,2TU") == "monthly on the last Fri, the 2nd Tue"
    assert describe_rule("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=6") == \
        "monthly on the last of Mon, Tue, Wed, Thu, Fri, 6 times"
    assert describe_rule("FREQ=MONTHLY;BYMONTHDAY=15") == "monthly on day 15"
    assert describe_rule("FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=-1") == "yearly on the last day in Mar"


def test_command_prints_json_and_never_a_traceback() -> None:
    from bot.timetable.command import import_timetable

    ok = import_timetable(MON_THU.encode(), source="5a.ics", now=NOW, start="2026-10-19", as_json=True, owner="t")
    assert ok.exit_code == 0 and ok.stderr == ""
    assert json.loads(ok.stdout)["schedules"][0]["next_runs"][2] == "2026-10-26T09:15:00+01:00"
    text = import_timetable(MON_THU.encode(), source="5a.ics", now=NOW)
    assert text.exit_code == 0 and text.stdout.startswith("Timetable (-//ClassPulse tests//acceptance//EN)")
    for data, start, fragment in ((b"not a calendar", None, "not an iCalendar file"),
                                  (MON_THU.encode(), "19.10.2026", "--from '19.10.2026': expected a date")):
        bad = import_timetable(data, source="x.ics", now=NOW, start=start)
        assert bad.exit_code == 2 and bad.stdout == "" and bad.stderr.startswith("error: x.ics: ")
        assert fragment in bad.stderr
    floating = MON_THU.replace(";TZID=Europe/Berlin:", ":")
    assert import_timetable(floating.encode(), source="f.ics", now=NOW, default_tz="W. Europe Standard Time",
                            as_json=True).plan.schedules[0].lesson.timezone == "Europe/Berlin"  # type: ignore[union-attr]
    assert import_timetable(floating.encode(), source="f.ics", now=NOW, default_tz="Mars/Base").exit_code == 2
