"""Subscribed timetable feeds: read through the webhook address guard, stored, re-read daily, errors visible.

A local aiohttp server plays the school's calendar server on 127.0.0.1; loopback is
allowed through `delivery.allow_networks` only where a test says so. Runs on SQLite and,
in `make test-postgres`, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from analysis.store import Store
from bot.cli.main import main
from bot.config import Config
from bot.db.store import ServiceStore
from bot.service.feeds import Feeds, guard_for
from bot.service.state import schedules_key
from tests.databases import database_url
from tests.service_fixtures import run, service, until
from tests.test_timetable_import import WEEKLY

pytestmark = pytest.mark.component

API = "/api/v1"
LOOPBACK = {"delivery": {"allow_networks": ["127.0.0.0/8"]},
            "service": {"feed_timeout_s": 1.0, "feed_max_bytes": 4096}}


class CalendarServer:
    """The school's calendar server in a thread of its own (the CLI runs its own event loop)."""

    def __init__(self) -> None:
        self.calendar = WEEKLY
        self.status = 200
        self.hits = 0
        app = web.Application()
        app.router.add_get("/tt.ics", self.ics)
        app.router.add_get("/page", lambda r: web.Response(text="<html>login</html>", content_type="text/html"))
        app.router.add_get("/big.ics", lambda r: web.Response(body=b"X" * 10_000, content_type="text/calendar"))
        app.router.add_get("/moved.ics", self.moved)
        app.router.add_get("/slow.ics", self.slow)
        app.router.add_get("/broken.ics", lambda r: web.Response(text="BEGIN:VCALENDAR\r\nnonsense",
                                                                 content_type="text/calendar"))
        self.runner = web.AppRunner(app)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.base = ""

    async def ics(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.status != 200:
            return web.Response(status=self.status, text="down")
        return web.Response(text=self.calendar, content_type="text/calendar", charset="utf-8")

    async def moved(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/tt.ics")

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(2)  # past feed_timeout_s (1 s)
        return web.Response(text=WEEKLY, content_type="text/calendar")

    def __enter__(self) -> CalendarServer:
        async def start() -> str:
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", 0).start()
            return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

        self.thread.start()
        self.base = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def school() -> Any:
    with CalendarServer() as server:
        yield server


def test_a_feed_is_imported_listed_and_reread_idempotently(tmp_path: Path, school: CalendarServer) -> None:
    async def main() -> None:
        async with service(tmp_path, LOOPBACK) as s:
            res = await s.client.post(f"{API}/timetables/feeds", json={"url": f"{school.base}/tt.ics"},
                                      headers=s.auth("alice"))
            assert res.status == 201, await res.text()
            feed = await res.json()
            assert feed["owner"] == "alice" and feed["last_error"] == "" and feed["last_ok_at"]
            assert len(feed["last_result"]["created"]) == 1 and len(feed["last_result"]["schedules"]) == 1
            assert feed["plan"]["schedules"][0]["class"] == "Maths 7B"
            [cls] = (await (await s.client.get(f"{API}/classes", headers=s.auth("alice"))).json())["items"]
            assert cls["name"] == "Maths 7B" and cls["meeting_url"] == "classroom:maths-7b"
            sch = (await (await s.client.get(f"{API}/schedules", headers=s.auth("alice"))).json())["items"]
            assert len(sch) == 1 and s.client.server.app[schedules_key].next_run(sch[0]["schedule_id"])

            fid = feed["feed_id"]
            again = await (await s.client.post(f"{API}/timetables/feeds/{fid}/refresh", headers=s.auth("alice"))).json()
            assert again["last_result"]["created"] == [] and again["last_result"]["unchanged"] == [cls["class_id"]]
            school.calendar = WEEKLY.replace("SUMMARY:Maths 7B", "SUMMARY:Maths 7B (room 12)")
            changed = await (await s.client.post(f"{API}/timetables/feeds/{fid}/refresh",
                                                 headers=s.auth("alice"))).json()
            assert changed["last_result"]["updated"] == [cls["class_id"]]
            listed = await (await s.client.get(f"{API}/timetables/feeds", headers=s.auth("alice"))).json()
            assert [f["feed_id"] for f in listed["items"]] == [fid]
            # another teacher sees nothing of it; an admin sees it
            assert (await (await s.client.get(f"{API}/timetables/feeds", headers=s.auth("bob"))).json())["total"] == 0
            assert (await s.client.get(f"{API}/timetables/feeds/{fid}", headers=s.auth("bob"))).status == 404
            assert (await s.client.get(f"{API}/timetables/feeds/{fid}", headers=s.auth("admin"))).status == 200
            assert (await s.client.delete(f"{API}/timetables/feeds/{fid}", headers=s.auth("bob"))).status == 404
            assert (await s.client.delete(f"{API}/timetables/feeds/{fid}", headers=s.auth("alice"))).status == 200
            assert (await (await s.client.get(f"{API}/classes", headers=s.auth("alice"))).json())["total"] == 1

    run(main)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/tt.ics", "http://169.254.169.254/latest/meta-data",
                                 "http://[::ffff:127.0.0.1]/tt.ics", "http://2130706433/tt.ics",
                                 "http://metadata.google.internal/x.ics", "http://10.1.2.3/tt.ics"])
def test_private_addresses_are_refused_and_nothing_is_saved(tmp_path: Path, url: str) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            res = await s.client.post(f"{API}/timetables/feeds", json={"url": url}, headers=s.auth("alice"))
            assert res.status == 422 and "refused" in (await res.json())["error"]["message"]
            assert (await (await s.client.get(f"{API}/timetables/feeds", headers=s.auth("alice"))).json())["total"] == 0

    run(main)


