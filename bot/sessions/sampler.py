"""Frame sampling: drain every track, keep the newest frame, analyse one tick at a time.

aiortc's remote tracks queue decoded frames without bound, so each track gets a task
that calls `recv()` for as long as the track lives and keeps only the newest frame.
Every `interval_s` a tick takes one sample per present participant — the newest
frame, or no frame when the camera is off or frozen — and hands the whole tick to the
analyser in ONE call on a worker thread (one batched classifier call for everybody).

The loop never waits for inference. When a tick comes while the previous tick's
inference still runs, the tick is deferred, not dropped: it runs as soon as that inference
is done (after a short breather of `breather` times its duration, so receiving keeps its
share of the CPU), with the newest frames then. Over capacity every student is therefore
sampled less often, all by the same amount (the effective interval is the inference time
of one tick), instead of whole ticks of students going missing; `SamplerStats.deferred`
and `effective_interval_s` say by how much, and the session's progress and closing lines
report it.

A sample is *fresh* when its frame arrived after the frame of that student's previous
sample: a benchmark counts only fresh samples (a repeated frame is no new information).

Latency is measured from the moment a frame left `recv()` to the moment its
observation came back from the worker (network and jitter-buffer time not included).

Why a participant has no frame decides the state (DESIGN.md, "Observation states"):
`camera_off` only when the platform or the track says so — the connector's `video_off`
(Janus `unpublished` while frames still flowed, a muted/disabled video stream), a track
that ends, a camera that was never turned on, or black/uniform frames (the analyser) —
and `no_signal` when the fault is ours or the network's: while the connector reconnects
(`signal_lost`), after `video_off(fault=True)` (a subscription that failed, the SFU gone),
when the platform takes a stream away that had already stopped delivering (Janus notices a
publisher's ICE failure only after its frames stopped), and for a frozen stream — frames
that stop with no word from the platform or the track are what a transport drop looks
like, while a student who turns the camera off is announced or ends the track. A lost
participant stays `no_signal` until a frame arrives again. A track that ends is given
`stale_after_s` to be explained by a connector's fault notice before it counts as camera off.

A track that never delivers a single frame is sampled without a frame (camera off) once
`pending_s` has passed since it arrived, like a camera that never connected (item 9 of
issue 18): the student is in class and gets a presence line, instead of vanishing from the
report; the replacement track after a fault is `no_signal` until its first frame instead.
A track marked ``rotated`` (Zoom's one-stream rotation: frames only while watched) stays
skipped while silent: not being watched is `not_sampled`, never camera off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiortc.mediastreams import MediaStreamError

from analysis.pipeline import Sample
from analysis.records import Observation
from analysis.records import State as ObsState
from bot.connectors.base import VideoTrack

log = logging.getLogger(__name__)

Analyze = Callable[[Sequence[Sample]], list[Observation]]
Deliver = Callable[[list[Observation]], Awaitable[None]]


def _stopped_analyze(samples: Sequence[Sample]) -> list[Observation]:
    raise RuntimeError("the sampler has stopped")


def close_analyzer(analyze: Analyze) -> None:
    """Close what an `Analyze` callable belongs to, when it can be closed (a bound method's
    object, e.g. an analysis process, or the callable itself); a failure is logged, not raised."""
    owner = getattr(analyze, "__self__", analyze)
    close = getattr(owner, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            log.exception("closing the analyser failed")


def to_bgr(frame: Any) -> np.ndarray:
    """A BGR array from an aiortc/PyAV frame or an array (push connectors may send either)."""
    if isinstance(frame, np.ndarray):
        return frame
    arr: np.ndarray = frame.to_ndarray(format="bgr24")
    return arr


def to_bgr_all(frames: Sequence[Any]) -> list[np.ndarray | None]:
    """BGR arrays for a tick's frames (None stays None). Frames whose pixels live in another process
    (a receive worker's `WorkerFrame`, `bot.web.receive_pool`: they name a `bgr_source`) are fetched
    in one request per source, not one each; a frame its source no longer has comes back None."""
    out: list[np.ndarray | None] = [None] * len(frames)
    groups: dict[int, tuple[Any, list[int]]] = {}
    for i, frame in enumerate(frames):
        source = getattr(frame, "bgr_source", None)
        if source is not None:
            groups.setdefault(id(source), (source, []))[1].append(i)
        elif frame is not None:
            out[i] = to_bgr(frame)
    for source, idx in groups.values():
        for i, arr in zip(idx, source.fetch_bgr([frames[i] for i in idx]), strict=True):
            out[i] = arr
    return out


def frame_size(frame: Any) -> tuple[int, int] | None:
    """(width, height) of an aiortc/PyAV frame or an array, without converting it."""
    if isinstance(frame, np.ndarray):
        return (int(frame.shape[1]), int(frame.shape[0])) if frame.ndim >= 2 else None
    w, h = getattr(frame, "width", None), getattr(frame, "height", None)
    return (int(w), int(h)) if isinstance(w, int) and isinstance(h, int) else None


@dataclass
class _Slot:
    """One participant: the newest frame and the task draining their track."""

    track: VideoTrack | None = None
    task: asyncio.Task[None] | None = None
    frame: Any = None
    received_at: float = 0.0  # clock time the newest frame left recv()
    sampled_at: float = float("-inf")  # received_at of the frame in this student's last sample
    frames: int = 0
    samples: int = 0
    fresh: int = 0  # samples whose frame arrived after the previous sample's
    dropped: int = 0
    video_expected_until: float = 0.0  # clock time; until then a missing track is not "camera off"
    track_since: float = 0.0  # clock time the current track arrived
    track_frames: int = 0  # frames of the current track...
    first_frame_at: float = 0.0  # ...since its first frame arrived (clock time): the received fps
    size: tuple[int, int] | None = None  # (width, height) of the newest frame
    lost: bool = False  # the video was lost to a fault (ours or the network's): no_signal until a frame
    ended_at: float | None = None  # clock time the track ended by itself (camera off after a grace)

    def frozen(self, now: float, stale_after_s: float) -> bool:
        """The current track's frames had been flowing and stopped: what a transport drop looks like.
        Never for a rotated track (Zoom): it goes silent whenever the rotation watches someone else."""
        if getattr(self.track, "rotated", False):
            return False
        return self.track_frames > 0 and now - self.received_at > stale_after_s


@dataclass
class SamplerStats:
    ticks: int = 0
    samples: int = 0  # samples analysed
    dropped: int = 0  # samples never analysed (kept for the old counters: deferral drops none)
    fresh: int = 0  # analysed samples whose frame arrived since that student's previous sample
    deferred: int = 0  # ticks that came while inference still ran and waited for it (over capacity)
    frames: int = 0  # frames drained from all tracks
    observations: int = 0
    errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))
    #: clock times inference started, last 50 ticks: the effective sampling interval
    starts: deque[float] = field(default_factory=lambda: deque(maxlen=50))

    #: the longest mean interval over 10 ticks so far: how far the rate fell at the worst
    slowest_interval_s: float | None = None

    inferences: int = 0  # ticks whose inference started
    #: times the analyser's own process was restarted after dying (`bot.sessions.analysis_process`)
    analysis_restarts: int = 0

    def started(self, at: float) -> None:
        self.inferences += 1
        self.starts.append(at)
        if len(self.starts) >= 11:
            recent = (self.starts[-1] - self.starts[-11]) / 10
            self.slowest_interval_s = max(self.slowest_interval_s or 0.0, recent)

    @property
    def effective_interval_s(self) -> float | None:
        """Mean seconds between the last ticks' inference starts (= the interval when not over capacity)."""
        if len(self.starts) < 2:
            return None
        return (self.starts[-1] - self.starts[0]) / (len(self.starts) - 1)

    def latency(self, q: float) -> float | None:
        """The q-quantile (0..1) of frame-to-observation latency, seconds."""
        if not self.latencies:
            return None
        return float(np.quantile(np.fromiter(self.latencies, float), q))

    @property
    def dropped_share(self) -> float:
        total = self.samples + self.dropped
        return self.dropped / total if total else 0.0


class Sampler:
    """Drains tracks and runs ticks; the session tells it who is present and their tracks."""

    def __init__(self, session_id: str, analyze: Analyze, deliver: Deliver, executor: Executor, *,
                 interval_s: float = 1.0, stale_after_s: float = 3.0, pending_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, t_offset: float = 0.0,
                 breather: float = 0.1) -> None:
        self.session_id = session_id
        self.t_offset = t_offset  # a continued session's samples go on from where the last attempt was
        self.interval_s = interval_s
        self.stale_after_s = stale_after_s
        self.pending_s = pending_s
        self.stats = SamplerStats()
        self._analyze = analyze
        self._deliver = deliver
        self._executor = executor
        self._clock = clock
        self._t0 = clock()
        self._slots: dict[str, _Slot] = {}
        self._inflight: asyncio.Task[None] | None = None
        self._owed = False  # a tick came while inference ran: run it once that is done
        self.breather = breather
        self._stopped = False
        #: The connection to the meeting is being re-established: a missing or frozen frame is
        #: our side's fault (`no_signal`), never the student's camera being off.
        self.signal_lost = False
        self._side_tasks: set[asyncio.Task[None]] = set()

    # -- roster ----------------------------------------------------------------------------
    def join(self, pid: str, video_expected: bool = False) -> None:
        """The participant is present: sampled from now on (camera off until `video_on`).

        With `video_expected` the participant is not sampled until the video arrives, for
        at most `pending_s`: a camera that is being connected is not a camera that is off.
        """
        slot = self._slots.setdefault(pid, _Slot())
        if video_expected and slot.track is None:
            slot.video_expected_until = self._clock() + self.pending_s

    def video_on(self, pid: str, track: VideoTrack) -> None:
        slot = self._slots.setdefault(pid, _Slot())
        self._cancel_drain(slot)
        slot.track = track
        slot.frame = None
        slot.ended_at = None
        slot.track_frames = 0
        slot.video_expected_until = 0.0  # connected: from now on the track itself says what happens
        slot.track_since = self._clock()
        slot.track_frames = 0
        slot.task = asyncio.ensure_future(self._drain(pid, slot, track))

    def video_off(self, pid: str, fault: bool = False) -> None:
        """The participant's video is gone: their camera (`camera_off`) unless `fault` says it is
        ours or the network's, or the stream had already stopped before the platform said so."""
        slot = self._slots.get(pid)
        if slot is not None:
            slot.lost = fault or self.signal_lost or slot.lost or slot.frozen(self._clock(), self.stale_after_s)
            self._cancel_drain(slot)
            slot.ended_at = None
            slot.video_expected_until = 0.0

    def leave(self, pid: str) -> None:
        slot = self._slots.pop(pid, None)
        if slot is not None:
            self._cancel_drain(slot)

    def participants(self) -> dict[str, dict[str, int]]:
        return {pid: {"frames": s.frames, "samples": s.samples, "fresh": s.fresh, "dropped": s.dropped}
                for pid, s in self._slots.items()}

    #: the effective interval must exceed the configured one by this factor to count as "slowed"
    SLOWED = 1.1

    def slowed_interval(self, interval: float | None) -> float | None:
        """`interval` when it is clearly longer than the configured one (over capacity), else None."""
        return interval if interval is not None and interval > self.SLOWED * self.interval_s else None

    def received(self) -> dict[str, Any]:
        """Which quality the session receives: median fps and frame size over the students whose
        current track has delivered frames (fps since that track's first frame)."""
        now = self._clock()
        fps, sizes = [], []
        for slot in self._slots.values():
            if slot.track is None or slot.track_frames < 2 or now <= slot.first_frame_at:
                continue
            fps.append((slot.track_frames - 1) / (now - slot.first_frame_at))
            if slot.size is not None:
                sizes.append(slot.size)
        sizes.sort(key=lambda wh: wh[0] * wh[1])
        return {"students": len(fps), "fps_median": round(float(np.median(fps)), 1) if fps else None,
                "size_median": f"{sizes[len(sizes) // 2][0]}x{sizes[len(sizes) // 2][1]}" if sizes else None}

    @staticmethod
    def _cancel_drain(slot: _Slot) -> None:
        if slot.task is not None:
            slot.task.cancel()
        slot.task = None
        slot.track = None
        slot.frame = None

    async def _drain(self, pid: str, slot: _Slot, track: VideoTrack) -> None:
        """Call recv() until the track ends: aiortc's queue grows whenever nobody does."""
        try:
            while True:
                frame = await track.recv()
                # a receive worker's frame notice stands for every frame it received since the last one
                count = getattr(frame, "received_frames", 1)
                slot.frame = frame
                slot.lost = False
                slot.received_at = self._clock()
                if slot.track_frames == 0:
                    slot.first_frame_at = slot.received_at
                    count = 1  # the received fps counts from the first frame on
                slot.track_frames += count
                slot.size = frame_size(frame)
                slot.frames += count
                self.stats.frames += count
        except MediaStreamError:
            log.debug("track of %s ended", pid)
        except Exception:  # a broken track must not take the others down
            log.exception("track of %s failed", pid)
        if slot.track is track:
            slot.ended_at = self._clock()
            slot.lost = slot.lost or slot.frozen(slot.ended_at, self.stale_after_s)  # broke off after a freeze
            slot.frame = None
            slot.track = None

    # -- ticks -----------------------------------------------------------------------------
    def now(self) -> float:
        """Seconds since the sampler started: the `t` of observations."""
        return self._clock() - self._t0 + self.t_offset

    def _collect(self) -> tuple[list[tuple[str, Any, float]], list[str], list[str]]:
        """(pid, frame or None, received_at) for every present participant that is analysed (a frame,
        or None for camera off), the participants not watched by design now (a rotation's idle track:
        `not_sampled`) and those without a signal (`no_signal`: our side or the network)."""
        now = self._clock()
        picks: list[tuple[str, Any, float]] = []
        unwatched: list[str] = []
        unsignalled: list[str] = []
        for pid, slot in self._slots.items():
            if slot.track is None and slot.lost:
                unsignalled.append(pid)  # the video was taken away by a fault
            elif slot.track is None and now < slot.video_expected_until:
                continue  # camera being connected
            elif slot.track is None and slot.ended_at is not None and now - slot.ended_at <= self.stale_after_s:
                continue  # the track just ended: a connector's fault notice may still explain it
            elif slot.track is None:
                picks.append((pid, None, now))  # camera off: its own state, never "absent"
            elif getattr(slot.track, "rotated", False) and (
                    slot.frame is None or now - slot.received_at > self.stale_after_s):
                unwatched.append(pid)  # the platform sends someone else's video now
            elif slot.frame is None and slot.lost:
                unsignalled.append(pid)  # a replacement track after a fault, first frame not there yet
            elif slot.frame is None and now - slot.track_since < self.pending_s:
                continue  # first frame not there yet
            elif slot.frame is None:
                picks.append((pid, None, now))  # the track never delivered a frame: camera off
            elif now - slot.received_at > self.stale_after_s:
                unsignalled.append(pid)  # frozen stream, nothing said the camera went off
            else:
                picks.append((pid, slot.frame, slot.received_at))
        return picks, unwatched, unsignalled

    def _side(self, observations: list[Observation]) -> None:
        """Deliver observations that need no analysis (no_signal, not_sampled) without blocking the tick."""
        task = asyncio.ensure_future(self._deliver(observations))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def tick(self) -> None:
        """Take one sample per participant and start its inference, or defer the tick until the
        running inference is done (over capacity: every student's rate falls alike)."""
        self.stats.ticks += 1
        t = round(self.now(), 3)
        picks, unwatched, unsignalled = self._collect()
        side = [Observation(self.session_id, pid, t, ObsState.NOT_SAMPLED) for pid in unwatched]
        side += [Observation(self.session_id, pid, t, ObsState.NO_SIGNAL) for pid in unsignalled]
        if self.signal_lost:
            side += [Observation(self.session_id, pid, t, ObsState.NO_SIGNAL) for pid, f, _ in picks if f is None]
            picks = [p for p in picks if p[1] is not None]
        if side:
            self._side(side)
        if not picks:
            return
        if self._inflight is not None and not self._inflight.done():
            if not self._owed:
                self.stats.deferred += 1
            self._owed = True  # over capacity: sampled as soon as the running inference is done
            return
        self._owed = False
        fresh: list[bool] = []
        for pid, frame, received in picks:
            slot = self._slots[pid]
            slot.samples += 1
            is_fresh = frame is not None and received > slot.sampled_at
            if frame is not None:
                slot.sampled_at = received
            slot.fresh += is_fresh
            fresh.append(is_fresh)
        self.stats.started(self._clock())
        self._inflight = asyncio.ensure_future(self._infer(t, picks, sum(fresh)))

    def _owed_tick(self) -> None:
        if self._owed and not self._stopped:
            self.tick()

    async def _infer(self, t: float, picks: list[tuple[str, Any, float]], fresh: int = 0) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await self._infer_tick(t, picks, fresh)
        finally:
            if self._owed and not self._stopped:
                loop.call_later(self.breather * (loop.time() - started), self._owed_tick)

    async def _infer_tick(self, t: float, picks: list[tuple[str, Any, float]], fresh: int) -> None:
        loop = asyncio.get_running_loop()
        sid = self.session_id

        def work() -> list[Observation]:
            arrays = to_bgr_all([f for _, f, _ in picks])
            # a frame whose receive worker died since the pick is no signal, never a camera that is off
            gone = [pid for (pid, f, _), a in zip(picks, arrays, strict=True) if f is not None and a is None]
            samples = [Sample(sid, pid, t, a) for (pid, f, _), a in zip(picks, arrays, strict=True)
                       if f is None or a is not None]
            observations = self._analyze(samples) if samples else []
            return observations + [Observation(sid, pid, t, ObsState.NO_SIGNAL) for pid in gone]

        try:
            observations = await loop.run_in_executor(self._executor, work)
        except Exception:
            self.stats.errors += 1
            self._count_restarts()
            log.exception("inference failed for a tick of %d samples", len(picks))
            return
        self._count_restarts()
        done = self._clock()
        self.stats.samples += len(picks)
        self.stats.fresh += fresh
        self.stats.observations += len(observations)
        self.stats.latencies.extend(done - received for _, frame, received in picks if frame is not None)
        try:
            await self._deliver(observations)
        except Exception:
            self.stats.errors += 1
            log.exception("could not deliver %d observations", len(observations))

    async def run(self) -> None:
        """Tick every `interval_s` on an absolute schedule until `stop()`; missed ticks are skipped
        (a tick that meets a running inference is deferred until it is done, see the module doc)."""
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self.interval_s
        while not self._stopped:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            if self._stopped:
                break
            self.tick()
            next_at += self.interval_s
            behind = loop.time() - next_at
            if behind > 0:  # the loop stalled for whole intervals: do not burst to catch up
                next_at += self.interval_s * (int(behind / self.interval_s) + 1)

    async def stop(self) -> None:
        """Stop ticking and draining; waits for the inference in flight so nothing is lost.

        Then lets go of the analyser (closing it when it can be closed): the session and the
        sampler refer to each other, so anything the sampler holds would otherwise outlive
        the session until a full garbage collection — for the real analyser a TFLite thread
        pool, the face-mesh model's file descriptor and tens of MB per session.
        """
        self._stopped = True
        for slot in self._slots.values():
            self._cancel_drain(slot)
        if self._inflight is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._inflight
        self._release_analyzer()

    def _count_restarts(self) -> None:
        """Copy the analyser's restart count (an analysis process restarted after a crash) into the stats."""
        owner = getattr(self._analyze, "__self__", self._analyze)
        restarts = getattr(owner, "restarts", 0)
        if isinstance(restarts, int):
            self.stats.analysis_restarts = restarts

    def _release_analyzer(self) -> None:
        close_analyzer(self._analyze)
        self._analyze = _stopped_analyze
