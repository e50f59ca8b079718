"""Media receive sharded over worker processes (`classroom.receive_workers`, issue 15's "both cores").

In one process the event loop (RTP, SRTP, RTCP, ICE), the VP8 decoder threads and the session
share one GIL, and receiving 50 students at 640x480 15 fps needs more than the one core that
gives (docs/bot.md, "Cost model"). `ReceivePool` is a `bot.web.rtc.PeerFactory` for the
built-in classroom that answers each WHIP offer in one of N receive worker processes
(`bot.web.receive_worker`), the least loaded: that worker owns the student's
`RTCPeerConnection` (its own UDP sockets, so media flows straight to it) and decodes.

The classroom (`bot.web.classroom.Room`) and the session do not change: the pool hands back a
`WorkerPeer` and `WorkerTrack`s that behave like aiortc's. A track's `recv()` returns a
`WorkerFrame` — a notice that a new frame was decoded, with its size and how many frames it
stands for — and its pixels stay in the worker until the sampler converts the frames it samples
(`bot.sessions.sampler.to_bgr_all`): then one ``fetch`` per worker and tick makes the worker write
the newest frames as BGR into its shared memory, and `fetch_bgr` copies them out. So frames
cross into the bot's process at the sampling rate (one per student per second), not at 15 fps.

Faults: a worker that dies (killed, out of memory, a native crash in a decoder) or breaks the
protocol loses only its own students: their tracks end and their peers report `lost`, which the
room turns into `VideoOff(fault=True)` (`no_signal`, never the student's camera) while their
browsers reconnect (the join page offers again when its connection fails; the new offer lands on
a live worker). The worker is started again at once; a crash loop (dying within a minute of
starting) and failed starts back off 1, 2, 4 … 60 s. Offers meanwhile go to the live workers
(503 with Retry-After when none is). A worker that cannot
start raises `ReceiveWorkerError` with its traceback's last line. `close()` stops every worker
(reaped, its segment unlinked; a killed worker's leftover segment is unlinked by name).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiortc.mediastreams import MediaStreamError

from bot.sessions.frame_arena import SHM_DIR, ArenaReader
from bot.spawn import spawn_module
from bot.web import receive_protocol as wire
from bot.web.receive_worker import NOTICE_S, segment_prefix
from bot.web.rtc import OfferError, OnClosed, OnTrack
from bot.web.whip import WhipError

log = logging.getLogger(__name__)

WORKER_MODULE = "bot.web.receive_worker"
MAX_BACKOFF_S = 60.0
STABLE_S = 60.0  # a worker that ran this long before it died is restarted at once, else after a backoff


class ReceiveWorkerError(RuntimeError):
    """A receive worker could not start, or the pool is not running."""


class ReceiveWorkerLost(ReceiveWorkerError):
    """The worker ended (or was stopped for a bad message) while a request was waiting for it."""


@dataclass(eq=False)
class WorkerFrame:
    """A decoded frame that stays in its receive worker until the sampler converts it.

    Quacks like the part of a PyAV frame the sampler uses (`width`, `height`, `to_ndarray`);
    `received_frames` says how many frames the worker received since the track's previous
    notice (the sampler counts them, so the received fps stays right), `bgr_source` lets the
    sampler fetch a whole tick's frames in one request per worker.
    """

    track: WorkerTrack
    seq: int
    width: int
    height: int
    received_frames: int = 1

    @property
    def bgr_source(self) -> ReceivePool:
        return self.track.worker.pool

    def to_ndarray(self, format: str = "bgr24") -> np.ndarray:
        """The pixels, fetched from the worker (blocking: call it from a worker thread)."""
        if format != "bgr24":
            raise ValueError(f"a receive worker's frame converts to bgr24 only, not {format!r}")
        [arr] = self.bgr_source.fetch_bgr([self])
        if arr is None:
            raise MediaStreamError("the receive worker no longer has this track's frames")
        return arr


class WorkerTrack:
    """The bot's side of a video track received in a worker: `recv()` waits for the next notice."""

    kind = "video"

    def __init__(self, worker: _Worker, track_id: int) -> None:
        self.worker = worker
        self.track_id = track_id
        self._newest: tuple[int, int, int] | None = None  # (seq, width, height) not returned yet
        self._unread = 0  # frames the worker received since the last recv()
        self._ended = False
        self._ready = asyncio.Event()

    def notice(self, seq: int, frames: int, width: int, height: int) -> None:
        self._newest = (seq, width, height)
        self._unread += frames
        self._ready.set()

    def end(self) -> None:
        self._ended = True
        self._ready.set()

    async def recv(self) -> WorkerFrame:
        while True:
            if self._newest is not None and not self._ended:
                (seq, w, h), self._newest = self._newest, None
                frames, self._unread = self._unread, 0
                return WorkerFrame(self, seq, w, h, max(1, frames))
            if self._ended:
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()

    def stop(self) -> None:
        if not self._ended:
            self.end()
            self.worker.send(("stop_track", self.track_id))


