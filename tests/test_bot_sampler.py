"""The sampler against fake aiortc-like tracks: draining, newest frame, batching, drops, latency.

The tests that let the sampler run on its own schedule use virtual time (`tests.virtual_time`):
cameras, ticks and a modelled inference time are exact, so counts and latencies are asserted
exactly, without sleeping and without depending on how busy the machine is.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from analysis.records import Observation
from bot.connectors.fake import FakeCamera, solid
from bot.connectors.push import PushVideoTrack
from bot.sessions.sampler import Sampler
from bot.sim.fake_analyzer import RecordingAnalyzer
from tests.virtual_time import VirtualTimeLoop, VirtualWorker, run_virtual


def counter_frames(i: int) -> np.ndarray:
    """Frame i carries i in its first pixels, so a test can tell which frame was sampled."""
    img = np.zeros((16, 16, 3), np.uint8)
    img[0, 0, 0] = i % 256
    img[0, 0, 1] = (i // 256) % 256
    return img


def frame_index(img: np.ndarray) -> int:
    return int(img[0, 0, 0]) + 256 * int(img[0, 0, 1])


async def _run(sampler: Sampler, seconds: float) -> None:
    task = asyncio.ensure_future(sampler.run())
    await asyncio.sleep(seconds)
    await sampler.stop()
    task.cancel()


def _sampler(loop: VirtualTimeLoop, analyze: RecordingAnalyzer, interval: float = 0.1,
             stale_after_s: float = 3.0, inference_s: float = 0.0,
             pending_s: float = 10.0) -> tuple[Sampler, list[Observation], VirtualWorker]:
    """A sampler on the virtual loop's clock whose inference takes `inference_s` of virtual time."""
    delivered: list[Observation] = []

    async def deliver(obs: list[Observation]) -> None:
        delivered.extend(obs)

    worker = VirtualWorker(loop, inference_s)
    return Sampler("s", analyze, deliver, worker, interval_s=interval, stale_after_s=stale_after_s,
                   pending_s=pending_s, clock=loop.time), delivered, worker


def test_drains_every_track_and_samples_the_newest_frame() -> None:
    analyze = RecordingAnalyzer()
    newest: list[tuple[int, int]] = []  # (frames the camera had produced at the tick, frame sampled)

    async def main(loop: VirtualTimeLoop) -> tuple[list[FakeCamera], Sampler, list[Observation]]:
        sampler, delivered, _ = _sampler(loop, analyze)
        cams = [FakeCamera(counter_frames, fps=120) for _ in range(3)]
        for i, cam in enumerate(cams):
            sampler.join(f"p{i}")
            sampler.video_on(f"p{i}", cam)
        for _ in range(6):
            await asyncio.sleep(0.1)
            produced = cams[0].produced
            sampler.tick()
            await asyncio.sleep(0.02)  # the tick's inference is done
            frame = analyze.batches[-1][0].frame
            assert frame is not None
            newest.append((produced, frame_index(frame)))
        await asyncio.sleep(0.1)
        await sampler.stop()
        for cam in cams:
            cam.stop()
        return cams, sampler, delivered

    cams, sampler, delivered = run_virtual(main)
    for cam in cams:
        assert 95 <= cam.produced <= 100  # 120 fps for 0.82 s
        assert cam.backlog <= 1, "frames piled up: the sampler stopped calling recv()"
    # One analyser call per tick with every participant in it: batched, never per student.
    assert len(analyze.batches) == 6
    assert all(sorted(s.participant_id for s in b) == ["p0", "p1", "p2"] for b in analyze.batches)
    assert all(b[0].t == b[1].t == b[2].t for b in analyze.batches)
    # Each sample is the newest frame (frame i is the (i+1)-th produced), not an older queued one.
    assert all(index >= produced - 2 for produced, index in newest), newest
    assert sampler.stats.dropped == 0 and sampler.stats.samples == 18
    assert len(delivered) == 18
    latency = sampler.stats.latency(0.95)
    assert latency is not None and 0 <= latency <= 1 / 120 + 1e-9  # at most one frame's age


