"""Runs inside a network namespace: the bot's classroom server, a live session, three students.

Ada is there from the start, Ben leaves early (WHIP DELETE), Cam joins late; a malformed
request comes in meanwhile. Prints one JSON document that the test checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from aiohttp import ClientSession, web

from analysis.store import Store
from bot.config import Config
from bot.connectors.classroom import ClassroomConnector
from bot.sessions.analyzer import analyzer_factory
from bot.sessions.live import LiveSession
from bot.sim.fake_analyzer import RecordingAnalyzer
from bot.web.app import classroom_key, init_app
from tests.integration.outcome import per_student
from tests.integration.students import WhipStudent, load_clip


async def main(args: argparse.Namespace) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="cp-classroom-"))
    config = Config.model_validate({
        "analysis": {"sample_interval_s": 0.5},
        "store": {"url": f"sqlite:///{tmp}/cp.db", "flush_s": 0.5},
        "reports": {"out_dir": str(tmp / "reports"), "formats": ["html"]},
        "classroom": {"host": args.host, "port": args.port},
        "session": {"media_timeout_s": 15},
    })
    store = Store(config.store.url)
    app = init_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    base = f"http://{args.host}:{args.port}"
    connector = ClassroomConnector(app[classroom_key], "algebra-1", "Algebra 1", base)
    factory = analyzer_factory(config) if args.real else (lambda: RecordingAnalyzer())
    session = LiveSession(connector, config, store, class_name="Algebra 1", analyze_factory=factory,
                          render=None)
    run = asyncio.ensure_future(session.run())
    await asyncio.wait_for(session.in_class.wait(), 30)
    clips = args.videos
    frames = [load_clip(c, 10, (320, 240)) for c in clips[:3]]
    out: dict[str, object] = {}
    async with ClientSession() as http:
        ada = WhipStudent(base, "algebra-1", "Ada", frames[0])
        ben = WhipStudent(base, "algebra-1", "Ben", frames[1 % len(frames)])
        await ada.join(http)
        await ben.join(http)
        async with http.post(f"{base}/whip/algebra-1", params={"name": "Eve"}, data="v=0\r\nnonsense",
                             headers={"Content-Type": "application/sdp"}) as res:
            out["malformed_status"] = res.status
        await asyncio.sleep(args.seconds * 0.4)
        cam = WhipStudent(base, "algebra-1", "Cam", frames[2 % len(frames)])
        await cam.join(http)
        await asyncio.sleep(args.seconds * 0.2)
        out["ben_delete_status"] = await ben.leave(http)
        await asyncio.sleep(args.seconds * 0.4)
        out["progress"] = session.progress()
        session.request_leave()
        result = await asyncio.wait_for(run, 30)
        await ada.leave(http)
        await cam.leave(http)
    await runner.cleanup()
    seen = per_student(store, result.session_id)
    out.update(state=result.state.value, failure=result.failure, leave_reason=result.leave_reason,
               counts=seen["counts"], first_t=seen["first_t"], last_t=seen["last_t"],
               samples=result.samples, dropped=result.dropped,
               frames=session.sampler.stats.frames if session.sampler else 0, present=seen["present"])
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="198.18.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--real", action="store_true", help="use the real analyser (TensorFlow)")
    p.add_argument("videos", nargs="+")
    json.dump(asyncio.run(main(p.parse_args())), sys.stdout)
