"""Per-address rate limits counted in the database: WHIP offers and failed dashboard log-ins.

Two service instances on one database share each budget (runs on SQLite and, in
`make test-postgres`, on PostgreSQL). The client address is the TCP peer unless a trusted
proxy says otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from analysis.store import Store
from bot.db.service_state import DbRateLimiter
from bot.db.store import ServiceStore
from bot.web.app import classroom_key
from tests.databases import database_url
from tests.service_fixtures import Service, run, service
from tests.test_service_login import field

pytestmark = pytest.mark.component


def test_fixed_windows_shared_by_two_processes(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    now = [5000.0]
    stores = [Store(url), Store(url)]
    a, b = (DbRateLimiter(ServiceStore(s), clock=lambda: now[0]) for s in stores)
    try:
        assert [a.hit("k", 3, 60), b.hit("k", 3, 60), a.hit("k", 3, 60)] == [None, None, None]
        assert b.peek("k", 3, 60) == 60.0  # used up, nothing counted by looking
        now[0] += 15
        assert b.hit("k", 3, 60) == 45.0 and a.hit("k", 3, 60) == 45.0
        assert a.hit("other", 3, 60) is None  # keys are separate
        now[0] += 46  # a new window
        assert a.peek("k", 3, 60) is None and a.hit("k", 3, 60) is None
        b.clear("k")
        assert [a.hit("k", 1, 60), b.hit("k", 1, 60)] == [None, 60.0]
    finally:
        for s in stores:
            s.close()


async def offer(s: Service, headers: dict[str, str] | None = None) -> Any:
    """A WHIP offer (not even SDP: the limit counts before the body is looked at)."""
    return await s.client.post("/whip/room-123?name=Ada", data="hello", headers={"Content-Type": "text/plain",
                                                                                 **(headers or {})})


def open_room(s: Service) -> None:
    s.client.server.app[classroom_key].open("room-123", "Maths")


def test_whip_offers_per_address_are_limited_across_nodes(tmp_path: Path) -> None:
    limits = {"classroom": {"offers_per_minute_per_client": 2}}

    async def main() -> None:
        async with service(tmp_path, limits) as a, service(tmp_path, limits) as b:
            open_room(a)
            open_room(b)
            assert (await offer(a)).status == 415
            assert (await offer(a)).status == 415
            res = await offer(b)  # the same address on the other node: its budget is used up
            assert res.status == 429 and 1 <= int(res.headers["Retry-After"]) <= 60
            assert "too many camera offers" in await res.text()

    run(main)


def test_offers_count_per_client_behind_a_trusted_proxy_only(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path, {"classroom": {"offers_per_minute_per_client": 1},
                                      "service": {"trusted_proxies": ["127.0.0.1/32"]}}) as s:
            open_room(s)
            for client in ("198.51.100.1", "198.51.100.2"):  # two students behind the school's proxy
                assert (await offer(s, {"X-Forwarded-For": client})).status == 415
            assert (await offer(s, {"X-Forwarded-For": "198.51.100.1"})).status == 429
        async with service(tmp_path / "untrusted", {"classroom": {"offers_per_minute_per_client": 1}}) as s:
            open_room(s)
            assert (await offer(s, {"X-Forwarded-For": "198.51.100.1"})).status == 415
            # forging another address does not buy a new budget: the peer is the client
            assert (await offer(s, {"X-Forwarded-For": "198.51.100.2"})).status == 429

    run(main)


def test_zero_turns_the_offer_limit_off(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path, {"classroom": {"offers_per_minute_per_client": 0}}) as s:
            open_room(s)
            assert {(await offer(s)).status for _ in range(40)} == {415}

    run(main)


async def login(s: Service, token: str) -> Any:
    value = field(await (await s.client.get("/dashboard/login")).text(), "login_csrf")
    return await s.client.post("/dashboard/login", data={"token": token, "login_csrf": value},
                               allow_redirects=False)


def test_failed_log_ins_per_address_are_limited_across_nodes(tmp_path: Path) -> None:
    limits = {"service": {"login_attempts_per_minute": 2}}

    async def main() -> None:
        async with service(tmp_path, limits) as a, service(tmp_path, limits) as b:
            assert (await login(a, "cp_wrong")).status == 401
            assert (await login(a, a.tokens["alice"])).status == 303  # a success clears the count
            assert (await login(a, "cp_wrong")).status == 401
            assert (await login(b, "cp_wrong")).status == 401
            res = await login(a, a.tokens["alice"])  # even the right token waits now
            assert res.status == 429 and "Too many failed log-ins" in await res.text()
            assert 1 <= int(res.headers["Retry-After"]) <= 60
            assert (await login(b, b.tokens["bob"])).status == 429

    run(main)
