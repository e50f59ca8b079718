"""Receive workers for real (`classroom.receive_workers`): worker processes, real aiortc students
publishing over WHIP to the built-in classroom, the sampler fetching their frames, a worker killed,
clean-up. Misbehaving workers come from `tests.receive_worker_fakes`."""

from __future__ import annotations

import asyncio
import fractions
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from analysis.records import Observation
from analysis.store import Store
from bot.config import Config
from bot.connectors.base import Joined, Left, VideoOff, VideoOn
from bot.connectors.classroom import ClassroomConnector
from bot.sessions.lifecycle import State
from bot.sessions.live import LiveSession
from bot.sessions.sampler import Sampler
from bot.sim.fake_analyzer import RecordingAnalyzer
from bot.web.app import classroom_key, init_app, receive_pool_key
from bot.web.receive_pool import ReceivePool, ReceiveWorkerError, WorkerTrack
from bot.web.whip import WhipError
from tests.receive_worker_fakes import FAILURE
from tests.test_analysis_process import _child_processes
from tests.test_bot_web import SDP, drain

pytestmark = pytest.mark.component

SHM = Path("/dev/shm")
COLOURS = {"Ada": (40, 200, 90), "Ben": (200, 60, 160), "Cy": (120, 120, 230)}


def _segments() -> set[str]:
    return {p.name for p in SHM.iterdir() if p.name.startswith(f"cp_rw_{os.getpid()}_")}


class ColourCamera(MediaStreamTrack):
    """Frames of one colour with a moving white square at 15 fps, timestamped on the 90 kHz video
    clock as a browser's are (aiortc's encoder rates them by their timestamps)."""

    kind = "video"

    def __init__(self, colour: tuple[int, int, int], fps: float = 15.0) -> None:
        super().__init__()
        self.colour = np.array(colour, np.uint8)
        self.fps = fps
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        await asyncio.sleep(max(0.0, self._start + self.sent / self.fps - time.monotonic()))
        img = np.empty((240, 320, 3), np.uint8)
        img[:] = self.colour
        x = (self.sent * 4) % 312
        img[:8, x:x + 8] = 255  # moving: never a frozen stream
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts = int(self.sent * 90_000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90_000)
        self.sent += 1
        return frame


class Student:
    """A real aiortc publisher of one solid colour, as the join page would publish."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.camera = ColourCamera(COLOURS[name])
        self.location = ""

    async def join(self, client: TestClient[Any, Any], code: str = "maths") -> int:
        self.pc.addTransceiver(self.camera, direction="sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        res = await client.post(f"/whip/{code}", params={"name": self.name}, data=self.pc.localDescription.sdp,
                                headers=SDP)
        text = await res.text()
        if res.status == 201:
            self.location = res.headers["Location"]
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=text, type="answer"))
        return res.status

    async def close(self) -> None:
        self.camera.stop()
        await self.pc.close()


async def _until(cond: Callable[[], Any], within_s: float = 20.0, what: str = "condition") -> Any:
    for _ in range(int(within_s / 0.02)):
        got = cond()
        if got:
            return got
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} not reached within {within_s} s")


class Events:
    """The connector's events as they come (a student is announced at the first frame)."""

    def __init__(self, connector: ClassroomConnector) -> None:
        self.connector = connector
        self.seen: list[Any] = []

    async def wait(self, pred: Callable[[Any], bool], what: str) -> Any:
        def find() -> Any:
            self.seen += drain(self.connector)
            return next((e for e in self.seen if pred(e)), None)

        return await _until(find, what=what)


@asynccontextmanager
async def classroom(workers: int = 2, **extra: Any) -> AsyncIterator[tuple[TestClient[Any, Any], ClassroomConnector,
                                                                          ReceivePool]]:
    config = Config.model_validate({"classroom": {"max_students": 10, "first_media_timeout_s": 20,
                                                  "receive_workers": workers, **extra}})
    app = init_app(config)
    async with TestClient(TestServer(app)) as client:
        connector = ClassroomConnector(app[classroom_key], "maths", "Maths")
        await connector.join()
        try:
            yield client, connector, app[receive_pool_key]
        finally:
            await connector.leave()


def _maps(pid: int) -> str:
    return (Path("/proc") / str(pid) / "maps").read_text()


def _colour(arr: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in np.median(arr[20:, :, :].reshape(-1, 3), axis=0))


def _near(got: tuple[int, ...], want: tuple[int, ...], tol: int = 14) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(got, want, strict=True))


