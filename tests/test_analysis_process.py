"""The analyser in its own process: shared-memory frames, same answers, crash and restart, cleanup.

The fast tests run a fake analyser (`tests.analysis_fakes`) in the child: no TensorFlow. The
one test with the real analyser is marked slow.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from analysis.pipeline import Sample
from analysis.records import Observation, State
from bot.bench.resources import children
from bot.config import Config, load_config
from bot.sessions.analysis_child import NICE
from bot.sessions.analysis_process import AnalysisProcess, AnalysisProcessDied, AnalysisProcessError
from bot.sessions.frame_arena import ArenaReader, FrameArena, layout
from tests.analysis_fakes import CRASH_ID, FrameEcho, broken, failing, frame_echo

# Each test starts real analysis processes (a fresh interpreter each): component tests.
pytestmark = pytest.mark.component

SHM = Path("/dev/shm")


def _frames(seed: int, *shapes: tuple[int, int]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]


def _tick(t: float, frames: Sequence[np.ndarray | None], ids: list[str] | None = None) -> list[Sample]:
    ids = ids or [f"p{i}" for i in range(len(frames))]
    return [Sample("s1", pid, t, f) for pid, f in zip(ids, frames, strict=True)]


def _segments() -> set[str]:
    return {p.name for p in SHM.iterdir() if p.name.startswith("psm_")}


def _child_processes() -> set[int]:
    """Our child processes, without multiprocessing's resource tracker (one per process, for good)."""
    out = set()
    for pid in children(os.getpid()):
        try:
            cmd = (Path("/proc") / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmd:
            out.add(pid)
    return out


@pytest.fixture
def proc() -> Iterator[AnalysisProcess]:
    p = AnalysisProcess(frame_echo, call_timeout_s=60)
    yield p
    p.close()


def test_arena_packs_frames_into_aligned_slots_and_grows() -> None:
    slots, need = layout([(2, 3, 3), (4, 4, 3)])
    assert [s.offset for s in slots] == [0, 64] and need == 64 + 64
    arena, reader = FrameArena(), ArenaReader()
    try:
        small = _frames(1, (4, 6), (8, 8))
        name, slots = arena.pack(small)
        assert all(np.array_equal(a, b) for a, b in zip(reader.frames(name, slots), small, strict=True))
        first_size = arena.size
        big = _frames(2, (48, 64), (48, 64), (30, 40))
        name2, slots2 = arena.pack(big)
        assert name2 != name and arena.size > first_size and arena.grown == 2
        assert not (SHM / name.lstrip("/")).exists(), "the outgrown segment must be unlinked at once"
        views = reader.frames(name2, slots2)
        assert all(np.array_equal(a, b) for a, b in zip(views, big, strict=True))
        assert not views[0].flags.writeable
        name3, _ = arena.pack(_frames(3, (8, 8)))  # a smaller tick reuses the segment
        assert name3 == name2
        with pytest.raises(ValueError, match="uint8"):
            arena.pack([np.zeros((2, 2, 3), np.float32)])
    finally:
        reader.close()
        arena.close()
    assert not (SHM / name2.lstrip("/")).exists()


def test_same_observations_as_in_process_through_shared_memory(proc: AnalysisProcess) -> None:
    local = FrameEcho()
    ticks = [
        _tick(1.0, [*_frames(1, (480, 640), (480, 640), (240, 320)), None]),
        _tick(2.0, [*_frames(2, (720, 1280), (480, 640)), np.zeros((480, 640, 3), np.uint8), None]),
        _tick(3.0, [None, None, None, None]),  # nobody has video: no segment needed
        _tick(4.0, _frames(4, *[(480, 640)] * 12), [f"p{i}" for i in range(12)]),  # more students
    ]
    for samples in ticks:
        got = proc.analyze(samples)
        assert got == local.analyze(samples)
        assert all(isinstance(o, Observation) for o in got)
    assert [o.state for o in proc.analyze(ticks[1])][2:] == [State.ABSENT, State.CAMERA_OFF]
    hand = proc.transport  # what the hand-over cost, for the bench
    assert hand.calls == 5 and hand.samples == 4 + 4 + 4 + 12 + 4
    assert hand.call_s >= hand.child_s > 0 and hand.pack_s > 0
    info = proc.describe()
    assert info["analyser"] == "frame-echo" and info["pid"] == proc.pid != os.getpid()
    assert info["imported"] == [], "the analysis process must not import aiortc, PyAV or TensorFlow"
    assert info["nice"] == min(19, os.nice(0) + NICE), "analysis must yield the CPU to receiving"


def test_a_crash_during_a_tick_raises_and_the_next_tick_restarts(proc: AnalysisProcess,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    frames = _frames(5, (48, 64), (48, 64))
    first = proc.analyze(_tick(1.0, frames))
    assert first[0].faces[0].face_id == 1  # the fake's per-student count, like a tracker's ids
    assert proc.analyze(_tick(2.0, frames))[0].faces[0].face_id == 2
    old = proc.pid
    with caplog.at_level(logging.WARNING, logger="bot.sessions.analysis_process"):
        with pytest.raises(AnalysisProcessDied, match="killed by signal 9"):
            proc.analyze(_tick(3.0, [*frames, frames[0]], ["p0", "p1", CRASH_ID]))
        assert proc.pid is None and proc.restarts == 0
        again = proc.analyze(_tick(4.0, frames))
    assert proc.restarts == 1 and proc.pid not in (None, old)
    assert again[0].faces[0].face_id == 1, "a restarted analyser starts its trackers afresh"
    assert [r.message for r in caplog.records].count(
        "restarting the analysis process (restart 1): face trackers start afresh") == 1
    assert len(caplog.records) == 1


def test_a_child_killed_between_ticks_is_replaced_before_the_tick(proc: AnalysisProcess) -> None:
    frames = _frames(6, (48, 64))
    proc.analyze(_tick(1.0, frames))
    old = proc.pid
    assert old is not None
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{old}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":  # dead, not yet reaped
        assert time.monotonic() < deadline
        time.sleep(0.01)
    out = proc.analyze(_tick(2.0, frames))
    assert out == FrameEcho().analyze(_tick(2.0, frames)) and proc.restarts == 1 and proc.pid != old


def test_one_sessions_crash_leaves_another_sessions_process_alone() -> None:
    a, b = AnalysisProcess(frame_echo), AnalysisProcess(frame_echo)
    try:
        frames = _frames(10, (48, 64))
        b.analyze(_tick(1.0, frames))
        b_pid = b.pid
        with pytest.raises(AnalysisProcessDied):
            a.analyze(_tick(1.0, frames, [CRASH_ID]))
        assert b.analyze(_tick(2.0, frames))[0].faces[0].face_id == 2  # b's trackers went on
        assert b.pid == b_pid and b.restarts == 0
    finally:
        a.close()
        b.close()


def test_an_analyser_error_fails_the_tick_but_keeps_the_process() -> None:
    p = AnalysisProcess(failing)
    try:
        pid = p.pid
        with pytest.raises(AnalysisProcessError, match="ValueError: this analyser fails every tick") as err:
            p.analyze(_tick(1.0, _frames(7, (8, 8))))
        assert not isinstance(err.value, AnalysisProcessDied)
        assert p.pid == pid and p.restarts == 0
    finally:
        p.close()


def test_a_start_up_failure_is_a_clear_error_and_leaves_nothing_behind() -> None:
    before_kids, before_shm = _child_processes(), _segments()
    with pytest.raises(AnalysisProcessError, match="could not build the analyser: FileNotFoundError: no model in /x"):
        AnalysisProcess(broken, ("no model in /x",))
    with pytest.raises(Exception, match=r"pickle|lambda|attribute"):
        AnalysisProcess(lambda: FrameEcho())  # the child imports its factory: it must be importable
    assert _child_processes() == before_kids and _segments() == before_shm


def test_close_leaves_no_process_shared_memory_or_thread() -> None:
    p0 = AnalysisProcess(frame_echo)  # the first start may start multiprocessing's resource tracker
    p0.analyze(_tick(0.0, _frames(8, (8, 8))))
    p0.close()
    kids, segments, threads = _child_processes(), _segments(), threading.active_count()
    p = AnalysisProcess(frame_echo)
    p.analyze(_tick(1.0, _frames(9, (480, 640), (480, 640))))
    p.analyze(_tick(2.0, _frames(9, *[(720, 1280)] * 3)))  # grows the segment
    with pytest.raises(AnalysisProcessDied):
        p.analyze(_tick(3.0, _frames(9, (8, 8)), [CRASH_ID]))
    p.analyze(_tick(4.0, _frames(9, (480, 640))))  # restarted
    assert len(_child_processes() - kids) == 1 and len(_segments() - segments) == 1
    p.close()
    p.close()  # idempotent
    assert _child_processes() == kids and _segments() == segments
    assert threading.active_count() == threads
    with pytest.raises(AnalysisProcessError, match="closed"):
        p.analyze(_tick(5.0, [None]))


class _OneFrame:
    """A track that delivers one frame, then nothing (the sampler keeps it as the newest)."""

    kind = "video"

    def __init__(self) -> None:
        self.sent = asyncio.Event()

    def stop(self) -> None:
        pass

    async def recv(self) -> np.ndarray:
        if self.sent.is_set():
            await asyncio.Event().wait()  # no more frames; cancelled when the sampler stops
        self.sent.set()
        return np.full((48, 64, 3), 200, np.uint8)


def test_the_sampler_counts_the_error_and_the_restart_and_goes_on() -> None:
    from bot.sessions.sampler import Sampler

    proc = AnalysisProcess(frame_echo)
    delivered: list[Observation] = []

    async def deliver(obs: list[Observation]) -> None:
        delivered.extend(obs)

    async def main() -> Sampler:
        sampler = Sampler("s1", proc.analyze, deliver, ThreadPoolExecutor(1), interval_s=60)

        async def show(pid: str) -> None:
            track = _OneFrame()
            sampler.join(pid)
            sampler.video_on(pid, track)
            await track.sent.wait()

        async def tick() -> None:
            sampler.tick()
            assert sampler._inflight is not None
            await sampler._inflight

        await show("p0")
        await tick()
        await show(CRASH_ID)
        await tick()  # the child dies: an error, nothing delivered
        assert sampler.stats.errors == 1 and sampler.stats.analysis_restarts == 0
        sampler.leave(CRASH_ID)
        await tick()  # restarted
        await sampler.stop()  # closes the analysis process
        return sampler

    sampler = asyncio.run(main())
    assert sampler.stats.errors == 1 and sampler.stats.analysis_restarts == 1
    assert [o.participant_id for o in delivered] == ["p0", "p0"]
    assert proc.pid is None


def test_config_turns_the_process_on_for_live_sessions_only() -> None:
    from bot.sessions import analyzer

    cfg = Config()
    assert cfg.analysis.process is True
    assert load_config(None, env={}, overrides=["analysis.process=off"]).analysis.process is False
    # classpulse analyze / evaluate build from settings_from, which knows nothing of processes
    assert not hasattr(analyzer.settings_from(cfg), "process")


@pytest.mark.slow
def test_the_real_analyser_in_its_process_reads_like_in_process() -> None:
    from analysis.pipeline import Analyzer
    from bot.sessions.analysis_child import live_analyzer
    from bot.sessions.analyzer import live_settings_from
    from tests.test_detect import clip_frame

    settings = live_settings_from(Config())
    frames: list[np.ndarray | None] = [clip_frame(i) for i in (30, 60, 90)]
    local = Analyzer(settings)
    p = AnalysisProcess(live_analyzer, (settings,))
    try:
        for k in range(3):
            samples = _tick(float(k), [*frames, None], ["p0", "p1", "p2", "p3"])
            got, want = p.analyze(samples), local.analyze(samples)
            assert [o.state for o in got] == [o.state for o in want]
            assert any(o.state is State.PRESENT for o in got)
            for g, w in zip(got, want, strict=True):
                assert [f.box for f in g.faces] == [f.box for f in w.faces]
                assert [f.face_id for f in g.faces] == [f.face_id for f in w.faces]
                for gf, wf in zip(g.faces, w.faces, strict=True):
                    assert (gf.emotions is None) == (wf.emotions is None)
                    if gf.emotions is not None and wf.emotions is not None:
                        assert np.allclose(gf.emotions, wf.emotions, atol=1e-4)
        described = p.describe()
        assert described["detector"] == local.describe()["detector"]
        assert p.timings is not None and p.timings.samples == 3 * (len(frames) + 1)
    finally:
        p.close()
        local.close()
