"""Caps on concurrent sessions: per teacher and per service, 429 with Retry-After, race-free, and
counted in the database so that two service instances on one database share them.

Runs on SQLite and, in `make test-postgres`, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from analysis.store import Store
from bot.db.records import SessionRecord
from bot.db.service_state import DbCapacity
from bot.db.store import ServiceStore
from bot.service.capacity import CapacityExceeded, Limits, refusal
from tests.databases import database_url
from tests.service_fixtures import run, service

pytestmark = pytest.mark.component

API = "/api/v1"


def test_the_rule() -> None:
    limits = Limits(max_concurrent=3, max_concurrent_per_teacher=2)
    assert refusal([], "alice", limits) is None
    assert refusal(["alice"], "alice", limits) is None
    found = refusal(["alice", "alice"], "alice", limits)
    assert found is not None and "max_concurrent_per_teacher = 2" in found.message
    assert refusal(["alice", "alice"], "bob", limits) is None
    found = refusal(["alice", "bob", "carol"], "dave", limits)
    assert found is not None and "session.max_concurrent = 3" in found.message


def _open(url: str) -> tuple[Store, ServiceStore]:
    store = Store(url)
    return store, ServiceStore(store)


def test_holds_and_open_sessions_count_across_processes_and_expire(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    now = [1000.0]
    (s1, db1), (s2, db2) = _open(url), _open(url)  # two API nodes on one database
    limits = Limits(max_concurrent=3, max_concurrent_per_teacher=2)
    node1 = DbCapacity(db1, limits, hold_s=60, clock=lambda: now[0])
    node2 = DbCapacity(db2, limits, hold_s=60, clock=lambda: now[0])
    try:
        h1 = node1.hold("alice")
        node2.hold("alice")
        with pytest.raises(CapacityExceeded, match="max_concurrent_per_teacher = 2"):
            node2.hold("alice")  # node 2 sees node 1's start in progress
        node1.release(h1)
        db1.add_session(SessionRecord(session_id="s1", owner="alice", class_name="c", meeting="m",
                                      state="live", created_at="2026-11-26T09:00:00+00:00"))
        with pytest.raises(CapacityExceeded):
            node2.hold("alice")  # the open session counts in place of the released hold
        node2.hold("bob")
        with pytest.raises(CapacityExceeded, match=r"session\.max_concurrent = 3"):
            node1.hold("carol")
        assert node1.counts() == Counter({"alice": 2, "bob": 1})
        now[0] += 61  # the two holds of processes that died mid-start expire; the open session stays
        assert node2.counts() == Counter({"alice": 1})
        db2.update_session("s1", state="done")
        assert node1.counts() == Counter()
    finally:
        s1.close()
        s2.close()


def test_concurrent_holds_from_two_nodes_never_pass_the_cap_together(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    (s1, db1), (s2, db2) = _open(url), _open(url)
    limits = Limits(max_concurrent=5, max_concurrent_per_teacher=5)
    nodes = [DbCapacity(db1, limits), DbCapacity(db2, limits)]

    def try_hold(i: int) -> bool:
        try:
            nodes[i % 2].hold("alice")
        except CapacityExceeded:
            return False
        return True

    try:
        with ThreadPoolExecutor(8) as pool:
            passed = list(pool.map(try_hold, range(16)))
        assert passed.count(True) == 5
    finally:
        s1.close()
        s2.close()


def test_a_teacher_over_the_limit_gets_429_with_retry_after(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path, max_concurrent=3, max_concurrent_per_teacher=2) as s:
            async def start(who: str, room: str) -> int:
                res = await s.client.post(f"{API}/sessions", json={"meeting_url": f"fake:{room}"},
                                          headers=s.auth(who))
                if res.status == 429:
                    assert res.headers["Retry-After"] == "60"
                    assert "max_concurrent" in (await res.json())["error"]["message"]
                return res.status

            # concurrent requests: the check holds while the first ones are still starting
            statuses = await asyncio.gather(*(start("alice", f"a{i}") for i in range(5)))
            assert sorted(statuses) == [201, 201, 429, 429, 429]
            assert await start("bob", "b1") == 201
            assert await start("bob", "b2") == 429  # the service is full (3)
            for sid in list(s.manager.running):
                s.manager.leave(sid)
                await s.manager.wait(sid)
            assert await start("bob", "b3") == 201  # capacity comes back when sessions end

    run(main)


def test_two_service_instances_on_one_database_share_the_caps(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path, max_concurrent=3, max_concurrent_per_teacher=2) as a, \
                service(tmp_path, max_concurrent=3, max_concurrent_per_teacher=2) as b:
            async def start(node: object, who: str, room: str) -> int:
                res = await node.client.post(f"{API}/sessions",  # type: ignore[attr-defined]
                                             json={"meeting_url": f"fake:{room}"}, headers=node.auth(who))  # type: ignore[attr-defined]
                return res.status

            assert await start(a, "alice", "a1") == 201
            assert await start(b, "alice", "a2") == 201
            assert await start(b, "alice", "a3") == 429  # node b counts node a's session
            assert await start(a, "bob", "b1") == 201
            assert await start(b, "bob", "b2") == 429  # the service (both nodes) is full
            for node in (a, b):
                for sid in list(node.manager.running):
                    node.manager.leave(sid)
                    await node.manager.wait(sid)
            assert await start(b, "bob", "b3") == 201

    run(main)


def test_another_node_refuses_to_erase_a_class_or_session_that_is_running(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as a, service(tmp_path) as b:
            res = await a.client.post(f"{API}/classes", json={"name": "7B", "meeting_url": "fake:r1"},
                                      headers=a.auth("alice"))
            class_id = (await res.json())["class_id"]
            res = await a.client.post(f"{API}/sessions", json={"class_id": class_id}, headers=a.auth("alice"))
            sid = (await res.json())["session_id"]
            assert sid not in b.manager.running  # node b does not run it: only the database knows
            for method, path, body in (("DELETE", f"/sessions/{sid}/data", None),
                                       ("DELETE", f"/classes/{class_id}", None),
                                       ("POST", f"/classes/{class_id}/opt-out", {"display_name": "Ada"})):
                res = await b.client.request(method, API + path, json=body, headers=b.auth("alice"))
                assert res.status == 409, (path, await res.text())
            res = await b.client.post(f"{API}/sessions", json={"class_id": class_id}, headers=b.auth("alice"))
            assert res.status == 409  # one open session per class, whichever node asks
            a.manager.leave(sid)
            await a.manager.wait(sid)
            assert (await b.client.delete(f"{API}/sessions/{sid}/data", headers=b.auth("alice"))).status == 200
            assert (await b.client.delete(f"{API}/classes/{class_id}", headers=b.auth("alice"))).status == 200

    run(main)
