"""Zoom RTMS connector: the meeting's participants and one rotating individual video.

`join()` runs the RTMS handshakes — signaling 1→2 and the event subscription 5, media 3→4
(video only, `data_opt 4`), then CLIENT_READY_ACK 7 on the signaling socket — and returns.
From then on four tasks run:

- the signaling reader: EVENT_UPDATEs (6, event in `event`) teach `zoom_participants`
  who is there; video subscription answers (29) and stream/session stops (8, 9) arrive
  here too. A lost signaling socket is re-opened with the whole handshake for up to
  `zoom.signal_reconnect_s` (Zoom keeps the stream about a minute), reported as
  `Reconnecting`/`Reconnected`;
- the media reader: video frames (15) go to the sender's `PushVideoTrack` and also name
  their sender; a lost media socket (or Zoom's event 7) re-opens the media socket only;
- the rotation: ONE individual subscription (28, on the SIGNALING socket) moved across
  students whose camera is on or not yet known (`bot.sessions.rotation`);
- the keep-alive watchdog: nothing from Zoom on the signaling socket for
  `zoom.keepalive_timeout_s` (65 s) → redo the signaling handshake.

Nobody's join is assumed to be replayed: see `zoom_participants` for how students who
were already there are found. A student not being watched is *skipped* by the sampler
(a fresh, empty track), never sampled from a stale frame nor as camera off.

`leave()` only closes the sockets: the stream survives a restart of ClassPulse (Zoom
waits for a reconnection). `end_stream()` sends STREAM_CLOSE_REQ (21), which ends the
class's stream for good — the session calls it only when the teacher stops the analysis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace

import aiohttp

from bot.config import ZoomSection
from bot.connectors import informing
from bot.connectors import zoom_participants as zpp
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
from bot.connectors.zoom_servers import check_server_url, http_session, server_guard
from bot.connectors.zoom_signing import stream_signature
from bot.sessions import rotation

log = logging.getLogger(__name__)

ROTATION_TICK_S = 0.1
MAX_BACKOFF_S = 10.0


class SocketUnreachable(ConnectorError):
    """Nothing answered at a stream URL (worth retrying while reconnecting)."""


def video_params(settings: ZoomSection) -> zp.VideoParams:
    """What to ask for. Zoom grants JPG/PNG only at ≤ 5 fps and H.264 only above 5 fps."""
    codec = {"jpg": zp.Codec.JPG, "png": zp.Codec.PNG, "h264": zp.Codec.H264}[settings.codec]
    res = {"sd": zp.Resolution.SD, "hd": zp.Resolution.HD, "fhd": zp.Resolution.FHD}[settings.resolution]
    fps = max(settings.fps, 6) if codec is zp.Codec.H264 else min(settings.fps, 5)
    return zp.VideoParams(codec, res, zp.DataOpt.INDIVIDUAL, fps)


class ZoomConnector(Connector):
    capabilities = Capabilities(max_video_streams=1)
    informed_by = informing.BY_ZOOM_AND_TEACHER  # no tile, no chat: the app indicator and the teacher
    #: Zoom names a participant only when they join, speak, toggle the camera or send video after the
    #: stream started (nobody present is replayed): a silent student with the camera off is never seen.
    sees_everyone = False

    def __init__(self, ref: zp.StreamRef, settings: ZoomSection, *, sample_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, known: Iterable[tuple[str, str]] = ()) -> None:
        """`known`: (user id, name) pairs from an earlier attempt of this class (a restart):
        Zoom does not replay who is present, so they are probed again from the start."""
        super().__init__()
        self.ref = ref
        self.settings = settings
        self.params = video_params(settings)
        self.granted: zp.GrantedVideo | None = None
        self.rotation: rotation.Rotation[str] = rotation.Rotation(settings.dwell_s, settings.frame_timeout_s)
        self.sampling = rotation.describe(settings.dwell_s, sample_interval_s)
        self.description = (f"Zoom meeting {ref.meeting_uuid} (RTMS stream {ref.rtms_stream_id}, "
                            f"one individual video at a time, {settings.dwell_s:g} s per student)")
        self.participants = zpp.Participants()
        self._hints = list(known)
        self._clock = clock
        self._http: aiohttp.ClientSession | None = None
        self._guard = server_guard(settings)  # public stream servers only, unless allowed
        self._signal: RtmsSocket | None = None
        self._media: RtmsSocket | None = None
        self._media_url = ""
        self._media_ready = asyncio.Event()
        self._signal_up = False
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Future[None]] = set()
        self._reconnecting = asyncio.Lock()  # never a media and a signaling reconnect at once
        self._tracks: dict[str, PushVideoTrack] = {}
        self._wire: dict[str, int | str] = {}  # user id → as Zoom wrote it (int or text), for msg_type 28
        self._retry_at: dict[str, float] = {}
        self.codec = self.params.codec  # what Zoom granted (msg_type 4) once connected
        self._decoder: FrameDecoder = decoder_for(self.codec)
        self._individual = True
        self._leaving = False
        self._close_ack = asyncio.Event()
        self._unknown_types: set[tuple[int, int | None]] = set()
        # what happened, for tests, logs and `zoom-check`
        self.media_reconnects = 0
        self.signal_reconnects = 0
        self.frames = 0
        self.frames_by_user: dict[str, int] = {}
        self.subscriptions: list[str] = []
        self.refusals: list[tuple[str, int, str]] = []
        self.stream_close_sent = False
        #: Called with one line per protocol step (`classpulse zoom-check` prints them).
        self.trace: Callable[[str], None] | None = None

    def _note(self, text: str) -> None:
        log.info("%s", text)
        if self.trace is not None:
            self.trace(text)

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
        self._http = http_session(self._guard, t)
        try:
            await self._connect_all()
        except ConnectorError:
            await self._close_sockets()
            raise
        for user, name in self._hints:
            self._apply(self.participants.hint(zp.user_key(user), name))
        self._tasks = [asyncio.ensure_future(self._read_signaling()),
                       asyncio.ensure_future(self._read_media()),
                       asyncio.ensure_future(self._rotate()),
                       asyncio.ensure_future(self._watchdog())]

    async def _connect_all(self) -> None:
        """Signaling handshake, media handshake, ready ack, event subscription."""
        await self._open_signaling()
        # At once, as Zoom's boilerplate does: every event is a chance to learn who is there.
        await self._send_signal(zp.event_subscription())
        self._note("events subscribed (2 active speaker, 3 join, 4 leave, 8 camera on, 9 camera off)")
        await self._open_media()
        self._signal_up = True

    async def _open_signaling(self) -> None:
        assert self._http is not None
        timeout = self.settings.handshake_timeout_s
        await check_server_url(self._guard, self.ref.server_urls, "signaling server")
        try:
            sock = await RtmsSocket.open(self._http, self.ref.server_urls, "signaling", timeout, self._clock)
        except SocketClosed as exc:
            raise SocketUnreachable(FailureReason.MEETING_NOT_FOUND, exc.detail) from None
        self._note(f"signaling socket open at {self.ref.server_urls}: sending handshake (1)")
        answer = await self._handshake(sock, zp.signaling_handshake(self.ref, self._signature()), zp.SignalingReady)
        assert isinstance(answer, zp.SignalingReady)
        self._signal = sock
        self._media_url = answer.video_url
        self._note(f"signaling handshake accepted (2): media server {answer.video_url}")

    async def _open_media(self) -> None:
        assert self._http is not None and self._signal is not None
        await check_server_url(self._guard, self._media_url, "media server")
        try:
            media = await RtmsSocket.open(self._http, self._media_url, "media", self.settings.handshake_timeout_s,
                                          self._clock)
        except SocketClosed as exc:
            raise SocketUnreachable(FailureReason.NETWORK, exc.detail) from None
        self._note(f"media socket open: sending handshake (3) asking {self.params.as_json()}")
        answer = await self._handshake(media, zp.data_handshake(self.ref, self._signature(), self.params),
                                       zp.DataReady)
        assert isinstance(answer, zp.DataReady)
        g = answer.granted
        self._note("media handshake accepted (4): granted " + (
            f"codec {g.codec}, resolution {g.resolution}, data_opt {g.data_opt}, fps {g.fps}" if g else
            "no media_params (Zoom's defaults)"))
        self._honour(answer.granted)
        self._media = media
        await self._send_signal(zp.client_ready(self.ref))
        self._note("client ready (7) sent on the signaling socket")
        self._media_ready.set()

    def _honour(self, granted: zp.GrantedVideo | None) -> None:
        """Use what Zoom granted in msg_type 4, which may differ from what was asked."""
        self.granted = granted
        if granted is None:
            return
        try:
            codec = zp.Codec(granted.codec)
        except ValueError:
            raise ConnectorError(FailureReason.INTERNAL,
                                 f"Zoom granted video codec {granted.codec}, which ClassPulse cannot decode") from None
        if codec is not self.params.codec:
            log.warning("asked Zoom for %s at %d fps, granted %s at %d fps: decoding %s", self.params.codec.name,
                        self.params.fps, codec.name, granted.fps, codec.name)
        if codec is not self.codec:
            self._decoder = decoder_for(codec)
            self.codec = codec
        self._individual = granted.data_opt in (zp.DataOpt.INDIVIDUAL, 0)
        if not self._individual:
            log.warning("Zoom granted video data_opt %d, not individual streams (4): ClassPulse sees only "
                        "whoever Zoom sends (the active speaker)", granted.data_opt)

    async def _send_signal(self, message: dict[str, object]) -> None:
        if self._signal is None:
            raise ConnectorError(FailureReason.NETWORK, "no signaling connection")
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
            reason, detail = zp.failure_for_status(answer.status, answer.reason, answer.msg_type)
            log.warning("Zoom refused the %s handshake: %s", sock.name, detail)
            if self.trace is not None:
                self.trace(f"{sock.name} handshake REFUSED: {detail}")
            raise ConnectorError(reason, f"{sock.name} handshake refused: {detail}")
        if isinstance(answer, zp.StreamStopped):
            await sock.close()
            raise ConnectorError(FailureReason.MEETING_NOT_FOUND, zp.failure_for_stop(answer.stop_reason)[1])
        return answer

    # -- signaling ------------------------------------------------------------------------
    async def _read_signaling(self) -> None:
        while not self._leaving:
            sock = self._signal
            assert sock is not None
            try:
                msg = await sock.receive()
            except SocketClosed as exc:
                if self._leaving or self.channel.closed:
                    return
                if not await self._reconnect_signaling(exc.detail):
                    return
                continue
            if self._on_message(msg, sock):
                return

    def _on_message(self, msg: zp.Message, sock: RtmsSocket) -> bool:
        """Handle one message from either socket; True when the stream is over."""
        if isinstance(msg, zp.VideoData):
            self._on_video(msg)
        elif isinstance(msg, zp.RosterUpdate):
            self._on_roster(msg)
        elif isinstance(msg, zp.Subscribed):
            self._on_subscribed(msg)
        elif isinstance(msg, zp.MediaInterrupted):
            log.warning("Zoom reports the media connection interrupted: re-opening it")
            if self._media is not None and not self._media.closed:
                closing = asyncio.ensure_future(self._media.close())  # the media reader reconnects
                self._background.add(closing)
                closing.add_done_callback(self._background.discard)
        elif isinstance(msg, zp.StreamStopped):
            reason, detail = zp.failure_for_stop(msg.stop_reason)
            self._end(reason, f"Zoom ended the stream: {detail}", delete_data=zp.is_revoked(msg.stop_reason))
            return True
        elif isinstance(msg, zp.CloseAcknowledged):
            self._close_ack.set()
        elif isinstance(msg, zp.Ignored):
            key = (msg.msg_type, msg.event_type)
            if not msg.known and key not in self._unknown_types:
                self._unknown_types.add(key)
                log.info("%s socket: ignoring RTMS message type %d%s, which ClassPulse does not know", sock.name,
                         msg.msg_type, "" if msg.event_type is None else f" (event type {msg.event_type})")
        elif isinstance(msg, zp.Refused):
            log.warning("%s socket: %s", sock.name, zp.failure_for_status(msg.status, msg.reason, msg.msg_type)[1])
        return False

    def _on_roster(self, update: zp.RosterUpdate) -> None:
        handler = {
            zp.Event.PARTICIPANT_JOIN: lambda p: self.participants.joined(p.user_id, p.user_name),
            zp.Event.ACTIVE_SPEAKER_CHANGE: lambda p: self.participants.spoke(p.user_id, p.user_name),
            zp.Event.PARTICIPANT_VIDEO_ON: lambda p: self.participants.video_on(p.user_id),
            zp.Event.PARTICIPANT_VIDEO_OFF: lambda p: self.participants.video_off(p.user_id),
            zp.Event.PARTICIPANT_LEAVE: lambda p: self.participants.left(p.user_id),
        }[update.event]
        self._note(f"event {update.event.name}: " + ", ".join(
            f"{p.user_id}" + (f" {p.user_name!r}" if p.user_name else "") for p in update.people))
        for person in update.people:
            self._remember_wire(person.user_id, person.wire)
            self._apply(handler(person))

    def _apply(self, effects: list[zpp.Effect]) -> None:
        for fx in effects:
            if isinstance(fx, zpp.Announce):
                log.info("Zoom participant %s is %r (camera %s)", fx.user, fx.name, fx.camera.value)
                self.channel.put(Joined(fx.user, fx.name))
                if fx.camera is not zpp.Camera.OFF:
                    self._fresh_track(fx.user)  # skipped by the sampler until frames arrive
            elif isinstance(fx, zpp.Watch):
                self._retry_at.pop(fx.user, None)
                if self._individual:
                    self.rotation.video_on(fx.user)
            elif isinstance(fx, zpp.Unwatch):
                self._retry_at.pop(fx.user, None)
                self.rotation.video_off(fx.user)
            elif isinstance(fx, zpp.CameraOff):
                self._drop_track(fx.user)
                self.channel.put(VideoOff(fx.user))
            elif isinstance(fx, zpp.Gone):
                self._retry_at.pop(fx.user, None)
                self.rotation.left(fx.user)
                self._drop_track(fx.user)
                if fx.announced:
                    self.channel.put(Left(fx.user))

    def _on_subscribed(self, answer: zp.Subscribed) -> None:
        if answer.ok:
            self._note(f"video subscription to {answer.user_id} granted (29, status {answer.status})")
            return
        if self.trace is not None:
            self.trace(f"video subscription to {answer.user_id} REFUSED (29, status {answer.status} "
                       f"{answer.reason!r})")
        detail = zp.failure_for_status(answer.status, answer.reason, zp.Msg.VIDEO_SUBSCRIPTION_RESP)[1]
        log.warning("Zoom refused the video of %s: %s", answer.user_id, detail)
        self.refusals.append((answer.user_id, answer.status, answer.reason))
        self.rotation.video_off(answer.user_id)  # try the others; this one again later
        self._retry_at[answer.user_id] = self._clock() + self.settings.probe_retry_s

    def _fresh_track(self, user: str) -> None:
        """A new empty track: the sampler skips the student until frames arrive on it."""
        self._drop_track(user)
        track = PushVideoTrack(rotated=True)
        self._tracks[user] = track
        self.channel.put(VideoOn(user, track))

    def _drop_track(self, user: str) -> None:
        track = self._tracks.pop(user, None)
        if track is not None:
            track.stop()

    def _end(self, reason: FailureReason | None, detail: str, *, delete_data: bool = False) -> None:
        self._note(f"stream over: {detail}")
        self._signal_up = False
        self.channel.put(Closed(reason, detail, delete_data))
        self.channel.close()

    async def _reconnect_signaling(self, detail: str) -> bool:
        """Zoom keeps a stream whose signaling socket dropped for about a minute: redo it all."""
        self._signal_up = False
        self._media_ready.clear()
        self.channel.put(Reconnecting(f"signaling socket lost: {detail}"))
        async with self._reconnecting:
            return await self._redo_signaling()

    async def _redo_signaling(self) -> bool:
        for sock in (self._media, self._signal):
            if sock is not None:
                with contextlib.suppress(Exception):
                    await sock.close()
        deadline = self._clock() + self.settings.signal_reconnect_s
        delay = self.settings.reconnect_backoff_s
        while not self._leaving:
            try:
                await self._connect_all()
            except ConnectorError as exc:
                final = exc.reason in (FailureReason.WRONG_SECRET, FailureReason.MEETING_NOT_FOUND) \
                    and not isinstance(exc, SocketUnreachable)
                if final or self._clock() + delay > deadline:
                    self._end(FailureReason.NETWORK, f"signaling connection lost and not restored: {exc.detail}")
                    return False
                log.info("signaling reconnect failed (%s): again in %.1f s", exc.detail, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
                continue
            self.signal_reconnects += 1
            self._decoder.reset()
            if self.rotation.current is not None:
                await self._subscribe(self.rotation.current)
            self.channel.put(Reconnected())
            return True
        return False

    async def _watchdog(self) -> None:
        """No keep-alive (nor anything else) from Zoom for `keepalive_timeout_s`: redo the handshake."""
        limit = self.settings.keepalive_timeout_s
        while not self._leaving:
            await asyncio.sleep(min(1.0, limit / 4))
            sock = self._signal
            if self._signal_up and sock is not None and self._clock() - sock.last_seen > limit:
                log.warning("no keep-alive from Zoom for %.0f s: redoing the signaling handshake", limit)
                await sock.close()  # the signaling reader reconnects

    # -- media -----------------------------------------------------------------------------
    async def _read_media(self) -> None:
        while not self._leaving:
            sock = self._media
            if sock is None or not self._media_ready.is_set():
                await self._media_ready.wait()
                continue
            try:
                msg = await sock.receive()
            except SocketClosed as exc:
                if self._leaving or self.channel.closed:
                    return
                # A lost signaling socket takes the media socket with it: give the signaling
                # reader the moment it needs to notice, then reconnect the media socket alone.
                await asyncio.sleep(min(0.2, self.settings.reconnect_backoff_s))
                async with self._reconnecting:
                    signal = self._signal
                    if sock is not self._media or not self._signal_up or signal is None or signal.closed:
                        continue  # replaced, or the signaling reconnect will replace it
                    if not await self._reconnect_media(exc.detail):
                        return
                continue
            if self._on_message(msg, sock):
                return

    def _remember_wire(self, user: str, wire: int | str) -> None:
        if wire != "" and user not in self._wire:
            self._wire[user] = wire

    def _on_video(self, msg: zp.VideoData) -> None:
        if not msg.user_id:  # a frame naming nobody: the one individual stream we subscribed to
            if not self._individual or self.rotation.current is None:
                return
            msg = replace(msg, user_id=self.rotation.current)
        self._remember_wire(msg.user_id, msg.wire)
        self._apply(self.participants.frame(msg.user_id, msg.user_name))
        if self._individual and msg.user_id != self.rotation.current:
            return  # late frames of a student we already moved away from
        track = self._tracks.get(msg.user_id)
        if track is None:
            if not self._individual and self.participants.camera(msg.user_id) is not None:
                self._fresh_track(msg.user_id)
                track = self._tracks[msg.user_id]
            else:
                return
        frames = self._decoder.decode(msg.data)
        for frame in frames:
            track.push(frame)
        if frames:
            if msg.user_id not in self.frames_by_user:
                self._note(f"first video frame from {msg.user_id} {msg.user_name!r} ({len(msg.data)} bytes)")
            self.frames += len(frames)
            self.frames_by_user[msg.user_id] = self.frames_by_user.get(msg.user_id, 0) + len(frames)
            self.rotation.frame(msg.user_id, self._clock())

    async def _reconnect_media(self, detail: str) -> bool:
        self._media_ready.clear()
        self.channel.put(Reconnecting(f"media socket lost: {detail}"))
        deadline = self._clock() + self.settings.reconnect_timeout_s
        delay = self.settings.reconnect_backoff_s
        while not self._leaving and self._signal_up:
            try:
                await self._open_media()
            except ConnectorError as exc:
                if exc.reason is FailureReason.WRONG_SECRET or self._clock() + delay > deadline:
                    self._end(exc.reason, f"media connection lost and not restored: {exc.detail}")
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
                continue
            self.media_reconnects += 1
            self._decoder.reset()
            if self.rotation.current is not None:
                await self._subscribe(self.rotation.current)
            self.channel.put(Reconnected())
            return True
        return not self._leaving

    # -- restarts and failover ---------------------------------------------------------------
    def known_people(self) -> list[tuple[str, str]]:
        """Everybody named so far, with the earlier attempts' people not seen again yet."""
        named = dict(self._hints)
        named.update(self.participants.known())
        return sorted(named.items())

    def remember_people(self, people: Iterable[tuple[str, str]]) -> None:
        """An earlier attempt's people (the session runner, when it resumes a class): Zoom
        will not announce them again, so they are probed from the start under their names."""
        self._hints = list(dict([*self._hints, *people]).items())

    def fail_over(self, server_urls: str) -> bool:
        """Zoom moved the stream to another server (a new ``meeting.rtms_started`` for the same
        stream with other ``server_urls``, WS "RTMS server failure"): redo the handshake there,
        in this session. False when it is the same server (a webhook retry)."""
        if server_urls == self.ref.server_urls or self._leaving:
            return False
        self._note(f"Zoom moved the stream to {server_urls}: reconnecting there")
        self.ref = replace(self.ref, server_urls=server_urls)
        sock = self._signal
        if sock is not None and not sock.closed:
            closing = asyncio.ensure_future(sock.close())  # the signaling reader reconnects to the new server
            self._background.add(closing)
            closing.add_done_callback(self._background.discard)
        return True

    # -- rotation --------------------------------------------------------------------------
    async def watch(self, feed_ids: Collection[str]) -> None:
        """Rotate over these participants only (empty: everybody watchable)."""
        self.rotation.restrict(set(feed_ids) or None)  # feed ids are Zoom user ids

    def _replan(self, now: float) -> None:
        """Unanswered probes wait `probe_retry_s`; waiting ones whose time has come return."""
        while self.rotation.unanswered:
            user = self.rotation.unanswered.pop()
            if self.participants.camera(user) is not zpp.Camera.ON:
                self.rotation.video_off(user)
                self._retry_at[user] = now + self.settings.probe_retry_s
                log.info("no video from Zoom user %s (camera state unknown): trying again in %.0f s", user,
                         self.settings.probe_retry_s)
        for user, at in list(self._retry_at.items()):
            if at <= now:
                del self._retry_at[user]
                if self.participants.camera(user) not in (None, zpp.Camera.OFF):
                    self.rotation.video_on(user)

    async def _rotate(self) -> None:
        while not self._leaving:
            now = self._clock()
            self._replan(now)
            if self._individual and self._signal_up:
                previous = self.rotation.current
                nxt = self.rotation.due(now)
                if nxt is not None:
                    if previous is not None and previous in self._tracks:
                        self._fresh_track(previous)  # not watched any more: skipped, not stale
                    self._decoder.reset()
                    await self._subscribe(nxt)
            await asyncio.sleep(ROTATION_TICK_S)

    async def _subscribe(self, user: str) -> None:
        """VIDEO_SUBSCRIPTION_REQ on the SIGNALING socket (its answer, 29, comes back there)."""
        sock = self._signal
        if sock is None:
            return
        self.subscriptions.append(user)
        if self.trace is not None:
            self.trace(f"subscribing to the video of {user} (28, signaling socket)")
        with contextlib.suppress(SocketClosed):  # the signaling reader notices and reconnects
            await sock.send(zp.video_subscription(user, wire=self._wire.get(user, "")))

    # -- leaving ---------------------------------------------------------------------------
    async def end_stream(self) -> bool:
        """End the class's RTMS stream FOR GOOD (STREAM_CLOSE_REQ 21; Zoom answers 22, stop
        reason 20). Only when the teacher asks ClassPulse to stop analysing this class — never
        on shutdown or restart, which must leave the stream for the next attempt to resume.
        True when Zoom acknowledged it."""
        sock = self._signal
        if sock is None or self._leaving:
            return False
        self.stream_close_sent = True
        try:
            await sock.send(zp.stream_close(self.ref))
        except SocketClosed:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._close_ack.wait(), self.settings.handshake_timeout_s)
        return self._close_ack.is_set()

    async def leave(self) -> None:
        """Close the sockets; the stream itself stays (see `end_stream`)."""
        if self._leaving:
            return
        self._leaving = True
        self._media_ready.set()  # wake the media reader so it can see `_leaving`
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_sockets()
        for user in list(self._tracks):
            self._drop_track(user)
        self.channel.close()

    async def _close_sockets(self) -> None:
        for sock in (self._media, self._signal):
            if sock is not None:
                with contextlib.suppress(Exception):
                    await sock.close()
        if self._http is not None:
            await self._http.close()
