"""Runs inside a network namespace: one of three students loses the network mid-class.

Ada and Cam publish from this process; Ben publishes from a child process that is then
killed (SIGKILL: no goodbye of any kind reaches the bot). The bot must keep sampling Ada
and Cam, sample Ben as no signal once his stream is stale (his frames stopped with no word
that his camera went off: the network, not the student), and stay in class. Prints
one JSON document with per-student observation times by state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

from analysis.store import Store
from bot.config import Config
from bot.connectors.classroom import ClassroomConnector
from bot.sessions.live import LiveSession
from bot.sim.fake_analyzer import RecordingAnalyzer
from bot.web.app import classroom_key, init_app
from tests.integration.outcome import per_student
from tests.integration.students import WhipStudent, load_clip

CODE = "geo-4"


async def main(a: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="cp-drop-"))
    config = Config.model_validate({
        "analysis": {"sample_interval_s": 0.5},
        "store": {"url": f"sqlite:///{tmp}/cp.db", "flush_s": 0.5},
        "session": {"media_timeout_s": 15, "stale_frame_s": 1.5},
    })
    store = Store(config.store.url)
    app = init_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, a.host, a.port).start()
    base = f"http://{a.host}:{a.port}"
    session = LiveSession(ClassroomConnector(app[classroom_key], CODE, "Geography", base), config, store,
                          analyze_factory=lambda: RecordingAnalyzer(), render=None)
    run = asyncio.ensure_future(session.run())
    await asyncio.wait_for(session.in_class.wait(), 30)
    ben = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.student_proc", base, CODE, "Ben", a.videos[1 % len(a.videos)],
        stdout=asyncio.subprocess.PIPE)  # PYTHONPATH and cwd come from the test
    assert ben.stdout is not None
    await asyncio.wait_for(ben.stdout.readline(), 30)
    out: dict[str, Any] = {}
    async with ClientSession() as http:
        ada = WhipStudent(base, CODE, "Ada", load_clip(a.videos[0], 10, (320, 240)))
        cam = WhipStudent(base, CODE, "Cam", load_clip(a.videos[2 % len(a.videos)], 10, (320, 240)))
        await ada.join(http)
        await cam.join(http)
        await asyncio.sleep(a.seconds)
        ben.kill()  # the network is gone: nothing more from Ben, not even a goodbye
        await ben.wait()
        out["dropped_at"] = session.sampler.now() if session.sampler else 0.0
        await asyncio.sleep(a.seconds)
        out["state_after_drop"] = session.state.value
        session.request_leave()
        result = await asyncio.wait_for(run, 30)
        await ada.leave(http)
        await cam.leave(http)
    await runner.cleanup()
    out.update(state=result.state.value, leave_reason=result.leave_reason,
               times=per_student(store, result.session_id)["times"])
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="198.18.0.1")
    p.add_argument("--port", type=int, default=8768)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("videos", nargs="+")
    json.dump(asyncio.run(main(p.parse_args())), sys.stdout, default=str)
