"""The built-in classroom in a cluster: the join page on any `serve` node sends the student's camera
(WHIP) to the worker that runs the class, and to the new one after a takeover.

The first tests run the join page's HTTP side on the database state alone (SQLite, or
PostgreSQL with CLASSPULSE_TEST_DB=postgresql); the last runs two real `classpulse worker`
processes on a throw-away PostgreSQL, SIGKILLs the one serving the class and checks that the
join page's endpoint moves to the survivor, which serves the class's room.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from analysis.store import Store
from bot.bench.cluster import ClusterProcesses, add_classes, enqueue, wait_until
from bot.cluster.classroom import classroom_locator, meeting_urls, whip_url
from bot.config import Config
from bot.db.records import SessionRecord
from bot.db.store import ServiceStore
from bot.web.app import classroom_key, classroom_locator_key, init_app
from tests.databases import cluster, database_url

pytestmark = pytest.mark.component

NOW = "2026-11-26T09:00:00+00:00"


def _session(db: ServiceStore, code: str = "maths-7b", url: str = "") -> str:
    sid = f"s-{code}"
    db.add_session(SessionRecord(session_id=sid, owner="t1", class_name="Maths 7B", meeting=f"classroom {code}",
                                 state="queued", created_at=NOW, meeting_url=url or f"classroom:{code}"))
    return sid


async def _endpoint(client: TestClient[Any, Any], code: str = "maths-7b") -> tuple[int, str]:
    res = await client.get(f"/join/{code}/whip")
    return res.status, (await res.json())["whip"] if res.status == 200 else ""


def test_the_join_page_follows_the_current_attempt_of_the_class(tmp_path: Path) -> None:
    store = Store(database_url(tmp_path))
    db = ServiceStore(store)

    async def main() -> None:
        app = init_app(Config())
        app[classroom_locator_key] = classroom_locator(db)
        async with TestClient(TestServer(app)) as client:
            assert await _endpoint(client) == (404, "")  # no open class of that code
            assert (await client.get("/join/maths-7b")).status == 404
            sid = _session(db)
            assert await _endpoint(client) == (200, "")  # queued: the page waits for a worker
            page = await client.get("/join/maths-7b")
            assert page.status == 200 and "Maths 7B" in await page.text()
            first = db.begin_attempt(sid, "w1:11", NOW)
            assert await _endpoint(client) == (200, "")  # the worker is still opening the room
            assert db.set_join_link(sid, first.number, NOW, "http://w1.school.example:8081/join/maths-7b")
            assert await _endpoint(client) == (200, "http://w1.school.example:8081/whip/maths-7b")
            db.end_attempt(sid, first.number, NOW, "worker_lost")  # taken over: w1 is gone
            second = db.begin_attempt(sid, "w2:22", NOW)
            assert await _endpoint(client) == (200, "")
            assert not db.set_join_link(sid, first.number, NOW, "http://w1.school.example:8081/join/maths-7b")
            assert db.set_join_link(sid, second.number, NOW, "https://w2.school.example/join/maths-7b")
            assert await _endpoint(client) == (200, "https://w2.school.example/whip/maths-7b")
            db.update_session(sid, state="done", ended_at=NOW)
            assert await _endpoint(client) == (404, "")  # ended: the page stops re-offering

    try:
        asyncio.run(main())
    finally:
        store.close()


def test_every_spelling_of_the_code_is_found_and_a_local_room_comes_first(tmp_path: Path) -> None:
    store = Store(database_url(tmp_path))
    db = ServiceStore(store)
    assert whip_url("http://w:1/join/abc", "abc") == "http://w:1/whip/abc" and whip_url("", "abc") == ""

    async def main() -> None:
        app = init_app(Config())
        app[classroom_locator_key] = classroom_locator(db)
        async with TestClient(TestServer(app)) as client:
            for i, spelling in enumerate(meeting_urls("geo-9")):
                sid = _session(db, "geo-9", spelling)
                number = db.begin_attempt(sid, "w", NOW).number
                assert db.set_join_link(sid, number, NOW, f"http://w{i}:1/join/geo-9")
                assert await _endpoint(client, "geo-9") == (200, f"http://w{i}:1/whip/geo-9"), spelling
                db.update_session(sid, state="done", ended_at=NOW)
                db.delete_session(sid)
            app[classroom_key].open("geo-9", "Geography")  # this process runs the class (one machine)
            assert await _endpoint(client, "geo-9") == (200, "/whip/geo-9")

    try:
        asyncio.run(main())
    finally:
        store.close()


def test_whip_endpoints_answer_a_page_from_another_origin() -> None:
    async def main() -> None:
        app = init_app(Config())
        async with TestClient(TestServer(app)) as client:
            pre = await client.options("/whip/maths-7b", headers={
                "Origin": "https://pulse.school.example", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type"})
            assert pre.status == 204 and pre.headers["Access-Control-Allow-Origin"] == "*"
            assert "POST" in pre.headers["Access-Control-Allow-Methods"]
            assert "content-type" in pre.headers["Access-Control-Allow-Headers"].lower()
            pre = await client.options("/whip/maths-7b/abc", headers={"Origin": "https://pulse.school.example"})
            assert pre.status == 204 and "DELETE" in pre.headers["Access-Control-Allow-Methods"]
            refused = await client.post("/whip/maths-7b?name=Ada", data="v=0", headers={
                "Content-Type": "application/sdp", "Origin": "https://pulse.school.example"})
            assert refused.status == 404  # no such room here; the browser still reads why
            assert refused.headers["Access-Control-Allow-Origin"] == "*"
            assert refused.headers["Access-Control-Expose-Headers"] == "Location"

    asyncio.run(main())


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0  # nobody there


@pytest.mark.slow
@pytest.mark.integration
def test_after_a_worker_is_killed_the_join_page_sends_students_to_the_new_one(tmp_path: Path) -> None:
    url = cluster().new_database()
    store = Store(url)
    db = ServiceStore(store)
    fast = {"CLASSPULSE_CLUSTER__HEARTBEAT_S": "1", "CLASSPULSE_CLUSTER__STALLED_AFTER_S": "3",
            "CLASSPULSE_CLUSTER__SWEEP_S": "1", "CLASSPULSE_CLUSTER__RETRY_S": "0.5",
            "CLASSPULSE_STORE__FLUSH_S": "1", "CLASSPULSE_REPORTS__FORMATS": "[html]",
            "CLASSPULSE_CLASSROOM__PORT": "0"}  # each worker's classroom on a free port
    harness = ClusterProcesses(url, tmp_path, fast, analyzer="fake")
    try:
        first = harness.start_worker(capacity=30)
        (cls,) = add_classes(db, 1, 2, url="classroom:maths-7b", prefix="room")
        (sid,) = asyncio.run(enqueue(harness.config(), store, db, [cls], duration_s=40))

        def endpoint() -> tuple[int, str]:
            async def ask() -> tuple[int, str]:
                app = init_app(harness.config())  # a `serve` node's join side, on the shared database
                app[classroom_locator_key] = classroom_locator(db)
                async with TestClient(TestServer(app)) as client:
                    return await _endpoint(client)
            return asyncio.run(ask())

        assert wait_until(lambda: endpoint()[1] != "", 60), (db.session(sid), db.attempts(sid))
        old = endpoint()[1]
        assert _get(old.replace("/whip/", "/join/")) == 200  # the worker serves the class's room
        harness.start_worker(capacity=30)
        assert wait_until(harness.ready, 60)
        time.sleep(1)
        first.kill()
        killed = time.monotonic()
        assert wait_until(lambda: endpoint()[1] not in ("", old), 30), db.attempts(sid)
        moved_after_s = time.monotonic() - killed
        new = endpoint()[1]
        assert _get(new.replace("/whip/", "/join/")) == 200 and _get(old.replace("/whip/", "/join/")) == 0
        assert db.attempts(sid)[0].end_reason == "worker_lost" and moved_after_s < 30

        def state() -> str:
            record = db.session(sid)
            return record.state if record else "?"

        assert wait_until(lambda: state() == "done", 60), db.session(sid)
        assert endpoint() == (404, "")
        print(json.dumps({"endpoint_moved_after_s": round(moved_after_s, 1)}))
    finally:
        harness.stop(30)
        store.close()


CHROMIUM = "/usr/bin/chromium"


def _joined(log: Path, name: str, code: str) -> bool:
    return f"{name} joined class {code}" in log.read_text(errors="replace")


@pytest.mark.slow
@pytest.mark.integration
def test_a_browser_on_the_join_page_follows_the_class_to_the_new_worker(tmp_path: Path) -> None:
    """Chromium (fake camera) opens `classpulse serve`'s join page and shares its camera: it reaches
    the worker running the class; that worker SIGKILLed, the page re-offers and the student is
    seated on the worker that took the class over — nobody clicks anything again."""
    import shutil
    import socket
    import subprocess
    import sys

    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing under CI (apt-get install -y chromium)")
        pytest.skip("Debian chromium not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    url = cluster().new_database()
    store = Store(url)
    db = ServiceStore(store)
    fast = {"CLASSPULSE_CLUSTER__HEARTBEAT_S": "1", "CLASSPULSE_CLUSTER__STALLED_AFTER_S": "3",
            "CLASSPULSE_CLUSTER__SWEEP_S": "1", "CLASSPULSE_CLUSTER__RETRY_S": "0.5",
            "CLASSPULSE_STORE__FLUSH_S": "1", "CLASSPULSE_REPORTS__FORMATS": "[html]",
            "CLASSPULSE_CLASSROOM__PORT": "0", "CLASSPULSE_CLASSROOM__MAX_PENDING_PER_CLIENT": "0"}
    harness = ClusterProcesses(url, tmp_path, fast, analyzer="fake")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    serve_log = tmp_path / "serve.log"
    try:
        first = harness.start_worker(capacity=30)
        with serve_log.open("wb") as out:
            harness.procs.append(subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--port", str(port)], env=harness.env(),
                stdout=out, stderr=subprocess.STDOUT))
        (cls,) = add_classes(db, 1, 2, url="classroom:maths-7b", prefix="browser")
        (sid,) = asyncio.run(enqueue(harness.config(), store, db, [cls], duration_s=60))
        assert wait_until(lambda: any(a.join_link for a in db.attempts(sid)), 60), db.attempts(sid)
        harness.start_worker(capacity=30)
        assert wait_until(harness.ready, 60)
        assert wait_until(lambda: _get(f"http://127.0.0.1:{port}/join/maths-7b") == 200, 60), \
            serve_log.read_text(errors="replace")[-2000:]
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
            try:
                page = browser.new_page()
                console: list[str] = []
                page.on("console", lambda m: console.append(m.text))
                page.goto(f"http://127.0.0.1:{port}/join/maths-7b")
                page.fill("#name", "Ada")
                page.click("#share")
                assert wait_until(lambda: _joined(harness.logs[0], "Ada", "maths-7b"), 40), \
                    (page.inner_text("#status"), console)
                first.kill()
                killed = time.monotonic()
                assert wait_until(lambda: _joined(harness.logs[1], "Ada", "maths-7b"), 60), \
                    (page.inner_text("#status"), console, db.attempts(sid))
                seated_again_s = time.monotonic() - killed
            finally:
                browser.close()
        assert [a.end_reason for a in db.attempts(sid)][:1] == ["worker_lost"]
        print(json.dumps({"seated_again_after_kill_s": round(seated_again_s, 1)}))
    finally:
        harness.stop(30)
        store.close()


def test_a_workers_classroom_counts_offers_in_the_shared_database(tmp_path: Path) -> None:
    """The offer rate limit holds on a worker's classroom too: counted in the database every node shares."""
    import aiohttp

    from bot.cluster.classroom import WorkerClassroom

    store = Store(database_url(tmp_path))
    db = ServiceStore(store)
    config = Config.model_validate({"classroom": {"port": 0, "offers_per_minute_per_client": 2},
                                    "cluster": {"classroom_url": ""}})

    async def main() -> list[int]:
        room = WorkerClassroom(config, db)
        host = await room.host()
        assert host is await room.host() and host.base_url.startswith("http://127.0.0.1:")
        host.classroom.open("maths-7b", "Maths 7B")
        statuses = []
        try:
            async with aiohttp.ClientSession() as http:
                assert (await http.get(f"{host.base_url}/join/maths-7b")).status == 200
                for _ in range(3):
                    async with http.post(f"{host.base_url}/whip/maths-7b?name=Ada", data="v=0\r\n",
                                         headers={"Content-Type": "application/sdp"}) as res:
                        statuses.append(res.status)
        finally:
            await room.close()
        return statuses

    try:
        statuses = asyncio.run(main())
    finally:
        store.close()
    assert statuses[:2] != [429, 429] and statuses[2] == 429, statuses
