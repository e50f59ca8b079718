"""The course input from the stores: identity across sessions, missed runs, the CLI and the API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from analysis.store import Store
from analysis.summaries import SessionDigest, StudentDigest
from bot.cli.main import main
from bot.course.identity import course_identity, roster_identity
from bot.course.inputs import ClassRef, CourseNotFound, course_input, course_sessions, resolve_class
from bot.db.records import ClassRecord, RosterMatchRecord, ScheduleRecord
from bot.db.service_state import DbScheduleRecords
from bot.db.store import ServiceStore
from bot.service import missed_runs
from tests.databases import database_url
from tests.service_fixtures import run, service

pytestmark = pytest.mark.component

API = "/api/v1"


def st(sid: str, pid: str, name: str, n: int = 100, attention: float = 0.8) -> StudentDigest:
    return StudentDigest(sid, pid, name, n, 1.0, attention, 0.4 + 0.6 * attention, 0.0, 5.0, 2700.0, 2695.0)


def test_one_student_across_device_names() -> None:
    assert course_identity("Alex Kim", "p1") == course_identity("alex kim (phone)", "p9") == \
        course_identity("Kim, Alex", "p3") == "name:alex kim"
    assert course_identity("📱", "p7") == "participant:p7"  # nothing left of the name: stays its participant
    s1 = SessionDigest("s1", "c", "C", "2026-09-07T07:15:00+00:00")
    s2 = SessionDigest("s2", "c", "C", "2026-09-10T07:15:00+00:00")
    sessions, names = course_sessions([
        (s1, [st("s1", "a", "Alex Kim (phone)", n=10, attention=0.2), st("s1", "b", "Alex Kim", attention=0.9)]),
        (s2, [st("s2", "c", "Álex Kim - iPad")])])
    assert [sorted(s.summaries) for s in sessions] == [["name:alex kim"], ["name:alex kim"]]
    assert sessions[0].summaries["name:alex kim"].attention == 0.9  # the connection with more samples
    assert names == {"name:alex kim": "Álex Kim"}  # the latest name, without the device


def test_a_roster_match_joins_different_names_and_a_proposal_does_not() -> None:
    """"Alex (phone)" one week and "Alex Kim" the next are one roster student once matched;
    a fuzzy proposal the teacher has not confirmed joins nobody."""
    identity = roster_identity([
        RosterMatchRecord("s1", "a", "c", "Alex (phone)", "rs-1", kind="alias", confirmed=True),
        RosterMatchRecord("s2", "b", "c", "Alex Kim", "rs-1", kind="exact", confirmed=True),
        RosterMatchRecord("s2", "z", "c", "Alx Km", "rs-1", kind="fuzzy", confirmed=False),
    ])
    s1 = SessionDigest("s1", "c", "C", "2026-09-07T07:15:00+00:00")
    s2 = SessionDigest("s2", "c", "C", "2026-09-10T07:15:00+00:00")
    sessions, names = course_sessions([(s1, [st("s1", "a", "Alex (phone)")]),
                                       (s2, [st("s2", "b", "Alex Kim"), st("s2", "z", "Alx Km")])], identity)
    assert [sorted(s.summaries) for s in sessions] == [["roster:rs-1"], ["name:alx km", "roster:rs-1"]]
    assert names["roster:rs-1"] == "Alex Kim"
    assert identity("Alex (phone)", "a", "s9") == "name:alex"  # same name, other session, no match: by name


def _seed(url: str) -> str:
    store = Store(url)
    db = ServiceStore(store)
    db.add_class(ClassRecord("cls-1", "Maths 7B", "alice", "2026-09-01T00:00:00+00:00", meeting_url="fake:r1"))
    db.add_class(ClassRecord("cls-2", "Art", "bob", "2026-09-01T00:00:00+00:00"))
    for sid, day, status in (("s1", 7, "recorded"), ("s3", 14, "failed"), ("s4", 17, "recorded")):
        when = f"2026-09-{day:02d}T07:15:00+00:00"
        studs = [st(sid, "p1", "Ada"), st(sid, "p2", "Ben")] if sid == "s1" else [st(sid, "p9", "Ada (phone)")]
        store.write_summaries(SessionDigest(sid, "cls-1", "Maths 7B", when, status=status,  # type: ignore[arg-type]
                                            settings="{}"), [] if status == "failed" else studs)
    store.write_summaries(SessionDigest("x1", "cls-2", "Art", "2026-09-08T07:15:00+00:00"), [st("x1", "p1", "Zed")])
    db.add_schedule(ScheduleRecord("sch-1", "alice", "cls-1", "15 9 * * 1,4", "Europe/Berlin", 2700.0, 600,
                                   "2026-09-01T00:00:00+00:00"))
    records = DbScheduleRecords(db)
    records.add(missed_runs.ScheduleRecord("sch-1", datetime(2026, 9, 10, 7, 15, tzinfo=UTC), "missed",
                                           "service_down", "the service was not running at the start time"))
    records.add(missed_runs.ScheduleRecord("sch-1", datetime(2026, 9, 21, 7, 15, tzinfo=UTC), "missed",
                                           "no_capacity", "no worker had room"))
    records.add(missed_runs.ScheduleRecord("sch-1", datetime(2026, 9, 24, 7, 15, tzinfo=UTC), "moved", "dst_gap"))
    store.close()
    return url


def test_course_input_from_summaries_failed_sessions_and_missed_runs(tmp_path: Path) -> None:
    store = Store(_seed(database_url(tmp_path)))
    db = ServiceStore(store)
    try:
        cls = resolve_class(store, db, "Maths 7B")
        assert cls == ClassRef("cls-1", "Maths 7B", "alice") == resolve_class(store, db, "cls-1")
        inp = course_input(store, db, cls, emotions=True, generated_at="2026-09-30T00:00:00+00:00")
        got = sorted((s.started_at[:10], s.status) for s in inp.sessions)
        assert got == [("2026-09-07", "recorded"), ("2026-09-10", "missed"), ("2026-09-14", "failed"),
                       ("2026-09-17", "recorded"), ("2026-09-21", "no_capacity")]  # a moved run is no miss
        assert inp.names == (("name:ada", "Ada"), ("name:ben", "Ben"))  # "Ada (phone)" is Ada; Zed is another class
        assert inp.teacher == "alice"
        with pytest.raises(CourseNotFound, match="no class"):
            resolve_class(store, db, "Nope")
    finally:
        store.close()


def test_report_course_command_writes_pdf_html_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _seed(database_url(tmp_path))
    out = tmp_path / "out"
    assert main(["--set", f"store.url={url}", "report", "--course", "Maths 7B", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert [Path(p).name for p in printed] == ["course.html", "course.pdf", "attendance.csv"]
    text = " ".join(PdfReader(str(out / "course.pdf")).pages[0].extract_text().split())
    assert "Maths 7B" in text and "not recorded (missed run)" in text and "not recorded (no capacity)" in text
    csv_text = (out / "attendance.csv").read_text()
    assert '"Ben","present","not recorded","not recorded","absent","not recorded"' in csv_text
    assert main(["--set", f"store.url={url}", "report", "--course", "Nope"]) == 2
    assert "no class or kept session" in capsys.readouterr().err
    assert main(["--set", f"store.url={url}", "report"]) == 2
    assert "give a SESSION" in capsys.readouterr().err


def test_course_report_api_is_for_the_owner_and_admins(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            res = await s.client.post(f"{API}/classes", json={"name": "Maths 7B"}, headers=s.auth("alice"))
            class_id = (await res.json())["class_id"]
            url = f"{API}/classes/{class_id}/course-report"
            assert (await s.client.get(url, headers=s.auth("alice"))).status == 404  # no session yet
            s.store.write_summaries(SessionDigest("s1", class_id, "Maths 7B", "2026-09-07T07:15:00+00:00"),
                                    [st("s1", "p1", "=cmd|' /C calc'!A0")])
            res = await s.client.get(url, headers=s.auth("alice"))
            assert res.status == 200 and res.headers["Content-Type"] == "application/pdf"
            assert (await res.read()).startswith(b"%PDF")
            assert "attachment" in res.headers["Content-Disposition"]
            res = await s.client.get(url + "?format=html", headers=s.auth("admin"))
            assert res.status == 200 and "Maths 7B" in await res.text()
            res = await s.client.get(url + "?format=csv", headers=s.auth("alice"))
            assert (await res.text()).splitlines()[1].startswith("\"'=cmd|")
            assert (await s.client.get(url, headers=s.auth("bob"))).status == 404  # another teacher's class
            assert (await s.client.get(url)).status == 401
            assert (await s.client.get(url + "?format=docx", headers=s.auth("alice"))).status == 422
            assert not list((tmp_path / "reports").rglob("course.*"))  # rendered on request, never left on disk

    run(body)


def test_roster_students_who_never_came_are_absent_under_their_roster_names() -> None:
    """A roster student nobody matched is absent where a session expected them (not before the
    class had a roster; "not recorded" in a missed run), shown by roster name; name-only
    students keep the name-only rule; opted-out roster students are left out."""
    from analysis.course import CourseSession
    from bot.course.roster import with_roster
    from bot.db.records import RosterStudentRecord, SessionRosterRecord
    from reports.course import CourseInput, build_course_report
    from reports.course_csv import attendance_csv

    def student(rsid: str, name: str, opted_out: bool = False) -> RosterStudentRecord:
        return RosterStudentRecord(roster_student_id=rsid, class_id="c", student_id=rsid, name=name,
                                   opted_out=opted_out)

    roster = [student("rs-1", "Alex Kim"), student("rs-2", "Frida Nilsson"), student("rs-3", "Olu Ade", True)]
    snap = SessionRosterRecord("s2", "c", '[["rs-1", "Alex Kim"], ["rs-2", "Frida Nilsson"], ["rs-3", "Olu Ade"]]')
    sessions = (
        CourseSession("s1", "2026-09-07T07:15:00+00:00", "recorded", {"name:mia": st("s1", "m", "Mia")}),
        CourseSession("s2", "2026-09-10T07:15:00+00:00", "recorded",
                      {"roster:rs-1": st("s2", "a", "Alex (phone)"), "name:mia": st("s2", "m", "Mia")}),
        CourseSession("run-1", "2026-09-14T07:15:00+00:00", "missed"))
    course = CourseInput("C", "t", sessions, (("name:mia", "Mia"), ("roster:rs-1", "Alex")))
    assert with_roster(course, {}, roster) is course  # no session had a roster: the name-only course
    out = with_roster(course, {"s2": snap}, roster)
    assert out.names == (("roster:rs-1", "Alex Kim"), ("roster:rs-2", "Frida Nilsson"), ("name:mia", "Mia"))
    assert [s.roster for s in out.sessions] == [
        ("name:mia",),  # before the roster: who was seen (and name-only students)
        ("roster:rs-1", "roster:rs-2", "name:mia"),
        ("roster:rs-1", "roster:rs-2", "name:mia")]  # the missed run expected the roster of its time
    csv_rows = {row.split(",")[0].strip('"'): row for row in attendance_csv(build_course_report(out)).splitlines()}
    assert csv_rows["Frida Nilsson"].split(",")[1:4] == ['"not enrolled"', '"absent"', '"not recorded"']
    assert csv_rows["Alex Kim"].split(",")[1:4] == ['"not enrolled"', '"present"', '"not recorded"']
    assert csv_rows["Mia"].split(",")[1:4] == ['"present"', '"present"', '"not recorded"']
    assert "Olu Ade" not in csv_rows
    # "Frida" in s2 is proposed as Frida Nilsson, awaiting the teacher: she is not absent there
    pending = [RosterMatchRecord("s2", "f", "c", "Frida", "rs-2", kind="fuzzy", candidates="rs-2", confirmed=False)]
    out = with_roster(course, {"s2": snap}, roster, pending)
    assert out.sessions[1].roster == ("roster:rs-1", "name:mia")
    csv_rows = {row.split(",")[0].strip('"'): row for row in attendance_csv(build_course_report(out)).splitlines()}
    assert csv_rows["Frida Nilsson"].split(",")[1:4] == ['"not enrolled"', '"not enrolled"', '"not recorded"']
