"""A receive worker: a process that owns some students' peer connections (`classroom.receive_workers`).

Started by `bot.web.receive_pool.ReceivePool` as ``python -m bot.web.receive_worker FD [NOTICE_S]``
— a fresh interpreter (never fork or multiprocessing's spawn: the bot's main process may hold
TensorFlow, and PyAV imported after it segfaults). It imports aiortc/PyAV and the classroom's
receive path, never `analysis` or TensorFlow.

For each offer the bot forwards it runs the classroom's own `receive_video` (its own UDP
sockets and ICE, so media flows straight here), drains every video track (aiortc's queues grow
when nobody reads them), keeps only the newest decoded frame per track, and tells the bot which
tracks have a new frame at most every `notice_s` (one message for all tracks). Pixels leave only
when the bot's sampler asks (``fetch``, about one frame per student per second): the worker
converts the newest frames to BGR into its own shared-memory segment and answers with the slot
table. The protocol is `bot.web.receive_protocol`.

The segment lives in /dev/shm under ``cp_rw_<bot pid>_<worker pid>_<n>``: the worker unlinks it
when it stops or when the bot's end of the socket closes, and the bot unlinks what a killed worker
left behind by that name (multiprocessing's resource tracker is not used: it would be one more
process per worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mmap
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.sessions.frame_arena import ALIGN, GROWTH, SHM_DIR, Slot, layout
from bot.web import receive_protocol as wire

log = logging.getLogger("classpulse.receive_worker")

NOTICE_S = 0.2  # the newest frame reaches the bot's sampler at most this late


def segment_prefix(bot_pid: int, worker_pid: int) -> str:
    """The name prefix of a worker's segments: the bot can find and unlink what a killed worker left."""
    return f"cp_rw_{bot_pid}_{worker_pid}_"


