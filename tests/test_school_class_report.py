"""The class report with a class roster: students never seen, per-class thresholds, and the PDF's text.

Numbers worked out by hand. The bot is in the meeting 10:00–11:00. Ann is there 10:02–10:47 (the
class: first student in to last student out), Ben joins at 10:06 and Cleo at 10:20, both stay to
10:47; after that the bot waits 13 min in the empty room.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.attendance import ClassRoll, Rules
from analysis.records import Participant, SessionInfo
from reports.context import build_reports
from reports.render import render_session
from tests.fixtures_reports import SID, FakeStore, present

HOUR = SessionInfo(SID, "Biology 7", teacher="Ms Rivera", started_at="2026-03-02T10:00:00+00:00",
                   ended_at="2026-03-02T11:00:00+00:00", emotions_enabled=False)
PEOPLE = [Participant(SID, "a", "Ann Archer"), Participant(SID, "b", "Ben Brook"),
          Participant(SID, "c", "Cleo Cruz")]
OBS = [*present("a", range(120, 2820)), *present("b", range(360, 2820)), *present("c", range(1200, 2820))]
ROLL = ClassRoll(rules=Rules(late_after_s=180, absent_after_s=900), roster_size=5,
                 not_seen=("Dan Dorn", "Eve Eld"), unmatched=0, to_confirm=1)


def facts(report: object) -> dict[str, tuple[str, str]]:
    return {f.label: (f.value, f.note) for f in report.attendance}  # type: ignore[attr-defined]


def test_roster_students_never_seen_did_not_join_and_thresholds_are_the_class() -> None:
    c = build_reports(HOUR, PEOPLE, OBS, roll=ROLL).class_report
    assert (c.header.time_range, c.header.duration) == ("10:02–10:47 UTC", "45 min")
    f = facts(c)
    assert f["On the class roster"] == ("5", "")
    assert f["Did not join"] == ("2", "roster students no participant matched")
    assert f["Names not on the roster"][1] == "1 more await the teacher's confirmation"
    assert f["Late / left early"][0] == "1 / 0"  # Ben: 4 min after Ann > 3 min
    assert f["Counted absent"] == ("1", "joined more than 15 min after the first student")  # Cleo: 18 min
    assert f["Bot in the meeting"][1].startswith("waited 2 min for the first student and 13 min in the empty room")
    rows = {r.name: r for r in c.students}
    assert rows["Ben Brook"].arrival == "late by 4 min"
    assert rows["Cleo Cruz"].arrival == "counted absent: joined 18 min after the start"
    assert (rows["Dan Dorn"].in_class, rows["Dan Dorn"].href, rows["Dan Dorn"].presence) == ("did not join", "", "—")
    assert [r.name for r in c.students][-2:] == ["Dan Dorn", "Eve Eld"]


def test_default_rules_without_a_roll() -> None:
    c = build_reports(HOUR, PEOPLE, OBS).class_report
    f = facts(c)
    assert "On the class roster" not in f and "Counted absent" in f  # 15 min by default
    assert {r.name: r.arrival for r in c.students}["Ben Brook"] == ""  # 4 min < 5 min


def test_on_zoom_unseen_students_are_not_visible_never_absent() -> None:
    roll = ClassRoll(roster_size=3, not_seen=("Dan Dorn",), sees_everyone=False)
    c = build_reports(HOUR, PEOPLE, OBS, roll=roll).class_report
    f = facts(c)
    assert "Did not join" not in f
    assert f["Not visible to ClassPulse"][0] == "1" and "not counted absent" in f["Not visible to ClassPulse"][1]
    assert {r.name: r.in_class for r in c.students}["Dan Dorn"] == "not visible to ClassPulse"


def test_opted_out_by_the_caller_are_left_out_without_touching_data(tmp_path: Path) -> None:
    store = FakeStore(HOUR, list(PEOPLE), list(OBS))
    render_session(store, SID, tmp_path, formats=("html",), roll=ROLL, opted_out=frozenset({"c"}))
    html = (tmp_path / "class.html").read_text()
    assert "Cleo" not in html and "Dan Dorn" in html and "did not join" in html
    assert not (tmp_path / "students" / "cleo-cruz.html").exists()
    assert len(store.obs) == len(OBS)


def test_rules_must_be_ordered() -> None:
    with pytest.raises(ValueError):
        Rules(late_after_s=600, absent_after_s=300)


@pytest.mark.slow
def test_pdf_text_names_who_did_not_join(tmp_path: Path) -> None:
    from pypdf import PdfReader

    render_session(FakeStore(HOUR, list(PEOPLE), list(OBS)), SID, tmp_path, formats=("pdf",), roll=ROLL)
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(tmp_path / "class.pdf").pages).split())
    for phrase in ("On the class roster", "Did not join", "Dan Dorn", "Eve Eld", "did not join",
                   "late by 4 min", "counted absent: joined 18 min after the start", "Counted absent",
                   "10:02–10:47 UTC", "waited 2 min for the first student"):
        assert phrase in text, phrase


def test_matched_students_appear_under_their_roster_name() -> None:
    roll = ClassRoll(roster_size=3, matched=(("a", "Ann Archer"), ("b", "Benjamin Brook")))
    people = [Participant(SID, "a", "ann archer"), Participant(SID, "b", "Ben's iPhone"), PEOPLE[2]]
    reports = build_reports(HOUR, people, OBS, roll=roll)
    assert [r.name for r in reports.class_report.students] == [
        "Ann Archer", "Benjamin Brook (as “Ben's iPhone”)", "Cleo Cruz"]  # differing in case only: the roster spelling
    assert [s.name for s in reports.students][1] == "Benjamin Brook (as “Ben's iPhone”)"


@pytest.mark.slow
def test_left_early_and_the_joined_left_column_in_the_pdf(tmp_path: Path) -> None:
    """Finn is there 10:03–10:30 while Ann stays to 10:47: "left 17 min early" (more than 5 min
    before the last student left); the column shows each student's joined–left span."""
    from pypdf import PdfReader

    people = [*PEOPLE, Participant(SID, "f", "Finn Ford")]
    obs = [*OBS, *present("f", range(180, 1800))]
    c = build_reports(HOUR, people, obs, roll=ROLL).class_report
    rows = {r.name: r for r in c.students}
    assert "left 17 min early" in rows["Finn Ford"].arrival
    assert facts(c)["Late / left early"][0] == "1 / 1"
    render_session(FakeStore(HOUR, people, obs), SID, tmp_path, formats=("pdf",), roll=ROLL)
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(tmp_path / "class.pdf").pages).split())
    for phrase in ("left 17 min early", "late by 4 min", "Late / left early 1 / 1", "10:02–10:47 UTC · 45 min",
                   "waited 2 min for the first student and 13 min in the empty room"):
        assert phrase in text, phrase