def test_slow_inference_lowers_every_students_rate_evenly_and_never_drops_a_tick() -> None:
    """Inference takes 0.42 s for ticks due every 0.05 s: ticks wait for it (deferred), never vanish.

    Schedule (virtual seconds): inference at 0.05-0.47; the ticks at 0.10-0.45 are owed; the tick
    at 0.50 finds the worker free and runs (the owed one, due after a 10 % breather at 0.512, is
    then already paid); 0.50-0.92; the same again at 0.95-1.37, which `stop()` at 1.2 waits for.
    """
    analyze = RecordingAnalyzer()

    async def main(loop: VirtualTimeLoop) -> tuple[Sampler, VirtualWorker]:
        sampler, _, worker = _sampler(loop, analyze, interval=0.05, inference_s=0.42)
        cams = [FakeCamera(solid(120), fps=60) for _ in range(2)]
        for pid, cam in zip(("a", "b"), cams, strict=True):
            sampler.join(pid)
            sampler.video_on(pid, cam)
        await _run(sampler, 1.2)
        for cam in cams:
            cam.stop()
        return sampler, worker

    sampler, worker = run_virtual(main)
    st = sampler.stats
    assert worker.calls == len(analyze.batches) == 3  # every inference ran off the event loop
    # no tick's students go missing: every tick samples both
    assert all(sorted(x.participant_id for x in b) == ["a", "b"] for b in analyze.batches)
    assert [b[0].t for b in analyze.batches] == pytest.approx([0.05, 0.50, 0.95])
    assert st.dropped == 0 and st.dropped_share == 0.0
    assert st.samples == 6
    assert st.deferred == 3  # each inference had ticks come while it ran: one owed tick each
    interval = st.effective_interval_s
    assert interval == pytest.approx(0.45)
    assert sampler.slowed_interval(interval) == interval  # over capacity: reported as such
    assert sampler.slowed_interval(0.052) is None  # within 10 % of the configured 0.05 s: not slowed
    p95 = st.latency(0.95)
    assert p95 is not None and 0.42 <= p95 <= 0.42 + 1 / 60 + 1e-9  # inference + at most one frame's age
    parts = sampler.participants()
    assert parts["a"]["samples"] == parts["b"]["samples"] == 3


def test_only_samples_of_a_new_frame_count_as_fresh() -> None:
    analyze = RecordingAnalyzer()

    async def main(loop: VirtualTimeLoop) -> tuple[Sampler, dict[str, object]]:
        sampler, _, _ = _sampler(loop, analyze)
        live, still = FakeCamera(counter_frames, fps=120), PushVideoTrack()
        for pid, cam in (("live", live), ("still", still)):
            sampler.join(pid)
            sampler.video_on(pid, cam)
        still.push(counter_frames(1))
        for _ in range(4):  # the still camera's one frame is sampled four times: fresh once
            await asyncio.sleep(0.05)
            sampler.tick()
            await asyncio.sleep(0.02)
        received = sampler.received()
        await sampler.stop()
        live.stop()
        return sampler, received

    sampler, received = run_virtual(main)
    # which quality arrived: the live camera's 16x16 frames at 120 fps, the still one sent one frame
    assert received["students"] == 1 and received["size_median"] == "16x16"
    # (frames - 1) over the time since the first frame, up to now: just under the 120 sent
    fps = received["fps_median"]
    assert isinstance(fps, float) and 115 <= fps <= 120
    parts = sampler.participants()
    assert parts["live"]["samples"] == parts["live"]["fresh"] == 4
    assert parts["still"]["samples"] == 4 and parts["still"]["fresh"] == 1
    assert sampler.stats.fresh == 5 and sampler.stats.samples == 8