def test_students_are_received_in_workers_and_the_sampler_gets_their_pixels() -> None:
    analyze = RecordingAnalyzer()
    delivered: list[Observation] = []

    async def deliver(obs: list[Observation]) -> None:
        delivered.extend(obs)

    async def main() -> None:
        async with classroom(workers=2) as (client, connector, pool):
            events = Events(connector)
            students = [Student("Ada"), Student("Ben")]
            try:
                assert [await s.join(client) for s in students] == [201, 201]
                ons = {}
                for s in students:
                    joined = await events.wait(lambda e, n=s.name: isinstance(e, Joined) and e.display_name == n,
                                               f"{s.name} joined")
                    ons[s.name] = await events.wait(
                        lambda e, f=joined.feed_id: isinstance(e, VideoOn) and e.feed_id == f, f"{s.name}'s video")
                tracks = {n: on.track.inner for n, on in ons.items()}  # FirstFrameTrack → the worker's track
                assert all(isinstance(t, WorkerTrack) for t in tracks.values())
                assert tracks["Ada"].worker is not tracks["Ben"].worker, "offers go to the least loaded worker"
                for pid in pool.pids():
                    assert "libavcodec" in _maps(pid) and "tensorflow" not in _maps(pid)

                sampler = Sampler("s", analyze, deliver, ThreadPoolExecutor(1), interval_s=0.5)
                for n, on in ons.items():
                    sampler.join(n)
                    sampler.video_on(n, on.track)
                await _until(lambda: all(p["frames"] >= 5 for p in sampler.participants().values()),
                             what="five frames per student")
                run = asyncio.ensure_future(sampler.run())
                await _until(lambda: len(analyze.batches) >= 2, what="two ticks")
                seen = sampler.received()
                await sampler.stop()
                run.cancel()
                for sample in analyze.batches[-1]:
                    assert sample.frame is not None and sample.frame.shape == (240, 320, 3)
                    assert _near(_colour(sample.frame), COLOURS[sample.participant_id]), sample.participant_id
                stats = pool.fetch_stats  # one call per tick for both workers
                assert stats.fetches >= 2 and stats.frames >= 4 and stats.failed == 0
                assert stats.seconds > stats.worker_seconds > 0 and stats.seconds > stats.copy_seconds > 0
                assert seen["size_median"] == "320x240" and seen["fps_median"] > 5, seen

                health = await (await client.get("/healthz")).json()
                assert health["receive_workers"] == {"running": 2, "configured": 2, "restarts": 0}
                res = await client.delete(students[0].location)  # WHIP leave
                assert res.status == 200
                await events.wait(lambda e: isinstance(e, Left), "Ada left")
                await _until(lambda: len(tracks["Ada"].worker.peers) == 0, what="Ada's peer closed in her worker")
            finally:
                for s in students:
                    await s.close()

    asyncio.run(main())


def test_a_killed_worker_loses_only_its_students_who_come_back_on_a_live_worker(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "bot.web.receive_pool")

    async def main() -> None:
        async with classroom(workers=2) as (client, connector, pool):
            events = Events(connector)
            ada, ben = Student("Ada"), Student("Ben")
            again = Student("Ada")
            try:
                for s in (ada, ben):
                    assert await s.join(client) == 201
                ons = {}
                for s in (ada, ben):
                    j = await events.wait(lambda e, n=s.name: isinstance(e, Joined) and e.display_name == n, s.name)
                    ons[s.name] = await events.wait(lambda e, f=j.feed_id: isinstance(e, VideoOn) and e.feed_id == f,
                                                    f"{s.name}'s video")
                ada_worker = ons["Ada"].track.inner.worker
                loop = asyncio.get_running_loop()
                frame = await ons["Ada"].track.recv()
                await loop.run_in_executor(None, frame.to_ndarray)  # the worker now has a segment
                prefix = f"cp_rw_{os.getpid()}_{ada_worker.pid}_"
                assert any(n.startswith(prefix) for n in _segments())
                killed = ada_worker.pid
                os.kill(killed, signal.SIGKILL)

                off = await events.wait(lambda e: isinstance(e, VideoOff), "Ada's video lost")
                assert off == VideoOff(ons["Ada"].feed_id, fault=True), "our fault: no_signal, never camera off"
                assert not any(isinstance(e, Left) for e in events.seen)
                with pytest.raises(MediaStreamError):
                    await asyncio.wait_for(ons["Ada"].track.recv(), 5)  # her track ended
                await _until(lambda: not any(n.startswith(prefix) for n in _segments()),
                             what="the killed worker's segment unlinked")
                ben_frames = []
                for _ in range(3):  # Ben's worker goes on
                    ben_frames.append(await asyncio.wait_for(ons["Ben"].track.recv(), 10))
                assert ben_frames[-1].seq > ben_frames[0].seq

                await _until(lambda: pool.restarts == 1 and len(pool.pids()) == 2, what="the worker restarted")
                assert killed not in pool.pids()
                await _until(lambda: f"(pid {killed}) died (killed by signal 9): its 1 students" in caplog.text,
                             what="the loss logged")

                assert await again.join(client) == 201  # Ada's page offers again
                first = {id(on.track) for on in ons.values()}
                back = await events.wait(lambda e: isinstance(e, VideoOn) and id(e.track) not in first, "Ada back")
                assert back.feed_id == ons["Ada"].feed_id, "the same student, not a second Ada"
                assert sum(isinstance(e, Joined) for e in events.seen) == 2
                assert (await asyncio.wait_for(back.track.recv(), 10)).width == 320
            finally:
                for s in (ada, ben, again):
                    await s.close()

    asyncio.run(main())


