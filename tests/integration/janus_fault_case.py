"""Runs inside a network namespace: Janus restarts mid-class for about ten seconds.

This script owns the Janus process (started from the project's test config), so it can stop
it (SIGTERM, as a service restart does) and start it again. Ada and Ben publish and behave
like janus.js clients: when their Janus session is lost they wait for Janus and join and
publish again (with new feed ids). Cy publishes and then really turns the camera off
(VideoRoom ``unpublish``) before the restart, the control case: her camera-off must stay
camera off. The bot runs the production `LiveSession` + `JanusConnector` with the fake
analyser (the question is which state a sample gets, not what a face shows). Prints one
JSON document: per-student states and times, the outage window on the session's clock,
the store's summaries and the class report's data-quality facts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from analysis.aggregate import summarize
from analysis.store import Store
from bot.connectors.janus import JanusConnector
from bot.connectors.janus_client import TransportError
from bot.connectors.janus_protocol import JanusError, JanusTarget, parse_target
from bot.sessions.live import LiveSession
from bot.sim.fake_analyzer import RecordingAnalyzer
from reports.context import build_reports
from tests.integration.janus_case import BASE, JanusStudent, make_config, wait_for_janus
from tests.integration.outcome import per_student
from tests.integration.students import load_clip


class Janus:
    def __init__(self, binary: str, conf: str, log: Path) -> None:
        self.cmd = [binary, "-F", conf, "-C", f"{conf}/janus.jcfg"]
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(*self.cmd, stdout=log, stderr=subprocess.STDOUT)
        await wait_for_janus()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()  # a service restart: Janus hangs up its peer connections and exits
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class RejoiningStudent:
    """A student whose client rejoins and republishes whenever its Janus session is lost."""

    def __init__(self, target: JanusTarget, name: str, frames: list[np.ndarray]) -> None:
        self.target, self.name, self.frames = target, name, frames
        self.current: JanusStudent | None = None
        self.camera_on = True
        self.rejoins = 0
        self.task: asyncio.Task[None] | None = None
        self.joined = asyncio.Event()  # in the room (and publishing while the camera is on)

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._stay())

    async def ready(self) -> None:
        await self.joined.wait()

    async def _stay(self) -> None:
        while True:
            student = JanusStudent(self.target, self.name, self.frames if self.camera_on else None)
            try:
                await student.join()
                self.current = student
                self.joined.set()
                assert student.poll is not None
                await student.poll  # ends with an error when the Janus session is gone
            except (TransportError, JanusError, OSError):
                pass
            self.joined.clear()
            self.current = None
            if student.pc is not None:
                await student.pc.close()
            if student.poll is not None:
                student.poll.cancel()
            with contextlib.suppress(Exception):
                await student.client.close()
            self.rejoins += 1
            with contextlib.suppress(RuntimeError):
                await wait_for_janus(60)
            await asyncio.sleep(0.5)

    async def camera_off(self) -> None:
        """The student stops publishing (VideoRoom `unpublish`): a camera really turned off."""
        self.camera_on = False
        s = self.current
        assert s is not None and s.pc is not None
        await s.client.message(s.handle, {"request": "unpublish"})
        await s.pc.close()
        s.pc = None

    async def leave(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        if self.current is not None:
            with contextlib.suppress(Exception):
                await self.current.leave()


async def run(a: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="cp-janus-fault-"))
    janus = Janus(a.janus, a.conf, tmp / "janus.log")
    await janus.start()
    config = make_config(tmp)
    store = Store(config.store.url)
    target = parse_target(f"{BASE}?room=1234&pin=letmein")
    clips = [load_clip(v, 10, (320, 240)) for v in a.videos[:3]]
    crowd = {name: RejoiningStudent(target, name, clips[i % len(clips)]) for i, name in enumerate(("Ada", "Ben", "Cy"))}
    for s in crowd.values():
        s.start()
    for s in crowd.values():
        await asyncio.wait_for(s.ready(), 30)
    session = LiveSession(JanusConnector(target, config), config, store, class_name="Janus restart",
                          analyze_factory=lambda: RecordingAnalyzer(), render=None)
    run_task = asyncio.ensure_future(session.run())
    await asyncio.wait_for(session.in_class.wait(), 30)
    await asyncio.sleep(6)
    assert session.sampler is not None
    out: dict[str, Any] = {"camera_off_at": session.sampler.now()}
    await crowd["Cy"].camera_off()
    await asyncio.sleep(6)
    out["outage_from"] = session.sampler.now()
    await janus.stop()
    await asyncio.sleep(a.outage)
    await janus.start()
    out["janus_back"] = session.sampler.now()
    for name in ("Ada", "Ben"):
        await asyncio.wait_for(crowd[name].ready(), 30)
    await asyncio.sleep(12)
    out["progress"] = session.progress()
    session.request_leave()
    result = await asyncio.wait_for(run_task, 30)
    for s in crowd.values():
        await s.leave()
    await janus.stop()
    seen = per_student(store, result.session_id)
    names = {p.participant_id: p.display_name for p in store.participants(result.session_id)}
    sums = summarize(store.observations(result.session_id))
    reports = build_reports(store.session(result.session_id), store.participants(result.session_id),
                            store.observations(result.session_id))
    out.update(
        state=result.state.value, leave_reason=result.leave_reason, times=seen["times"], counts=seen["counts"],
        rejoins={n: s.rejoins for n, s in crowd.items()},
        summaries={names[pid]: {"camera_off_s": s.camera_off_s,
                                "no_signal_s": sum(b - a for a, b in s.no_signal_periods),
                                "left_at": list(s.left_at), "gap_s": s.gap_s} for pid, s in sums.items()},
        class_quality={f.label: f.value for f in reports.class_report.quality})
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--janus", required=True)
    p.add_argument("--conf", required=True)
    p.add_argument("--outage", type=float, default=10.0)
    p.add_argument("videos", nargs="+")
    json.dump(asyncio.run(run(p.parse_args())), sys.stdout, default=str)