def test_camera_off_and_ended_tracks_are_camera_off_and_a_frozen_stream_is_no_signal() -> None:
    from analysis.records import State

    analyze = RecordingAnalyzer()
    delivered: list[Observation] = []

    async def main(loop: VirtualTimeLoop) -> None:
        nonlocal delivered
        sampler, delivered, _ = _sampler(loop, analyze, interval=0.1, stale_after_s=0.22)
        sampler.join("off")  # joined, camera never on
        frozen = PushVideoTrack()
        sampler.join("frozen")
        sampler.video_on("frozen", frozen)
        frozen.push(counter_frames(1))  # one frame, then silence
        ending = FakeCamera(solid(90), fps=30)
        sampler.join("ends")
        sampler.video_on("ends", ending)
        task = asyncio.ensure_future(sampler.run())
        await asyncio.sleep(0.35)
        ending.stop()  # remote side hung up: recv() raises MediaStreamError
        await asyncio.sleep(0.5)
        await sampler.stop()
        task.cancel()

    run_virtual(main)
    # ticks at 0.1 … 0.8 s
    off = analyze.frames_of("off")
    assert len(off) == 8 and all(s.frame is None for s in off)
    # the frozen stream's frame is analysed while fresh (0.1, 0.2 s), then it is no signal, never camera off
    assert [s.frame is not None for s in analyze.frames_of("frozen")] == [True, True]
    assert [o.state for o in delivered if o.participant_id == "frozen"][2:] == [State.NO_SIGNAL] * 6
    # the track that ends at 0.35 s: frames until then, camera off once its grace (0.22 s) has passed
    ends = [s.frame is not None for s in analyze.frames_of("ends")]
    assert ends == [True, True, True, False, False, False]


def test_leave_stops_sampling_and_video_on_replaces_the_track() -> None:
    analyze = RecordingAnalyzer()

    async def main(loop: VirtualTimeLoop) -> tuple[FakeCamera, FakeCamera]:
        sampler, _, _ = _sampler(loop, analyze, interval=0.05)
        sampler.join("p")
        first = FakeCamera(solid(10), fps=50)
        sampler.video_on("p", first)
        task = asyncio.ensure_future(sampler.run())
        await asyncio.sleep(0.22)
        second = FakeCamera(solid(200), fps=50)
        sampler.video_on("p", second)
        await asyncio.sleep(0.2)
        sampler.leave("p")
        left_at = sampler.now()
        await asyncio.sleep(0.2)
        late = [s.t for s in analyze.frames_of("p") if s.t > left_at + 0.001]
        assert not late, "a participant who left is still sampled"
        await sampler.stop()
        task.cancel()
        first.stop()
        second.stop()
        return first, second

    _, second = run_virtual(main)
    values = [int(s.frame[20, 20, 0]) for s in analyze.frames_of("p") if s.frame is not None]
    assert values == [10] * 4 + [200] * 4  # ticks at 0.05-0.20 s on the first track, 0.25-0.40 s on the second
    assert second.received > 0


def test_a_failing_analyser_is_counted_and_the_next_tick_runs() -> None:
    calls: list[int] = []

    def analyze(samples: object) -> list[Observation]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("model exploded")
        return []

    async def main(loop: VirtualTimeLoop) -> Sampler:
        async def deliver(obs: list[Observation]) -> None:
            pass

        sampler = Sampler("s", analyze, deliver, VirtualWorker(loop), interval_s=0.05, clock=loop.time)
        sampler.join("p")
        await _run(sampler, 0.32)
        return sampler

    sampler = run_virtual(main)
    assert sampler.stats.errors == 1 and len(calls) == 6  # ticks at 0.05 … 0.30 s


def test_a_camera_being_connected_is_not_sampled_as_camera_off() -> None:
    analyze = RecordingAnalyzer()

    async def main(loop: VirtualTimeLoop) -> None:
        sampler, _, _ = _sampler(loop, analyze, interval=0.05, pending_s=0.32)
        sampler.join("connecting", video_expected=True)
        sampler.join("never", video_expected=True)  # subscription never completes
        task = asyncio.ensure_future(sampler.run())
        await asyncio.sleep(0.22)
        cam = FakeCamera(solid(100), fps=30)
        sampler.video_on("connecting", cam)
        await asyncio.sleep(0.4)
        await sampler.stop()
        task.cancel()
        cam.stop()

    run_virtual(main)
    connecting = analyze.frames_of("connecting")
    assert len(connecting) == 8 and all(s.frame is not None for s in connecting)  # 0.25 … 0.60 s
    never = analyze.frames_of("never")
    assert [round(s.t, 2) for s in never] == [0.35, 0.4, 0.45, 0.5, 0.55, 0.6]
    assert all(s.frame is None for s in never)


