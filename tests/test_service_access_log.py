"""The report access log: every opening of a class or student report is a row; admins read it, teachers cannot.

Runs on SQLite and, in `make test-postgres`, on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.service.retention import purge_access_log
from tests.service_fixtures import Service, run, service
from tests.test_service_api import finished_session
from tests.test_service_login import cookie_of, post_login

pytestmark = pytest.mark.component

API = "/api/v1"
COOKIE = "classpulse_session"


async def dashboard_cookie(s: Service, who: str) -> dict[str, str]:
    own = str(s.client.make_url("/")).rstrip("/")
    res = await post_login(s, who, headers={"Origin": own})
    assert res.status == 303
    s.client.session.cookie_jar.clear()  # send the log-in explicitly, never by accident
    return {"Cookie": f"{COOKIE}={cookie_of(res)}"}


async def access_log(s: Service, caller: str = "admin", **filters: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    res = await s.client.get(f"{API}/access-log", params=filters, headers=s.auth(caller))
    return res.status, await res.json()


def test_every_report_opening_is_logged_and_only_admins_read_the_log(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            class_id, sid = await finished_session(s)
            people = await (await s.client.get(f"{API}/sessions/{sid}/participants", headers=s.auth("alice"))).json()
            ada = next(p["participant_id"] for p in people["items"] if p["display_name"] == "Ada")
            files = f"{API}/reports/{sid}/files"
            assert (await s.client.get(f"{files}/class.html", headers=s.auth("alice"))).status == 200
            assert (await s.client.get(f"{files}/class.pdf", headers=s.auth("alice"))).status == 200
            assert (await s.client.get(f"{files}/class.html", headers=s.auth("bob"))).status == 404  # not logged
            assert (await s.client.get(f"{files}/students/nobody.html", headers=s.auth("alice"))).status == 404
            cookie = await dashboard_cookie(s, "alice")
            assert (await s.client.get(f"{files}/students/ada.html", headers=cookie)).status == 200
            assert (await s.client.get(f"{files}/students/ben.html", headers=s.auth("admin"))).status == 200

            status, log = await access_log(s)
            assert status == 200 and log["total"] == 4
            rows = [(r["who"], r["role"], r["subject"], r["via"], r["format"]) for r in log["items"]]
            assert rows == [("root", "admin", "student", "api", "html"),  # newest first
                            ("alice", "teacher", "student", "dashboard", "html"),
                            ("alice", "teacher", "class", "api", "pdf"),
                            ("alice", "teacher", "class", "api", "html")]
            assert log["items"][1]["participant_id"] == ada and log["items"][2]["participant_id"] == ""
            assert {r["session_id"] for r in log["items"]} == {sid}
            assert {r["class_id"] for r in log["items"]} == {class_id}
            assert {r["client"] for r in log["items"]} == {"127.0.0.1"}
            assert all(r["at"].endswith("+00:00") for r in log["items"])
            assert "Ada" not in str(log)  # students by id only

            assert (await access_log(s, via="dashboard"))[1]["total"] == 1
            assert (await access_log(s, participant_id=ada))[1]["total"] == 1
            assert (await access_log(s, who="alice", session_id=sid))[1]["total"] == 3
            assert (await access_log(s, class_id="other"))[1]["total"] == 0
            future = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
            assert (await access_log(s, since=future))[1]["total"] == 0
            assert (await access_log(s, until=future))[1]["total"] == 4
            assert (await access_log(s, limit="1", offset="1"))[1]["items"][0]["via"] == "dashboard"
            status, err = await access_log(s, since="last tuesday")
            assert status == 422 and "since" in str(err)

            for teacher in ("alice", "bob"):
                status, err = await access_log(s, teacher)
                assert status == 403 and "admin" in err["error"]["message"]

    run(main)


def test_the_dashboard_shows_the_log_to_admins_only(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            _, sid = await finished_session(s)
            await s.client.get(f"{API}/reports/{sid}/files/class.html", headers=s.auth("alice"))
            admin = await dashboard_cookie(s, "admin")
            home = await (await s.client.get("/dashboard", headers=admin)).text()
            assert 'href="/dashboard/access-log"' in home
            res = await s.client.get("/dashboard/access-log", headers=admin)
            page = await res.text()
            assert res.status == 200 and "1 opening(s)" in page and sid in page and "class report" in page
            res = await s.client.get("/dashboard/access-log", params={"who": "nobody"}, headers=admin)
            assert "0 opening(s)" in await res.text()
            res = await s.client.get("/dashboard/access-log", params={"since": "soon"}, headers=admin)
            assert res.status == 422
            teacher = await dashboard_cookie(s, "alice")
            assert "/dashboard/access-log" not in await (await s.client.get("/dashboard", headers=teacher)).text()
            res = await s.client.get("/dashboard/access-log", headers=teacher)
            page = await res.text()
            assert res.status == 403 and "Only admins" in page and sid not in page

    run(main)


def test_log_rows_are_kept_for_access_log_days(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path, {"service": {"access_log_days": 90}}) as s:
            _, sid = await finished_session(s)
            await s.client.get(f"{API}/reports/{sid}/files/class.html", headers=s.auth("alice"))
            now = datetime.now(UTC)
            assert purge_access_log(s.db, s.config, now + timedelta(days=89)) == 0
            assert (await access_log(s))[1]["total"] == 1
            assert purge_access_log(s.db, s.config, now + timedelta(days=91)) == 1
            assert (await access_log(s))[1]["total"] == 0

    run(main)
