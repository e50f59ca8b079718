"""An independent Zoom RTMS stream server, built from Zoom's published material only.

Written without reading the connector or its fake (bot/connectors/zoom_fixtures.py,
zoom_fake.py), so that a misunderstanding shared by the client and its own fake shows up here.
Every message shape names the page or sample it follows:

- [ER]  developers.zoom.us/docs/rtms/event-reference/ ("Event reference" / "Universal events")
- [DT]  developers.zoom.us/docs/rtms/data-types/ ("Data type definitions": message, event,
        status, stop-reason and media enums)
- [VS]  developers.zoom.us/docs/rtms/meetings/video-single-stream/ ("Stream a single
        participant's video": data_opt 4, events 8/9, VIDEO_SUBSCRIPTION_REQ 28 / RESP 29 on the
        signaling connection, "No video data is sent until you subscribe to a participant")
- [MD]  developers.zoom.us/docs/rtms/meetings/media/ ("Handling media data": msg_type 15 content
        {user_id, user_name, data (base64), timestamp}; JPG/PNG only at fps <= 5)
- [RS]  github.com/zoom/rtms-samples: boilerplate/working_js/signalingSocket.js and
        mediaMessageHandler.js (msg 6 read from `msg.event`, msg 8 {state 4, reason 6} = meeting
        ended, keep-alive 13 echoes the request's timestamp, msg 7 sent on the signaling socket),
        library/javascript/rtmsManager/utils/signatureHelper.js (HMAC-SHA256 over
        "client_id,meeting_uuid,rtms_stream_id" keyed by the client secret, hex digest),
        library/javascript/rtmsManager/utils/rtmsProtocolDefinitions.js (28/29, 21/22, events 8/9).

Where the documentation is silent the server makes the least helpful choice a real meeting could
make, and says so: nobody already in the meeting is replayed as a join or a video-on (the host
often starts RTMS mid-class), events are delivered only to subscribers of their type (the
event-subscription section says only 1 and 7 come unasked), and frames flow only after
CLIENT_READY_ACK and a granted subscription.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

# [DT] RTMS_MESSAGE_TYPE
SIGNALING_HAND_SHAKE_REQ, SIGNALING_HAND_SHAKE_RESP = 1, 2
DATA_HAND_SHAKE_REQ, DATA_HAND_SHAKE_RESP = 3, 4
EVENT_SUBSCRIPTION, EVENT_UPDATE, CLIENT_READY_ACK = 5, 6, 7
STREAM_STATE_UPDATE, SESSION_STATE_UPDATE = 8, 9
KEEP_ALIVE_REQ, KEEP_ALIVE_RESP = 12, 13
MEDIA_DATA_VIDEO = 15
STREAM_CLOSE_REQ, STREAM_CLOSE_RESP = 21, 22
VIDEO_SUBSCRIPTION_REQ, VIDEO_SUBSCRIPTION_RESP = 28, 29
# [DT] RTMS_EVENT_TYPE
FIRST_PACKET_TIMESTAMP, ACTIVE_SPEAKER_CHANGE, PARTICIPANT_JOIN, PARTICIPANT_LEAVE = 1, 2, 3, 4
PARTICIPANT_VIDEO_ON, PARTICIPANT_VIDEO_OFF = 8, 9
UNASKED_EVENTS = {FIRST_PACKET_TIMESTAMP, 7}  # [ER] "Subscribe to events": sent automatically
# [DT] RTMS_STATUS_CODE (the current numbering)
STATUS_OK, STATUS_INVALID_RTMS_STREAM_ID, STATUS_INVALID_SIGNATURE = 0, 2, 3
STATUS_INVALID_PAYLOAD, STATUS_INVALID_MEDIA_TYPE, STATUS_DUPLICATE_SIGNAL_REQUEST = 4, 7, 8
STATUS_DUPLICATE_MEDIA_DATA_CONNECTION, STATUS_INVALID_MEDIA_VIDEO_CODEC = 16, 27
STATUS_DUPLICATE_VIDEO_SUBSCRIPTION = 44
# [DT] RTMS_STREAM_STATE / RTMS_SESSION_STATE / RTMS_STOP_REASON
STREAM_ACTIVE, STREAM_TERMINATED, STREAM_PAUSED, STREAM_RESUMED = 1, 4, 5, 6
SESSION_INITIALIZE, SESSION_STARTED, SESSION_PAUSED, SESSION_RESUMED, SESSION_STOPPED = 1, 2, 3, 4, 5
STOP_BC_MEETING_ENDED, STOP_BC_RECEIVER_REQUEST_CLOSE, STOP_BC_KEEP_ALIVE_TIMEOUT = 6, 20, 24
# [DT] MEDIA_DATA_TYPE / MEDIA_PAYLOAD_TYPE / MEDIA_DATA_OPTION / MEDIA_RESOLUTION
MEDIA_VIDEO, MEDIA_ALL = 2, 32
JPG, PNG, H264 = 5, 6, 7
VIDEO_SINGLE_ACTIVE_STREAM, VIDEO_SINGLE_INDIVIDUAL_STREAM = 3, 4
SD = 1


def signature(client_id: str, client_secret: str, meeting_uuid: str, stream_id: str) -> str:
    """[RS] signatureHelper.js: HMAC-SHA256(secret, "client_id,meeting_uuid,rtms_stream_id"), hex."""
    message = f"{client_id},{meeting_uuid},{stream_id}".encode()
    return hmac.new(client_secret.encode(), message, hashlib.sha256).hexdigest()


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Student:
    """One meeting participant; `frames` are JPEG bytes sent in a loop while the camera is on."""

    user_id: int
    name: str
    frames: list[bytes]
    camera_on: bool = True
    sent: int = 0


@dataclass(frozen=True)
class Step:
    """At `at` seconds after CLIENT_READY_ACK: `action` on `user_id` (see `DocsRtmsServer._apply`)."""

    at: float
    action: str  # speaker | join | video_on | video_off | leave | drop, pause, resume (no user)
    user_id: int = 0
    id_as_text: bool = False  # the user id written as a JSON string, as the join example shows [ER]


@dataclass
class Record:
    """What the client did, for the test to judge."""

    received: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    keepalive_sent: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    keepalive_answered: dict[str, dict[int, float]] = field(default_factory=dict)
    frames_sent: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    ready_at: float | None = None
    ended_at: float | None = None
    handshakes: int = 0  # signaling handshakes accepted (more than one: a reconnect)
    dropped_at: list[float] = field(default_factory=list)


class DocsRtmsServer:
    """Signaling at ws://HOST:PORT/signaling, media at /media (the handshake response names it)."""

    def __init__(self, *, client_id: str, client_secret: str, meeting_uuid: str, stream_id: str,
                 students: list[Student], present: list[int], steps: list[Step], end_after_s: float,
                 keepalive_s: float = 10.0, host: str = "127.0.0.1") -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.meeting_uuid, self.stream_id = meeting_uuid, stream_id
        self.students = {s.user_id: s for s in students}
        self.in_meeting = set(present)
        self.steps = sorted(steps, key=lambda s: s.at)
        self.end_after_s = end_after_s
        self.keepalive_s = keepalive_s  # [ER] "every 10 seconds" on both connections
        self.host, self.port = host, 0
        self.record = Record()
        self._t0 = time.monotonic()
        self._signaling: web.WebSocketResponse | None = None
        self._media: web.WebSocketResponse | None = None
        self._subscribed_events: set[int] = set()
        self._granted: dict[str, Any] | None = None
        self._watched: int | None = None  # the individual subscription [VS]
        self._speaker: int | None = None
        self._ready = False  # CLIENT_READY_ACK received on the current signaling connection
        self._paused = False
        self._session_id = f"{stream_id}-session"
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self.done = asyncio.Event()

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/signaling"

    def t(self) -> float:
        return round(time.monotonic() - self._t0, 3)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/signaling", self._signaling_ws)
        app.router.add_get("/media", self._media_ws)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    def _spawn(self, coro: Any) -> None:
        self._tasks.append(asyncio.ensure_future(coro))

    async def _send(self, ws: web.WebSocketResponse | None, msg: dict[str, Any]) -> None:
        if ws is not None and not ws.closed:
            await ws.send_str(json.dumps(msg))

    async def _receive(self, ws: web.WebSocketResponse, which: str) -> Any:
        async for raw in ws:
            if raw.type != WSMsgType.TEXT:
                self.record.errors.append(f"{which}: non-text frame {raw.type}")
                continue
            try:
                msg = json.loads(raw.data)
            except ValueError:
                self.record.errors.append(f"{which}: not JSON: {raw.data[:80]!r}")
                continue
            self.record.received.append((self.t(), which, msg))
            yield msg

    # -- signaling ------------------------------------------------------------------------------
    async def _signaling_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in self._receive(ws, "signaling"):
            kind = msg.get("msg_type")
            if kind == SIGNALING_HAND_SHAKE_REQ:
                await self._signaling_handshake(ws, msg)
            elif ws is not self._signaling:
                self.record.errors.append(f"signaling: msg_type {kind} before a handshake")
            elif kind == EVENT_SUBSCRIPTION:  # [ER] "Subscribe to events": no response
                for item in msg.get("events", []):
                    (self._subscribed_events.add if item.get("subscribe") else
                     self._subscribed_events.discard)(item.get("event_type"))
            elif kind == CLIENT_READY_ACK:  # [ER] "Client ready ACK": to the signaling connection
                if msg.get("rtms_stream_id") != self.stream_id:
                    self.record.errors.append(f"CLIENT_READY_ACK names stream {msg.get('rtms_stream_id')!r}")
                self._ready = True
                if self.record.ready_at is None:
                    self.record.ready_at = self.t()
                    # [ER] "Session state updated" / "Stream state updated", as their examples write
                    # them (an INITIALIZE session with `stop_reason` 1, an ACTIVE stream with `reason`
                    # 1): states that are not stops, whatever the reason field says.
                    await self._send(ws, {"msg_type": SESSION_STATE_UPDATE, "state": SESSION_INITIALIZE,
                                          "stop_reason": 1, "timestamp": now_ms(),
                                          "rtms_session_id": self._session_id})
                    await self._send(ws, {"msg_type": SESSION_STATE_UPDATE, "state": SESSION_STARTED,
                                          "timestamp": now_ms(), "rtms_session_id": self._session_id})
                    await self._send(ws, {"msg_type": STREAM_STATE_UPDATE, "state": STREAM_ACTIVE,
                                          "reason": 1, "timestamp": now_ms()})
                    self._spawn(self._scenario())
                    self._spawn(self._video_pump())
            elif kind == KEEP_ALIVE_RESP:
                self._answered("signaling", msg)
            elif kind == VIDEO_SUBSCRIPTION_REQ:
                await self._video_subscription(ws, msg)
            elif kind == STREAM_CLOSE_REQ:  # [ER] "Stream close request": RESP 22, then the end
                await self._send(ws, {"msg_type": STREAM_CLOSE_RESP, "rtms_stream_id": self.stream_id,
                                      "status_code": STATUS_OK, "reason": "OK", "timestamp": now_ms()})
                await self._end(STOP_BC_RECEIVER_REQUEST_CLOSE)
            else:
                self.record.errors.append(f"signaling: unexpected msg_type {kind}")
        return ws

    async def _signaling_handshake(self, ws: web.WebSocketResponse, msg: dict[str, Any]) -> None:
        """[ER] "Signaling handshake request/response"; the failure codes follow [DT] RTMS_STATUS_CODE."""
        status = self._check_signed(msg)
        if status == STATUS_OK and self._signaling is not None and not self._signaling.closed:
            status = STATUS_DUPLICATE_SIGNAL_REQUEST
        media = f"ws://{self.host}:{self.port}/media"
        reply: dict[str, Any] = {"msg_type": SIGNALING_HAND_SHAKE_RESP, "protocol_version": 1, "sequence": 0,
                                 "status_code": status, "reason": "" if status == STATUS_OK else f"status {status}"}
        if status == STATUS_OK:
            reply["media_server"] = {"server_urls": {"audio": media, "video": media, "transcript": media,
                                                     "all": media}}
        await self._send(ws, reply)
        if status != STATUS_OK:
            await ws.close()
            return
        self._signaling = ws
        self.record.handshakes += 1
        # [ER] "First timestamp from the signaling connection": unasked, after the connection.
        await self._event({"event_type": FIRST_PACKET_TIMESTAMP, "timestamp": now_ms()})
        self._spawn(self._keepalive("signaling", ws))

    def _check_signed(self, msg: dict[str, Any]) -> int:
        if msg.get("rtms_stream_id") != self.stream_id:
            return STATUS_INVALID_RTMS_STREAM_ID
        expected = signature(self.client_id, self.client_secret, self.meeting_uuid, self.stream_id)
        if msg.get("meeting_uuid") != self.meeting_uuid or msg.get("signature") != expected:
            return STATUS_INVALID_SIGNATURE
        return STATUS_OK

    async def _video_subscription(self, ws: web.WebSocketResponse, msg: dict[str, Any]) -> None:
        """[VS] Step 4-6 / [ER] "Video subscription request": user_id is an unsigned int32."""
        user_id = msg.get("user_id")
        status = STATUS_OK
        if not isinstance(user_id, int) or isinstance(user_id, bool) or not isinstance(msg.get("subscribe"), bool):
            status = STATUS_INVALID_PAYLOAD
            self.record.errors.append(f"VIDEO_SUBSCRIPTION_REQ with user_id {user_id!r} "
                                      f"subscribe {msg.get('subscribe')!r}")
        elif self._granted is None or self._granted.get("data_opt") != VIDEO_SINGLE_INDIVIDUAL_STREAM:
            status = STATUS_INVALID_PAYLOAD
            self.record.errors.append("VIDEO_SUBSCRIPTION_REQ without a data_opt 4 media connection")
        elif msg["subscribe"] and self._watched == user_id:
            status = STATUS_DUPLICATE_VIDEO_SUBSCRIPTION  # the name says it; the trigger is our reading
        elif msg["subscribe"]:
            self._watched = user_id  # a new subscription replaces the previous one [VS] step 5
        elif self._watched == user_id:
            self._watched = None
        await self._send(ws, {"msg_type": VIDEO_SUBSCRIPTION_RESP, "user_id": user_id, "status_code": status,
                              "reason": "OK" if status == STATUS_OK else f"status {status}",
                              "timestamp": now_ms()})

    # -- media ------------------------------------------------------------------------------------
    async def _media_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in self._receive(ws, "media"):
            kind = msg.get("msg_type")
            if kind == DATA_HAND_SHAKE_REQ:
                await self._media_handshake(ws, msg)
            elif kind == KEEP_ALIVE_RESP:
                self._answered("media", msg)
            else:  # [ER] message classification: only KEEP_ALIVE_RESP goes to the media connection
                self.record.errors.append(f"media: msg_type {kind} sent on the media connection")
        return ws

    async def _media_handshake(self, ws: web.WebSocketResponse, msg: dict[str, Any]) -> None:
        """[ER] "Media handshake request/response"; codec/fps granted by the rules of [ER]/[DT]."""
        status = self._check_signed(msg)
        if self._signaling is None or self._signaling.closed:
            self.record.errors.append("media handshake without a live signaling connection")
            await ws.close()
            return
        if status == STATUS_OK and msg.get("media_type") not in (MEDIA_VIDEO, MEDIA_ALL):
            status = STATUS_INVALID_MEDIA_TYPE
        if status == STATUS_OK and self._media is not None and not self._media.closed:
            status = STATUS_DUPLICATE_MEDIA_DATA_CONNECTION
        asked = dict((msg.get("media_params") or {}).get("video") or {})
        fps = int(asked.get("fps", 5))
        codec = asked.get("codec")
        if codec is None or (codec in (JPG, PNG) and fps > 5):
            codec, fps = JPG, min(fps, 5)  # [ER]: "If fps > 5 is set without a codec ... JPG and fps 5"
        if status == STATUS_OK and codec != JPG:
            status = STATUS_INVALID_MEDIA_VIDEO_CODEC  # this server only carries JPEG frames
            self.record.errors.append(f"media handshake asked for video codec {codec}")
        granted = {"content_type": 3, "codec": codec, "resolution": asked.get("resolution", 2),
                   "data_opt": asked.get("data_opt", VIDEO_SINGLE_ACTIVE_STREAM), "fps": max(1, fps)}
        await self._send(ws, {"msg_type": DATA_HAND_SHAKE_RESP, "protocol_version": 1, "status_code": status,
                              "reason": "" if status == STATUS_OK else f"status {status}", "sequence": 0,
                              "payload_encrypted": False, "media_params": {"video": granted}})
        if status != STATUS_OK:
            await ws.close()
            return
        self._media, self._granted = ws, granted
        self._spawn(self._keepalive("media", ws))

    async def _video_pump(self) -> None:
        """[MD] msg 15 at the granted fps: the subscribed student (data_opt 4) or the speaker (3)."""
        while not self.done.is_set():
            granted = self._granted or {"fps": 5}
            await asyncio.sleep(1 / granted["fps"])
            if (not self._ready or self._paused or self._granted is None or self._media is None
                    or self._media.closed):
                continue  # [ER] "Client ready ACK": nothing flows before it
            individual = self._granted["data_opt"] == VIDEO_SINGLE_INDIVIDUAL_STREAM
            who = self._watched if individual else self._speaker
            student = self.students.get(who) if who is not None else None
            if student is None or not student.camera_on or who not in self.in_meeting:
                continue  # [VS] "Handling video gaps": no video data at all
            jpeg = student.frames[student.sent % len(student.frames)]
            student.sent += 1
            self.record.frames_sent[student.user_id] = self.record.frames_sent.get(student.user_id, 0) + 1
            await self._send(self._media, {"msg_type": MEDIA_DATA_VIDEO, "content": {
                "user_id": student.user_id, "user_name": student.name,
                "data": base64.b64encode(jpeg).decode(), "length": len(jpeg), "timestamp": now_ms()}})

    # -- keep-alive ---------------------------------------------------------------------------
    async def _keepalive(self, which: str, ws: web.WebSocketResponse) -> None:
        """[ER] "Keep-alive request": every 10 s on both connections; three unanswered end it."""
        sent = self.record.keepalive_sent.setdefault(which, [])
        answered = self.record.keepalive_answered.setdefault(which, {})
        while not ws.closed and not self.done.is_set():
            await asyncio.sleep(self.keepalive_s)
            if ws.closed or self.done.is_set():
                return
            stamp = now_ms()
            sent.append((self.t(), stamp))
            await self._send(ws, {"msg_type": KEEP_ALIVE_REQ, "timestamp": stamp})
            if len(sent) >= 3 and all(s not in answered for _, s in sent[-3:]):
                self.record.errors.append(f"{which}: three keep-alive requests unanswered")
                await self._end(STOP_BC_KEEP_ALIVE_TIMEOUT)
                return

    def _answered(self, which: str, msg: dict[str, Any]) -> None:
        stamps = {s for _, s in self.record.keepalive_sent.get(which, [])}
        if msg.get("timestamp") not in stamps:  # [ER]: "The timestamp in the response must match"
            self.record.errors.append(f"{which}: KEEP_ALIVE_RESP with unknown timestamp {msg.get('timestamp')!r}")
            return
        self.record.keepalive_answered.setdefault(which, {})[msg["timestamp"]] = self.t()

    # -- the class ----------------------------------------------------------------------------
    async def _event(self, event: dict[str, Any]) -> None:
        """[ER] msg 6 carries the event in `event`; only subscribed types, besides 1 and 7."""
        if event["event_type"] in UNASKED_EVENTS or event["event_type"] in self._subscribed_events:
            await self._send(self._signaling, {"msg_type": EVENT_UPDATE, "event": event})

    async def _scenario(self) -> None:
        start = time.monotonic()
        for step in self.steps:
            await asyncio.sleep(max(0.0, start + step.at - time.monotonic()))
            await self._apply(step)
        await asyncio.sleep(max(0.0, start + self.end_after_s - time.monotonic()))
        await self._end(STOP_BC_MEETING_ENDED)

    async def _apply(self, step: Step) -> None:
        student = self.students.get(step.user_id) or Student(0, "", [])
        uid: int | str = str(step.user_id) if step.id_as_text else step.user_id
        stamp = now_ms()
        if step.action == "speaker":  # [ER] "Active speaker change": user_id, user_name on the event
            self._speaker = step.user_id
            await self._event({"event_type": ACTIVE_SPEAKER_CHANGE, "timestamp": stamp,
                               "user_id": uid, "user_name": student.name})
        elif step.action == "join":  # [ER] "Participant joined": participants[{user_id, user_name}]
            self.in_meeting.add(step.user_id)
            await self._event({"event_type": PARTICIPANT_JOIN, "timestamp": stamp,
                               "participants": [{"user_id": uid, "user_name": student.name}]})
        elif step.action in ("video_on", "video_off"):  # [VS] step 3: participants[{user_id}]
            student.camera_on = step.action == "video_on"
            kind = PARTICIPANT_VIDEO_ON if student.camera_on else PARTICIPANT_VIDEO_OFF
            await self._event({"event_type": kind, "timestamp": stamp, "participants": [{"user_id": uid}]})
        elif step.action == "drop":
            await self._drop()
        elif step.action in ("pause", "resume"):  # [DT] RTMS_STREAM_STATE 5/6, RTMS_SESSION_STATE 3/4
            self._paused = step.action == "pause"
            await self._send(self._signaling, {"msg_type": SESSION_STATE_UPDATE, "timestamp": stamp,
                                               "state": SESSION_PAUSED if self._paused else SESSION_RESUMED,
                                               "rtms_session_id": self._session_id})
            await self._send(self._signaling, {"msg_type": STREAM_STATE_UPDATE, "timestamp": stamp,
                                               "state": STREAM_PAUSED if self._paused else STREAM_RESUMED})
        elif step.action == "leave":  # [ER] "Participant leave": participants[{user_id}]
            self.in_meeting.discard(step.user_id)
            await self._event({"event_type": PARTICIPANT_LEAVE, "timestamp": stamp,
                               "participants": [{"user_id": uid}]})
        else:
            raise ValueError(f"unknown step {step.action!r}")

    async def _drop(self) -> None:
        """The signaling connection is lost: [ER] "Keep-alive request" — RTMS interrupts both the
        signaling and media connections and waits one minute for a new handshake; the failover page
        (docs/rtms/.../failover-reconnection) says to reconnect both. Everything tied to the old
        connection goes: event subscriptions, the media grant, the video subscription, the ready ACK.
        Nobody already in the meeting is announced again."""
        self.record.dropped_at.append(self.t())
        for which in ("signaling", "media"):  # requests cut short by the drop cannot be answered
            answered = self.record.keepalive_answered.get(which, {})
            self.record.keepalive_sent[which] = [(t, s) for t, s in self.record.keepalive_sent.get(which, [])
                                                 if s in answered]
        sockets = (self._signaling, self._media)
        self._signaling = self._media = None
        self._subscribed_events.clear()
        self._granted, self._watched, self._ready = None, None, False
        for ws in sockets:
            if ws is not None and not ws.closed:
                await ws.close()

    async def _end(self, reason: int) -> None:
        """The meeting ends: leaves [ER], SESSION_STATE_UPDATE 9 {5, stop_reason} [ER],
        STREAM_STATE_UPDATE 8 {state 4, reason} ([RS] treats {4, 6} as meeting ended), then close."""
        if self.done.is_set():
            return
        self.record.ended_at = self.t()
        if reason == STOP_BC_MEETING_ENDED and self.in_meeting:
            await self._event({"event_type": PARTICIPANT_LEAVE, "timestamp": now_ms(),
                               "participants": [{"user_id": u} for u in sorted(self.in_meeting)]})
        await self._send(self._signaling, {"msg_type": SESSION_STATE_UPDATE, "state": SESSION_STOPPED,
                                           "stop_reason": reason, "timestamp": now_ms(),
                                           "rtms_session_id": self._session_id})
        await self._send(self._signaling, {"msg_type": STREAM_STATE_UPDATE, "state": STREAM_TERMINATED,
                                           "reason": reason, "timestamp": now_ms()})
        self.done.set()
        for ws in (self._media, self._signaling):
            if ws is not None and not ws.closed:
                await ws.close()


def jpeg_frames(path: str, count: int = 15, size: tuple[int, int] = (640, 360), step: int = 5) -> list[bytes]:
    """`count` frames of a face clip, every `step`-th, as SD JPEGs ([DT] MEDIA_RESOLUTION SD 640x360)."""
    import cv2  # the server itself needs no OpenCV; only the frames do

    capture = cv2.VideoCapture(path)
    frames: list[bytes] = []
    index = 0
    try:
        while len(frames) < count:
            ok, image = capture.read()
            if not ok:
                break
            if index % step == 0:
                ok, buf = cv2.imencode(".jpg", cv2.resize(image, size), [cv2.IMWRITE_JPEG_QUALITY, 85])
                if ok:
                    frames.append(buf.tobytes())
            index += 1
    finally:
        capture.release()
    if not frames:
        raise ValueError(f"{path}: no frames")
    return frames