def test_while_the_signal_is_lost_missing_frames_are_no_signal_not_camera_off() -> None:
    from analysis.records import State

    analyze = RecordingAnalyzer()

    async def main(loop: VirtualTimeLoop) -> list[Observation]:
        sampler, delivered, _ = _sampler(loop, analyze, interval=0.05, stale_after_s=0.1)
        frozen = PushVideoTrack()
        sampler.join("frozen")
        sampler.video_on("frozen", frozen)
        frozen.push(counter_frames(1))
        live = FakeCamera(solid(90), fps=30)
        sampler.join("live")
        sampler.video_on("live", live)
        sampler.join("off")
        await asyncio.sleep(0.2)
        sampler.signal_lost = True  # the connector reported Reconnecting
        sampler.tick()
        await asyncio.sleep(0.1)
        sampler.signal_lost = False
        sampler.tick()
        await asyncio.sleep(0.1)
        await sampler.stop()
        live.stop()
        return delivered

    delivered = run_virtual(main)
    frozen = [o.state for o in delivered if o.participant_id == "frozen"]
    assert frozen == [State.NO_SIGNAL, State.NO_SIGNAL]  # our fault while reconnecting, and still frozen
    off = [o.state for o in delivered if o.participant_id == "off"]
    assert off == [State.NO_SIGNAL, State.CAMERA_OFF]  # camera never on: camera off once the link is back
    assert [o.state for o in delivered if o.participant_id == "live"] == [State.ABSENT, State.ABSENT]


class _SilentTrack:
    """A subscribed track that never delivers a frame."""

    kind = "video"

    async def recv(self) -> None:
        await asyncio.Event().wait()

    def stop(self) -> None:
        pass


def test_a_track_that_never_delivers_a_frame_is_camera_off_after_pending_s() -> None:
    """Injected clock: nothing is sampled while the first frame may still come, then camera off every tick."""
    analyze = RecordingAnalyzer()
    now = [100.0]

    async def main() -> None:
        async def deliver(obs: list[Observation]) -> None:
            return None

        sampler = Sampler("s", analyze, deliver, ThreadPoolExecutor(1), interval_s=1.0, pending_s=10.0,
                          clock=lambda: now[0])
        sampler.join("silent", video_expected=True)
        sampler.video_on("silent", _SilentTrack())
        for _ in range(12):  # 12 ticks, one per second of the injected clock
            sampler.tick()
            if sampler._inflight is not None:
                await sampler._inflight
            now[0] += 1.0
        await sampler.stop()

    asyncio.run(main())
    silent = analyze.frames_of("silent")
    assert [round(s.t) for s in silent] == [10, 11] and all(s.frame is None for s in silent)


def test_a_silent_rotated_track_is_skipped_not_camera_off() -> None:
    """Zoom watches one student at a time: an idle rotated track is not a camera that is off."""
    analyze = RecordingAnalyzer()
    now = [100.0]

    async def main() -> None:
        async def deliver(obs: list[Observation]) -> None:
            return None

        sampler = Sampler("s", analyze, deliver, ThreadPoolExecutor(1), interval_s=1.0, pending_s=10.0,
                          clock=lambda: now[0])
        sampler.join("waiting", video_expected=True)
        track = PushVideoTrack(rotated=True)
        sampler.video_on("waiting", track)
        for _ in range(30):
            sampler.tick()
            if sampler._inflight is not None:
                await sampler._inflight
            now[0] += 1.0
        await sampler.stop()
        track.stop()

    asyncio.run(main())
    assert analyze.frames_of("waiting") == []


def test_a_student_the_rotation_is_not_watching_is_not_sampled_never_camera_off() -> None:
    from analysis.records import State

    analyze = RecordingAnalyzer()

    async def main(loop: VirtualTimeLoop) -> list[Observation]:
        sampler, delivered, _ = _sampler(loop, analyze, interval=0.05, stale_after_s=0.1)
        idle = PushVideoTrack(rotated=True)  # Zoom sends one student's video at a time
        sampler.join("idle")
        sampler.video_on("idle", idle)
        for _ in range(3):
            sampler.tick()
            await asyncio.sleep(0.02)
        idle.push(counter_frames(1))  # the rotation comes back to this student
        await asyncio.sleep(0.05)
        sampler.tick()
        await asyncio.sleep(0.1)
        await sampler.stop()
        return delivered

    delivered = run_virtual(main)
    states = [o.state for o in delivered]
    assert states[:3] == [State.NOT_SAMPLED] * 3 and State.CAMERA_OFF not in states
    assert states[-1] is State.ABSENT  # analysed once a frame is there (RecordingAnalyzer: no face)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _tick(sampler: Sampler, clock: _Clock, n: int = 1) -> None:
    """Advance the injected clock one interval per tick and let the tick's work finish."""
    for _ in range(n):
        clock.now += sampler.interval_s
        sampler.tick()
        if sampler._inflight is not None:
            await sampler._inflight
        await asyncio.gather(*sampler._side_tasks)


