"""The REST API end to end against fake meetings: sessions, reports, opt-out, deletion, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.connectors.fake import solid
from tests.service_fixtures import Service, run, service, until

pytestmark = pytest.mark.component

API = "/api/v1"


async def start_class_session(s: Service, who: str = "alice", room: str = "r1") -> tuple[str, str]:
    res = await s.client.post(f"{API}/classes", json={"name": "Maths 7B", "meeting_url": f"fake:{room}"},
                              headers=s.auth(who))
    assert res.status == 201, await res.text()
    class_id = (await res.json())["class_id"]
    res = await s.client.post(f"{API}/sessions", json={"class_id": class_id}, headers=s.auth(who))
    assert res.status == 201, await res.text()
    body = await res.json()
    assert body["state"] in {"joining", "in_class"} and res.headers["Location"].endswith(body["session_id"])
    return class_id, body["session_id"]


async def finished_session(s: Service, who: str = "alice", room: str = "r1") -> tuple[str, str]:
    """A class session with two students that ended and rendered its reports."""
    class_id, sid = await start_class_session(s, who, room)
    meeting = s.meetings.room(room)
    await until(lambda: meeting.connector is not None and meeting.connector.inside)
    meeting.arrive("f1", "Ada", video=solid(100))
    meeting.arrive("f2", "Ben", video=solid(150))
    await until(lambda: (s.manager.live_numbers(sid) or {}).get("samples", 0) >= 4)
    res = await s.client.post(f"{API}/sessions/{sid}/leave", headers=s.auth(who))
    assert res.status == 202
    await s.manager.wait(sid)
    return class_id, sid


def test_invite_watch_leave_download_opt_out_and_delete(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            class_id, sid = await start_class_session(s)
            meeting = s.meetings.room("r1")
            await until(lambda: meeting.connector is not None and meeting.connector.inside)
            meeting.arrive("f1", "Ada", video=solid(100))
            await until(lambda: (s.manager.live_numbers(sid) or {}).get("samples", 0) >= 2)
            live = await (await s.client.get(f"{API}/sessions/{sid}", headers=s.auth("alice"))).json()
            assert live["state"] == "in_class" and live["live"]["present"] == 1 and live["live"]["samples"] >= 2
            # ending with DELETE works like POST …/leave
            assert (await s.client.delete(f"{API}/sessions/{sid}", headers=s.auth("alice"))).status == 202
            await s.manager.wait(sid)
            done = await (await s.client.get(f"{API}/sessions/{sid}", headers=s.auth("alice"))).json()
            assert done["state"] == "done" and done["live"] is None and done["ended_at"]
            assert done["class_id"] == class_id and done["owner"] == "alice"
            again = await s.client.post(f"{API}/sessions/{sid}/leave", headers=s.auth("alice"))
            assert again.status == 200  # already ended

            reports = await (await s.client.get(f"{API}/reports", headers=s.auth("alice"))).json()
            assert reports["total"] == 1
            urls = {f["path"]: f["url"] for f in reports["items"][0]["files"]}
            assert set(urls) >= {"class.html", "class.pdf"}
            pdf = await s.client.get(urls["class.pdf"], headers=s.auth("alice"))
            assert pdf.status == 200 and pdf.content_type == "application/pdf"
            assert (await pdf.read()).startswith(b"%PDF")

            people = await (await s.client.get(f"{API}/sessions/{sid}/participants", headers=s.auth("alice"))).json()
            assert [p["display_name"] for p in people["items"]] == ["Ada"]
            pid = people["items"][0]["participant_id"]
            assert s.store.count_observations(sid) > 0
            out = await s.client.post(f"{API}/sessions/{sid}/participants/{pid}/opt-out", headers=s.auth("alice"))
            assert out.status == 200 and (await out.json())["observations_deleted"] > 0
            assert s.store.count_observations(sid) == 0 and s.store.participant(sid, pid).opted_out
            html = await (await s.client.get(f"{API}/reports/{sid}/files/class.html", headers=s.auth("alice"))).text()
            assert "Ada" not in html  # re-rendered without the student
            missing = await s.client.post(f"{API}/sessions/{sid}/participants/nobody/opt-out", headers=s.auth("alice"))
            assert missing.status == 404

            gone = await s.client.delete(f"{API}/sessions/{sid}/data", headers=s.auth("alice"))
            assert gone.status == 200 and (await gone.json())["report_files_deleted"] >= 2
            assert (await s.client.get(f"{API}/sessions/{sid}", headers=s.auth("alice"))).status == 404
            assert not (Path(s.config.reports.out_dir) / sid).exists()
            with pytest.raises(LookupError):
                s.store.session(sid)

    run(body)


def test_one_bot_per_class_and_data_deletion_by_class(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            class_id, sid = await start_class_session(s)
            dup = await s.client.post(f"{API}/sessions", json={"class_id": class_id}, headers=s.auth("alice"))
            assert dup.status == 409 and (await dup.json())["error"]["code"] == "conflict"
            busy = await s.client.delete(f"{API}/classes/{class_id}", headers=s.auth("alice"))
            assert busy.status == 409
            s.manager.leave(sid)
            await s.manager.wait(sid)
            res = await s.client.delete(f"{API}/classes/{class_id}", headers=s.auth("alice"))
            assert res.status == 200, await res.text()
            assert (await s.client.get(f"{API}/classes/{class_id}", headers=s.auth("alice"))).status == 404
            assert s.db.session(sid) is None

    run(body)


def test_a_meeting_url_session_and_a_failed_join_are_recorded(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            s.meetings.room("gone").exists = False
            res = await s.client.post(f"{API}/sessions", json={"meeting_url": "fake:gone", "class_name": "X"},
                                      headers=s.auth("bob"))
            sid = (await res.json())["session_id"]
            await s.manager.wait(sid)
            got = await (await s.client.get(f"{API}/sessions/{sid}", headers=s.auth("bob"))).json()
            assert got["state"] == "failed" and got["failure"] == "meeting_not_found" and got["owner"] == "bob"
            listed = await (await s.client.get(f"{API}/reports", headers=s.auth("bob"))).json()
            assert listed["total"] == 0

    run(body)


def test_shutdown_ends_running_sessions_and_renders_them(tmp_path: Path) -> None:
    async def body() -> str:
        async with service(tmp_path) as s:
            _, sid = await start_class_session(s)
            meeting = s.meetings.room("r1")
            await until(lambda: meeting.connector is not None and meeting.connector.inside)
            meeting.arrive("f1", "Ada", video=solid(100))
            await until(lambda: (s.manager.live_numbers(sid) or {}).get("samples", 0) >= 2)
            render = s.render
        assert render.calls == [sid]  # rendered during shutdown
        return sid, s.config.store.url

    sid, url = run(body)
    from analysis.store import Store
    from bot.db.store import ServiceStore
    store = Store(url)
    try:
        row = ServiceStore(store).session(sid)
        assert row is not None and row.state == "done"
        assert store.session(sid).ended_at and store.count_observations(sid) > 0  # flushed
    finally:
        store.close()
    assert (tmp_path / "reports" / sid / "class.pdf").exists()


def test_pagination(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            for i in range(3):
                res = await s.client.post(f"{API}/classes", json={"name": f"C{i}"}, headers=s.auth("alice"))
                assert res.status == 201
            first = await (await s.client.get(f"{API}/classes?limit=2", headers=s.auth("alice"))).json()
            rest = await (await s.client.get(f"{API}/classes?limit=2&offset=2", headers=s.auth("alice"))).json()
            assert first["total"] == rest["total"] == 3 and len(first["items"]) == 2 and len(rest["items"]) == 1
            ids = {c["class_id"] for c in first["items"] + rest["items"]}
            assert len(ids) == 3
            bad = await s.client.get(f"{API}/classes?limit=0", headers=s.auth("alice"))
            assert bad.status == 422 and (await bad.json())["error"]["fields"][0]["field"] == "limit"
            unknown = await s.client.get(f"{API}/classes?limt=2", headers=s.auth("alice"))
            assert unknown.status == 422 and "limt" in (await unknown.json())["error"]["message"]

    run(body)


@pytest.mark.parametrize(("body", "headers", "status", "field"), [
    ({"meeting_url": "fake:x", "colour": "red"}, {}, 422, "colour"),
    ({"meeting_url": 42}, {}, 422, "meeting_url"),
    ({"meeting_url": "https://evil.example/"}, {}, 422, "meeting_url"),
    ({"meeting_url": "classroom:../x"}, {}, 422, "meeting_url"),
    ({}, {}, 422, "body"),
    ({"meeting_url": "fake:x", "class_id": "c"}, {}, 422, "body"),
    ({"meeting_url": "fake:x", "duration_s": -5}, {}, 422, "duration_s"),
    ("{not json", {"Content-Type": "application/json"}, 400, None),
    ("[1, 2]", {"Content-Type": "application/json"}, 422, "body"),
    ("meeting_url=fake:x", {"Content-Type": "application/x-www-form-urlencoded"}, 415, None),
    ('{"meeting_url": "' + "x" * 200_000 + '"}', {"Content-Type": "application/json"}, 413, None),
])
def test_bad_session_requests_are_4xx_naming_the_field(tmp_path: Path, body: Any, headers: dict[str, str],
                                                     status: int, field: str | None) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            kw: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
            res = await s.client.post(f"{API}/sessions", headers={**s.auth("alice"), **headers}, **kw)
            assert res.status == status, await res.text()
            err = (await res.json())["error"]
            assert set(err) == {"status", "code", "message", "fields"} and err["status"] == status
            if field is not None:
                assert field in [f["field"] for f in err["fields"]], err
            assert not s.manager.running

    run(main)


@pytest.mark.parametrize("path", [
    "../../cp.db", "..%2F..%2Fcp.db", "%2e%2e/%2e%2e/cp.db", "students/../../../cp.db", "/etc/passwd",
    "%2Fetc%2Fpasswd", "class.html%00.pdf", ".hidden.html", "students/x/y/z.html", "class.txt", "link.html",
])
def test_report_downloads_cannot_leave_the_session_folder(tmp_path: Path, path: str) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            _, sid = await finished_session(s)
            folder = Path(s.config.reports.out_dir) / sid
            (tmp_path / "secret.html").write_text("secret")
            (folder / "link.html").symlink_to(tmp_path / "secret.html")
            (folder / ".hidden.html").write_text("hidden")
            res = await s.client.get(f"{API}/reports/{sid}/files/{path}", headers=s.auth("alice"))
            assert res.status == 404, (path, res.status)
            assert b"secret" not in await res.read()
            ok = await s.client.get(f"{API}/reports/{sid}/files/class.html", headers=s.auth("alice"))
            assert ok.status == 200 and ok.content_type == "text/html"

    run(main)


def test_openapi_document_covers_every_route_and_resolves(tmp_path: Path) -> None:
    from bot.service.api import ROUTES

    async def main() -> None:
        async with service(tmp_path) as s:
            res = await s.client.get(f"{API}/openapi.json")  # public
            assert res.status == 200
            doc = await res.json()
            assert doc["openapi"].startswith("3.")
            ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
            assert len(ops) == len(ROUTES)
            assert ("POST", "/api/v1/sessions") in ops and ("GET", "/api/v1/reports/{session_id}/files/{path}") in ops
            text = await res.text()
            for ref in {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}:
                assert ref in doc["components"]["schemas"], ref
            body = doc["components"]["schemas"]["SessionIn"]
            assert body["additionalProperties"] is False and "meeting_url" in body["properties"]

    run(main)


def test_unknown_api_paths_and_methods_use_the_error_shape(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            res = await s.client.get(f"{API}/nothing", headers=s.auth("alice"))
            assert res.status == 404 and (await res.json())["error"]["code"] == "not_found"
            res = await s.client.put(f"{API}/classes", headers=s.auth("alice"))
            assert res.status == 405 and (await res.json())["error"]["status"] == 405

    run(main)


def test_a_student_is_opted_out_of_every_session_of_a_class(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            class_id, first = await finished_session(s)
            res = await s.client.post(f"{API}/sessions", json={"class_id": class_id}, headers=s.auth("alice"))
            second = (await res.json())["session_id"]
            meeting = s.meetings.room("r1")
            await until(lambda: meeting.connector is not None and meeting.connector.inside
                        and meeting.connector.left is False and s.manager.busy_class(class_id) == second)
            meeting.arrive("g1", "ADA", video=solid(90))
            await until(lambda: (s.manager.live_numbers(second) or {}).get("samples", 0) >= 2)
            url = f"{API}/classes/{class_id}/opt-out"
            busy = await s.client.post(url, json={"display_name": "ada"}, headers=s.auth("alice"))
            assert busy.status == 409
            s.manager.leave(second)
            await s.manager.wait(second)
            res = await s.client.post(url, json={"display_name": "ada"}, headers=s.auth("alice"))
            assert res.status == 200, await res.text()
            out = await res.json()
            assert out["sessions"] == sorted([first, second]) and out["observations_deleted"] > 0
            for sid in (first, second):
                ada = [p for p in s.store.participants(sid) if p.display_name.lower() == "ada"]
                assert ada[0].opted_out and not s.store.observations(sid, ada[0].participant_id)
            ben = next(p for p in s.store.participants(first) if p.display_name == "Ben")
            assert s.store.observations(first, ben.participant_id)  # the others keep their data
            html = (Path(s.config.reports.out_dir) / first / "class.html").read_text()
            assert "Ada" not in html and "Ben" in html
            missing = await s.client.post(url, json={"display_name": "Zed"}, headers=s.auth("alice"))
            assert missing.status == 404

    run(body)
