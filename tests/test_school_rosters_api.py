"""Rosters over the API, end to end against fake meetings: upload, matching when a session ends,
confirmation, opt-out per roster student, "delete this student everywhere", attendance rules."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from analysis.store import StoreError
from bot.connectors.fake import FakeConnector, solid
from tests.service_fixtures import Service, run, service, until

pytestmark = pytest.mark.component

API = "/api/v1"
ROSTER = ("name,aliases,email,student_id\r\n"
          "Alex Kim,Lexi,alex.kim@school.example,s1\r\n"
          "Mia Wong,,mia@school.example,s2\r\n"
          "Jonas Berg,Joe,,s3\r\n"
          "\"=HYPERLINK(\"\"http://evil.example\"\")\",,,s4\r\n")


async def new_class(s: Service, who: str = "alice", room: str = "r1", name: str = "Maths 7B") -> str:
    res = await s.client.post(f"{API}/classes", json={"name": name, "meeting_url": f"fake:{room}"},
                              headers=s.auth(who))
    assert res.status == 201, await res.text()
    return str((await res.json())["class_id"])


async def put_roster(s: Service, class_id: str, text: str, who: str = "alice") -> tuple[int, dict]:
    res = await s.client.put(f"{API}/classes/{class_id}/roster", data=text.encode(),
                             headers={**s.auth(who), "Content-Type": "text/csv"})
    return res.status, await res.json()


async def session_with(s: Service, class_id: str, names: list[str], room: str = "r1",
                       who: str = "alice") -> str:
    res = await s.client.post(f"{API}/sessions", json={"class_id": class_id}, headers=s.auth(who))
    assert res.status == 201, await res.text()
    sid = str((await res.json())["session_id"])
    meeting = s.meetings.room(room)
    await until(lambda: meeting.connector is not None and meeting.connector.inside)
    for i, name in enumerate(names):
        meeting.arrive(f"f{i}", name, video=solid(100 + i))
    await until(lambda: (s.manager.live_numbers(sid) or {}).get("samples", 0) >= 2 * len(names))
    assert (await s.client.post(f"{API}/sessions/{sid}/leave", headers=s.auth(who))).status == 202
    await s.manager.wait(sid)
    for i in range(len(names)):  # the room is empty for the class's next session
        meeting.depart(f"f{i}")
    return sid


def pid_of(s: Service, sid: str, name: str) -> str:
    return next(p.participant_id for p in s.store.participants(sid) if p.display_name == name)


def test_upload_read_back_as_json_and_escaped_csv(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            cid = await new_class(s)
            status, out = await put_roster(s, cid, ROSTER)
            assert status == 200, out
            assert (out["added"], out["kept"], out["removed"]) == (4, 0, 0)
            ids = {st["student_id"]: st["roster_student_id"] for st in out["students"]}
            assert out["students"][0]["aliases"] == ["Lexi"] and all(i.startswith("rs-") for i in ids.values())
            # re-upload: s1 keeps its id, s3 goes, s5 is new
            status, again = await put_roster(s, cid, "student_id,name\ns1,Alex Kim\ns5,Lena Park\ns2,Mia Wong\ns4,X\n")
            assert status == 200 and (again["added"], again["kept"], again["removed"]) == (1, 3, 1)
            assert {st["student_id"]: st["roster_student_id"] for st in again["students"]}["s1"] == ids["s1"]
            await put_roster(s, cid, ROSTER)
            got = await (await s.client.get(f"{API}/classes/{cid}/roster", headers=s.auth("alice"))).json()
            assert [st["name"] for st in got["students"]][:3] == ["Alex Kim", "Mia Wong", "Jonas Berg"]
            res = await s.client.get(f"{API}/classes/{cid}/roster?format=csv", headers=s.auth("alice"))
            assert res.status == 200 and res.content_type == "text/csv"
            text = await res.text()
            rows = list(csv.reader(io.StringIO(text)))
            assert rows[0] == ["name", "aliases", "email", "student_id"]
            assert rows[4][0] == "'=HYPERLINK(\"http://evil.example\")"  # never a live formula
            # another teacher sees nothing, and cannot upload
            assert (await s.client.get(f"{API}/classes/{cid}/roster", headers=s.auth("bob"))).status == 404
            assert (await put_roster(s, cid, ROSTER, who="bob"))[0] == 404

    run(body)


@pytest.mark.parametrize(("text", "ctype", "status", "message"), [
    ("name,email\nMia,nope\n", "text/csv", 422, "line 2, column 2 (email)"),
    ("student,email\n", "text/csv", 422, "line 1: no 'name' column"),
    ("name,student_id\nMia,1\nLeo,1\n", "text/csv", 422, "line 3, column 2 (student_id)"),
    ("name\nMi\x1ba\n", "text/csv", 422, "line 2, column 1 (name): control character U+001B"),
    ("name\n" + "x" * 300 + "\n", "text/csv", 422, "line 2, column 1 (name): longer than 200"),
    ("name\nMia\n", "application/json", 415, "text/csv"),
    ("", "text/csv", 422, "empty"),
])
def test_bad_rosters_are_refused_naming_line_and_column(tmp_path: Path, text: str, ctype: str, status: int,
                                                        message: str) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            cid = await new_class(s)
            await put_roster(s, cid, ROSTER)
            res = await s.client.put(f"{API}/classes/{cid}/roster", data=text.encode(),
                                     headers={**s.auth("alice"), "Content-Type": ctype})
            assert res.status == status
            assert message in (await res.json())["error"]["message"]
            kept = await (await s.client.get(f"{API}/classes/{cid}/roster", headers=s.auth("alice"))).json()
            assert len(kept["students"]) == 4  # a refused upload changes nothing

    run(body)


def test_latin1_and_oversized_uploads_are_refused(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            cid = await new_class(s)
            res = await s.client.put(f"{API}/classes/{cid}/roster", data="name\nJosé\n".encode("latin-1"),
                                     headers={**s.auth("alice"), "Content-Type": "text/csv"})
            assert res.status == 422 and "UTF-8" in (await res.json())["error"]["message"]
            res = await s.client.put(f"{API}/classes/{cid}/roster", data=b"name\n" + b"x,\n" * 600_000,
                                     headers={**s.auth("alice"), "Content-Type": "text/csv"})
            assert res.status == 413

    run(body)


def test_session_matches_the_roster_and_lists_who_never_came(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            cid = await new_class(s)
            await put_roster(s, cid, ROSTER)
            sid = await session_with(s, cid, ["Alex Kim (iPhone)", "Joe", "Guest 7"])
            roll = s.render.rolls[sid]
            assert roll is not None and roll.sees_everyone and roll.roster_size == 4
            assert set(roll.not_seen) == {"Mia Wong", "=HYPERLINK(\"http://evil.example\")"}
            assert (roll.unmatched, roll.to_confirm) == (1, 0)
            assert (roll.rules.late_after_s, roll.rules.absent_after_s) == (300.0, 900.0)
            matches = await (await s.client.get(f"{API}/classes/{cid}/matches", headers=s.auth("alice"))).json()
            kinds = {m["display_name"]: (m["kind"], m["roster_name"], m["confirmed"]) for m in matches["items"]}
            assert kinds == {"Alex Kim (iPhone)": ("exact", "Alex Kim", True), "Joe": ("alias", "Jonas Berg", True),
                             "Guest 7": ("unmatched", "", False)}
            html = (Path(s.config.reports.out_dir) / sid / "class.html").read_text()
            assert "Guest 7" in html and "not seen: " in html  # unmatched names stay visible

    run(body)


def test_zoom_like_connectors_mark_unseen_students_not_visible(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeConnector, "sees_everyone", False, raising=False)

    async def body() -> None:
        async with service(tmp_path) as s:
            cid = await new_class(s)
            await put_roster(s, cid, ROSTER)
            sid = await session_with(s, cid, ["Mia Wong"])
            roll = s.render.rolls[sid]
            assert roll is not None and not roll.sees_everyone and len(roll.not_seen) == 3

    run(body)


def test_fuzzy_match_to_an_opted_out_student_counts_as_opted_out_until_decided(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            cid = await new_class(s)
            out = (await put_roster(s, cid, ROSTER))[1]
            alex = out["students"][0]["roster_student_id"]
            res = await s.client.post(f"{API}/classes/{cid}/roster/{alex}/opt-out", json={"opted_out": True},
                                      headers=s.auth("alice"))
            assert res.status == 200 and (await res.json())["opted_out"] is True
            sid = await session_with(s, cid, ["Alex", "Mia Wong"])
            pending = await (await s.client.get(f"{API}/classes/{cid}/matches?pending=true",
                                                headers=s.auth("alice"))).json()
            assert [(m["display_name"], m["kind"], m["candidates"][0]["name"]) for m in pending["items"]] == [
                ("Alex", "fuzzy", "Alex Kim")]
            html = (Path(s.config.reports.out_dir) / sid / "class.html").read_text()
            assert "Alex" not in html and "Mia Wong" in html  # left out, data kept until decided
            pid = pid_of(s, sid, "Alex")
            assert s.store.count_observations(sid) > 0 and s.store.observations(sid, pid)
            # the teacher says: not Alex Kim → shown again
            res = await s.client.post(f"{API}/classes/{cid}/matches/{sid}/{pid}", json={"roster_student_id": ""},
                                      headers=s.auth("alice"))
            assert res.status == 200 and (await res.json())["kind"] == "unmatched"
            assert "Alex" in (Path(s.config.reports.out_dir) / sid / "class.html").read_text()
            # then: it is Alex Kim after all → opted out, data deleted
            res = await s.client.post(f"{API}/classes/{cid}/matches/{sid}/{pid}", json={"roster_student_id": alex},
                                      headers=s.auth("alice"))
            assert res.status == 200 and (await res.json())["kind"] == "confirmed"
            assert not s.store.observations(sid, pid) and s.store.participant(sid, pid).opted_out
            assert "Alex" not in (Path(s.config.reports.out_dir) / sid / "class.html").read_text()
            bad = await s.client.post(f"{API}/classes/{cid}/matches/{sid}/{pid}", json={"roster_student_id": "rs-x"},
                                      headers=s.auth("alice"))
            assert bad.status == 422
            assert (await s.client.post(f"{API}/classes/{cid}/matches/{sid}/nobody", json={"roster_student_id": ""},
                                        headers=s.auth("alice"))).status == 404

    run(body)


def test_a_confirmed_name_is_matched_in_later_sessions(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            cid = await new_class(s)
            out = (await put_roster(s, cid, ROSTER))[1]
            mia = out["students"][1]["roster_student_id"]
            first = await session_with(s, cid, ["M. Wong"])
            pid = pid_of(s, first, "M. Wong")
            assert s.render.rolls[first].to_confirm == 1
            await s.client.post(f"{API}/classes/{cid}/matches/{first}/{pid}", json={"roster_student_id": mia},
                                headers=s.auth("alice"))
            second = await session_with(s, cid, ["M. Wong"])
            match = s.db.rosters.match(second, pid_of(s, second, "M. Wong"))
            assert match is not None and (match.kind, match.roster_student_id, match.confirmed) == (
                "confirmed", mia, True)
            assert "Mia Wong" not in s.render.rolls[second].not_seen

    run(body)


def test_delete_a_student_everywhere(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            maths = await new_class(s, room="r1")
            art = await new_class(s, room="r2", name="Art 7B")
            other = await new_class(s, who="bob", room="r3", name="Bob's class")
            alex = (await put_roster(s, maths, ROSTER))[1]["students"][0]["roster_student_id"]
            await put_roster(s, art, "name,student_id\nAlex Kim,s1\nMia Wong,s2\n")
            s1 = await session_with(s, maths, ["Alex Kim", "Mia Wong"])
            s2 = await session_with(s, art, ["Lexi", "Mia Wong"], room="r2")  # Lexi: an alias → certain
            s3 = await session_with(s, maths, ["Alex"], room="r1")  # only a fuzzy proposal: kept, listed
            s4 = await session_with(s, other, ["Alex Kim"], room="r3", who="bob")  # another teacher's: untouched
            assert (await s.client.delete(f"{API}/classes/{maths}/roster/{alex}", headers=s.auth("bob"))).status == 404
            ask = await s.client.delete(f"{API}/classes/{maths}/roster/{alex}", headers=s.auth("alice"))
            assert ask.status == 409  # "Alex" in s3 is only proposed: the teacher must say what to do with it
            assert "“Alex” (" + s3 + ")" in (await ask.json())["error"]["message"]
            assert s.db.rosters.student(alex) is not None  # nothing deleted yet
            assert (await s.client.delete(f"{API}/classes/{maths}/roster/{alex}?possible=maybe",
                                          headers=s.auth("alice"))).status == 422
            res = await s.client.delete(f"{API}/classes/{maths}/roster/{alex}?possible=keep", headers=s.auth("alice"))
            assert res.status == 200, await res.text()
            out = await res.json()
            assert out["participants_deleted"] == 2 and out["observations_deleted"] > 0
            assert len(out["roster_rows_deleted"]) == 2  # the same student_id on the Art roster too
            assert set(out["reports_rerendered"]) >= {s1, s2} and out["reports_removed"] == []
            assert [p["session_id"] for p in out["possible"]] == [s3]
            for sid in (s1, s2):
                names = [p.display_name for p in s.store.participants(sid)]
                assert names == ["Mia Wong"]
                html = (Path(s.config.reports.out_dir) / sid / "class.html").read_text()
                assert "Alex" not in html and "Lexi" not in html
            assert not s.db.rosters.matches(roster_student_id=alex)
            for x in (s1, s3):  # nor in what those sessions expected
                snap = s.db.rosters.session_roster(x)
                assert snap is not None and alex not in snap.students and "Alex Kim" not in snap.students
            assert [p.display_name for p in s.store.participants(s4)] == ["Alex Kim"]
            assert [r.name for r in s.db.rosters.roster(art)] == ["Mia Wong"]
            # a session whose only participant was the student: its reports are removed
            assert [p.display_name for p in s.store.participants(s3)] == ["Alex"]  # kept under the name used
            s5 = await session_with(s, art, ["Mia Wong"], room="r2")
            mia = s.db.rosters.roster(art)[0].roster_student_id
            gone = await (await s.client.delete(f"{API}/classes/{art}/roster/{mia}", headers=s.auth("admin"))).json()
            assert s5 in gone["reports_removed"] and not (Path(s.config.reports.out_dir) / s5).exists()
            with pytest.raises(StoreError):
                s.store.participant(s5, "p1")

    run(body)


def test_attendance_rules_per_class(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            cid = await new_class(s)
            got = await (await s.client.get(f"{API}/classes/{cid}", headers=s.auth("alice"))).json()
            assert (got["late_after_min"], got["absent_after_min"]) == (5.0, 15.0)
            res = await s.client.patch(f"{API}/classes/{cid}", json={"late_after_min": 3}, headers=s.auth("alice"))
            assert res.status == 200 and (await res.json())["late_after_min"] == 3.0
            bad = await s.client.patch(f"{API}/classes/{cid}", json={"late_after_min": 20}, headers=s.auth("alice"))
            assert bad.status == 422 and "must not exceed" in (await bad.json())["error"]["message"]
            assert (await s.client.patch(f"{API}/classes/{cid}", json={}, headers=s.auth("alice"))).status == 422
            assert (await s.client.patch(f"{API}/classes/{cid}", json={"late_after_min": 3},
                                         headers=s.auth("bob"))).status == 404
            sid = await session_with(s, cid, ["Ada"])  # no roster: the rules still reach the report
            roll = s.render.rolls[sid]
            assert roll is not None and (roll.rules.late_after_s, roll.rules.absent_after_s) == (180.0, 900.0)
            assert roll.roster_size == 0

    run(body)


def test_dashboard_class_page_uploads_confirms_and_deletes(tmp_path: Path) -> None:
    from aiohttp import FormData

    from tests.test_service_dashboard import csrf, log_in

    async def body() -> None:
        async with service(tmp_path) as s:
            cid = await new_class(s)
            home = await log_in(s, "alice")
            assert f'href="/dashboard/classes/{cid}"' in home
            token = csrf(home)
            page = await (await s.client.get(f"/dashboard/classes/{cid}")).text()
            assert 'id="no-roster"' in page
            bad = await s.client.post(f"/dashboard/classes/{cid}/roster",
                                      data={"csrf": token, "text": "name,email\nMia,nope\n"})
            assert bad.status == 422 and "line 2, column 2 (email)" in await bad.text()
            form = FormData()
            form.add_field("csrf", token)
            form.add_field("file", ROSTER.encode(), filename="7b.csv", content_type="text/csv")
            ok = await s.client.post(f"/dashboard/classes/{cid}/roster", data=form)
            text = await ok.text()
            assert ok.status == 200 and "Roster saved: 4 students (4 new" in text
            assert "&#39;=HYPERLINK" not in text and "=HYPERLINK(&#34;http://evil.example&#34;)" in text  # escaped HTML
            no_csrf = await s.client.post(f"/dashboard/classes/{cid}/roster", data={"text": ROSTER})
            assert no_csrf.status == 403
            sid = await session_with(s, cid, ["Alex", "Guest 7"])
            page = await (await s.client.get(f"/dashboard/classes/{cid}")).text()
            assert "It is Alex Kim" in page and "Guest 7" in page
            alex = s.db.rosters.roster(cid)[0].roster_student_id
            decided = await s.client.post(f"/dashboard/classes/{cid}/matches", data={
                "csrf": token, "session_id": sid, "participant_id": pid_of(s, sid, "Alex"), "roster_student_id": alex})
            assert decided.status == 200 and "“Alex” is Alex Kim" in await decided.text()
            rules = await s.client.post(f"/dashboard/classes/{cid}/rules",
                                        data={"csrf": token, "late_after_min": "10", "absent_after_min": "20"})
            assert rules.status == 200 and s.db.get_class(cid).late_after_min == 10.0  # type: ignore[union-attr]
            unsure = await s.client.post(f"/dashboard/classes/{cid}/roster/{alex}/delete", data={"csrf": token})
            assert unsure.status == 422 and s.db.rosters.student(alex) is not None
            gone = await s.client.post(f"/dashboard/classes/{cid}/roster/{alex}/delete",
                                       data={"csrf": token, "sure": "yes"})
            assert gone.status == 200 and "Alex Kim was deleted everywhere" in await gone.text()
            assert s.db.rosters.student(alex) is None and [p.display_name for p in s.store.participants(sid)] == [
                "Guest 7"]
            await log_in(s, "bob")
            assert (await s.client.get(f"/dashboard/classes/{cid}")).status == 404

    run(body)


def test_an_opted_out_roster_student_is_never_stored(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            cid = await new_class(s)
            alex = (await put_roster(s, cid, ROSTER))[1]["students"][0]["roster_student_id"]
            await s.client.post(f"{API}/classes/{cid}/roster/{alex}/opt-out", json={}, headers=s.auth("alice"))
            sid = await session_with(s, cid, ["Lexi (phone)", "Mia Wong"])  # an alias: certainly Alex Kim
            pid = pid_of(s, sid, "Lexi (phone)")
            assert s.store.participant(sid, pid).opted_out and s.store.observations(sid, pid) == []
            assert s.store.observations(sid, pid_of(s, sid, "Mia Wong"))
            html = (Path(s.config.reports.out_dir) / sid / "class.html").read_text()
            assert "Lexi" not in html and "Alex Kim" not in html  # nor listed as "did not join"
            # opted back in: measured again from the next session
            res = await s.client.post(f"{API}/classes/{cid}/roster/{alex}/opt-out", json={"opted_out": False},
                                      headers=s.auth("alice"))
            assert (await res.json())["opted_out"] is False
            again = await session_with(s, cid, ["Lexi (phone)"])
            assert s.store.observations(again, pid_of(s, again, "Lexi (phone)"))

    run(body)


def test_delete_everywhere_can_take_proposed_names_too(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            cid = await new_class(s)
            alex = (await put_roster(s, cid, ROSTER))[1]["students"][0]["roster_student_id"]
            sid = await session_with(s, cid, ["Alex", "Mia Wong"])
            res = await s.client.delete(f"{API}/classes/{cid}/roster/{alex}?possible=delete", headers=s.auth("alice"))
            out = await res.json()
            assert res.status == 200 and out["participants_deleted"] == 1 and out["possible"] == []
            assert [p.display_name for p in s.store.participants(sid)] == ["Mia Wong"]
            assert out["reports_rerendered"] == [sid]
            assert "Alex" not in (Path(s.config.reports.out_dir) / sid / "class.html").read_text()

    run(body)