def test_closing_the_app_leaves_no_process_segment_or_thread() -> None:
    before_threads = {t.ident for t in threading.enumerate()}
    before_children = _child_processes()
    before_segments = _segments()

    async def main() -> list[int]:
        async with classroom(workers=2) as (client, connector, pool):
            events = Events(connector)
            s = Student("Cy")
            try:
                assert await s.join(client) == 201
                on = await events.wait(lambda e: isinstance(e, VideoOn), "Cy's video")
                frame = await on.track.recv()
                with ThreadPoolExecutor(1) as ex:
                    arr = await asyncio.get_running_loop().run_in_executor(ex, frame.to_ndarray)
                assert _near(_colour(arr), COLOURS["Cy"])
                assert len(_segments() - before_segments) == 1
                pids = pool.pids()
            finally:
                await s.close()
        return pids

    pids = asyncio.run(main())
    assert len(pids) == 2
    assert not any(Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
                   for pid in pids), "every worker is reaped"
    assert _child_processes() <= before_children
    assert _segments() <= before_segments
    left = [t.name for t in threading.enumerate() if t.ident not in before_threads]
    assert not left, f"threads left behind: {left}"


def test_a_worker_that_cannot_start_says_why_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _child_processes()

    async def start(**kw: Any) -> None:
        pool = ReceivePool(2, **kw)
        try:
            await pool.start()
        finally:
            await pool.close()

    monkeypatch.setenv("CP_FAKE_RECEIVE_WORKER", "fail")
    with pytest.raises(ReceiveWorkerError, match=r"receive worker 0 .*could not start: RuntimeError: no VP8 decoder"):
        asyncio.run(start(module="tests.receive_worker_fakes"))
    with pytest.raises(ReceiveWorkerError, match=r"ended while starting \(exit code 1\)"):
        asyncio.run(start(python="/bin/false"))
    monkeypatch.setenv("CP_FAKE_RECEIVE_WORKER", "silent")
    with pytest.raises(ReceiveWorkerError, match=r"did not start within 0\.5 s"):
        asyncio.run(start(module="tests.receive_worker_fakes", start_timeout_s=0.5))
    assert _child_processes() <= before
    assert FAILURE.endswith("no VP8 decoder in this PyAV")


def test_the_app_does_not_start_when_its_workers_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CP_FAKE_RECEIVE_WORKER", "fail")
    monkeypatch.setattr(ReceivePool, "__init__", _failing_pool_init)

    async def main() -> None:
        server = TestServer(init_app(Config.model_validate({"classroom": {"receive_workers": 1}})))
        try:
            await server.start_server()
        finally:
            await server.close()

    with pytest.raises(ReceiveWorkerError, match="could not start: RuntimeError: no VP8 decoder"):
        asyncio.run(main())


_real_init = ReceivePool.__init__


def _failing_pool_init(self: ReceivePool, workers: int, **kw: Any) -> None:
    _real_init(self, workers, module="tests.receive_worker_fakes", **kw)


def test_bad_messages_either_way_stop_the_worker_with_a_clear_error_and_it_restarts(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.WARNING, "bot.web.receive_pool")
    delays: list[float] = []

    async def sleep(s: float) -> None:
        delays.append(s)
        if len(delays) >= 2:
            await asyncio.Event().wait()  # the test has seen the back-off: stop restarting here

    async def garbage() -> None:
        pool = ReceivePool(1, module="tests.receive_worker_fakes", sleep=sleep)
        try:
            await pool.start()
            await _until(lambda: len(delays) >= 2, what="two restarts backing off")
        finally:
            await pool.close()

    monkeypatch.setenv("CP_FAKE_RECEIVE_WORKER", "garbage")
    asyncio.run(garbage())
    assert "bad message from receive worker 0" in caplog.text and "unknown kind 'explode'" in caplog.text
    assert delays == [1.0, 2.0], "a crash loop backs off (the first restart is at once)"

    async def from_the_bot() -> None:
        pool = ReceivePool(1)
        try:
            await pool.start()
            [worker] = [w for w in pool.workers if w is not None]
            first = worker.pid
            worker.send(("explode",))
            await _until(lambda: pool.restarts == 1 and pool.pids() and pool.pids()[0] != first,
                         what="the worker restarted")
        finally:
            await pool.close()

    asyncio.run(from_the_bot())
    err = capfd.readouterr().err
    assert "bad message from the bot: unknown kind 'explode': stopping" in err