@pytest.mark.parametrize("path,error", [
    ("/page", "not text/calendar (it answered text/html)"),
    ("/big.ics", "larger than 4096 bytes"),
    ("/moved.ics", "HTTP 302 (a redirect)"),
    ("/slow.ics", "did not answer within 1 s"),
    ("/missing.ics", "HTTP 404"),
    ("/broken.ics", "the feed: not a readable iCalendar file"),
])
def test_a_bad_read_is_recorded_on_the_feed(tmp_path: Path, school: CalendarServer, path: str, error: str) -> None:
    async def main() -> None:
        async with service(tmp_path, LOOPBACK) as s:
            res = await s.client.post(f"{API}/timetables/feeds", json={"url": school.base + path},
                                      headers=s.auth("alice"))
            assert res.status == 201
            feed = await res.json()
            assert error in feed["last_error"] and feed["last_ok_at"] == "" and feed["last_result"] is None
            res = await s.client.get(f"{API}/timetables/feeds/{feed['feed_id']}", headers=s.auth("alice"))
            got = await res.json()
            assert got["last_error"] == feed["last_error"] and got["last_attempt_at"]
            assert (await (await s.client.get(f"{API}/classes", headers=s.auth("alice"))).json())["total"] == 0

    run(main)


def test_a_failed_reread_keeps_the_last_good_timetable(tmp_path: Path, school: CalendarServer) -> None:
    async def main() -> None:
        async with service(tmp_path, LOOPBACK) as s:
            feed = await (await s.client.post(f"{API}/timetables/feeds", json={"url": f"{school.base}/tt.ics"},
                                              headers=s.auth("alice"))).json()
            school.status = 503
            bad = await (await s.client.post(f"{API}/timetables/feeds/{feed['feed_id']}/refresh",
                                             headers=s.auth("alice"))).json()
            assert bad["last_error"] == "the feed answered HTTP 503" and bad["last_ok_at"] == feed["last_ok_at"]
            assert bad["last_result"] == feed["last_result"]
            assert (await (await s.client.get(f"{API}/classes", headers=s.auth("alice"))).json())["total"] == 1
            school.status = 200
            good = await (await s.client.post(f"{API}/timetables/feeds/{feed['feed_id']}/refresh",
                                              headers=s.auth("alice"))).json()
            assert good["last_error"] == ""

    run(main)


def test_stale_feeds_are_read_once_a_day_by_one_node(tmp_path: Path, school: CalendarServer) -> None:
    url = database_url(tmp_path)
    config = Config.model_validate({"store": {"url": url}, **LOOPBACK})
    now = [datetime(2030, 1, 1, 8, tzinfo=UTC)]
    stores = [Store(url), Store(url)]
    dbs = [ServiceStore(s) for s in stores]
    a, b = (Feeds(config, db, guard_for(config), now=lambda: now[0]) for db in dbs)

    async def main() -> None:
        first = await a.subscribe("alice", f"{school.base}/tt.ics")
        assert first.error == "" and school.hits == 1
        now[0] += timedelta(hours=12)
        assert await a.read_stale() == [] and await b.read_stale() == []  # read today already
        now[0] += timedelta(hours=12)
        results = await asyncio.gather(a.read_stale(), b.read_stale())  # two nodes run the daily job
        assert sorted(len(r) for r in results) == [0, 1] and school.hits == 2
        assert dbs[1].feed(first.feed.feed_id).last_ok_at == now[0].isoformat()  # type: ignore[union-attr]

    try:
        run(main)
    finally:
        for s in stores:
            s.close()


def test_serve_reads_stale_feeds_at_start_and_schedules_the_daily_read(tmp_path: Path,
                                                                      school: CalendarServer) -> None:
    url = database_url(tmp_path)
    config = Config.model_validate({"store": {"url": url}, **LOOPBACK})
    store = Store(url)
    db = ServiceStore(store)
    old = datetime.now(UTC) - timedelta(days=2)
    feeds = Feeds(config, db, guard_for(config), now=lambda: old)
    try:
        fid = run(lambda: feeds.subscribe("alice", f"{school.base}/tt.ics")).feed.feed_id
    finally:
        store.close()
    assert school.hits == 1

    async def main() -> None:
        async with service(tmp_path, LOOPBACK) as s:
            await until(lambda: school.hits == 2)
            await until(lambda: (s.db.feed(fid) or s.db.feed("x")).last_ok_at > old.isoformat())  # type: ignore[union-attr]
            job = s.client.server.app[schedules_key].scheduler.get_job("timetable_feeds")
            assert job is not None and job.next_run_time is not None

    run(main)


def test_the_cli_subscribes_lists_and_unsubscribes(tmp_path: Path, school: CalendarServer,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--set", f"store.url={database_url(tmp_path)}", "--set", "delivery.allow_networks=[127.0.0.0/8]"]
    assert main([*base, "timetable", "subscribe", f"{school.base}/tt.ics", "--owner", "rivera", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["feed"]["owner"] == "rivera" and len(out["applied"]["created"]) == 1
    assert main([*base, "timetable", "feeds"]) == 0
    listed = capsys.readouterr().out
    assert out["feed"]["feed_id"] in listed and "read 20" in listed
    assert main([*base, "timetable", "subscribe", f"{school.base}/page", "--owner", "rivera"]) == 1
    assert "not text/calendar" in capsys.readouterr().out
    assert main(["--set", f"store.url={database_url(tmp_path)}", "timetable", "subscribe",
                 f"{school.base}/tt.ics"]) == 2  # loopback without the allow-list
    assert "refused: loopback address" in capsys.readouterr().err
    assert main([*base, "timetable", "unsubscribe", out["feed"]["feed_id"]]) == 0
    assert main([*base, "timetable", "unsubscribe", out["feed"]["feed_id"]]) == 2
