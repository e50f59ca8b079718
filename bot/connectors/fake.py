"""An in-process meeting for unit tests, faithful to what real connectors do.

`FakeMeeting` is the meeting (tests drive it: students arrive, turn cameras off, drop,
the signalling breaks); `FakeConnector` is the bot's view of it through the standard
interface. `FakeCamera` behaves like an aiortc remote track: frames arrive at a fixed
rate into an *unbounded* queue whether or not anybody calls `recv()`, so a consumer
that stops draining makes `backlog` grow — exactly the failure tests must catch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bot.connectors.base import (
    Closed,
    Connector,
    ConnectorError,
    FailureReason,
    Joined,
    Left,
    Reconnected,
    Reconnecting,
    VideoOff,
    VideoOn,
)

FrameMaker = Callable[[int], np.ndarray]


def solid(value: int, size: tuple[int, int] = (64, 48)) -> FrameMaker:
    """Frames of one grey level with a moving bright square (never "frozen")."""

    def make(i: int) -> np.ndarray:
        w, h = size
        img = np.full((h, w, 3), value, np.uint8)
        x = (i * 3) % max(1, w - 8)
        img[4:12, x:x + 8] = 255
        return img

    return make


class FakeCamera(MediaStreamTrack):
    kind = "video"

    def __init__(self, make: FrameMaker, fps: float = 30.0) -> None:
        super().__init__()
        self._make = make
        self._fps = fps
        self._queue: asyncio.Queue[av.VideoFrame | None] = asyncio.Queue()
        self._task = asyncio.ensure_future(self._produce())
        self.produced = 0
        self.received = 0

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    async def _produce(self) -> None:
        i = 0
        while True:
            frame = av.VideoFrame.from_ndarray(self._make(i), format="bgr24")
            frame.pts = i
            self._queue.put_nowait(frame)
            self.produced += 1
            i += 1
            await asyncio.sleep(1 / self._fps)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            raise MediaStreamError
        self.received += 1
        return frame

    def stop(self) -> None:
        if self.readyState == "live":
            self._task.cancel()
            self._queue.put_nowait(None)
        super().stop()


class FakeMeeting:
    """The meeting side. Tests call these methods; the connector reports them as events."""

    def __init__(self, *, exists: bool = True, pin: str = "", admit: bool = True) -> None:
        self.exists = exists
        self.pin = pin
        self.admit = admit
        self.connector: FakeConnector | None = None
        self.cameras: dict[str, FakeCamera] = {}
        self.names: dict[str, str] = {}

    def _emit(self, event: Joined | VideoOn | VideoOff | Left | Reconnecting | Reconnected | Closed) -> None:
        if self.connector is not None and self.connector.inside:
            self.connector.channel.put(event)

    def arrive(self, feed_id: str, name: str, *, video: FrameMaker | None = None, fps: float = 30.0) -> None:
        self.names[feed_id] = name
        self._emit(Joined(feed_id, name, video_expected=video is not None))
        if video is not None:
            self.camera_on(feed_id, video, fps=fps)

    def camera_on(self, feed_id: str, video: FrameMaker, fps: float = 30.0) -> FakeCamera:
        cam = FakeCamera(video, fps)
        old = self.cameras.pop(feed_id, None)
        if old is not None:
            old.stop()
        self.cameras[feed_id] = cam
        self._emit(VideoOn(feed_id, cam))
        return cam

    def attach(self, feed_id: str, track: MediaStreamTrack) -> None:
        """Report any track as the participant's video (e.g. one whose media never arrives)."""
        self._emit(VideoOn(feed_id, track))

    def camera_off(self, feed_id: str) -> None:
        cam = self.cameras.pop(feed_id, None)
        if cam is not None:
            cam.stop()
        self._emit(VideoOff(feed_id))

    def depart(self, feed_id: str) -> None:
        self.names.pop(feed_id, None)
        cam = self.cameras.pop(feed_id, None)
        if cam is not None:
            cam.stop()
        self._emit(Left(feed_id))

    def signalling_blip(self) -> None:
        self._emit(Reconnecting("fake signalling lost"))
        self._emit(Reconnected())

    def end(self, reason: FailureReason | None = None, detail: str = "meeting ended") -> None:
        self._emit(Closed(reason, detail))
        if self.connector is not None:
            self.connector.channel.close()

    def stop_all(self) -> None:
        for cam in self.cameras.values():
            cam.stop()
        self.cameras.clear()


class FakeConnector(Connector):
    def __init__(self, meeting: FakeMeeting, pin: str = "") -> None:
        super().__init__()
        self.meeting = meeting
        self.pin = pin
        self.inside = False
        self.left = False
        self.description = "fake meeting"

    async def join(self) -> None:
        if self.inside or self.left:
            raise RuntimeError("a connector joins once")
        if not self.meeting.exists:
            raise ConnectorError(FailureReason.MEETING_NOT_FOUND, "no such fake meeting")
        if self.meeting.pin and self.pin != self.meeting.pin:
            raise ConnectorError(FailureReason.WRONG_SECRET, "fake meeting refused the PIN")
        if not self.meeting.admit:
            await asyncio.Event().wait()  # like a waiting room that never opens
        self.meeting.connector = self
        self.inside = True
        for feed_id, name in self.meeting.names.items():  # who is already there, as real rooms report
            self.channel.put(Joined(feed_id, name, video_expected=feed_id in self.meeting.cameras))
            if feed_id in self.meeting.cameras:
                self.channel.put(VideoOn(feed_id, self.meeting.cameras[feed_id]))

    async def leave(self) -> None:
        if self.left:
            return
        self.left = True
        self.inside = False
        self.meeting.stop_all()
        self.channel.close()
