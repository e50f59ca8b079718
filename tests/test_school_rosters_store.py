"""The roster tables: stable ids across uploads, the teacher's decisions, retention by `classpulse purge`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analysis.attendance import Rules
from analysis.records import Participant
from analysis.store import Store
from bot.cli.main import main
from bot.db.records import ClassRecord, RosterMatchRecord, SessionRosterRecord
from bot.db.store import ServiceStore
from bot.sessions.roster_match import RosterStudent, parse_roster_csv
from bot.sessions.roster_session import class_roll, match_participants, opt_outs
from tests.databases import database_url

ROSTER = "name,aliases,email,student_id\nAlex Kim,Lexi,,s1\nMia Wong,,,s2\nAlexander Roe,,,s3\n"


def _iso(days_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).replace(microsecond=0).isoformat()


def test_matching_opt_outs_and_the_roll_worked_out_by_hand() -> None:
    roster = _records(parse_roster_csv(ROSTER))
    alex, mia, roe = (r.roster_student_id for r in roster)
    people = [Participant("s", "p1", "Lexi (phone)"), Participant("s", "p2", "Alex"),
              Participant("s", "p3", "Guest"), Participant("s", "p4", "Mia W")]
    found = {m.participant_id: m for m in match_participants("s", "c", people, roster, confirmed={},
                                                             rejected={("mia w", mia)}, now="t")}
    assert (found["p1"].kind, found["p1"].roster_student_id, found["p1"].confirmed) == ("alias", alex, True)
    assert (found["p2"].kind, set(found["p2"].candidate_ids), found["p2"].confirmed) == (
        "ambiguous", {alex, roe}, False)  # "Alex" fits Alex Kim and Alexander Roe: never a guess
    assert (found["p3"].kind, found["p3"].candidates) == ("unmatched", "")
    assert found["p4"].kind == "unmatched" and "rejected" in found["p4"].reason  # rejected before: not proposed
    certain, maybe = opt_outs(found.values(), {alex})
    assert (certain, maybe) == ({"p1"}, {"p2"})
    students = json.dumps([[alex, "Alex Kim"], [mia, "Mia Wong"], [roe, "Alexander Roe"]])
    snap = SessionRosterRecord("s", "c", students, sees_everyone=False, late_after_s=120, absent_after_s=600)
    roll = class_roll(snap, list(found.values()), {alex})
    assert roll is not None
    assert (roll.roster_size, roll.not_seen, roll.sees_everyone) == (2, ("Mia Wong", "Alexander Roe"), False)
    assert (roll.unmatched, roll.to_confirm, roll.rules) == (2, 1, Rules(120, 600))
    assert roll.matched == (("p1", "Alex Kim"),)
    assert class_roll(None, [], set()) is None


def _records(students: tuple[RosterStudent, ...]) -> list:  # type: ignore[type-arg]
    from bot.db.records import RosterStudentRecord

    return [RosterStudentRecord(f"rs-{s.student_id}", "c", s.student_id, s.name, ";".join(s.aliases), s.email)
            for s in students]


def test_roster_rows_decisions_and_retention(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = database_url(tmp_path)
    store = Store(url)
    db = ServiceStore(store)
    for cid, owner in (("c-old", "t"), ("c-new", "t")):
        db.add_class(ClassRecord(cid, "7b", owner, created_at=_iso(400)))
    rows, *_ = db.rosters.replace("c-old", parse_roster_csv(ROSTER), _iso(400))
    db.rosters.replace("c-new", parse_roster_csv(ROSTER), _iso(10))
    alex = rows[0].roster_student_id
    db.rosters.save_matches("s1", [RosterMatchRecord("s1", "p1", "c-old", "Alex", alex, "fuzzy", alex, "",
                                                     False, _iso(399))])
    assert db.rosters.decide("s1", "p1", alex) is not None
    # a second matching run keeps the teacher's decision
    db.rosters.save_matches("s1", [RosterMatchRecord("s1", "p1", "c-old", "Alex", alex, "fuzzy", alex, "",
                                                     False, _iso(399))])
    assert db.rosters.decisions("c-old") == ({"alex": alex}, set())
    store.close()
    base = ["--set", f"store.url={url}", "purge"]
    assert main([*base, "--dry-run"]) == 0
    assert "would delete the rosters of 1 class(es), 3 student(s)" in capsys.readouterr().err
    assert main(base) == 0
    assert "deleted the rosters of 1 class(es), 3 student(s)" in capsys.readouterr().err
    store = Store(url)
    db = ServiceStore(store)
    try:
        assert db.rosters.roster("c-old") == [] and len(db.rosters.roster("c-new")) == 3
        assert db.rosters.matches(class_id="c-old") == []
        assert db.get_class("c-old") is not None  # the class itself stays
    finally:
        store.close()


def test_classpulse_report_renders_a_class_session_with_its_roster(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from analysis.records import Observation, SessionInfo, State

    url = database_url(tmp_path)
    store = Store(url)
    db = ServiceStore(store)
    db.add_class(ClassRecord("c1", "7b", "t", created_at=_iso(1)))
    rows, *_ = db.rosters.replace("c1", parse_roster_csv(ROSTER), _iso(1))
    students = json.dumps([[r.roster_student_id, r.name] for r in rows])
    db.rosters.save_session_roster(SessionRosterRecord("s1", "c1", students, late_after_s=300, absent_after_s=900))
    store.create_session(SessionInfo("s1", "7b", started_at="2026-03-02T10:00:00+00:00",
                                     ended_at="2026-03-02T10:10:00+00:00", emotions_enabled=False))
    store.upsert_participant(Participant("s1", "p1", "Lexi (phone)"))
    store.add_observations([Observation("s1", "p1", float(t), State.CAMERA_OFF) for t in range(60)])
    store.close()
    out = tmp_path / "out"
    assert main(["--set", f"store.url={url}", "report", "s1", "--format", "html", "--out", str(out)]) == 0
    html = (out / "s1" / "class.html").read_text()
    assert "Alex Kim (as “Lexi (phone)”)" in html
    assert html.count("did not join") == 2 and "Mia Wong" in html and "Alexander Roe" in html
