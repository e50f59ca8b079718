"""Runs inside a network namespace: a headless Chromium student joins the built-in classroom.

The bot serves its classroom on every address of the namespace; Chromium opens the join
page at http://127.0.0.1 (a secure context, so `getUserMedia` works), types a name and
shares its fake camera (a y4m of a real face). ICE uses the namespace's veth address.
The session runs the real analyser; prints one JSON document of what the store holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.async_api import async_playwright

from analysis.store import Store
from bot.config import Config
from bot.connectors.classroom import ClassroomConnector
from bot.sessions.analyzer import analyzer_factory
from bot.sessions.live import LiveSession
from bot.web.app import classroom_key, init_app
from tests.integration.chromium import CHROMIUM, launch_args
from tests.integration.outcome import per_student

CODE = "bio-3"
NAME = "Zoë Chromium"


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="cp-chromium-"))
    config = Config.model_validate({
        "store": {"url": f"sqlite:///{tmp}/cp.db", "flush_s": 0.5},
        "reports": {"out_dir": str(tmp / "reports"), "formats": ["html"]},
        "session": {"media_timeout_s": 30},
    })
    store = Store(config.store.url)
    app = init_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", args.port).start()  # every address: 127.0.0.1 for the page, the veth for ICE
    base = f"http://127.0.0.1:{args.port}"
    session = LiveSession(ClassroomConnector(app[classroom_key], CODE, "Biology 3", base), config, store,
                          class_name="Biology 3", analyze_factory=analyzer_factory(config), render=None)
    run = asyncio.ensure_future(session.run())
    out: dict[str, Any] = {}
    try:
        await asyncio.wait_for(session.in_class.wait(), 90)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=launch_args(Path(args.y4m)))
            page = await browser.new_page()
            await page.goto(f"{base}/join/{CODE}")
            out["notice"] = await page.text_content("#notice")
            await page.fill("#name", NAME)
            await page.click("#share")
            await page.wait_for_function(
                "document.getElementById('status').textContent.includes('connected')", timeout=30_000)
            await asyncio.sleep(args.seconds)
            out["page_status"] = await page.text_content("#status")
            await page.click("#leave")
            await page.wait_for_function(
                "document.getElementById('status').textContent.includes('left')", timeout=10_000)
            await browser.close()
        await asyncio.sleep(1.0)
        out["progress"] = session.progress()
    finally:
        session.request_leave()
        result = await asyncio.wait_for(run, 60)
        await runner.cleanup()
    seen = per_student(store, result.session_id)
    out.update(state=result.state.value, failure=result.failure, counts=seen["counts"],
               frames=session.sampler.stats.frames if session.sampler else 0, present=seen["present"])
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8767)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("y4m")
    json.dump(asyncio.run(main(p.parse_args())), sys.stdout, default=str)
