"""Zoom Realtime Media Streams (RTMS) messages as data — no I/O, no asyncio.

What ClassPulse needs from RTMS (../shared/notes/ZOOM.md, developers.zoom.us/docs/rtms):

signalling socket (``server_urls`` of the ``meeting.rtms_started`` webhook)
    → 1 SIGNALING_HAND_SHAKE_REQ {protocol_version, meeting_uuid, rtms_stream_id, signature}
    ← 2 SIGNALING_HAND_SHAKE_RESP {status_code, media_server.server_urls.{all,audio,video}}
    → 5 EVENT_SUBSCRIPTION {events: [{event_type, subscribe}]}     ← 6 EVENT_UPDATE
media socket (``media_server.server_urls.video``)
    → 3 DATA_HAND_SHAKE_REQ {…, media_type: VIDEO, payload_encryption, media_params.video}
    ← 4 DATA_HAND_SHAKE_RESP {status_code}
    then → 7 CLIENT_READY_ACK on the signalling socket; video comes as 15 MEDIA_DATA_VIDEO
    → 28 VIDEO_SUBSCRIPTION_REQ {user_id}  ← 29 VIDEO_SUBSCRIPTION_RESP {status_code, user_id}
both sockets
    ← 12 KEEP_ALIVE_REQ  → 13 KEEP_ALIVE_RESP {timestamp}; 8/9 stream/session state;
    21 STREAM_CLOSE_REQ ends the stream (22 answers it).

Every message is one JSON text frame with an integer ``msg_type``. Parsing turns them into
frozen dataclasses; `failure_for_status` and `failure_for_stop` map Zoom's codes to the
`FailureReason` a teacher can act on.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from bot.connectors.base import FailureReason


class Msg(IntEnum):
    SIGNALING_HAND_SHAKE_REQ = 1
    SIGNALING_HAND_SHAKE_RESP = 2
    DATA_HAND_SHAKE_REQ = 3
    DATA_HAND_SHAKE_RESP = 4
    EVENT_SUBSCRIPTION = 5
    EVENT_UPDATE = 6
    CLIENT_READY_ACK = 7
    STREAM_STATE_UPDATE = 8
    SESSION_STATE_UPDATE = 9
    KEEP_ALIVE_REQ = 12
    KEEP_ALIVE_RESP = 13
    MEDIA_DATA_AUDIO = 14
    MEDIA_DATA_VIDEO = 15
    STREAM_CLOSE_REQ = 21
    STREAM_CLOSE_RESP = 22
    VIDEO_SUBSCRIPTION_REQ = 28
    VIDEO_SUBSCRIPTION_RESP = 29


class Event(IntEnum):
    ACTIVE_SPEAKER_CHANGE = 2
    PARTICIPANT_JOIN = 3
    PARTICIPANT_LEAVE = 4
    PARTICIPANT_VIDEO_ON = 8
    PARTICIPANT_VIDEO_OFF = 9


ROSTER_EVENTS = (Event.ACTIVE_SPEAKER_CHANGE, Event.PARTICIPANT_JOIN, Event.PARTICIPANT_LEAVE,
                 Event.PARTICIPANT_VIDEO_ON, Event.PARTICIPANT_VIDEO_OFF)

MEDIA_VIDEO = 2  # media_type bitmask: AUDIO 1, VIDEO 2, DESKSHARE 4, TRANSCRIPT 8, CHAT 16


class Codec(IntEnum):
    JPG = 5
    PNG = 6
    H264 = 7


class Resolution(IntEnum):
    SD = 1
    HD = 2
    FHD = 3
    QHD = 4


class DataOpt(IntEnum):
    ACTIVE_SPEAKER = 3
    INDIVIDUAL = 4  # one participant's stream at a time (VIDEO_SUBSCRIPTION_REQ chooses whose)
    GALLERY = 5


class StreamState(IntEnum):
    INACTIVE = 0
    ACTIVE = 1
    INTERRUPTED = 2
    TERMINATING = 3
    TERMINATED = 4
    PAUSED = 5
    RESUMED = 6


class SessionState(IntEnum):
    INACTIVE = 0
    INITIALIZE = 1
    STARTED = 2
    PAUSED = 3
    RESUMED = 4
    STOPPED = 5


# RTMS status codes (status_code of handshake and subscription answers).
STATUS_OK = 0
STATUS_CONNECTION_TIMEOUT = 1
STATUS_INVALID_JSON_MSG = 3
STATUS_MEETING_UUID_NOT_EXIST = 7
STATUS_RTMS_STREAM_ID_NOT_EXIST = 10
STATUS_SESSION_NOT_FOUND = 13
STATUS_SIGNATURE_NOT_EXIST = 14
STATUS_INVALID_SIGNATURE = 15
STATUS_INVALID_MEETING_OR_STREAM_ID = 16
STATUS_DUPLICATE_SIGNAL_REQUEST = 17

_STATUS_REASON: dict[int, tuple[FailureReason, str]] = {
    STATUS_CONNECTION_TIMEOUT: (FailureReason.NETWORK, "RTMS connection timed out"),
    STATUS_MEETING_UUID_NOT_EXIST: (FailureReason.MEETING_NOT_FOUND, "Zoom does not know this meeting"),
    STATUS_RTMS_STREAM_ID_NOT_EXIST: (FailureReason.MEETING_NOT_FOUND, "Zoom does not know this RTMS stream"),
    STATUS_SESSION_NOT_FOUND: (FailureReason.MEETING_NOT_FOUND, "the RTMS session is over or never existed"),
    STATUS_INVALID_MEETING_OR_STREAM_ID: (FailureReason.MEETING_NOT_FOUND, "meeting or stream id refused"),
    STATUS_SIGNATURE_NOT_EXIST: (FailureReason.WRONG_SECRET, "no stream signature sent"),
    STATUS_INVALID_SIGNATURE: (FailureReason.WRONG_SECRET,
                               "Zoom refused the stream signature: check zoom.client_id / zoom.client_secret"),
    STATUS_DUPLICATE_SIGNAL_REQUEST: (FailureReason.NOT_ADMITTED,
                                      "another client is already connected to this stream"),
}


def failure_for_status(status: int) -> tuple[FailureReason, str]:
    reason, text = _STATUS_REASON.get(status, (FailureReason.INTERNAL, "RTMS refused the request"))
    return reason, f"{text} (status {status})"


# Stop reasons (meeting.rtms_stopped's payload.stop_reason and stream state updates).
STOP_REASONS: dict[int, str] = {
    1: "host stopped the stream", 2: "a user stopped the stream", 3: "the user who started it left",
    4: "the user who started it was removed", 5: "the host disabled the app", 6: "the meeting ended",
    7: "the stream was cancelled", 8: "the stream was revoked", 9: "all apps were disabled",
    10: "Zoom internal error", 11: "connection timed out", 12: "meeting connection interrupted",
    13: "signalling connection interrupted", 14: "media connection interrupted",
    15: "signalling connection closed abnormally", 16: "media connection closed abnormally",
    17: "exit signal", 18: "authentication failure",
}
_NORMAL_STOPS = {1, 2, 3, 4, 5, 6, 7, 9, 17}


def failure_for_stop(reason: int) -> tuple[FailureReason | None, str]:
    """None for a stop the host or meeting chose (a normal end), a reason for a failure."""
    text = f"{STOP_REASONS.get(reason, 'stream stopped')} (stop reason {reason})"
    if reason in _NORMAL_STOPS or reason == 0:
        return None, text
    if reason == 18:
        return FailureReason.WRONG_SECRET, text
    if reason == 8:
        return FailureReason.NOT_ADMITTED, text
    return FailureReason.NETWORK, text


class ProtocolError(ValueError):
    """A message that does not follow the RTMS protocol."""


# -- builders ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamRef:
    """Which stream to open, from the ``meeting.rtms_started`` webhook payload."""

    meeting_uuid: str
    rtms_stream_id: str
    server_urls: str


@dataclass(frozen=True)
class VideoParams:
    codec: Codec = Codec.JPG
    resolution: Resolution = Resolution.SD
    data_opt: DataOpt = DataOpt.INDIVIDUAL
    fps: int = 5

    def as_json(self) -> dict[str, int]:
        return {"codec": int(self.codec), "resolution": int(self.resolution),
                "data_opt": int(self.data_opt), "fps": self.fps}


def signaling_handshake(ref: StreamRef, signature: str) -> dict[str, Any]:
    return {"msg_type": Msg.SIGNALING_HAND_SHAKE_REQ, "protocol_version": 1,
            "meeting_uuid": ref.meeting_uuid, "rtms_stream_id": ref.rtms_stream_id, "signature": signature}


def data_handshake(ref: StreamRef, signature: str, video: VideoParams) -> dict[str, Any]:
    return {"msg_type": Msg.DATA_HAND_SHAKE_REQ, "protocol_version": 1, "meeting_uuid": ref.meeting_uuid,
            "rtms_stream_id": ref.rtms_stream_id, "signature": signature, "media_type": MEDIA_VIDEO,
            "payload_encryption": False, "media_params": {"video": video.as_json()}}


def event_subscription(events: tuple[Event, ...] = ROSTER_EVENTS) -> dict[str, Any]:
    return {"msg_type": Msg.EVENT_SUBSCRIPTION,
            "events": [{"event_type": int(e), "subscribe": True} for e in events]}


def client_ready(ref: StreamRef) -> dict[str, Any]:
    return {"msg_type": Msg.CLIENT_READY_ACK, "rtms_stream_id": ref.rtms_stream_id}


def keep_alive_reply(timestamp: int) -> dict[str, Any]:
    return {"msg_type": Msg.KEEP_ALIVE_RESP, "timestamp": timestamp}


def video_subscription(user_id: int) -> dict[str, Any]:
    return {"msg_type": Msg.VIDEO_SUBSCRIPTION_REQ, "user_id": user_id, "subscribe": True}


def stream_close(ref: StreamRef) -> dict[str, Any]:
    return {"msg_type": Msg.STREAM_CLOSE_REQ, "meeting_uuid": ref.meeting_uuid,
            "rtms_stream_id": ref.rtms_stream_id}


def encode(message: dict[str, Any]) -> str:
    return json.dumps({k: int(v) if isinstance(v, IntEnum) else v for k, v in message.items()})


# -- parsed messages --------------------------------------------------------------------------
@dataclass(frozen=True)
class SignalingReady:
    video_url: str


@dataclass(frozen=True)
class Refused:
    """A handshake or subscription answered with a non-zero status."""

    msg_type: int
    status: int
    reason: str = ""


@dataclass(frozen=True)
class DataReady:
    pass


@dataclass(frozen=True)
class Person:
    user_id: int
    user_name: str = ""


@dataclass(frozen=True)
class RosterUpdate:
    event: Event
    people: tuple[Person, ...]


@dataclass(frozen=True)
class KeepAlive:
    timestamp: int


@dataclass(frozen=True)
class VideoData:
    user_id: int
    user_name: str
    data: bytes = field(repr=False)
    timestamp: int


@dataclass(frozen=True)
class Subscribed:
    user_id: int


@dataclass(frozen=True)
class StreamStopped:
    """The stream or session is over (state TERMINATED/STOPPED, or a close request)."""

    stop_reason: int


@dataclass(frozen=True)
class Ignored:
    msg_type: int


Message = (SignalingReady | Refused | DataReady | RosterUpdate | KeepAlive | VideoData | Subscribed
           | StreamStopped | Ignored)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{what} must be an integer, got {value!r}")
    return value


def _people(content: dict[str, Any]) -> tuple[Person, ...]:
    items = content.get("participants")
    if items is None and "user_id" in content:
        items = [content]
    if not isinstance(items, list):
        raise ProtocolError("an event update names no participants")
    return tuple(Person(_int(p.get("user_id"), "user_id"), str(p.get("user_name", ""))) for p in items)


def parse(text: str | bytes) -> Message:
    """One RTMS message → data; raises `ProtocolError` for anything malformed."""
    try:
        msg = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("a message must be a JSON object")
    kind = _int(msg.get("msg_type"), "msg_type")
    status = msg.get("status_code", STATUS_OK)
    if kind in (Msg.SIGNALING_HAND_SHAKE_RESP, Msg.DATA_HAND_SHAKE_RESP, Msg.VIDEO_SUBSCRIPTION_RESP) \
            and status != STATUS_OK:
        return Refused(kind, _int(status, "status_code"), str(msg.get("reason", "")))
    if kind == Msg.SIGNALING_HAND_SHAKE_RESP:
        urls = (msg.get("media_server") or {}).get("server_urls") or {}
        url = urls.get("video") or urls.get("all")
        if not isinstance(url, str) or not url:
            raise ProtocolError("handshake answer without media_server.server_urls.video")
        return SignalingReady(url)
    if kind == Msg.DATA_HAND_SHAKE_RESP:
        return DataReady()
    if kind == Msg.VIDEO_SUBSCRIPTION_RESP:
        return Subscribed(_int(msg.get("user_id"), "user_id"))
    if kind == Msg.KEEP_ALIVE_REQ:
        return KeepAlive(_int(msg.get("timestamp", 0), "timestamp"))
    if kind == Msg.EVENT_UPDATE:
        content = msg.get("content") or {}
        try:
            event = Event(_int(content.get("event_type"), "event_type"))
        except ValueError:
            return Ignored(kind)
        return RosterUpdate(event, _people(content))
    if kind == Msg.MEDIA_DATA_VIDEO:
        content = msg.get("content") or {}
        try:
            data = base64.b64decode(content.get("data", ""), validate=True)
        except (binascii.Error, TypeError):
            raise ProtocolError("video data is not base64") from None
        return VideoData(_int(content.get("user_id"), "user_id"), str(content.get("user_name", "")),
                         data, _int(content.get("timestamp", 0), "timestamp"))
    if kind == Msg.STREAM_STATE_UPDATE and msg.get("state") in (StreamState.TERMINATED, StreamState.TERMINATING):
        return StreamStopped(_int(msg.get("reason", 0), "reason"))
    if kind == Msg.SESSION_STATE_UPDATE and msg.get("state") == SessionState.STOPPED:
        return StreamStopped(_int(msg.get("stop_reason", 0), "stop_reason"))
    if kind == Msg.STREAM_CLOSE_REQ:
        return StreamStopped(_int(msg.get("reason", 0), "reason"))
    return Ignored(kind)


class ZoomUrlError(ValueError):
    pass


def parse_stream_url(url: str) -> StreamRef:
    """``zoom:?meeting_uuid=…&rtms_stream_id=…&server_urls=wss://…`` (values URL-encoded), the
    three fields of a ``meeting.rtms_started`` webhook, for joining one stream by hand."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    if parts.scheme != "zoom":
        raise ZoomUrlError(f"{url!r}: a Zoom RTMS URL starts with zoom:")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    missing = [k for k in ("meeting_uuid", "rtms_stream_id", "server_urls") if not query.get(k)]
    if missing:
        raise ZoomUrlError(f"{url!r}: add {', '.join(missing)} (from the meeting.rtms_started webhook)")
    if not query["server_urls"].startswith(("wss://", "ws://")):
        raise ZoomUrlError(f"{url!r}: server_urls must be a wss:// URL")
    return StreamRef(query["meeting_uuid"], query["rtms_stream_id"], query["server_urls"])
