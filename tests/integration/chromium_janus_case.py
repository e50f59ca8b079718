"""Runs inside a network namespace with Janus on 127.0.0.1:8088: Chromium publishes into room 1234.

A small aiohttp server serves a static publisher page (pages/janus_publish.html) and proxies
/janus to Janus, so the page talks to Janus from its own origin (http://127.0.0.1, a secure
context). The bot joins the room with the Janus connector and the real analyser; prints
one JSON document of what the store holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web
from playwright.async_api import async_playwright

from analysis.store import Store
from bot.config import Config
from bot.connectors.janus import JanusConnector
from bot.connectors.janus_protocol import parse_target
from bot.sessions.analyzer import analyzer_factory
from bot.sessions.live import LiveSession
from tests.integration.chromium import CHROMIUM, launch_args
from tests.integration.janus_case import BASE, wait_for_janus
from tests.integration.outcome import per_student

PAGE = Path(__file__).with_name("pages") / "janus_publish.html"
JANUS_HTTP = "http://127.0.0.1:8088"
NAME = "Yusuf Chromium"


def page_server() -> web.Application:
    """The publisher page plus a same-origin pass-through to Janus's HTTP API."""
    app = web.Application()
    http: dict[str, ClientSession] = {}

    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE)

    async def proxy(request: web.Request) -> web.Response:
        async with http["s"].request(request.method, JANUS_HTTP + request.path_qs, data=await request.read()) as r:
            return web.Response(body=await r.read(), status=r.status, content_type="application/json")

    async def client(_: web.Application) -> AsyncIterator[None]:
        http["s"] = ClientSession()
        yield
        await http["s"].close()

    app.cleanup_ctx.append(client)
    app.router.add_get("/", page)
    app.router.add_route("*", "/janus{tail:.*}", proxy)
    return app


async def main(args: argparse.Namespace) -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("bot.connectors.janus").setLevel(logging.INFO)  # layer requests, for the test
    await wait_for_janus()
    tmp = Path(tempfile.mkdtemp(prefix="cp-chromium-janus-"))
    room = 4321 if args.simulcast else 1234
    config = Config.model_validate({
        "store": {"url": f"sqlite:///{tmp}/cp.db", "flush_s": 0.5},
        "session": {"join_timeout_s": 10, "media_timeout_s": 30},
        # the clip's face is ~220 px wide at 640x480: a 200 px floor needs the upper layer
        "janus": {"substream": 0, "min_face_px": args.min_face_px, "receive_workers": args.receive_workers},
    })
    store = Store(config.store.url)
    runner = web.AppRunner(page_server())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    connector = JanusConnector(parse_target(f"{BASE}?room={room}&pin=letmein"), config)
    session = LiveSession(connector, config, store,
                          class_name="Chemistry", analyze_factory=analyzer_factory(config), render=None)
    run = asyncio.ensure_future(session.run())
    out: dict[str, Any] = {}
    try:
        await asyncio.wait_for(session.in_class.wait(), 90)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=launch_args(Path(args.y4m)))
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{args.port}/")
            await page.evaluate("([r, n, s]) => publish(r, 'letmein', n, s)", [room, NAME, args.simulcast])
            await page.wait_for_function(
                "document.getElementById('status').textContent === 'connection connected'", timeout=30_000)
            sizes: list[str] = []  # the received frame size, twice a second: which layer arrives
            pool = connector._pool
            out["receive_workers"] = len(pool.pids()) if pool is not None else 0
            for tick in range(int(args.seconds * 2)):
                await asyncio.sleep(0.5)
                if pool is not None and args.kill_worker_at and tick == int(args.kill_worker_at * 2):
                    # the worker holding the student's peer dies: our side, so no_signal, then back
                    holder = next(w for w in pool.workers if w is not None and w.peers)
                    os.kill(holder.pid, signal.SIGKILL)
                    out["killed_at"] = session.sampler.now() if session.sampler else None
                size = session.sampler.received()["size_median"] if session.sampler else None
                if size is not None and (not sizes or sizes[-1] != size):
                    sizes.append(size)
            out["sizes"] = sizes
            out["page_status"] = await page.text_content("#status")
            out["progress"] = session.progress()
            await browser.close()
    finally:
        session.request_leave()
        result = await asyncio.wait_for(run, 60)
        await runner.cleanup()
    seen = per_student(store, result.session_id)
    out.update(state=result.state.value, failure=result.failure, counts=seen["counts"], times=seen["times"],
               frames=session.sampler.stats.frames if session.sampler else 0, present=seen["present"])
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8769)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--simulcast", action="store_true", help="publish two layers into room 4321")
    p.add_argument("--min-face-px", type=float, default=120.0)
    p.add_argument("--receive-workers", type=int, default=0)
    p.add_argument("--kill-worker-at", type=float, default=0.0, help="seconds after connecting (with workers)")
    p.add_argument("y4m")
    json.dump(asyncio.run(main(p.parse_args())), sys.stdout, default=str)
