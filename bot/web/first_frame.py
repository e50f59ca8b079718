"""Waiting for a student's first video frame, and handing the track on with that frame kept.

A WHIP offer costs the attacker one HTTP request; the peer connection it opens costs us
a seat, an aiortc peer and, once announced, a student in the report. So a publisher is
only announced to the session once a frame has really arrived; `FirstFrameTrack` then
gives the sampler that first frame before reading on, so nothing is lost by peeking.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.connectors.base import VideoTrack


class FirstFrameTrack:
    """A track whose first `recv()` returns the frame that was already read."""

    def __init__(self, track: VideoTrack, first: Any) -> None:
        self.kind = track.kind
        self.inner = track
        self._first: Any = first

    async def recv(self) -> Any:
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        return await self.inner.recv()

    def stop(self) -> None:
        self._first = None
        self.inner.stop()


async def first_frame(track: VideoTrack, timeout_s: float) -> FirstFrameTrack:
    """The track with its first frame in hand; TimeoutError when none came within `timeout_s`.

    A track that ends first (aiortc's MediaStreamError) raises that error instead.
    """
    frame = await asyncio.wait_for(track.recv(), timeout_s)
    return FirstFrameTrack(track, frame)