class WorkerPeer:
    """A student's peer connection, held by a receive worker. `lost`: the worker died under it."""

    def __init__(self, worker: _Worker, peer_id: int, on_track: OnTrack, on_closed: OnClosed) -> None:
        self.worker = worker
        self.peer_id = peer_id
        self.on_track = on_track
        self.on_closed = on_closed
        self.lost = False
        self.tracks: list[WorkerTrack] = []

    async def close(self) -> None:
        for track in self.tracks:
            track.end()
        if self.lost or not self.worker.alive:
            return
        with contextlib.suppress(ReceiveWorkerError, TimeoutError):
            await asyncio.wait_for(self.worker.request("close", self.peer_id), self.worker.pool.call_timeout_s)
        self.worker.peers.pop(self.peer_id, None)


@dataclass
class FetchStats:
    """The hand-over's cost as the sampler's thread sees it (bench: ms per fetched frame)."""

    fetches: int = 0  # calls (one per tick: every worker asked at once)
    frames: int = 0
    seconds: float = 0.0  # the whole call on the sampler's thread
    worker_seconds: float = 0.0  # inside the workers: BGR conversion and the copy into shared memory
    copy_seconds: float = 0.0  # copying the slots out in the bot's process
    failed: int = 0  # frames that could not be fetched
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # sessions' threads add at once

    def add(self, frames: int, seconds: float, worker_s: float = 0.0, copy_s: float = 0.0, failed: int = 0) -> None:
        with self.lock:
            self.fetches += 1
            self.frames += frames
            self.seconds += seconds
            self.worker_seconds += worker_s
            self.copy_seconds += copy_s
            self.failed += failed


