"""Zoom's side of RTMS, in process, over real aiohttp websockets: for tests and demos.

Built from Zoom's published behaviour, NOT from the connector: it shares no code with
`zoom_protocol` (it reads the client's JSON itself, signs with its own HMAC) and sends
only messages built by `zoom_fixtures`, each transcribed from Zoom's documentation or
samples. What it does, and where Zoom says so (docs/zoom.md has the full list):

- signaling: handshake 1 → 2 (3 bad signature, 8 second signaling client, 2 stream
  gone; `legacy_status` switches to the older 15/17 numbering), the unsolicited first
  packet timestamp (event 1), events (6, `event` object) only for subscribed types,
  CLIENT_READY_ACK 7, video subscription 28 → 29 on the SIGNALING socket (a 28 sent on
  the media socket is recorded in `log.misplaced` and never answered), 21 → 22 ending the
  stream with stop reason 20 — Event reference, Stream a single participant's video;
- media: handshake 3 → 4 with the GRANTED parameters (JPG/PNG at most 5 fps, H.264 only
  above 5 fps, `data_opt` 3 or 4 only — gallery 5 is refused), 16 for a second media
  client; no video before a 7 and, with `data_opt 4`, none before a subscription, then
  only the one subscribed participant — Data type definitions, Handling media data;
- keep-alives 12 on both sockets; three unanswered close the socket; a lost signaling
  socket takes the media socket with it and the stream waits `signal_grace_s` (Zoom: one
  minute) for a new handshake, a lost media socket is announced with event 7 and waits
  `media_grace_s` — Event reference "Keep-alive request", rtms-samples reconnection sample;
- NO replay of participants already present when the stream starts (Zoom documents
  none): `add_present` puts people in the meeting silently; they surface only when they
  speak (event 2), toggle their camera, or are subscribed to. `replay_present=True`
  plays the other possibility (join + camera-on for them after the event subscription).

Tests drive the meeting (`add_present`, `join`, `speak`, `video_on`, `video_off`,
`leave`, `drop_signaling`, `drop_media`, `silence_keepalives`, `stop`, `revoke`) and
send signed webhooks with `send_webhook`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.connectors import zoom_fixtures as fx

log = logging.getLogger(__name__)


def _hmac_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class FakeStream:
    """The three fields of the ``meeting.rtms_started`` webhook for this fake stream."""

    meeting_uuid: str
    rtms_stream_id: str
    server_urls: str


@dataclass
class FakeUser:
    user_id: int
    name: str
    jpeg: Sequence[bytes]  # pictures sent in a loop when JPG (or PNG, re-encoded) is granted
    h264: Sequence[bytes] = ()  # access units sent in a loop when H.264 is granted
    video: bool = True
    sent: int = 0


@dataclass
class Log:
    """What the fake saw, for assertions."""

    signaling: list[dict[str, Any]] = field(default_factory=list)  # every message a client sent
    media: list[dict[str, Any]] = field(default_factory=list)
    misplaced: list[dict[str, Any]] = field(default_factory=list)  # sent on the wrong socket
    refusals: list[tuple[int, int]] = field(default_factory=list)  # (msg_type, status_code) sent
    keepalives_sent: int = 0
    keepalive_replies: int = 0
    bad_keepalive_replies: int = 0  # 13 whose timestamp matches no 12
    signaling_connections: int = 0
    media_connections: int = 0
    subscriptions: list[int] = field(default_factory=list)  # granted 28s
    video_sent: dict[int, int] = field(default_factory=dict)
    granted: list[dict[str, int]] = field(default_factory=list)
    stream_close_requests: int = 0
    ended: int | None = None  # the stop reason once the stream is over


class FakeZoom:
    def __init__(self, client_id: str, client_secret: str, *, meeting_uuid: str = "4nYtdqLVTVqGJ+QB62ED7Q==",
                 rtms_stream_id: str = "03db704592624398931a588dd78200cb", keepalive_s: float = 10.0,
                 send_fps: float = 10.0, legacy_status: bool = False, replay_present: bool = False,
                 string_ids: bool = True, signal_grace_s: float = 60.0, media_grace_s: float = 30.0,
                 h264_low_fps_codec: int = fx.CODEC_JPG) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.meeting_uuid = meeting_uuid
        self.stream_id = rtms_stream_id
        self.keepalive_s = keepalive_s
        self.send_fps = send_fps
        self.legacy_status = legacy_status
        self.replay_present = replay_present
        self.string_ids = string_ids
        self.signal_grace_s = signal_grace_s
        self.media_grace_s = media_grace_s
        self.h264_low_fps_codec = h264_low_fps_codec
        #: Parameters to grant whatever was asked (msg_type 4 says what Zoom granted; a client
        #: must use that, not its request).
        self.grant_override: dict[str, int] = {}
        self.users: dict[int, FakeUser] = {}
        self.speaker: int | None = None
        self.log = Log()
        self._signal: web.WebSocketResponse | None = None
        self._media: web.WebSocketResponse | None = None
        self._events: set[int] = set()
        self._ready = asyncio.Event()
        self._granted: dict[str, int] = {}
        self._subscribed: int | None = None
        self._grace: asyncio.Task[None] | None = None
        self._silent = False
        self._down_until = 0.0  # the network between ClassPulse and Zoom is down until then
        self._pings: set[int] = set()
        self._runner: web.AppRunner | None = None
        self._runners: list[web.AppRunner] = []
        self._site: web.TCPSite | None = None
        self.base = ""

    # -- server ----------------------------------------------------------------------------
    async def start(self) -> FakeStream:
        app = web.Application()
        app.router.add_get("/signaling", self._signaling)
        app.router.add_get("/media", self._media_socket)
        self._runner = web.AppRunner(app, handle_signals=False)
        self._runners.append(self._runner)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await self._site.start()
        self.base = f"ws://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.stream

    async def fail_over(self) -> FakeStream:
        """Zoom's "RTMS server failure" (developers.zoom.us RTMS "Working with streams"): the
        stream's server fails, the stream moves to another one, and Zoom sends a new
        ``meeting.rtms_started`` for the same stream naming the new ``server_urls`` (the test
        sends it). The old address stops answering; the stream, its people and its grace
        window for reconnecting carry on."""
        old = self._site
        await self.start()
        if old is not None:
            await old.stop()  # nothing answers at the old address any more
        for ws in (self._media, self._signal):
            if ws is not None:
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server failure")
        return self.stream

    @property
    def stream(self) -> FakeStream:
        return FakeStream(self.meeting_uuid, self.stream_id, f"{self.base}/signaling")

    def events_ready(self) -> bool:
        """The client has subscribed to events (before that Zoom tells it nothing)."""
        return bool(self._events) and self._ready.is_set()

    @property
    def live(self) -> bool:
        return self.log.ended is None

    async def close(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
        for ws in (self._media, self._signal):
            if ws is not None:
                await ws.close()
        for runner in self._runners:
            await runner.cleanup()

    def _status(self, current: int, legacy: int) -> int:
        return legacy if self.legacy_status else current

    def _signed(self, msg: dict[str, Any]) -> bool:
        want = _hmac_hex(self.client_secret, f"{self.client_id},{self.meeting_uuid},{self.stream_id}")
        got = msg.get("signature")
        return (msg.get("meeting_uuid") == self.meeting_uuid and msg.get("rtms_stream_id") == self.stream_id
                and isinstance(got, str) and hmac.compare_digest(got.encode(), want.encode()))

    async def _send(self, ws: web.WebSocketResponse | None, msg: dict[str, Any]) -> None:
        if ws is not None and not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json(msg)

    async def _refuse(self, ws: web.WebSocketResponse, msg: dict[str, Any]) -> web.WebSocketResponse:
        self.log.refusals.append((msg["msg_type"], msg["status_code"]))
        await self._send(ws, msg)
        await ws.close()
        return ws

    @staticmethod
    async def _first(ws: web.WebSocketResponse, record: list[dict[str, Any]]) -> dict[str, Any] | None:
        with contextlib.suppress(TimeoutError, ValueError):
            msg = await ws.receive(timeout=5)
            if msg.type is aiohttp.WSMsgType.TEXT:
                data = json.loads(msg.data)
                if isinstance(data, dict):
                    record.append(data)
                    return data
        return None

    async def _keepalive(self, ws: web.WebSocketResponse, answered: list[float], on_timeout: str) -> None:
        """12 every `keepalive_s`; three unanswered close the socket, as Zoom does."""
        while not ws.closed:
            await asyncio.sleep(self.keepalive_s)
            if ws.closed:
                return
            if time.monotonic() - answered[0] > 3.2 * self.keepalive_s:
                log.info("fake Zoom: %s keep-alives unanswered: closing", on_timeout)
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"keep-alive timeout")
                return
            if self._silent and on_timeout == "signaling":
                continue
            ts = _now_ms()
            self._pings.add(ts)
            self.log.keepalives_sent += 1
            await self._send(ws, fx.keep_alive_request(ts))

    def _answered(self, data: dict[str, Any], answered: list[float]) -> None:
        if data.get("timestamp") in self._pings:
            answered[0] = time.monotonic()
            self.log.keepalive_replies += 1
        else:
            self.log.bad_keepalive_replies += 1

    # -- the stream's end and its reconnection windows ------------------------------------
    async def _end(self, stop_reason: int) -> None:
        if not self.live:
            return
        self.log.ended = stop_reason
        if self._grace is not None and self._grace is not asyncio.current_task():
            self._grace.cancel()
        await self._send(self._signal, fx.session_state_update(fx.SESSION_STOPPED, stop_reason, _now_ms(), "sess-1"))
        await self._send(self._signal, fx.stream_state_update(fx.STREAM_TERMINATED, stop_reason, _now_ms()))
        for ws in (self._media, self._signal):
            if ws is not None:
                await ws.close()

    def _wait_for_reconnect(self, seconds: float) -> None:
        if self._grace is not None:
            self._grace.cancel()

        async def expire() -> None:
            await asyncio.sleep(seconds)
            await self._end(fx.STOP_AWAIT_RECONNECTION_TIMEOUT)

        self._grace = asyncio.ensure_future(expire())

    # -- signaling connection -------------------------------------------------------------
    async def _signaling(self, request: web.Request) -> web.StreamResponse:
        if time.monotonic() < self._down_until:
            return web.Response(status=503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = await self._first(ws, self.log.signaling)
        if first is None or first.get("msg_type") != 1:
            await ws.close()
            return ws
        if not self._signed(first):
            status = self._status(fx.STATUS_INVALID_SIGNATURE, fx.LEGACY_STATUS_INVALID_SIGNATURE)
            return await self._refuse(ws, fx.signaling_handshake_response("", status_code=status))
        if not self.live:
            return await self._refuse(ws, fx.signaling_handshake_response(
                "", status_code=fx.STATUS_INVALID_RTMS_STREAM_ID))
        if self._signal is not None and not self._signal.closed:
            status = self._status(fx.STATUS_DUPLICATE_SIGNAL_REQUEST, fx.LEGACY_STATUS_DUPLICATE_SIGNAL_REQUEST)
            return await self._refuse(ws, fx.signaling_handshake_response("", status_code=status))
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        self._signal = ws
        self._events = set()
        self._subscribed = None
        self.log.signaling_connections += 1
        await self._send(ws, fx.signaling_handshake_response(f"{self.base}/media"))
        await self._send(ws, fx.first_packet_timestamp(_now_ms()))
        answered = [time.monotonic()]
        pinger = asyncio.ensure_future(self._keepalive(ws, answered, "signaling"))
        try:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(data, dict):
                    self.log.signaling.append(data)
                    await self._on_signaling(ws, data, answered)
        finally:
            pinger.cancel()
            if self._signal is ws and self.live:
                # Zoom interrupts both connections and waits about a minute for a new handshake.
                if self._media is not None:
                    await self._media.close()
                self._wait_for_reconnect(self.signal_grace_s)
        return ws

    async def _on_signaling(self, ws: web.WebSocketResponse, data: dict[str, Any], answered: list[float]) -> None:
        kind = data.get("msg_type")
        if kind == 13:
            self._answered(data, answered)
        elif kind == 5:
            events = data.get("events")
            for e in events if isinstance(events, list) else []:
                if isinstance(e, dict) and isinstance(e.get("event_type"), int):
                    (self._events.add if e.get("subscribe") else self._events.discard)(e["event_type"])
            if self.replay_present:
                for user in list(self.users.values()):
                    await self._event(fx.EVENT_PARTICIPANT_JOIN, user)
                    if user.video:
                        await self._event(fx.EVENT_PARTICIPANT_VIDEO_ON, user)
        elif kind == 7:
            if self._media is not None and not self._media.closed:
                self._ready.set()
        elif kind == 28:
            await self._video_subscription(ws, data)
        elif kind == 21:
            self.log.stream_close_requests += 1
            await self._send(ws, fx.stream_close_response(self.stream_id, _now_ms()))
            await self._end(fx.STOP_RECEIVER_REQUEST_CLOSE)

    async def _video_subscription(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        raw = data.get("user_id")
        uid = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None
        user = self.users.get(uid) if uid is not None else None
        ts = _now_ms()
        if user is None:  # undocumented: the status Zoom uses for an unknown user id is not published
            self.log.refusals.append((29, fx.STATUS_INVALID_PAYLOAD))
            await self._send(ws, fx.video_subscription_response(uid or 0, ts, status_code=fx.STATUS_INVALID_PAYLOAD,
                                                                reason="invalid user_id"))
            return
        if not data.get("subscribe", True):
            if self._subscribed == user.user_id:
                self._subscribed = None
            await self._send(ws, fx.video_subscription_response(user.user_id, ts))
            return
        if self._subscribed == user.user_id:
            await self._send(ws, fx.video_subscription_response(
                user.user_id, ts, status_code=fx.STATUS_DUPLICATE_VIDEO_SUBSCRIPTION, reason="duplicate"))
            return
        self._subscribed = user.user_id  # ONE individual stream: replaces the previous one
        user.sent = 0  # a new subscription starts at a key frame (H.264)
        self.log.subscriptions.append(user.user_id)
        await self._send(ws, fx.video_subscription_response(user.user_id, ts))

    async def _event(self, event_type: int, user: FakeUser) -> None:
        if event_type not in self._events:
            return
        ts = _now_ms()
        msg = {
            fx.EVENT_PARTICIPANT_JOIN: lambda: fx.participant_join([(user.user_id, user.name)], ts,
                                                                   string_ids=self.string_ids),
            fx.EVENT_PARTICIPANT_LEAVE: lambda: fx.participant_leave([user.user_id], ts, string_ids=self.string_ids),
            fx.EVENT_PARTICIPANT_VIDEO_ON: lambda: fx.participant_video_on([user.user_id], ts),
            fx.EVENT_PARTICIPANT_VIDEO_OFF: lambda: fx.participant_video_off([user.user_id], ts),
            fx.EVENT_ACTIVE_SPEAKER_CHANGE: lambda: fx.active_speaker_change(user.user_id, user.name, ts),
        }[event_type]()
        await self._send(self._signal, msg)

    # -- media connection -----------------------------------------------------------------
    def _grant(self, requested: dict[str, Any]) -> dict[str, int] | None:
        """The video parameters Zoom would grant (Data type definitions, Handling media data)."""
        data_opt = requested.get("data_opt", fx.DATA_OPT_ACTIVE_SPEAKER)  # default: the active speaker
        if data_opt not in (fx.DATA_OPT_ACTIVE_SPEAKER, fx.DATA_OPT_INDIVIDUAL):
            return None
        codec = requested.get("codec")
        fps = requested.get("fps", 5)
        fps = fps if isinstance(fps, int) and 1 <= fps <= 30 else 5
        if codec not in (fx.CODEC_JPG, fx.CODEC_PNG, fx.CODEC_H264):
            codec, fps = fx.CODEC_JPG, 5  # "fps > 5 without a codec: JPG at 5"
        if codec in (fx.CODEC_JPG, fx.CODEC_PNG):
            fps = min(fps, 5)
        elif fps <= 5:
            codec = self.h264_low_fps_codec  # H.264 only above 5 fps (unconfirmed what Zoom does)
        resolution = requested.get("resolution", 2)
        return {"codec": codec, "resolution": resolution if resolution in (1, 2, 3, 4) else 2,
                "data_opt": data_opt, "fps": fps, **self.grant_override}

    async def _media_socket(self, request: web.Request) -> web.StreamResponse:
        if time.monotonic() < self._down_until:
            return web.Response(status=503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = await self._first(ws, self.log.media)
        if first is None or first.get("msg_type") != 3:
            await ws.close()
            return ws
        if not self._signed(first):
            status = self._status(fx.STATUS_INVALID_SIGNATURE, fx.LEGACY_STATUS_INVALID_SIGNATURE)
            return await self._refuse(ws, fx.media_handshake_response(None, status_code=status))
        if self._signal is None or self._signal.closed or not self.live:
            return await self._refuse(ws, fx.media_handshake_response(
                None, status_code=fx.STATUS_INVALID_RTMS_STREAM_ID))
        if self._media is not None and not self._media.closed:
            status = self._status(fx.STATUS_DUPLICATE_MEDIA_DATA_CONNECTION,
                                  fx.LEGACY_STATUS_DUPLICATE_MEDIA_DATA_CONNECTION)
            return await self._refuse(ws, fx.media_handshake_response(None, status_code=status))
        media_type = first.get("media_type", 0)
        if not isinstance(media_type, int) or not (media_type & fx.MEDIA_TYPE_VIDEO or media_type == 32):
            return await self._refuse(ws, fx.media_handshake_response(None, status_code=fx.STATUS_INVALID_MEDIA_TYPE))
        params = first.get("media_params") or {}
        granted = self._grant(params.get("video") or {} if isinstance(params, dict) else {})
        if granted is None:
            return await self._refuse(ws, fx.media_handshake_response(
                None, status_code=fx.STATUS_INVALID_MEDIA_VIDEO_DATA_OPT))
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        self._ready.clear()  # a new media connection needs a new CLIENT_READY_ACK
        self._granted = granted
        self._media = ws
        self.log.media_connections += 1
        self.log.granted.append(granted)
        await self._send(ws, fx.media_handshake_response(granted))
        answered = [time.monotonic()]
        tasks = [asyncio.ensure_future(self._keepalive(ws, answered, "media")), asyncio.ensure_future(self._pump(ws))]
        try:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if not isinstance(data, dict):
                    continue
                self.log.media.append(data)
                if data.get("msg_type") == 13:
                    self._answered(data, answered)
                else:
                    self.log.misplaced.append(data)  # e.g. a 28: it belongs on the signaling socket
        finally:
            for t in tasks:
                t.cancel()
            if self._media is ws and self.live and self._signal is not None and not self._signal.closed:
                await self._send(self._signal, fx.media_connection_interrupted(_now_ms()))
                self._wait_for_reconnect(self.media_grace_s)
        return ws

    def _payload(self, user: FakeUser) -> bytes | None:
        codec = self._granted.get("codec")
        if codec == fx.CODEC_H264:
            frames: Sequence[bytes] = user.h264
        else:
            frames = user.jpeg
        if not frames:
            return None
        data = frames[user.sent % len(frames)]
        if codec == fx.CODEC_PNG:
            import cv2
            import numpy as np

            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                return None
            data = cv2.imencode(".png", img)[1].tobytes()
        return data

    async def _pump(self, ws: web.WebSocketResponse) -> None:
        await self._ready.wait()
        while not ws.closed:
            if self._granted.get("data_opt") == fx.DATA_OPT_INDIVIDUAL:
                uid = self._subscribed  # nothing at all until a subscription arrives
            else:
                uid = self.speaker
            user = self.users.get(uid) if uid is not None else None
            if user is not None and user.video and self._ready.is_set():
                data = self._payload(user)
                if data is not None:
                    user.sent += 1
                    self.log.video_sent[user.user_id] = self.log.video_sent.get(user.user_id, 0) + 1
                    await self._send(ws, fx.video_data(user.user_id, user.name, base64.b64encode(data).decode(),
                                                       len(data), _now_ms()))
            await asyncio.sleep(1 / self.send_fps)

    # -- the meeting ------------------------------------------------------------------------
    def add_present(self, user_id: int, name: str, jpeg: Sequence[bytes], *, video: bool = True,
                    h264: Sequence[bytes] = ()) -> None:
        """Somebody already in the meeting: Zoom announces nothing about them."""
        self.users[user_id] = FakeUser(user_id, name, jpeg, h264, video)

    async def join(self, user_id: int, name: str, jpeg: Sequence[bytes], *, video: bool = True,
                   h264: Sequence[bytes] = ()) -> None:
        user = FakeUser(user_id, name, jpeg, h264, video=False)
        self.users[user_id] = user
        await self._event(fx.EVENT_PARTICIPANT_JOIN, user)
        if video:
            await self.video_on(user_id)

    async def speak(self, user_id: int) -> None:
        self.speaker = user_id
        await self._event(fx.EVENT_ACTIVE_SPEAKER_CHANGE, self.users[user_id])

    async def video_on(self, user_id: int) -> None:
        self.users[user_id].video = True
        await self._event(fx.EVENT_PARTICIPANT_VIDEO_ON, self.users[user_id])

    async def video_off(self, user_id: int) -> None:
        self.users[user_id].video = False  # a subscription to them stays, but no frames come
        await self._event(fx.EVENT_PARTICIPANT_VIDEO_OFF, self.users[user_id])

    async def leave(self, user_id: int) -> None:
        user = self.users.pop(user_id)
        if self._subscribed == user_id:
            self._subscribed = None
        if self.speaker == user_id:
            self.speaker = None
        await self._event(fx.EVENT_PARTICIPANT_LEAVE, user)

    async def drop_signaling(self, down_for_s: float = 0.0) -> None:
        """Break the signaling connection (as a network failure would), the network staying
        down for `down_for_s` (new connections are refused meanwhile)."""
        self._down_until = time.monotonic() + down_for_s
        if self._signal is not None:
            await self._signal.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"network")

    async def drop_media(self) -> None:
        if self._media is not None:
            await self._media.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"network")

    def silence_keepalives(self, silent: bool = True) -> None:
        """Stop sending keep-alives on the signaling socket (a half-dead connection)."""
        self._silent = silent

    async def stop(self, stop_reason: int = fx.STOP_MEETING_ENDED) -> None:
        """End the stream: session state STOPPED and stream state TERMINATED with the reason."""
        await self._end(stop_reason)

    async def revoke(self) -> None:
        await self._end(fx.STOP_STREAM_REVOKED)


async def send_webhook(url: str, secret: str, event: str, payload: dict[str, Any], *,
                       timestamp: str | None = None, signature: str | None = None) -> tuple[int, Any]:
    """POST a Zoom-style signed webhook (zoom/webhook-sample: ``v0:{timestamp}:{body}``)."""
    body = json.dumps({"event": event, "event_ts": _now_ms(), "payload": payload})
    ts = timestamp or str(int(time.time()))
    sig = signature or "v0=" + _hmac_hex(secret, f"v0:{ts}:{body}")
    headers = {"content-type": "application/json", "x-zm-request-timestamp": ts, "x-zm-signature": sig}
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


def started_payload(stream: FakeStream, meeting_id: int | str | None = 81234567890) -> dict[str, Any]:
    """``meeting.rtms_started`` payload (developers.zoom.us RTMS "Working with streams": meeting_uuid,
    rtms_stream_id, server_urls; zoom/rtms-samples: operator_id; changelog "RTMS April release":
    meeting_id, the meeting number, and account_id). `meeting_id=None` leaves it out (older servers)."""
    payload: dict[str, Any] = {"meeting_uuid": stream.meeting_uuid, "rtms_stream_id": stream.rtms_stream_id,
                               "server_urls": stream.server_urls, "operator_id": "host-1",
                               "account_id": "acct-1"}
    if meeting_id is not None:
        payload["meeting_id"] = meeting_id
    return payload


def jpeg_frames(video: str, count: int = 12, width: int = 320, step: int = 3) -> list[bytes]:
    """`count` JPEG pictures from a video file (every `step`-th frame), as Zoom would send them."""
    import cv2

    cap = cv2.VideoCapture(video)
    out: list[bytes] = []
    i = 0
    try:
        while len(out) < count:
            ok, img = cap.read()
            if not ok:
                break
            if i % step == 0:
                h = int(img.shape[0] * width / img.shape[1]) // 2 * 2
                ok, data = cv2.imencode(".jpg", cv2.resize(img, (width, h)), [cv2.IMWRITE_JPEG_QUALITY, 80])
                if ok:
                    out.append(data.tobytes())
            i += 1
    finally:
        cap.release()
    return out


def h264_packets(video: str, count: int = 15, width: int = 320) -> list[bytes]:
    """An H.264 Annex B stream (one access unit per item, key frame first) from a video file."""
    import av
    import cv2
    import numpy as np

    enc = av.CodecContext.create("libx264", "w")
    cap = cv2.VideoCapture(video)
    out: list[bytes] = []
    try:
        for i in range(count):
            ok, img = cap.read()
            if not ok:
                break
            h = int(img.shape[0] * width / img.shape[1]) // 2 * 2
            if i == 0:
                enc.width, enc.height, enc.pix_fmt = width, h, "yuv420p"
                enc.options = {"tune": "zerolatency", "preset": "ultrafast", "bframes": "0"}
            small = np.ascontiguousarray(cv2.resize(img, (width, h)), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(small, format="bgr24").reformat(format="yuv420p")
            frame.pts = i
            out += [bytes(p) for p in enc.encode(frame)]
        out += [bytes(p) for p in enc.encode(None)]
    finally:
        cap.release()
    return out
