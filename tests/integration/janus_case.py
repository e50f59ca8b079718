"""Runs inside a network namespace with Janus listening on 127.0.0.1:8088 there.

Modes:
  class     the bot in room 1234; Ada and Ben publish from the start, Dan sits in with his
            camera off, Cam comes late, Ben leaves early. Prints what the store holds.
  empty     Ada publishes, then leaves: the bot leaves the empty room by itself.
  refused   sessions that must fail: wrong PIN, unknown room, nothing listening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from analysis.store import Store
from bot.config import Config
from bot.connectors.janus import JanusConnector
from bot.connectors.janus_client import HttpTransport, JanusClient
from bot.connectors.janus_protocol import JanusTarget, parse_target
from bot.sessions.live import LiveSession
from bot.sim.fake_analyzer import RecordingAnalyzer
from tests.integration.outcome import per_student
from tests.integration.students import ClipTrack, load_clip

BASE = "janus+http://127.0.0.1:8088/janus"


async def wait_for_janus(seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get("http://127.0.0.1:8088/janus/info") as res:
                    if res.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("Janus did not come up")
            await asyncio.sleep(0.2)


class JanusStudent:
    """A student in the room through the same client the bot uses; publishes a clip or nothing."""

    def __init__(self, target: JanusTarget, name: str, frames: list[np.ndarray] | None) -> None:
        self.client = JanusClient(HttpTransport(target.base_url), target)
        self.target = target
        self.name = name
        self.frames = frames
        self.pc: RTCPeerConnection | None = None
        self.poll: asyncio.Task[None] | None = None

    async def join(self) -> None:
        await self.client.create()
        self.handle = await self.client.attach()
        self.poll = asyncio.ensure_future(self.client.poll_forever())
        await self.client.message(self.handle, {"request": "join", "ptype": "publisher", "room": self.target.room,
                                                "display": self.name, "pin": self.target.pin})
        if self.frames is None:
            return  # camera off: an attendee
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTransceiver(ClipTrack(self.frames, 10), direction="sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        _, jsep = await self.client.message(self.handle, {"request": "publish"},
                                            {"type": "offer", "sdp": self.pc.localDescription.sdp})
        assert jsep is not None
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="answer"))

    async def leave(self) -> None:
        try:
            await self.client.message(self.handle, {"request": "leave"})
        finally:
            if self.pc is not None:
                await self.pc.close()
            if self.poll is not None:
                self.poll.cancel()
            await self.client.destroy()
            await self.client.close()


def make_config(tmp: Path, **session: float) -> Config:
    return Config.model_validate({
        "analysis": {"sample_interval_s": 0.5},
        "store": {"url": f"sqlite:///{tmp}/cp.db", "flush_s": 0.5},
        "session": {"join_timeout_s": 8, "media_timeout_s": 15, **session},
        "janus": {"request_timeout_s": 5},
    })


async def run_class(videos: list[str], seconds: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="cp-janus-"))
    config = make_config(tmp)
    store = Store(config.store.url)
    target = parse_target(f"{BASE}?room=1234&pin=letmein")
    frames = [load_clip(v, 10, (320, 240)) for v in videos[:3]]
    ada = JanusStudent(target, "Ada", frames[0])
    ben = JanusStudent(target, "Ben", frames[1 % len(frames)])
    dan = JanusStudent(target, "Dan", None)
    for s in (ada, ben, dan):
        await s.join()
    session = LiveSession(JanusConnector(target, config), config, store, class_name="Janus class",
                          analyze_factory=lambda: RecordingAnalyzer(), render=None)
    run = asyncio.ensure_future(session.run())
    await asyncio.sleep(seconds * 0.4)
    cam = JanusStudent(target, "Cam", frames[2 % len(frames)])
    await cam.join()
    await asyncio.sleep(seconds * 0.2)
    await ben.leave()
    await asyncio.sleep(seconds * 0.4)
    progress = session.progress()
    session.request_leave()
    result = await asyncio.wait_for(run, 30)
    for s in (ada, cam, dan):
        await s.leave()
    seen = per_student(store, result.session_id)
    return {"state": result.state.value, "failure": result.failure, "leave_reason": result.leave_reason,
            "counts": seen["counts"], "first_t": seen["first_t"], "last_t": seen["last_t"], "progress": progress,
            "frames": session.sampler.stats.frames if session.sampler else 0,
            "source": store.session(result.session_id).source}


async def run_empty(videos: list[str], seconds: float) -> dict[str, Any]:
    """Ada is in the room, then leaves; the bot must leave by itself once the room stays empty."""
    tmp = Path(tempfile.mkdtemp(prefix="cp-janus-"))
    config = make_config(tmp, empty_timeout_s=3.0)
    store = Store(config.store.url)
    target = parse_target(f"{BASE}?room=1234&pin=letmein")
    ada = JanusStudent(target, "Ada", load_clip(videos[0], 10, (320, 240)))
    await ada.join()
    session = LiveSession(JanusConnector(target, config), config, store, class_name="Janus class",
                          analyze_factory=lambda: RecordingAnalyzer(), render=None)
    run = asyncio.ensure_future(session.run())
    await asyncio.sleep(seconds)
    await ada.leave()
    left_at = time.monotonic()
    result = await asyncio.wait_for(run, 30)  # nobody asks the bot to leave
    samples = sum(1 for o in store.observations(result.session_id) if o.state.value == "absent")
    return {"state": result.state.value, "leave_reason": result.leave_reason, "video_samples": samples,
            "left_after_s": time.monotonic() - left_at, "in_room": session.progress()["present"]}


async def run_refused() -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="cp-janus-"))
    config = make_config(tmp)
    store = Store(config.store.url)
    out: dict[str, Any] = {}
    for case, url in {"wrong_pin": f"{BASE}?room=1234&pin=guess",
                      "no_room": f"{BASE}?room=999&pin=letmein",
                      "nothing_there": "janus+http://127.0.0.1:9/janus?room=1234"}.items():
        session = LiveSession(JanusConnector(parse_target(url), config), config, store,
                              analyze_factory=lambda: RecordingAnalyzer(), render=None)
        result = await asyncio.wait_for(session.run(), 30)
        out[case] = {"state": result.state.value, "failure": result.failure, "detail": result.detail}
    out["sessions_stored"] = len(store.sessions())
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["class", "refused", "empty"])
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("videos", nargs="*")
    a = p.parse_args()

    async def main() -> dict[str, Any]:
        await wait_for_janus()
        if a.mode == "empty":
            return await run_empty(a.videos, a.seconds)
        return await (run_class(a.videos, a.seconds) if a.mode == "class" else run_refused())

    json.dump(asyncio.run(main()), sys.stdout, default=str)