def test_a_session_records_a_killed_workers_students_as_no_signal_and_keeps_one_student(tmp_path: Path) -> None:
    """The whole live path: a session over the classroom with workers; Ada's worker is killed, her page
    offers again. Our fault is `no_signal` (never `camera_off`, never `left`), and Ada stays one student."""
    config = Config.model_validate({
        "analysis": {"sample_interval_s": 0.2},
        "store": {"url": f"sqlite:///{tmp_path}/cp.db", "flush_s": 0.1},
        "classroom": {"max_students": 10, "first_media_timeout_s": 20, "receive_workers": 2},
        "session": {"join_timeout_s": 5, "empty_timeout_s": 60, "nobody_timeout_s": 60, "media_timeout_s": 30}})
    store = Store(config.store.url)

    def states(result_id: str, name: str) -> list[str]:
        people = {p.display_name: p.participant_id for p in store.participants(result_id)}
        return [o.state.value for o in store.observations(result_id, people[name])] if name in people else []

    async def main() -> Any:
        app = init_app(config)
        async with TestClient(TestServer(app)) as client:
            pool = app[receive_pool_key]
            live = LiveSession(ClassroomConnector(app[classroom_key], "maths", "Maths"), config, store,
                               class_name="Maths", analyze_factory=RecordingAnalyzer, render=None)
            run = asyncio.ensure_future(live.run())
            ada, ben, again = Student("Ada"), Student("Ben"), Student("Ada")
            try:
                await _until(lambda: live.session_id is not None and live.state is State.IN_CLASS, what="in class")
                for s in (ada, ben):
                    assert await s.join(client) == 201
                sid = live.session_id
                assert sid is not None
                await _until(lambda: len(states(sid, "Ada")) >= 3 and len(states(sid, "Ben")) >= 3, what="samples")
                room = app[classroom_key].room("maths")
                [ada_pub] = [p for p in room.publishers.values() if p.name == "Ada"]
                os.kill(ada_pub.peer.worker.pid, signal.SIGKILL)
                await _until(lambda: states(sid, "Ada")[-3:] == ["no_signal"] * 3, what="Ada no_signal")
                await _until(lambda: pool.restarts == 1, what="restart")
                assert await again.join(client) == 201
                await _until(lambda: states(sid, "Ada")[-1] != "no_signal", what="Ada back")
                live.request_leave()
                return await asyncio.wait_for(run, 30)
            finally:
                for s in (ada, ben, again):
                    await s.close()

    result = asyncio.run(main())
    assert sorted(p.display_name for p in store.participants(result.session_id)) == ["Ada", "Ben"]
    *ada_states, ada_end = states(result.session_id, "Ada")  # everybody's last state: the class ended
    assert ada_end == "left"
    assert "no_signal" in ada_states and "camera_off" not in ada_states and "left" not in ada_states, ada_states
    assert ada_states[-1] == "absent"  # the fake analyser finds no face: video arrives again
    *ben_states, _ = states(result.session_id, "Ben")
    assert set(ben_states) == {"absent"}, "the other worker's student never noticed"


def test_offers_without_a_live_or_answering_worker_are_503_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    async def offer(pool: ReceivePool) -> WhipError:
        with pytest.raises(WhipError) as err:
            await pool("v=0\r\n", lambda track: None, lambda: None)
        return err.value

    async def main() -> None:
        pool = ReceivePool(1, module="tests.receive_worker_fakes", offer_timeout_s=0.3, stop_wait_s=0.3)
        not_started = await offer(pool)
        assert not_started.status == 503 and not_started.retry_after_s
        await pool.start()
        try:
            stuck = await offer(pool)  # the worker never answers
            assert stuck.status == 503 and stuck.retry_after_s and "try again" in stuck.message
            [worker] = [w for w in pool.workers if w is not None]
            assert worker.peers == {}, "an offer that timed out holds nothing"
        finally:
            await pool.close()
        closed = await offer(pool)
        assert closed.status == 503

    monkeypatch.setenv("CP_FAKE_RECEIVE_WORKER", "mute")
    asyncio.run(main())
