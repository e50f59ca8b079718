"""Zoom RTMS connector: a meeting's roster and one rotating individual video stream.

`join()` runs the two RTMS handshakes (signalling 1→2 with event subscription 5, media
3→4, then CLIENT_READY_ACK 7) and returns; from then on three tasks run:

- the signalling reader turns EVENT_UPDATEs (6) into `Joined`/`VideoOn`/`VideoOff`/`Left`
  and stream/session stops (8, 9, 21) into `Closed` with the stop reason;
- the media reader decodes MEDIA_DATA_VIDEO (15) into the sender's `PushVideoTrack`, and
  re-opens a dropped media socket (handshake, ready ack, re-subscription) for up to
  `zoom.reconnect_timeout_s`, reported as `Reconnecting`/`Reconnected`;
- the rotation moves the single individual subscription (28) across students with
  camera on (`bot.rotation`).

A student who is not being watched must be *skipped* by the sampler, not sampled from a
stale frame nor as camera off. The sampler does not sample a track that has not
delivered its first frame yet, so when the rotation leaves a student the connector hands
the session a fresh, empty track for them (`VideoOn`): they are skipped until the
rotation comes back and frames flow again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection

import aiohttp

from bot import rotation
from bot.config import ZoomSection
from bot.connectors import zoom_protocol as zp
from bot.connectors.base import (
    Capabilities,
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
from bot.connectors.push import PushVideoTrack
from bot.connectors.zoom_client import RtmsSocket, SocketClosed
from bot.connectors.zoom_media import FrameDecoder, decoder_for
from bot.connectors.zoom_signing import stream_signature

log = logging.getLogger(__name__)

ROTATION_TICK_S = 0.1


def video_params(settings: ZoomSection) -> zp.VideoParams:
    codec = {"jpg": zp.Codec.JPG, "png": zp.Codec.PNG, "h264": zp.Codec.H264}[settings.codec]
    res = {"sd": zp.Resolution.SD, "hd": zp.Resolution.HD, "fhd": zp.Resolution.FHD}[settings.resolution]
    fps = settings.fps if codec is zp.Codec.H264 else min(settings.fps, 5)  # pictures: at most 5 fps
    return zp.VideoParams(codec, res, zp.DataOpt.INDIVIDUAL, fps)


class ZoomConnector(Connector):
    capabilities = Capabilities(max_video_streams=1)

    def __init__(self, ref: zp.StreamRef, settings: ZoomSection, *, sample_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.ref = ref
        self.settings = settings
        self.params = video_params(settings)
        self.rotation = rotation.Rotation(settings.dwell_s, settings.frame_timeout_s)
        self.sampling = rotation.describe(settings.dwell_s, sample_interval_s)
        self.description = (f"Zoom meeting {ref.meeting_uuid} (RTMS stream {ref.rtms_stream_id}, "
                            f"one individual video at a time, {settings.dwell_s:g} s per student)")
        self._clock = clock
        self._http: aiohttp.ClientSession | None = None
        self._signal: RtmsSocket | None = None
        self._media: RtmsSocket | None = None
        self._media_url = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._tracks: dict[int, PushVideoTrack] = {}
        self._names: dict[int, str] = {}
        self._decoder: FrameDecoder = decoder_for(self.params.codec)
        self._only: set[int] | None = None
        self._leaving = False
        self.media_reconnects = 0
        self.frames = 0

    def _signature(self) -> str:
        s = self.settings
        return stream_signature(s.client_id, s.client_secret.get_secret_value(),
                                self.ref.meeting_uuid, self.ref.rtms_stream_id)

    # -- joining ----------------------------------------------------------------------------
    async def join(self) -> None:
        if not self.settings.client_id or not self.settings.client_secret.get_secret_value():
            raise ConnectorError(FailureReason.WRONG_SECRET,
                                 "zoom.client_id and zoom.client_secret are not configured")
        t = self.settings.handshake_timeout_s  # connecting only: the sockets themselves live for the class
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=t, sock_connect=t))
        try:
            await self._open_signalling()
            await self._open_media()
        except ConnectorError:
            await self._close_sockets()
            raise
        self._tasks = [asyncio.ensure_future(self._read_signalling()),
                       asyncio.ensure_future(self._read_media()),
                       asyncio.ensure_future(self._rotate())]

    async def _open_signalling(self) -> None:
        assert self._http is not None
        timeout = self.settings.handshake_timeout_s
        try:
            self._signal = await RtmsSocket.open(self._http, self.ref.server_urls, "signalling", timeout)
        except SocketClosed as exc:
            raise ConnectorError(FailureReason.MEETING_NOT_FOUND, exc.detail) from None
        answer = await self._handshake(self._signal, zp.signaling_handshake(self.ref, self._signature()),
                                       zp.SignalingReady)
        assert isinstance(answer, zp.SignalingReady)
        self._media_url = answer.video_url
        await self._send_signal(zp.event_subscription())

    async def _open_media(self) -> None:
        assert self._http is not None and self._signal is not None
        try:
            media = await RtmsSocket.open(self._http, self._media_url, "media", self.settings.handshake_timeout_s)
        except SocketClosed as exc:
            raise ConnectorError(FailureReason.NETWORK, exc.detail) from None
        await self._handshake(media, zp.data_handshake(self.ref, self._signature(), self.params), zp.DataReady)
        self._media = media
        await self._send_signal(zp.client_ready(self.ref))

    async def _send_signal(self, message: dict[str, object]) -> None:
        assert self._signal is not None
        try:
            await self._signal.send(message)
        except SocketClosed as exc:
            raise ConnectorError(FailureReason.NETWORK, exc.detail) from None

    async def _handshake(self, sock: RtmsSocket, request: dict[str, object],
                         kind: type[zp.Message]) -> zp.Message:
        try:
            await sock.send(request)
            answer = await sock.expect(kind, self.settings.handshake_timeout_s)
        except TimeoutError:
            await sock.close()
            raise ConnectorError(FailureReason.NETWORK, f"Zoom did not answer the {sock.name} handshake within "
                                 f"{self.settings.handshake_timeout_s:g} s") from None
        except SocketClosed as exc:
            raise ConnectorError(FailureReason.NETWORK, f"{exc.detail} during the handshake") from None
        if isinstance(answer, zp.Refused):
            await sock.close()
            reason, detail = zp.failure_for_status(answer.status)
            raise ConnectorError(reason, f"{sock.name} handshake refused: {detail}")
        if isinstance(answer, zp.StreamStopped):
            await sock.close()
            raise ConnectorError(FailureReason.MEETING_NOT_FOUND, zp.failure_for_stop(answer.stop_reason)[1])
        return answer

    # -- signalling ------------------------------------------------------------------------
    async def _read_signalling(self) -> None:
        assert self._signal is not None
        try:
            while True:
                msg = await self._signal.receive()
                if isinstance(msg, zp.RosterUpdate):
                    self._on_roster(msg)
                elif isinstance(msg, zp.StreamStopped):
                    reason, detail = zp.failure_for_stop(msg.stop_reason)
                    self._end(reason, f"Zoom ended the stream: {detail}")
                    return
        except SocketClosed as exc:
            if not self._leaving:
                self._end(FailureReason.NETWORK, exc.detail)

    def _on_roster(self, update: zp.RosterUpdate) -> None:
        for person in update.people:
            uid, feed = person.user_id, str(person.user_id)
            if update.event is zp.Event.PARTICIPANT_JOIN:
                self._names[uid] = person.user_name or f"Zoom user {uid}"
                self.channel.put(Joined(feed, self._names[uid]))
            elif uid not in self._names:
                continue  # a user we were never told about (or the app's own presence)
            elif update.event is zp.Event.PARTICIPANT_VIDEO_ON:
                self.rotation.video_on(uid)
                self._fresh_track(uid)
            elif update.event is zp.Event.PARTICIPANT_VIDEO_OFF:
                self.rotation.video_off(uid)
                self._drop_track(uid)
                self.channel.put(VideoOff(feed))
            elif update.event is zp.Event.PARTICIPANT_LEAVE:
                self.rotation.left(uid)
                self._drop_track(uid)
                del self._names[uid]
                self.channel.put(Left(feed))

    def _fresh_track(self, uid: int) -> None:
        """A new empty track: the sampler skips the student until frames arrive on it."""
        self._drop_track(uid)
        track = PushVideoTrack(rotated=True)
        self._tracks[uid] = track
        self.channel.put(VideoOn(str(uid), track))

    def _drop_track(self, uid: int) -> None:
        track = self._tracks.pop(uid, None)
        if track is not None:
            track.stop()

    def _end(self, reason: FailureReason | None, detail: str) -> None:
        self.channel.put(Closed(reason, detail))
        self.channel.close()

    # -- media -----------------------------------------------------------------------------
    async def _read_media(self) -> None:
        while not self._leaving:
            assert self._media is not None
            try:
                msg = await self._media.receive()
            except SocketClosed as exc:
                if self._leaving or self.channel.closed:
                    return
                if not await self._reconnect_media(exc.detail):
                    return
                continue
            if isinstance(msg, zp.VideoData):
                self._on_video(msg)
            elif isinstance(msg, zp.Refused):
                log.warning("video subscription refused: %s", zp.failure_for_status(msg.status)[1])
            elif isinstance(msg, zp.StreamStopped):
                stop, detail = zp.failure_for_stop(msg.stop_reason)
                self._end(stop, f"Zoom ended the stream: {detail}")
                return

    def _on_video(self, msg: zp.VideoData) -> None:
        track = self._tracks.get(msg.user_id)
        if track is None or msg.user_id != self.rotation.current:
            return  # late frames of a student we already moved away from
        frames = self._decoder.decode(msg.data)
        for frame in frames:
            track.push(frame)
        if frames:
            self.frames += len(frames)
            self.rotation.frame(msg.user_id, self._clock())

    async def _reconnect_media(self, detail: str) -> bool:
        self.channel.put(Reconnecting(f"media socket lost: {detail}"))
        deadline = self._clock() + self.settings.reconnect_timeout_s
        delay = 0.2
        while not self._leaving:
            try:
                await self._open_media()
            except ConnectorError as exc:
                if exc.reason is FailureReason.WRONG_SECRET or self._clock() + delay > deadline:
                    self._end(exc.reason, f"media connection lost and not restored: {exc.detail}")
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.media_reconnects += 1
            self._decoder.reset()
            if self.rotation.current is not None:
                await self._subscribe(self.rotation.current)
            self.channel.put(Reconnected())
            return True
        return False

    # -- rotation --------------------------------------------------------------------------
    async def watch(self, feed_ids: Collection[str]) -> None:
        """Rotate over these participants only (empty: everybody with camera on)."""
        self._only = {int(f) for f in feed_ids if f.isdigit()} or None  # feed ids are Zoom user ids
        self.rotation.restrict(self._only)

    async def _rotate(self) -> None:
        while not self._leaving:
            previous = self.rotation.current
            nxt = self.rotation.due(self._clock())
            if nxt is not None:
                if previous is not None and previous in self._tracks:
                    self._fresh_track(previous)  # not watched any more: skipped, not stale
                self._decoder.reset()
                await self._subscribe(nxt)
            await asyncio.sleep(ROTATION_TICK_S)

    async def _subscribe(self, uid: int) -> None:
        if self._media is None:
            return
        with contextlib.suppress(SocketClosed):  # the media reader notices and reconnects
            await self._media.send(zp.video_subscription(uid))

    # -- leaving ---------------------------------------------------------------------------
    async def leave(self) -> None:
        if self._leaving:
            return
        self._leaving = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._signal is not None:
            with contextlib.suppress(SocketClosed):
                await self._signal.send(zp.stream_close(self.ref))
        await self._close_sockets()
        for uid in list(self._tracks):
            self._drop_track(uid)
        self.channel.close()

    async def _close_sockets(self) -> None:
        for sock in (self._media, self._signal):
            if sock is not None:
                with contextlib.suppress(Exception):
                    await sock.close()
        if self._http is not None:
            await self._http.close()