def _states(delivered: list[Observation], pid: str) -> list[str]:
    return [o.state.value for o in delivered if o.participant_id == pid]


def test_why_the_video_went_decides_camera_off_or_no_signal() -> None:
    """DESIGN.md's state table: the student's camera only when the platform or the track says so."""
    analyze = RecordingAnalyzer()
    clock = _Clock()
    delivered: list[Observation] = []

    async def deliver(obs: list[Observation]) -> None:
        delivered.extend(obs)

    async def main() -> None:
        sampler = Sampler("s", analyze, deliver, ThreadPoolExecutor(1), interval_s=1.0, stale_after_s=2.5,
                          pending_s=10.0, clock=clock)
        tracks = {pid: PushVideoTrack() for pid in ("fault", "off", "late_off", "ends")}
        for pid, track in tracks.items():
            sampler.join(pid, video_expected=True)
            sampler.video_on(pid, track)

        async def frames(*pids: str) -> None:
            for pid in pids:
                tracks[pid].push(counter_frames(1))
            await asyncio.sleep(0.01)  # the drain tasks take them

        await frames(*tracks)
        await _tick(sampler, clock)  # everybody streams
        sampler.video_off("fault", fault=True)  # a failed subscription: ours
        sampler.video_off("off")  # the platform says camera off while frames were fresh
        await frames("late_off", "ends")
        await _tick(sampler, clock)
        tracks["ends"].stop()  # the track ends while it streams: the camera going off
        await asyncio.sleep(0.01)
        await _tick(sampler, clock, 3)  # late_off freezes (stale after 2.5 s); ends waits its grace
        sampler.video_off("late_off")  # the platform notices only now: the stream had died before
        await _tick(sampler, clock, 2)
        again = PushVideoTrack()  # the subscription is made again after the fault
        sampler.video_on("fault", again)
        await _tick(sampler, clock)
        again.push(counter_frames(2))
        await asyncio.sleep(0.01)
        await _tick(sampler, clock)
        await sampler.stop()

    asyncio.run(main())
    assert _states(delivered, "fault") == ["absent"] + ["no_signal"] * 7 + ["absent"]
    assert _states(delivered, "off") == ["absent"] + ["camera_off"] * 8
    assert _states(delivered, "late_off") == ["absent"] * 3 + ["no_signal"] * 6
    assert _states(delivered, "ends") == ["absent"] * 2 + ["camera_off"] * 5


def test_a_rotated_track_that_went_quiet_is_camera_off_when_the_platform_says_so() -> None:
    """Zoom: silence on a rotated track is the rotation, not a fault; its camera-off event stays camera off."""
    analyze = RecordingAnalyzer()
    clock = _Clock()
    delivered: list[Observation] = []

    async def deliver(obs: list[Observation]) -> None:
        delivered.extend(obs)

    async def main() -> None:
        sampler = Sampler("s", analyze, deliver, ThreadPoolExecutor(1), interval_s=1.0, stale_after_s=2.5,
                          clock=clock)
        track = PushVideoTrack(rotated=True)  # Zoom's one-stream rotation: frames only while watched
        sampler.join("z")
        sampler.video_on("z", track)
        track.push(counter_frames(1))
        await asyncio.sleep(0.01)
        await _tick(sampler, clock, 5)  # watched once, then the rotation moved on: frames stop
        sampler.video_off("z")  # Zoom: participant video off
        await _tick(sampler, clock, 2)
        await sampler.stop()

    asyncio.run(main())
    states = _states(delivered, "z")
    assert states == ["absent", "absent"] + ["not_sampled"] * 3 + ["camera_off"] * 2, states
