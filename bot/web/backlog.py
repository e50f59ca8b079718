"""Bounded media queues inside aiortc's receivers, so a bot that falls behind cannot grow without bound.

aiortc (1.x) receives video through two unbounded queues: encoded frames wait in a
``queue.Queue`` for the receiver's decoder thread, and decoded frames wait in the remote
track's ``asyncio.Queue`` for ``recv()``. When the machine cannot decode every student's
frames as fast as they arrive (15 students at 15 fps on two busy cores), the first queue
grows for as long as the class lasts: memory rises linearly and the newest frame the
sampler sees gets older and older (issue 18, item 13; the same leak is reported in
roboflow/inference#1537 and pipecat#3066). The analysis needs one recent frame per student
per tick, never a backlog, so:

- `EncodedBacklog` keeps at most `limit` encoded frames. When it overflows it drops the
  whole backlog, then skips frames until the next key frame (a VP8/H.264 decoder cannot
  start from a delta frame) and asks the sender for one at once, through the receiver's own
  "decoder error" flag, on which aiortc sends an RTCP PLI with the next packet.
- `NewestFrames` keeps the newest `maxsize` decoded frames and drops the oldest.

`bound_receiver` installs both on a receiver after its track event and before media flows
(aiortc starts the decoder thread only when the connection is up). They replace private
attributes, so an aiortc whose internals differ is left alone with a warning, never broken.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ENCODED_LIMIT = 30  # two seconds at 15 fps: jitter, never a backlog worth keeping
DECODED_LIMIT = 2


def is_key_frame(codec_name: str, data: bytes) -> bool:
    """Whether a reassembled encoded frame can start a decoder (unknown codecs: assume it can)."""
    name = codec_name.upper()
    if name == "VP8":  # RFC 6386 9.1: bit 0 of the frame tag is 0 for a key frame
        return bool(data) and data[0] & 0x01 == 0
    if name == "H264":  # an IDR slice or a sequence parameter set (Annex B start codes)
        parts = data.split(b"\x00\x00\x01")
        return any(p and p[0] & 0x1F in (5, 7) for p in parts[1:]) or (
            bool(data) and data[0] & 0x1F in (5, 7))
    return True


@dataclass
class BacklogStats:
    dropped: int = 0  # encoded frames thrown away
    overflows: int = 0  # times the backlog was cut


class EncodedBacklog(queue.Queue[Any]):
    """The decoder thread's input: (codec, encoded frame) items, or None to stop, at most `limit`."""

    def __init__(self, limit: int = ENCODED_LIMIT, want_key_frame: threading.Event | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.want_key_frame = want_key_frame  # aiortc's decoder-error flag: set → PLI with the next packet
        self.skipping = False
        self.stats = BacklogStats()

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is not None:
            codec, frame = item
            key = is_key_frame(getattr(codec, "name", ""), bytes(getattr(frame, "data", b"")))
            if self.skipping and not key:
                self.stats.dropped += 1
                return
            self.skipping = False
            if self.qsize() >= self.limit:
                with self.mutex:
                    self.stats.dropped += len(self.queue)
                    self.queue.clear()
                self.stats.overflows += 1
                if not key:
                    self.skipping = True
                    self.stats.dropped += 1
                    if self.want_key_frame is not None:
                        self.want_key_frame.set()
                    return
        super().put(item, block, timeout)


class NewestFrames(asyncio.Queue[Any]):
    """Decoded frames for `recv()`: the newest `maxsize`, older ones dropped; never blocks a producer."""

    def __init__(self, maxsize: int = DECODED_LIMIT) -> None:
        super().__init__()
        self.keep = maxsize
        self.dropped = 0

    def put_nowait(self, item: Any) -> None:
        while self.qsize() >= self.keep:
            if self._queue[0] is None:  # type: ignore[attr-defined]
                break  # the end-of-track marker stays
            self.get_nowait()
            self.dropped += 1
        super().put_nowait(item)

    async def put(self, item: Any) -> None:
        self.put_nowait(item)


_warned = False


def bound_receiver(receiver: Any, track: Any) -> EncodedBacklog | None:
    """Install the bounded queues on an aiortc receiver whose decoder has not started yet."""
    global _warned
    names = ("_RTCRtpReceiver__decoder_queue", "_RTCRtpReceiver__decoder_error", "_RTCRtpReceiver__decoder_thread")
    fits = all(hasattr(receiver, n) for n in names) and isinstance(getattr(track, "_queue", None), asyncio.Queue)
    if not fits or getattr(receiver, names[2]) is not None:
        if not _warned:
            _warned = True
            log.warning("cannot bound aiortc's receive queues (unexpected aiortc internals): a bot that falls "
                        "behind will use more memory")
        return None
    backlog = EncodedBacklog(ENCODED_LIMIT, getattr(receiver, names[1]))
    setattr(receiver, names[0], backlog)
    track._queue = NewestFrames(DECODED_LIMIT)
    return backlog