class WorkerArena:
    """The worker's shared-memory segment for fetched frames, replaced by a larger one when needed."""

    def __init__(self, prefix: str, shm_dir: str = SHM_DIR) -> None:
        self._prefix = prefix
        self._dir = Path(shm_dir)
        self._n = 0
        self._name: str | None = None
        self._map: mmap.mmap | None = None

    @property
    def name(self) -> str | None:
        return self._name

    def pack(self, frames: Sequence[np.ndarray]) -> tuple[str, list[Slot]]:
        slots, need = layout([f.shape for f in frames])
        if self._map is None or len(self._map) < need:
            self._replace(max(ALIGN, int(need * GROWTH)))
        assert self._map is not None and self._name is not None
        for f, slot in zip(frames, slots, strict=True):
            dst = np.ndarray(slot.shape, dtype=np.uint8, buffer=self._map, offset=slot.offset)
            np.copyto(dst, f)
            del dst
        return self._name, slots

    def _replace(self, size: int) -> None:
        self.close()
        self._n += 1
        name = f"{self._prefix}{self._n}"
        fd = os.open(self._dir / name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        except BaseException:
            (self._dir / name).unlink()
            raise
        finally:
            os.close(fd)
        self._name = name

    def close(self) -> None:
        """Unlink the segment (the bot's mapping, if any, stays valid until it maps another)."""
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._name is not None:
            with contextlib.suppress(FileNotFoundError):
                (self._dir / self._name).unlink()
            self._name = None


@dataclass
class _Track:
    track: Any
    frame: Any = None  # the newest decoded frame (a PyAV VideoFrame)
    seq: int = 0
    unsent: int = 0  # frames since the last notice
    task: asyncio.Task[None] | None = field(default=None, repr=False)


def to_bgr(frame: Any) -> np.ndarray:
    arr: np.ndarray = frame.to_ndarray(format="bgr24")
    return arr


class Worker:
    """The worker's state and request handlers; `send` writes one message to the bot."""

    def __init__(self, writer: asyncio.StreamWriter, prefix: str, notice_s: float = NOTICE_S) -> None:
        self._writer = writer
        self.notice_s = notice_s
        self.peers: dict[int, Any] = {}
        self.tracks: dict[int, _Track] = {}
        self._next_track = 0
        self._dirty: set[int] = set()
        self.arena = WorkerArena(prefix)
        self._convert = ThreadPoolExecutor(1, thread_name_prefix="receive-fetch")
        self._fetching = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    def send(self, msg: tuple[Any, ...]) -> None:
        if not self._writer.is_closing():
            self._writer.write(wire.encode(msg))

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- requests --------------------------------------------------------------------------
    def handle(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "offer":
            self.spawn(self._offer(msg[1], msg[2], msg[3]))
        elif kind == "close":
            self.spawn(self._close(msg[1], msg[2]))
        elif kind == "stop_track":
            entry = self.tracks.get(msg[1])
            if entry is not None:
                entry.track.stop()
        elif kind == "fetch":
            self.spawn(self._fetch(msg[1], msg[2]))

    async def _offer(self, req: int, peer_id: int, sdp: str) -> None:
        from bot.web.rtc import OfferError, receive_video

        def on_track(track: Any) -> None:
            tid = self._next_track = self._next_track + 1
            entry = self.tracks[tid] = _Track(track)
            self.send(("track", peer_id, tid))
            entry.task = asyncio.ensure_future(self._drain(tid, entry))

        def on_closed() -> None:
            self.peers.pop(peer_id, None)  # failed or closed: nothing left to close for the bot
            self.send(("closed", peer_id))

        try:
            answer, peer = await receive_video(sdp, on_track, on_closed)
        except OfferError as exc:
            self.send(("reply", req, False, str(exc)))
            return
        except Exception as exc:  # a bug, not the offer: the bot must not wait for an answer for ever
            log.exception("answering an offer failed")
            self.send(("reply", req, False, f"the receive worker failed: {exc or type(exc).__name__}"))
            return
        self.peers[peer_id] = peer
        self.send(("reply", req, True, answer))

    async def _close(self, req: int, peer_id: int) -> None:
        peer = self.peers.pop(peer_id, None)
        if peer is not None:
            await peer.close()
        self.send(("reply", req, True, None))

    async def _drain(self, tid: int, entry: _Track) -> None:
        from aiortc.mediastreams import MediaStreamError

        try:
            while True:
                entry.frame = await entry.track.recv()
                entry.seq += 1
                entry.unsent += 1
                self._dirty.add(tid)
                if entry.seq == 1:
                    self.flush()  # the room seats a student at the first frame: no need to wait
        except MediaStreamError:
            pass
        except Exception:
            log.exception("track %d failed", tid)
        self.tracks.pop(tid, None)
        self._dirty.discard(tid)
        self.send(("ended", tid))

    def flush(self) -> None:
        """One notice for every track with frames the bot has not heard of yet."""
        if not self._dirty:
            return
        notices = []
        for tid in self._dirty:
            entry = self.tracks.get(tid)
            if entry is None or entry.frame is None:
                continue
            notices.append((tid, entry.seq, entry.unsent, int(entry.frame.width), int(entry.frame.height)))
            entry.unsent = 0
        self._dirty.clear()
        if notices:
            self.send(("frames", notices))

    async def notices(self) -> None:
        while True:
            await asyncio.sleep(self.notice_s)
            self.flush()

    async def _fetch(self, req: int, track_ids: list[int]) -> None:
        async with self._fetching:  # one segment: one fetch at a time
            picked = [(tid, self.tracks[tid].frame, self.tracks[tid].seq) if tid in self.tracks else (tid, None, None)
                      for tid in track_ids]
            frames = [f for _, f, _ in picked if f is not None]
            loop = asyncio.get_running_loop()
            t0 = time.perf_counter()
            try:
                name, slots = await loop.run_in_executor(self._convert, self._pack, frames)
            except Exception:
                self.send(("reply", req, False, traceback.format_exc(limit=4)))
                return
            took = time.perf_counter() - t0
        it = iter(slots)
        self.send(("reply", req, True, (name, [None if f is None else next(it) for _, f, _ in picked],
                                         [None if f is None else s for _, f, s in picked], took)))

    def _pack(self, frames: list[Any]) -> tuple[str | None, list[Slot]]:
        if not frames:
            return None, []
        return self.arena.pack([to_bgr(f) for f in frames])

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for entry in self.tracks.values():
            if entry.task is not None:
                entry.task.cancel()
        for peer in list(self.peers.values()):
            with contextlib.suppress(Exception):
                await peer.close()
        self.peers.clear()
        self._convert.shutdown(wait=True)
        self.arena.close()


async def serve(sock: socket.socket, bot_pid: int, notice_s: float) -> None:
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    worker = Worker(writer, segment_prefix(bot_pid, os.getpid()), notice_s)
    worker.send(("ready", os.getpid()))
    notices = asyncio.ensure_future(worker.notices())
    try:
        while True:
            try:
                msg = wire.check(await wire.read(reader, "the bot"), wire.TO_WORKER, "the bot")
            except EOFError:
                return  # the bot is gone
            except wire.ProtocolError as exc:
                log.error("%s: stopping", exc)  # the bot sees the socket close and starts another worker
                raise
            if msg[0] == "stop":
                return
            worker.handle(msg)
            await writer.drain()
    finally:
        notices.cancel()
        await worker.close()
        writer.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or not args[0].isdigit() or len(args) > 2:
        print("usage: python -m bot.web.receive_worker FD [NOTICE_S] (started by the bot, not by hand)",
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the bot's to handle; it stops us
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s receive worker: %(message)s")
    sock = socket.socket(fileno=int(args[0]))
    try:
        notice_s = float(args[1]) if len(args) > 1 else NOTICE_S
        from bot.web import rtc  # noqa: F401 - aiortc and PyAV now: the first offer must not wait for them
    except BaseException:
        with contextlib.suppress(OSError):
            sock.sendall(wire.encode(("failed", traceback.format_exc(limit=8))))
        return 1
    try:
        asyncio.run(serve(sock, os.getppid(), notice_s))
    except wire.ProtocolError:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
