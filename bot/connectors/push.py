"""A video track fed by pushes, for platforms that send frames instead of RTP.

Zoom RTMS (and the fake connector used in tests) receive frames in their own receive
loop; this track turns those pushes into aiortc's pull contract (`await recv()`).
It holds only the newest frame: a pushed frame that nobody fetched yet is replaced, so a
slow consumer can never make memory grow.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


class PushVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, rotated: bool = False) -> None:
        super().__init__()
        #: frames come only while the platform streams this participant (Zoom's rotation): the
        #: sampler skips a silent rotated track instead of taking its silence as camera off
        self.rotated = rotated
        self._frame: Any = None
        self._ready = asyncio.Event()
        self.pushed = 0
        self.replaced = 0

    def push(self, frame: Any) -> None:
        """Offer a frame (an `av.VideoFrame` or a BGR `numpy` array); the newest one wins."""
        if self.readyState != "live":
            return
        if self._ready.is_set():
            self.replaced += 1
        self._frame = frame
        self.pushed += 1
        self._ready.set()

    async def recv(self) -> Any:
        await self._ready.wait()
        if self.readyState != "live":
            raise MediaStreamError
        self._ready.clear()
        frame, self._frame = self._frame, None
        return frame

    def stop(self) -> None:
        super().stop()
        self._ready.set()  # wake a pending recv() so it raises MediaStreamError