class _Worker:
    """One running worker process, our end of its socket, and what it holds for us."""

    def __init__(self, pool: ReceivePool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.alive = False
        self.started_at = 0.0
        self.peers: dict[int, WorkerPeer] = {}
        self.tracks: dict[int, WorkerTrack] = {}
        self._pending: dict[int, asyncio.Future[tuple[bool, Any]]] = {}
        self._req = itertools.count(1)
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._reader = ArenaReader(pool.shm_dir)
        self.fetch_lock = threading.Lock()  # from a fetch's request until its slots are copied out

    @property
    def name(self) -> str:
        return f"receive worker {self.index}" + (f" (pid {self.pid})" if self.pid else "")

    # -- life ------------------------------------------------------------------------------
    async def start(self) -> None:
        self.proc, ours = spawn_module(self.pool.python, self.pool.module, str(self.pool.notice_s))
        self.pid = self.proc.pid
        try:
            reader, self._writer = await asyncio.open_unix_connection(sock=ours)
            first = await asyncio.wait_for(wire.read(reader, self.name), self.pool.start_timeout_s)
            msg = wire.check(first, wire.FROM_WORKER, self.name)
        except BaseException as exc:
            self._kill()
            if isinstance(exc, TimeoutError):
                raise ReceiveWorkerError(f"{self.name} did not start within {self.pool.start_timeout_s:g} s") from None
            if isinstance(exc, (EOFError, OSError, wire.ProtocolError)):
                raise ReceiveWorkerError(f"{self.name} ended while starting ({self._how_it_ended()}): {exc}") from None
            raise
        if msg[0] == "failed":
            self._kill()
            last = str(msg[1]).strip().splitlines()[-1:] or ["?"]
            raise ReceiveWorkerError(f"{self.name} could not start: {last[0]}\n{msg[1]}")
        if msg[0] != "ready":
            self._kill()
            raise ReceiveWorkerError(f"{self.name} sent {msg[0]!r} instead of 'ready' when starting")
        self.alive = True
        self.started_at = time.monotonic()
        self._read_task = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        why = ""
        try:
            while True:
                self._dispatch(wire.check(await wire.read(reader, self.name), wire.FROM_WORKER, self.name))
        except EOFError:
            why = "died"
        except wire.ProtocolError as exc:
            why = f"broke the protocol ({exc}) and was stopped"
            log.error("%s", exc)
        except asyncio.CancelledError:
            return
        except Exception as exc:  # a bug in a handler: the worker's students go, the bot stays
            log.exception("handling a message from %s failed", self.name)
            why = f"failed ({exc}) and was stopped"
        self._lost(why)

    def _dispatch(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "reply":
            fut = self._pending.pop(msg[1], None)
            if fut is not None and not fut.done():
                fut.set_result((msg[2], msg[3]))
        elif kind == "frames":
            for entry in msg[1]:
                tid, seq, frames, width, height = wire.check_notice(entry, self.name)
                track = self.tracks.get(tid)
                if track is not None:
                    track.notice(seq, frames, width, height)
        elif kind == "track":
            peer = self.peers.get(msg[1])
            if peer is None:  # closed meanwhile: the worker may stop reading it
                self.send(("stop_track", msg[2]))
                return
            track = self.tracks[msg[2]] = WorkerTrack(self, msg[2])
            peer.tracks.append(track)
            peer.on_track(track)
        elif kind == "ended":
            track = self.tracks.pop(msg[1], None)
            if track is not None:
                track.end()
        elif kind == "closed":
            peer = self.peers.pop(msg[1], None)
            if peer is not None:
                peer.on_closed()
        else:
            raise wire.ProtocolError(f"bad message from {self.name}: {kind!r} after start-up")

    def _lost(self, why: str) -> None:
        """The worker is gone: fail its requests, end its tracks, tell its peers' rooms (`lost`);
        the process is reaped (killed if it lingers) and its segment unlinked in the background."""
        if not self.alive:
            return
        self.alive = False
        if self._writer is not None:
            self._writer.close()
        self.pool._background(self._reap(why, len(self.peers)), self.pool._reaps)
        self._end_requests_and_tracks(f"{self.name} {why}")
        peers, self.peers = list(self.peers.values()), {}
        for peer in peers:
            peer.lost = True
            peer.on_closed()
        self.pool._worker_lost(self)

    async def _reap(self, why: str, students: int) -> None:
        await self._exit(self.pool.stop_wait_s)
        self._unlink_segments()
        log.warning("%s %s (%s): its %d students lose video until their browsers reconnect",
                    self.name, why, self._how_it_ended(), students)

    async def _exit(self, wait_s: float) -> None:
        """Wait up to `wait_s` for the process to exit by itself, then kill it; always reaped."""
        if self.proc is not None:
            deadline = time.monotonic() + wait_s
            while self.proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - no event
                await asyncio.sleep(0.02)  # tells a child's exit without a watcher thread
        self._kill()

    def _kill(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()

    def _how_it_ended(self) -> str:
        code = self.proc.poll() if self.proc is not None else None
        if code is None:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def _unlink_segments(self) -> None:
        """What a killed worker could not unlink itself (its segments are named after it)."""
        prefix = segment_prefix(os.getpid(), self.pid)
        for path in Path(self.pool.shm_dir).glob(prefix + "*"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def stop(self) -> None:
        """Ask the worker to stop (it closes its peers and unlinks its segment), kill it if it lingers."""
        if self._read_task is not None:
            self._read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._read_task
        self.alive = False
        self.send(("stop",), force=True)
        await self._exit(self.pool.stop_wait_s)
        self._unlink_segments()
        self._end_requests_and_tracks(f"{self.name} stopped")
        self.peers.clear()
        self._reader.close()

    def _end_requests_and_tracks(self, why: str) -> None:
        """Waiting requests fail with `why`, every track ends: the worker is gone or stopped."""
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ReceiveWorkerLost(why))
        self._pending.clear()
        for track in self.tracks.values():
            track.end()
        self.tracks.clear()

    # -- messages --------------------------------------------------------------------------
    def send(self, msg: tuple[Any, ...], force: bool = False) -> None:
        if (self.alive or force) and self._writer is not None and not self._writer.is_closing():
            self._writer.write(wire.encode(msg))

    async def request(self, kind: str, *args: Any) -> Any:
        """Send a request and wait for its reply's payload; ReceiveWorkerError when it failed."""
        if not self.alive:
            raise ReceiveWorkerLost(f"{self.name} is not running")
        req = next(self._req)
        fut: asyncio.Future[tuple[bool, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req] = fut
        try:
            self.send((kind, req, *args))
            ok, payload = await fut
        finally:
            self._pending.pop(req, None)
        if not ok:
            raise ReceiveWorkerError(str(payload))
        return payload

    # -- pixels, for the sampler's thread --------------------------------------------------
    def copy_out(self, reply: Any, count: int) -> list[np.ndarray | None]:
        """Copies of the slots a fetch reply names (the segment is reused by the next fetch); None for
        a track the worker no longer had. Called with `fetch_lock` held."""
        name, slots, _seqs, _worker_s = reply
        if not isinstance(slots, list) or len(slots) != count:
            raise wire.ProtocolError(f"bad fetch reply from {self.name}: {count} slots expected")
        views = iter(self._reader.frames(name, [s for s in slots if s is not None]) if name else [])
        out = [None if s is None else np.array(next(views)) for s in slots]
        del views
        return out


class ReceivePool:
    """N receive workers behind the `PeerFactory` signature; `start()` before the first offer."""

    def __init__(self, workers: int, *, start_timeout_s: float = 60.0, call_timeout_s: float = 10.0,
                 offer_timeout_s: float = 30.0, stop_wait_s: float = 5.0, notice_s: float = NOTICE_S,
                 python: str = sys.executable, module: str = WORKER_MODULE, shm_dir: str = SHM_DIR,
                 sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        if workers < 1:
            raise ValueError(f"a receive pool needs at least one worker, not {workers}")
        self.size = workers
        self.start_timeout_s = start_timeout_s
        self.call_timeout_s = call_timeout_s
        self.offer_timeout_s = offer_timeout_s
        self.stop_wait_s = stop_wait_s
        self.notice_s = notice_s
        self.python = python
        self.module = module
        self.shm_dir = shm_dir
        self._sleep = sleep
        self.workers: list[_Worker | None] = [None] * workers
        self.restarts = 0
        self._backoff_s = [0.0] * workers  # per worker slot: the next restart's delay
        self.fetch_stats = FetchStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._peer_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()  # restarts: cancelled on close
        self._reaps: set[asyncio.Task[None]] = set()  # dead workers being reaped: awaited on close
        self._started = False
        self._closed = False

    def pids(self) -> list[int]:
        """The live workers' process ids (the bench lists their CPU and memory)."""
        return [w.pid for w in self.workers if w is not None and w.alive]

    async def start(self) -> None:
        """Start every worker; `ReceiveWorkerError` (the others stopped again) when one cannot start."""
        if self._closed:
            raise ReceiveWorkerError("the receive pool is closed")
        self._loop = asyncio.get_running_loop()
        try:
            for i in range(self.size):
                worker = _Worker(self, i)
                await worker.start()
                self.workers[i] = worker
        except BaseException:
            await self.close()
            raise
        self._started = True

    async def __call__(self, offer_sdp: str, on_track: OnTrack, on_closed: OnClosed) -> tuple[str, WorkerPeer]:
        """Answer the offer in the least loaded live worker (the `PeerFactory` signature)."""
        live = [w for w in self.workers if w is not None and w.alive]
        if self._closed or not self._started:
            raise WhipError(503, "the classroom is not receiving cameras right now; try again in a moment",
                            retry_after_s=2)
        if not live:
            raise WhipError(503, "the classroom's receivers are restarting; try again in a moment", retry_after_s=2)
        worker = min(live, key=lambda w: len(w.peers))
        peer = WorkerPeer(worker, next(self._peer_ids), on_track, on_closed)
        worker.peers[peer.peer_id] = peer
        try:
            answer = await asyncio.wait_for(worker.request("offer", peer.peer_id, offer_sdp), self.offer_timeout_s)
        except TimeoutError:
            worker.peers.pop(peer.peer_id, None)
            worker.send(("close", 0, peer.peer_id))
            log.warning("%s did not answer an offer within %g s", worker.name, self.offer_timeout_s)
            raise WhipError(503, "the classroom is busy connecting cameras; try again in a moment",
                            retry_after_s=2) from None
        except ReceiveWorkerLost:
            raise WhipError(503, "the classroom's receiver stopped while connecting you; try again",
                            retry_after_s=1) from None
        except ReceiveWorkerError as exc:
            worker.peers.pop(peer.peer_id, None)
            raise OfferError(str(exc)) from None
        except BaseException:  # cancelled (the client went away): the worker may hold a peer now
            worker.peers.pop(peer.peer_id, None)
            worker.send(("close", 0, peer.peer_id))
            raise
        return answer, peer

    def fetch_bgr(self, frames: list[WorkerFrame]) -> list[np.ndarray | None]:
        """BGR copies of the newest frames of these frames' tracks: one request per worker, all workers
        at once; None for a track whose worker no longer has it (ended, or the worker died). Blocks
        the calling thread (the sampler's), never the event loop."""
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is loop:
            raise RuntimeError("fetch_bgr blocks on the event loop's answer: call it from a worker thread")
        out: list[np.ndarray | None] = [None] * len(frames)
        by_worker: dict[_Worker, list[int]] = {}
        for i, f in enumerate(frames):
            by_worker.setdefault(f.track.worker, []).append(i)
        asked = sorted((w for w in by_worker if w.alive), key=lambda w: w.index)
        if loop is None or not asked:
            self.fetch_stats.add(0, 0.0, failed=len(frames))
            return out
        with contextlib.ExitStack() as held:
            for w in asked:  # in index order: two sessions' ticks never wait for each other's locks
                held.enter_context(w.fetch_lock)
            t0 = time.perf_counter()
            fut = asyncio.run_coroutine_threadsafe(self._fetch_all(
                [(w, [frames[i].track.track_id for i in by_worker[w]]) for w in asked]), loop)
            try:
                replies = fut.result(self.call_timeout_s)
            except Exception as exc:  # TimeoutError: the loop or the workers are stuck
                fut.cancel()
                log.warning("could not fetch %d frames from the receive workers: %s", len(frames),
                            exc or type(exc).__name__)
                self.fetch_stats.add(0, time.perf_counter() - t0, failed=len(frames))
                return out
            t1 = time.perf_counter()
            worker_s = 0.0
            for w, reply in zip(asked, replies, strict=True):
                if isinstance(reply, BaseException):
                    log.warning("could not fetch %d frames from %s: %s", len(by_worker[w]), w.name, reply)
                    continue
                worker_s = max(worker_s, float(reply[3]))  # the workers convert in parallel
                for i, arr in zip(by_worker[w], w.copy_out(reply, len(by_worker[w])), strict=True):
                    out[i] = arr
            t2 = time.perf_counter()
        got = sum(a is not None for a in out)
        self.fetch_stats.add(got, t2 - t0, worker_s=worker_s, copy_s=t2 - t1, failed=len(frames) - got)
        return out

    async def _fetch_all(self, asks: list[tuple[_Worker, list[int]]]) -> list[Any]:
        return await asyncio.gather(*(w.request("fetch", ids) for w, ids in asks), return_exceptions=True)

    def _worker_lost(self, worker: _Worker) -> None:
        if self._closed or self.workers[worker.index] is not worker:
            return
        self.workers[worker.index] = None
        i = worker.index
        # at once after a worker that ran for a while; a crash loop backs off 1, 2, 4 … 60 s
        stable = time.monotonic() - worker.started_at >= STABLE_S
        delay, self._backoff_s[i] = (0.0, 0.0) if stable else (
            self._backoff_s[i], min(MAX_BACKOFF_S, max(1.0, 2 * self._backoff_s[i])))
        self._background(self._restart(i, delay), self._tasks)

    @staticmethod
    def _background(coro: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]]) -> None:
        task = asyncio.ensure_future(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _restart(self, index: int, delay: float) -> None:
        while not self._closed:
            if delay:
                await self._sleep(delay)
                if self._closed:
                    return
            worker = _Worker(self, index)
            try:
                await worker.start()
            except ReceiveWorkerError as exc:
                delay = self._backoff_s[index] = min(MAX_BACKOFF_S, max(1.0, 2 * delay))
                log.error("restarting receive worker %d failed (next try in %g s): %s", index, delay, exc)
                continue
            if self._closed:
                await worker.stop()
                return
            self.workers[index] = worker
            self.restarts += 1
            log.warning("restarted %s (restart %d)", worker.name, self.restarts)
            return

    async def close(self) -> None:
        """Stop every worker and the restarts (idempotent): no process, segment or task is left."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._reaps, return_exceptions=True)
        for i, worker in enumerate(self.workers):
            if worker is not None:
                await worker.stop()
            self.workers[i] = None
