"""Access control over the whole route table: no token → 401, another teacher's objects → 404/403."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.cli.main import main
from bot.db.records import DeliveryRecord, FeedRecord
from bot.service.api import PREFIX, ROUTES, Route
from bot.service.auth import Role
from tests.service_fixtures import Service, run, service
from tests.test_service_api import finished_session

pytestmark = pytest.mark.component

PROTECTED = [r for r in ROUTES if r.role is not None]
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/classes"): {"name": "Hijack", "owner": "alice"},
    ("POST", "/sessions"): {"class_id": "{class_id}"},
    ("POST", "/schedules"): {"class_id": "{class_id}", "cron": "0 9 * * mon", "duration_min": "50"},
    ("POST", "/classes/{class_id}/opt-out"): {"display_name": "Ada"},
    ("PATCH", "/classes/{class_id}"): {"late_after_min": "3"},
    ("POST", "/classes/{class_id}/matches/{session_id}/{participant_id}"): {"roster_student_id": ""},
    ("POST", "/timetables/feeds"): {"url": "https://calendar.example/7b.ics", "owner": "alice"},
}


def ident(r: Route) -> str:
    return f"{r.method} {r.path}"


async def fill(s: Service, route: Route) -> tuple[str, dict[str, Any] | None, dict[str, str]]:
    """The route's URL and body aimed at alice's finished class session."""
    class_id, sid = await finished_session(s)
    pid = s.store.participants(sid)[0].participant_id
    res = await s.client.post(f"{PREFIX}/schedules", json={"class_id": class_id, "cron": "0 9 * * mon,wed",
                                                          "timezone": "Europe/Berlin", "duration_min": 50},
                              headers=s.auth("alice"))
    assert res.status == 201, await res.text()
    s.db.add_delivery(DeliveryRecord(delivery_id=f"evt-{sid}-webhook", session_id=sid, owner="alice",
                                     kind="webhook", target="http://hooks.example/x", state="failed", attempts=3,
                                     last_error="HTTP 500", created_at="2026-01-01T00:00:00+00:00"))
    roster = await s.client.put(f"{PREFIX}/classes/{class_id}/roster", data=b"name\nAda\n",
                                headers={**s.auth("alice"), "Content-Type": "text/csv"})
    assert roster.status == 200, await roster.text()
    s.db.add_feed(FeedRecord(feed_id="feed-alice", owner="alice", url="https://calendar.example/7b.ics",
                             created_at="2026-01-01T00:00:00+00:00"))
    values = {"class_id": class_id, "session_id": sid, "participant_id": pid, "path": "class.pdf",
              "roster_student_id": (await roster.json())["students"][0]["roster_student_id"],
              "schedule_id": (await res.json())["schedule_id"], "delivery_id": f"evt-{sid}-webhook",
              "feed_id": "feed-alice"}
    path = re.sub(r"\{(\w+)(?::[^}]*)?\}", lambda m: values[m.group(1)], route.path)
    body = BODIES.get((route.method, route.path))
    if body is not None:
        body = {k: v.format(**values) for k, v in body.items()}
    if (route.method, route.path) == ("POST", "/timetables"):
        path += "?owner=alice"  # importing classes for another teacher
    return PREFIX + path, body, values


# Every route with no token and with a right id but a wrong secret in the quick suite; the other
# spellings go through the same check (`api.guarded`) and run with the slow tests (6 x 46 requests).
TOKENS = ["", "wrong-secret", *(pytest.param(t, marks=pytest.mark.slow)
                                for t in ("Bearer ", "Bearer nope", "Basic YWxpY2U6eA==", "revoked"))]


@pytest.mark.parametrize("route", PROTECTED, ids=ident)
@pytest.mark.parametrize("token", TOKENS)
def test_every_protected_route_needs_a_valid_token(tmp_path: Path, route: Route, token: str) -> None:
    async def main_() -> None:
        async with service(tmp_path) as s:
            url = PREFIX + re.sub(r"\{(\w+)(?::[^}]*)?\}", "x1", route.path)
            if token == "revoked":
                header = s.auth("alice")["Authorization"]
                tid = s.tokens["alice"].split("_")[1]
                from bot.service.auth import revoke_token
                assert revoke_token(s.db, tid)
            elif token == "wrong-secret":
                good = s.tokens["alice"]
                header = "Bearer " + good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
            else:
                header = token
            headers = {"Authorization": header} if header else {}
            res = await s.client.request(route.method, url, headers=headers, json=BODIES.get(
                (route.method, route.path)))
            assert res.status == 401, (ident(route), res.status)
            assert res.headers["WWW-Authenticate"].startswith("Bearer")
            assert (await res.json())["error"]["code"] == "unauthenticated"

    run(main_)


@pytest.mark.parametrize("route", PROTECTED, ids=ident)
def test_another_teacher_cannot_reach_alices_data(tmp_path: Path, route: Route) -> None:
    async def main_() -> None:
        async with service(tmp_path) as s:
            url, body, values = await fill(s, route)
            res = await s.client.request(route.method, url, headers=s.auth("bob"), json=body)
            text = await res.text()
            if "{" in route.path or (route.method == "POST" and route.path in ("/sessions", "/schedules")):
                assert res.status == 404, (ident(route), res.status, text)
            elif route.role is Role.ADMIN or route.method == "POST":
                assert res.status == 403, (ident(route), res.status, text)
            else:  # lists: bob sees nothing of alice's
                assert res.status == 200 and values["class_id"] not in text and values["session_id"] not in text
            # alice's things are untouched and she (and the admin) can still reach them
            for who in ("alice", "admin"):
                got = await s.client.get(f"{PREFIX}/sessions/{values['session_id']}", headers=s.auth(who))
                assert got.status == 200 and (await got.json())["state"] == "done"
            assert s.store.count_observations(values["session_id"]) > 0
            assert s.db.schedule(values["schedule_id"]) is not None
            assert s.db.delivery(values["delivery_id"]).state == "failed"  # type: ignore[union-attr]
            assert s.db.feed("feed-alice") is not None and s.db.feeds(owner="bob")[1] == 0
            assert not s.manager.running

    run(main_)


def test_admin_sees_every_teacher_and_creates_for_them(tmp_path: Path) -> None:
    async def main_() -> None:
        async with service(tmp_path) as s:
            res = await s.client.post(f"{PREFIX}/classes", json={"name": "Bio", "owner": "bob"},
                                      headers=s.auth("admin"))
            assert res.status == 201 and (await res.json())["owner"] == "bob"
            await s.client.post(f"{PREFIX}/classes", json={"name": "Chem"}, headers=s.auth("alice"))
            every = await (await s.client.get(f"{PREFIX}/classes", headers=s.auth("admin"))).json()
            bobs = await (await s.client.get(f"{PREFIX}/classes", headers=s.auth("bob"))).json()
            assert every["total"] == 2 and [c["name"] for c in bobs["items"]] == ["Bio"]
            toks = await (await s.client.get(f"{PREFIX}/tokens", headers=s.auth("admin"))).json()
            assert toks["total"] == 3 and all("secret_sha256" not in t for t in toks["items"])

    run(main_)


def test_token_cli_creates_lists_revokes_and_stores_only_a_hash(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/cp.db"
    base = ["--set", f"store.url={url}", "token"]
    assert main([*base, "create", "--role", "teacher", "--name", "Ms Rivera"]) == 0
    token = capsys.readouterr().out.strip()
    assert re.match(r"^cp_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$", token)
    token_id, secret = token.split("_", 2)[1:]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        dump = "\n".join(str(r) for r in conn.execute(sa.text("SELECT * FROM api_tokens")))
    engine.dispose()
    assert secret not in dump and hashlib.sha256(secret.encode()).hexdigest() in dump
    assert main([*base, "list"]) == 0
    listed = capsys.readouterr().out
    assert token_id in listed and "Ms Rivera" in listed and "active" in listed and secret not in listed
    assert main([*base, "revoke", token_id]) == 0
    assert main([*base, "list"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main([*base, "revoke", "000000000000"]) == 2
    assert "no token" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "create", "--role", "root", "--name", "x"])
