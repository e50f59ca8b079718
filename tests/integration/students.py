"""Simulated students for integration tests: aiortc publishers playing real face clips.

`ClipTrack` decodes the first seconds of a clip once, scaled down, and replays them in a
loop at a fixed rate: real faces, little encoder cost on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from pathlib import Path

import av
import numpy as np
from aiohttp import ClientSession
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_CLOCK = 90_000


def load_clip(path: str | Path, fps: float, size: tuple[int, int], seconds: float = 3.0) -> list[np.ndarray]:
    """Up to `seconds` of the clip at `fps`, as yuv420p arrays of `size`."""
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        src_fps = float(stream.average_rate or 25)
        step = max(1, round(src_fps / fps))
        for i, frame in enumerate(container.decode(stream)):
            if i % step == 0:
                frames.append(frame.reformat(width=size[0], height=size[1], format="yuv420p").to_ndarray())
            if len(frames) >= seconds * fps:
                break
    if not frames:
        raise ValueError(f"{path}: no frames")
    return frames


class ClipTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, frames: list[np.ndarray], fps: float = 10.0) -> None:
        super().__init__()
        self.frames = frames
        self.fps = fps
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        await asyncio.sleep(max(0.0, self._start + self.sent / self.fps - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(self.frames[self.sent % len(self.frames)], format="yuv420p")
        frame.pts = int(self.sent * VIDEO_CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.sent += 1
        return frame


class WhipStudent:
    """One student publishing a clip to a WHIP endpoint."""

    def __init__(self, base_url: str, code: str, name: str, frames: list[np.ndarray], fps: float = 10.0) -> None:
        self.base_url = base_url
        self.code = code
        self.name = name
        self.track = ClipTrack(frames, fps)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.location: str | None = None

    async def join(self, http: ClientSession) -> None:
        self.pc.addTransceiver(self.track, direction="sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with http.post(f"{self.base_url}/whip/{self.code}", params={"name": self.name},
                             data=self.pc.localDescription.sdp,
                             headers={"Content-Type": "application/sdp"}) as res:
            text = await res.text()
            if res.status != 201:
                raise RuntimeError(f"WHIP publish of {self.name}: {res.status} {text}")
            self.location = res.headers["Location"]
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=text, type="answer"))

    async def leave(self, http: ClientSession) -> int:
        status = 0
        if self.location:
            async with http.delete(self.base_url + self.location) as res:
                status = res.status
        await self.pc.close()
        return status

    async def drop(self) -> None:
        """Vanish without saying goodbye (network gone): only ICE consent notices."""
        await self.pc.close()
