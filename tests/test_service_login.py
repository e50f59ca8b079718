"""Dashboard log-in: no login CSRF, the cookie is a server-side log-in id, and logging out ends it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from analysis.store import Store
from bot.db.service_state import DbLoginSessions
from bot.db.store import ServiceStore
from bot.service.auth import revoke_token
from bot.service.origin import cross_site, origin_of
from tests.databases import database_url
from tests.service_fixtures import Service, run, service

pytestmark = pytest.mark.component

API = "/api/v1"
COOKIE = "classpulse_session"


def field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([A-Za-z0-9_-]+)"', html)
    assert m, html
    return m.group(1)


async def form_token(s: Service) -> str:
    return field(await (await s.client.get("/dashboard/login")).text(), "login_csrf")


async def post_login(s: Service, who: str = "alice", headers: dict[str, str] | None = None,
                     **extra: str) -> Any:
    data = {"token": s.tokens[who], "login_csrf": await form_token(s), **extra}
    return await s.client.post("/dashboard/login", data=data, headers=headers or {}, allow_redirects=False)


def cookie_of(res: Any) -> str | None:
    morsel = res.cookies.get(COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Referer": "https://evil.example/page"},
                                     {"Origin": "http://127.0.0.1.evil.example"}])
def test_a_login_posted_from_another_site_is_refused(tmp_path: Path, headers: dict[str, str]) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            res = await post_login(s, headers=headers)
            assert res.status == 403 and "not from this site" in await res.text()
            assert cookie_of(res) is None

    run(main)


def test_a_login_without_the_forms_token_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            await form_token(s)
            res = await s.client.post("/dashboard/login", data={"token": s.tokens["alice"]}, allow_redirects=False)
            assert res.status == 403 and cookie_of(res) is None
            res = await post_login(s, login_csrf="x" * 32)  # a token of the attacker's own choosing
            assert res.status == 403

    run(main)


def test_same_origin_login_sets_a_log_in_id_not_the_token(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            own = str(s.client.make_url("/")).rstrip("/")
            res = await post_login(s, headers={"Origin": own, "Referer": own + "/dashboard/login"})
            assert res.status == 303
            sid = cookie_of(res)
            assert sid is not None and sid != s.tokens["alice"] and s.tokens["alice"].split("_", 2)[2] not in sid
            assert "HttpOnly" in res.headers["Set-Cookie"] and "SameSite=Strict" in res.headers["Set-Cookie"]

    run(main)


def test_logging_out_ends_the_log_in_everywhere(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            res = await post_login(s)
            sid = cookie_of(res)
            assert sid is not None
            copied = {"Cookie": f"{COOKIE}={sid}"}  # e.g. a copy left on a shared computer
            assert (await s.client.get(f"{API}/classes", headers=copied)).status == 200
            home = await (await s.client.get("/dashboard")).text()
            res = await s.client.post("/dashboard/logout", data={"csrf": field(home, "csrf")}, allow_redirects=False)
            assert res.status == 303
            s.client.session.cookie_jar.clear()
            assert (await s.client.get(f"{API}/classes", headers=copied)).status == 401
            page = await s.client.get("/dashboard", headers=copied, allow_redirects=False)
            assert page.status == 303 and page.headers["Location"] == "/dashboard/login"

    run(main)


def test_revoking_the_token_ends_its_log_ins(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            await post_login(s)
            assert (await s.client.get(f"{API}/classes")).status == 200
            token_id = s.tokens["alice"].split("_")[1]
            revoke_token(s.db, token_id)
            assert (await s.client.get(f"{API}/classes")).status == 401

    run(main)


def test_log_ins_expire_and_end(tmp_path: Path) -> None:
    now = [1000.0]
    store = Store(database_url(tmp_path))
    sessions = DbLoginSessions(ServiceStore(store), lifetime_s=60, clock=lambda: now[0])
    try:
        a = sessions.create("tok-a")
        assert sessions.token_of(a) == "tok-a" and sessions.token_of("forged") is None and sessions.token_of("") is None
        now[0] += 59.9
        assert sessions.token_of(a) == "tok-a"
        now[0] += 0.1
        assert sessions.token_of(a) is None
        b, c = sessions.create("tok-b"), sessions.create("tok-c")
        sessions.end(b)
        assert sessions.token_of(b) is None and sessions.token_of(c) == "tok-c"
    finally:
        store.close()


@pytest.mark.parametrize(("origin", "referer", "refused"), [
    (None, None, False), ("https://pulse.school.example", None, False),
    ("https://PULSE.school.example:443", None, False),
    ("https://pulse.school.example:8443", None, True), ("http://pulse.school.example", None, True),
    (None, "https://pulse.school.example/dashboard/login", False), (None, "https://evil.example/", True),
    ("null", None, True), ("https://evil.example", "https://pulse.school.example/", True),
])
def test_cross_site(origin: str | None, referer: str | None, refused: bool) -> None:
    allowed = {origin_of("https://pulse.school.example/")}
    assert (cross_site(origin, referer, allowed) is not None) is refused
