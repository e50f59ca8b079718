"""Zoom's side of RTMS, in process, over real aiohttp websockets: for tests and demos.

`FakeZoom` serves the signalling and media websockets the way the RTMS documentation
describes them (../shared/notes/ZOOM.md): it checks the handshake order and the HMAC
stream signature (status 15 on a wrong one), refuses a second signalling client (17),
sends KEEP_ALIVE_REQ (12) on both sockets and closes a socket whose answers stop, sends
roster EVENT_UPDATEs (6) only for subscribed event types, delivers video (15) only after
CLIENT_READY_ACK (7) and only for the ONE participant chosen with VIDEO_SUBSCRIPTION_REQ
(28 → 29), and ends with STREAM_STATE_UPDATE (8, TERMINATED) and a stop reason.
Tests drive the meeting (`join`, `video_on`, `video_off`, `leave`, `drop_media`, `stop`)
and send signed webhooks with `send_webhook`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.connectors import zoom_protocol as zp
from bot.connectors.zoom_signing import same, stream_signature, webhook_signature


@dataclass
class FakeUser:
    user_id: int
    name: str
    frames: Sequence[bytes]  # encoded pictures, sent in a loop
    video: bool = False
    sent: int = 0


@dataclass
class Log:
    """What the fake saw, for assertions."""

    signalling: list[dict[str, Any]] = field(default_factory=list)
    media: list[dict[str, Any]] = field(default_factory=list)
    keepalive_replies: int = 0
    media_connections: int = 0
    subscriptions: list[int] = field(default_factory=list)
    video_sent: dict[int, int] = field(default_factory=dict)


class FakeZoom:
    def __init__(self, client_id: str, client_secret: str, *, meeting_uuid: str = "mtg-uuid==",
                 rtms_stream_id: str = "stream-1", keepalive_s: float = 0.5, fps: float = 10.0,
                 codec: zp.Codec = zp.Codec.JPG) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.ref = zp.StreamRef(meeting_uuid, rtms_stream_id, "")
        self.keepalive_s = keepalive_s
        self.fps = fps
        self.codec = codec  # the one codec this fake streams (users' `frames` must be in it)
        self.users: dict[int, FakeUser] = {}
        self.log = Log()
        self._signal: web.WebSocketResponse | None = None
        self._media: web.WebSocketResponse | None = None
        self._events: set[int] = set()
        self._ready = asyncio.Event()
        self._subscribed: int | None = None
        self._runner: web.AppRunner | None = None
        self.base = ""

    # -- server ----------------------------------------------------------------------------
    async def start(self) -> zp.StreamRef:
        app = web.Application()
        app.router.add_get("/signaling", self._signalling)
        app.router.add_get("/media", self._media_socket)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"ws://127.0.0.1:{port}"
        self.ref = zp.StreamRef(self.ref.meeting_uuid, self.ref.rtms_stream_id, f"{self.base}/signaling")
        return self.ref

    async def close(self) -> None:
        for ws in (self._media, self._signal):
            if ws is not None:
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _signed(self, msg: dict[str, Any]) -> bool:
        want = stream_signature(self.client_id, self.client_secret, self.ref.meeting_uuid, self.ref.rtms_stream_id)
        return (msg.get("meeting_uuid") == self.ref.meeting_uuid
                and msg.get("rtms_stream_id") == self.ref.rtms_stream_id
                and same(str(msg.get("signature", "")), want))

    async def _first(self, ws: web.WebSocketResponse, record: list[dict[str, Any]]) -> dict[str, Any] | None:
        with contextlib.suppress(TimeoutError):
            msg = await ws.receive(timeout=5)
            if msg.type is aiohttp.WSMsgType.TEXT:
                data: dict[str, Any] = json.loads(msg.data)
                record.append(data)
                return data
        return None

    async def _keepalive(self, ws: web.WebSocketResponse, answered: list[float]) -> None:
        """12 every `keepalive_s`; no 13 for three intervals closes the socket, as Zoom does."""
        while not ws.closed:
            await asyncio.sleep(self.keepalive_s)
            if time.monotonic() - answered[0] > 3 * self.keepalive_s:
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"keep-alive timeout")
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json({"msg_type": zp.Msg.KEEP_ALIVE_REQ, "timestamp": int(time.time() * 1000)})

    async def _signalling(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = await self._first(ws, self.log.signalling)
        if first is None or first.get("msg_type") != zp.Msg.SIGNALING_HAND_SHAKE_REQ:
            await ws.close()
            return ws
        if self._signal is not None and not self._signal.closed:
            await ws.send_json({"msg_type": 2, "status_code": zp.STATUS_DUPLICATE_SIGNAL_REQUEST})
            await ws.close()
            return ws
        if not self._signed(first):
            await ws.send_json({"msg_type": 2, "status_code": zp.STATUS_INVALID_SIGNATURE,
                                "reason": "invalid signature"})
            await ws.close()
            return ws
        self._signal = ws
        media = f"{self.base}/media"
        await ws.send_json({"msg_type": zp.Msg.SIGNALING_HAND_SHAKE_RESP, "protocol_version": 1,
                            "status_code": zp.STATUS_OK,
                            "media_server": {"server_urls": {"all": media, "audio": media, "video": media}}})
        answered = [time.monotonic()]
        pinger = asyncio.ensure_future(self._keepalive(ws, answered))
        try:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                self.log.signalling.append(data)
                kind = data.get("msg_type")
                if kind == zp.Msg.KEEP_ALIVE_RESP:
                    answered[0] = time.monotonic()
                    self.log.keepalive_replies += 1
                elif kind == zp.Msg.EVENT_SUBSCRIPTION:
                    self._events |= {e["event_type"] for e in data.get("events", []) if e.get("subscribe")}
                    for user in self.users.values():  # who is already there
                        await self._event(zp.Event.PARTICIPANT_JOIN, user)
                        if user.video:
                            await self._event(zp.Event.PARTICIPANT_VIDEO_ON, user)
                elif kind == zp.Msg.CLIENT_READY_ACK:
                    self._ready.set()
                elif kind == zp.Msg.STREAM_CLOSE_REQ:
                    await ws.send_json({"msg_type": zp.Msg.STREAM_CLOSE_RESP, "status_code": zp.STATUS_OK})
        finally:
            pinger.cancel()
        return ws

    async def _media_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = await self._first(ws, self.log.media)
        if first is None or first.get("msg_type") != zp.Msg.DATA_HAND_SHAKE_REQ or self._signal is None:
            await ws.close()
            return ws
        if not self._signed(first):
            await ws.send_json({"msg_type": 4, "status_code": zp.STATUS_INVALID_SIGNATURE})
            await ws.close()
            return ws
        video = (first.get("media_params") or {}).get("video") or {}
        if not first.get("media_type", 0) & zp.MEDIA_VIDEO or video.get("codec") != self.codec:
            await ws.send_json({"msg_type": 4, "status_code": zp.STATUS_INVALID_JSON_MSG})
            await ws.close()
            return ws
        self._ready.clear()  # a new media connection needs a new CLIENT_READY_ACK
        self._subscribed = None
        self._media = ws
        self.log.media_connections += 1
        await ws.send_json({"msg_type": zp.Msg.DATA_HAND_SHAKE_RESP, "protocol_version": 1,
                            "status_code": zp.STATUS_OK})
        answered = [time.monotonic()]
        tasks = [asyncio.ensure_future(self._keepalive(ws, answered)), asyncio.ensure_future(self._pump(ws))]
        try:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                self.log.media.append(data)
                if data.get("msg_type") == zp.Msg.KEEP_ALIVE_RESP:
                    answered[0] = time.monotonic()
                    self.log.keepalive_replies += 1
                elif data.get("msg_type") == zp.Msg.VIDEO_SUBSCRIPTION_REQ:
                    uid = data.get("user_id")
                    user = self.users.get(uid) if isinstance(uid, int) else None
                    status = zp.STATUS_OK if user is not None and user.video else zp.STATUS_INVALID_JSON_MSG
                    if user is not None and status == zp.STATUS_OK:
                        self._subscribed = uid  # only ONE individual stream: replaces the previous
                        user.sent = 0  # a new subscription starts at a key frame (H.264)
                        self.log.subscriptions.append(user.user_id)
                    await ws.send_json({"msg_type": zp.Msg.VIDEO_SUBSCRIPTION_RESP, "status_code": status,
                                        "user_id": uid})
        finally:
            for t in tasks:
                t.cancel()
        return ws

    async def _pump(self, ws: web.WebSocketResponse) -> None:
        await self._ready.wait()
        while not ws.closed:
            user = self.users.get(self._subscribed) if self._subscribed is not None else None
            if user is not None and user.video and user.frames:
                data = user.frames[user.sent % len(user.frames)]
                user.sent += 1
                self.log.video_sent[user.user_id] = self.log.video_sent.get(user.user_id, 0) + 1
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.send_json({"msg_type": zp.Msg.MEDIA_DATA_VIDEO, "content": {
                        "user_id": user.user_id, "user_name": user.name,
                        "data": base64.b64encode(data).decode(), "timestamp": int(time.time() * 1000)}})
            await asyncio.sleep(1 / self.fps)

    async def _event(self, event: zp.Event, user: FakeUser) -> None:
        if event in self._events and self._signal is not None and not self._signal.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._signal.send_json({"msg_type": zp.Msg.EVENT_UPDATE, "content": {
                    "event_type": int(event), "timestamp": int(time.time() * 1000),
                    "participants": [{"user_id": user.user_id, "user_name": user.name}]}})

    # -- the meeting -----------------------------------------------------------------------
    async def join(self, user_id: int, name: str, frames: Sequence[bytes], *, video: bool = True) -> None:
        user = FakeUser(user_id, name, frames)
        self.users[user_id] = user
        await self._event(zp.Event.PARTICIPANT_JOIN, user)
        if video:
            await self.video_on(user_id)

    async def video_on(self, user_id: int) -> None:
        self.users[user_id].video = True
        await self._event(zp.Event.PARTICIPANT_VIDEO_ON, self.users[user_id])

    async def video_off(self, user_id: int) -> None:
        self.users[user_id].video = False
        if self._subscribed == user_id:
            self._subscribed = None
        await self._event(zp.Event.PARTICIPANT_VIDEO_OFF, self.users[user_id])

    async def leave(self, user_id: int) -> None:
        user = self.users.pop(user_id)
        if self._subscribed == user_id:
            self._subscribed = None
        await self._event(zp.Event.PARTICIPANT_LEAVE, user)

    async def drop_media(self) -> None:
        """Break the media connection abnormally (as a network failure would)."""
        if self._media is not None:
            await self._media.close(code=aiohttp.WSCloseCode.ABNORMAL_CLOSURE)

    async def stop(self, stop_reason: int = 6) -> None:
        """End the stream: STREAM_STATE_UPDATE TERMINATED with the reason, then close."""
        if self._signal is not None and not self._signal.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._signal.send_json({"msg_type": zp.Msg.STREAM_STATE_UPDATE,
                                              "state": int(zp.StreamState.TERMINATED), "reason": stop_reason})
        for ws in (self._media, self._signal):
            if ws is not None:
                await ws.close()


async def send_webhook(url: str, secret: str, event: str, payload: dict[str, Any], *,
                       timestamp: str | None = None, signature: str | None = None) -> tuple[int, Any]:
    """POST a Zoom-style signed webhook; returns (status, parsed JSON body or text)."""
    body = json.dumps({"event": event, "event_ts": int(time.time() * 1000), "payload": payload})
    ts = timestamp or str(int(time.time()))
    sig = signature or webhook_signature(secret, ts, body)
    headers = {"content-type": "application/json", "x-zm-request-timestamp": ts, "x-zm-signature": sig}
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


def started_payload(ref: zp.StreamRef) -> dict[str, Any]:
    return {"meeting_uuid": ref.meeting_uuid, "rtms_stream_id": ref.rtms_stream_id,
            "server_urls": ref.server_urls, "operator_id": "host-1"}


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
