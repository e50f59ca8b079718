"""Zoom Realtime Media Streams (RTMS) messages as data — no I/O, no asyncio.

Every fact here follows Zoom's published protocol (docs/zoom.md lists each with its
source: developers.zoom.us RTMS "Event reference", "Data type definitions", "Stream a
single participant's video", "Handling media data"; zoom/rtms-samples):

signaling socket (``server_urls`` of the ``meeting.rtms_started`` webhook)
    → 1 handshake {protocol_version 1, meeting_uuid, rtms_stream_id, signature}
    ← 2 {status_code, media_server.server_urls.{all,audio,video,transcript}}
    → 7 CLIENT_READY_ACK once the media socket is up; → 5 event subscription
    ← 6 EVENT_UPDATE with the event in an ``event`` object (not ``content``)
    → 28 VIDEO_SUBSCRIPTION_REQ {user_id, subscribe, timestamp}  ← 29 {user_id, status_code}
    ← 8 stream state {state, reason}, 9 session state {state, stop_reason | reason}
    → 21 STREAM_CLOSE_REQ ends the stream for good (stop reason 20)  ← 22
media socket (``media_server.server_urls.video``)
    → 3 {media_type 2 VIDEO, media_params.video{codec, resolution, data_opt, fps}}
    ← 4 {status_code, media_params.video: what Zoom GRANTED}   ← 15 video frames
both sockets
    ← 12 KEEP_ALIVE_REQ {timestamp}  → 13 with the same timestamp

Every message is one JSON text frame with an integer ``msg_type``. Parsing turns them
into frozen dataclasses; message and event types this module does not know are parsed
to `Ignored` (Zoom adds them: chat-group events 10–14, ``buffer_data``) and logged by
the caller. User ids are documented as integers but Zoom's own join/leave examples write
them as strings: both are accepted and normalised to `UserId` (text).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from bot.connectors.base import FailureReason

UserId = str  # "16778240": Zoom's user id, normalised to text (examples show ints and strings)


class Msg(IntEnum):
    """RTMS_MESSAGE_TYPE (Data type definitions)."""

    SIGNALING_HAND_SHAKE_REQ = 1
    SIGNALING_HAND_SHAKE_RESP = 2
    DATA_HAND_SHAKE_REQ = 3
    DATA_HAND_SHAKE_RESP = 4
    EVENT_SUBSCRIPTION = 5
    EVENT_UPDATE = 6
    CLIENT_READY_ACK = 7
    STREAM_STATE_UPDATE = 8
    SESSION_STATE_UPDATE = 9
    SESSION_STATE_REQ = 10
    SESSION_STATE_RESP = 11
    KEEP_ALIVE_REQ = 12
    KEEP_ALIVE_RESP = 13
    MEDIA_DATA_AUDIO = 14
    MEDIA_DATA_VIDEO = 15
    MEDIA_DATA_SHARE = 16
    MEDIA_DATA_TRANSCRIPT = 17
    MEDIA_DATA_CHAT = 18
    STREAM_STATE_REQ = 19
    STREAM_STATE_RESP = 20
    STREAM_CLOSE_REQ = 21
    STREAM_CLOSE_RESP = 22
    META_DATA_AUDIO = 23
    VIDEO_SUBSCRIPTION_REQ = 28
    VIDEO_SUBSCRIPTION_RESP = 29


class Event(IntEnum):
    """RTMS_EVENT_TYPE (Data type definitions); 10–14 (chat groups) are newer and ignored."""

    FIRST_PACKET_TIMESTAMP = 1
    ACTIVE_SPEAKER_CHANGE = 2
    PARTICIPANT_JOIN = 3
    PARTICIPANT_LEAVE = 4
    SHARING_START = 5
    SHARING_STOP = 6
    MEDIA_CONNECTION_INTERRUPTED = 7
    PARTICIPANT_VIDEO_ON = 8
    PARTICIPANT_VIDEO_OFF = 9


# Subscribed with msg_type 5. 1 and 7 are sent unsolicited and must NOT be subscribed to
# (Event reference, "Subscribe to events").
ROSTER_EVENTS = (Event.ACTIVE_SPEAKER_CHANGE, Event.PARTICIPANT_JOIN, Event.PARTICIPANT_LEAVE,
                 Event.PARTICIPANT_VIDEO_ON, Event.PARTICIPANT_VIDEO_OFF)

MEDIA_VIDEO = 2  # MEDIA_DATA_TYPE bitmask: AUDIO 1, VIDEO 2, DESKSHARE 4, TRANSCRIPT 8, CHAT 16, ALL 32


class Codec(IntEnum):
    """MEDIA_PAYLOAD_TYPE: JPG/PNG only at fps ≤ 5, H.264 only above 5 fps."""

    JPG = 5
    PNG = 6
    H264 = 7


class Resolution(IntEnum):
    SD = 1
    HD = 2
    FHD = 3
    QHD = 4


class DataOpt(IntEnum):
    """MEDIA_DATA_OPTION for video. Gallery (5) is no longer in Zoom's table."""

    ACTIVE_SPEAKER = 3  # the active speaker's video, no subscription
    INDIVIDUAL = 4  # one participant at a time, chosen with msg_type 28; nothing until then


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


# -- status codes ------------------------------------------------------------------------------
STATUS_OK = 0
STATUS_DUPLICATE_SIGNAL_REQUEST = 8
STATUS_DUPLICATE_VIDEO_SUBSCRIPTION = 44  # already subscribed to that user: not a failure

# RTMS_STATUS_CODE, current table (Data type definitions): name and what a teacher can do.
_NR, _WS, _NA, _IN = (FailureReason.MEETING_NOT_FOUND, FailureReason.WRONG_SECRET,
                      FailureReason.NOT_ADMITTED, FailureReason.INTERNAL)
CURRENT_STATUS: dict[int, tuple[str, FailureReason]] = {
    1: ("INVALID_MESSAGE_TYPE", _IN), 2: ("INVALID_RTMS_STREAM_ID", _NR), 3: ("INVALID_SIGNATURE", _WS),
    4: ("INVALID_PAYLOAD", _IN), 5: ("INVALID_EVENTS", _IN), 6: ("INVALID_EVENT_TYPE", _IN),
    7: ("INVALID_MEDIA_TYPE", _IN), 8: ("DUPLICATE_SIGNAL_REQUEST", _NA),
    9: ("MEDIA_TYPE_AUDIO_NOT_SUPPORT", _NA), 10: ("MEDIA_TYPE_VIDEO_NOT_SUPPORT", _NA),
    11: ("MEDIA_TYPE_DESKSHARE_NOT_SUPPORT", _NA), 12: ("MEDIA_TYPE_TRANSCRIPT_NOT_SUPPORT", _NA),
    13: ("MEDIA_TYPE_CHAT_NOT_SUPPORT", _NA), 14: ("MEDIA_TYPE_INVALID_VALUE", _IN),
    15: ("MEDIA_DATA_ALL_CONNECTION_EXIST", _NA), 16: ("DUPLICATE_MEDIA_DATA_CONNECTION", _NA),
    17: ("INVALID_MEDIA_PARAMS", _IN), 25: ("INVALID_MEDIA_VIDEO_PARAMS", _IN),
    26: ("INVALID_MEDIA_VIDEO_CONTENT_TYPE", _IN), 27: ("INVALID_MEDIA_VIDEO_CODEC", _IN),
    28: ("INVALID_MEDIA_VIDEO_RESOLUTION", _IN), 29: ("INVALID_MEDIA_VIDEO_DATA_OPT", _IN),
    30: ("INVALID_MEDIA_VIDEO_FPS", _IN), 40: ("INVALID_RTMS_SESSION_ID", _NR),
    41: ("INVALID_CLIENT_READY_ACK", _IN), 42: ("INVALID_EVENT_SUBSCRIBE", _IN),
    44: ("DUPLICATE_VIDEO_SUBSCRIPTION", _NA), 45: ("INTERNAL_EXCEPTION", _IN),
}
for _code in range(18, 25):
    CURRENT_STATUS[_code] = ("INVALID_MEDIA_AUDIO_PARAMS", _IN)
for _code in range(31, 40):
    CURRENT_STATUS[_code] = ("INVALID_MEDIA_DESKSHARE/TRANSCRIPT/CHAT_PARAMS", _IN)
# The older numbering (zoom/rtms-samples status lookups, "15 (INVALID_SIGNATURE)").
LEGACY_STATUS: dict[int, tuple[str, FailureReason]] = {
    1: ("CONNECTION_TIMEOUT", FailureReason.NETWORK), 3: ("INVALID_JSON_MSG", _IN),
    7: ("MEETING_UUID_NOT_EXIST", _NR), 10: ("RTMS_STREAM_ID_NOT_EXIST", _NR), 13: ("SESSION_NOT_FOUND", _NR),
    14: ("SIGNATURE_NOT_EXIST", _WS), 15: ("INVALID_SIGNATURE", _WS), 16: ("INVALID_MEETING_OR_STREAM_ID", _NR),
    17: ("DUPLICATE_SIGNAL_REQUEST", _NA), 31: ("DUPLICATE_MEDIA_DATA_CONNECTION", _NA),
}
# Codes the current table gives to problems a given answer cannot have: a SIGNALING handshake
# carries no media parameters, and ClassPulse never sends audio, desk-share, transcript or
# chat parameters. Seen there, such a code can only be the older numbering.
_IMPOSSIBLE: dict[int, set[int]] = {Msg.SIGNALING_HAND_SHAKE_RESP: set(range(9, 40)),
                                    Msg.DATA_HAND_SHAKE_RESP: set(range(18, 25)) | set(range(31, 40))}
_HINTS = (("signature", _WS, "INVALID_SIGNATURE"), ("duplicate", _NA, "DUPLICATE"),
          ("already", _NA, "DUPLICATE"), ("not exist", _NR, "NOT_FOUND"), ("not found", _NR, "NOT_FOUND"))

_ADVICE = {
    _WS: "check zoom.client_id / zoom.client_secret (the app's credentials)",
    _NA: "another client is already connected to this stream, or the app lacks the video scope",
    _NR: "the meeting or stream is over or unknown",
}


def failure_for_status(status: int, reason: str = "", msg_type: int = Msg.SIGNALING_HAND_SHAKE_RESP
                       ) -> tuple[FailureReason, str]:
    """A refused handshake → the failure a teacher can act on, with Zoom's own reason text.

    Zoom has published two numberings (3 vs 15 for a bad signature, 8 vs 17 for a duplicate
    signaling connection). The reason text wins when it is explicit; otherwise the current
    table, except for media-only codes on a signaling answer, which can only be the older one.
    """
    low = reason.lower()
    hinted = next(((fr, name) for needle, fr, name in _HINTS if needle in low), None)
    table = CURRENT_STATUS
    if status in _IMPOSSIBLE.get(msg_type, set()) and status in LEGACY_STATUS:
        table = LEGACY_STATUS
    name, failure = table.get(status, ("UNKNOWN_STATUS", _IN))
    if hinted is not None:
        failure = hinted[0]
    other = LEGACY_STATUS.get(status) if table is CURRENT_STATUS else CURRENT_STATUS.get(status)
    alias = f"; {other[0]} in the other numbering" if other and other[0] != name else ""
    said = f": Zoom says {reason!r}" if reason else ""
    advice = _ADVICE.get(failure, "")
    return failure, f"status {status} ({name}{alias}){said}" + (f" — {advice}" if advice else "")


# -- stop reasons ----------------------------------------------------------------------------
STOP_REVOKED = 8  # "assets must be deleted immediately"
STOP_RECEIVER_REQUEST_CLOSE = 20  # our own STREAM_CLOSE_REQ
STOP_REASONS: dict[int, str] = {
    0: "stream stopped", 1: "the host stopped the stream", 2: "a user stopped the stream",
    3: "the user who started the app left the meeting", 4: "the user who started the app was removed",
    5: "the host disabled the app", 6: "the meeting ended", 7: "a participant asked to cancel the stream",
    8: "the stream was revoked: its data must be deleted now", 9: "the host disabled all apps",
    10: "Zoom internal error", 11: "connection timed out", 12: "the meeting's connection was interrupted",
    13: "the signaling connection was interrupted", 14: "the media connection was interrupted",
    15: "the signaling connection was closed abnormally", 16: "the media connection was closed abnormally",
    17: "exit signal", 18: "authentication failure", 19: "Zoom stopped waiting for a reconnection",
    20: "ClassPulse asked Zoom to close the stream", 21: "the customer disconnected (Contact Center)",
    22: "the agent disconnected (Contact Center)", 23: "an admin disabled the app",
    24: "three keep-alives went unanswered", 25: "stopped through the API (Contact Center)",
    26: "streaming not supported (Contact Center)",
}
_NORMAL_STOPS = {0, 1, 2, 3, 4, 5, 6, 7, 9, 17, 20, 21, 22, 23, 25}


def failure_for_stop(reason: int) -> tuple[FailureReason | None, str]:
    """None for a stop the host, the meeting or we chose; a failure reason otherwise.

    A revoked stream (8) is a normal end for the lifecycle but must be deleted: see
    `Closed.delete_data`, which the connector sets from `is_revoked`.
    """
    text = f"{STOP_REASONS.get(reason, 'stream stopped')} (stop reason {reason})"
    if reason in _NORMAL_STOPS or reason == STOP_REVOKED:
        return None, text
    if reason == 18:
        return FailureReason.WRONG_SECRET, text
    if reason == 26:
        return FailureReason.NOT_ADMITTED, text
    return FailureReason.NETWORK, text


def is_revoked(reason: int) -> bool:
    return reason == STOP_REVOKED


class ProtocolError(ValueError):
    """A message that does not follow the RTMS protocol."""


# -- user ids --------------------------------------------------------------------------------
def user_key(value: Any) -> UserId:
    """A user id as Zoom sends it (int or digit string) → canonical text."""
    if isinstance(value, bool):
        raise ProtocolError(f"user_id must be a number or text, got {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        return str(int(text)) if text.isdigit() else text
    raise ProtocolError(f"user_id must be a number or text, got {value!r}")


def wire_user_id(user: UserId) -> int | str:
    """How to send a user id back in msg_type 28, documented as an unsigned int32: a number
    whenever the id is one; text only for an id that is not a number."""
    return int(user) if user.isdigit() else user


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


def now_ms() -> int:
    return int(time.time() * 1000)


def signaling_handshake(ref: StreamRef, signature: str) -> dict[str, Any]:
    return {"msg_type": Msg.SIGNALING_HAND_SHAKE_REQ, "protocol_version": 1, "sequence": 1,  # "must start at 1"
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


def keep_alive_reply(timestamp: Any) -> dict[str, Any]:
    return {"msg_type": Msg.KEEP_ALIVE_RESP, "timestamp": timestamp}


def video_subscription(user: UserId, subscribe: bool = True, timestamp: int | None = None,
                       wire: int | str = "") -> dict[str, Any]:
    """Sent on the SIGNALING socket; the answer (29) comes back there.

    A numeric id always goes out as a JSON number, even when Zoom first wrote it as text (the
    join example does): the Event reference documents `user_id` of 28 as an unsigned int32 taken
    from PARTICIPANT_VIDEO_ON, whose example writes numbers. `wire` (the id as Zoom wrote it) is
    used only for an id that is not a number."""
    user_id = wire_user_id(user) if user.isdigit() or wire == "" else wire
    return {"msg_type": Msg.VIDEO_SUBSCRIPTION_REQ, "user_id": user_id,
            "subscribe": subscribe,
            "timestamp": now_ms() if timestamp is None else timestamp}


def stream_close(ref: StreamRef) -> dict[str, Any]:
    """Ends the stream FOR GOOD (stop reason 20): only when the teacher stops the analysis."""
    return {"msg_type": Msg.STREAM_CLOSE_REQ, "rtms_stream_id": ref.rtms_stream_id}


def encode(message: dict[str, Any]) -> str:
    return json.dumps({k: int(v) if isinstance(v, IntEnum) else v for k, v in message.items()})


# -- parsed messages --------------------------------------------------------------------------
@dataclass(frozen=True)
class SignalingReady:
    video_url: str


@dataclass(frozen=True)
class Refused:
    """A handshake answered with a non-zero status."""

    msg_type: int
    status: int
    reason: str = ""


@dataclass(frozen=True)
class GrantedVideo:
    """The video parameters Zoom granted in the media handshake answer (msg_type 4)."""

    codec: int
    resolution: int
    data_opt: int
    fps: int


@dataclass(frozen=True)
class DataReady:
    granted: GrantedVideo | None = None  # None: Zoom sent no media_params (defaults apply)


@dataclass(frozen=True)
class Person:
    user_id: UserId
    user_name: str = ""
    #: The id exactly as Zoom sent it (int or text): sent back that way in msg_type 28.
    wire: int | str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class RosterUpdate:
    """Join, leave, video on/off, or an active-speaker change (one person, with a name)."""

    event: Event
    people: tuple[Person, ...]


@dataclass(frozen=True)
class MediaInterrupted:
    """Event 7 (or stream state INTERRUPTED with reason 14): reopen the media socket only."""


@dataclass(frozen=True)
class KeepAlive:
    timestamp: Any  # echoed back as received: "must match the request"


@dataclass(frozen=True)
class VideoData:
    user_id: UserId  # "" when Zoom named nobody: the individual stream subscribed to
    user_name: str
    data: bytes = field(repr=False)
    timestamp: int
    wire: int | str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class Subscribed:
    """A video subscription answer (29): `ok` for status 0 and 44 (already subscribed)."""

    user_id: UserId
    status: int = STATUS_OK
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (STATUS_OK, STATUS_DUPLICATE_VIDEO_SUBSCRIPTION)


@dataclass(frozen=True)
class StreamStopped:
    """The stream or session is over (state TERMINATING/TERMINATED/STOPPED)."""

    stop_reason: int


@dataclass(frozen=True)
class CloseAcknowledged:
    """STREAM_CLOSE_RESP (22)."""

    status: int


@dataclass(frozen=True)
class Ignored:
    """A message (or event) ClassPulse does not act on; `known` False for types Zoom added later."""

    msg_type: int
    event_type: int | None = None
    known: bool = True


Message = (SignalingReady | Refused | DataReady | RosterUpdate | MediaInterrupted | KeepAlive | VideoData
           | Subscribed | StreamStopped | CloseAcknowledged | Ignored)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{what} must be an integer, got {value!r}")
    return value


def _status(value: Any) -> int:
    """``status_code``: absent or null is OK (0); a numeric string is read as its number."""
    if value is None:
        return STATUS_OK
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return _int(value, "status_code")


def _people(event: dict[str, Any]) -> tuple[Person, ...]:
    """`participants: [{user_id, user_name?}]`, or `user_id`/`user_name` on the event itself
    (active speaker; zoom/rtms-samples' boilerplate reads joins that way too)."""
    items = event.get("participants")
    if items is None and "user_id" in event:
        items = [event]
    if not isinstance(items, list):
        raise ProtocolError("an event update names no participants")
    people = []
    for p in items:
        if not isinstance(p, dict):
            raise ProtocolError(f"a participant must be an object, got {p!r}")
        raw = p.get("user_id")
        people.append(Person(user_key(raw), str(p.get("user_name") or ""), raw if isinstance(raw, int | str) else ""))
    return tuple(people)


def _granted(msg: dict[str, Any]) -> GrantedVideo | None:
    video = (msg.get("media_params") or {}).get("video")
    if not isinstance(video, dict):
        return None
    try:
        return GrantedVideo(_int(video.get("codec"), "codec"), _int(video.get("resolution", 0), "resolution"),
                            _int(video.get("data_opt", 0), "data_opt"), _int(video.get("fps", 0), "fps"))
    except ProtocolError:
        return None


def _event_update(msg: dict[str, Any]) -> Message:
    event = msg.get("event")
    if not isinstance(event, dict):
        raise ProtocolError("an event update (msg_type 6) without an `event` object")
    kind = _int(event.get("event_type"), "event_type")
    try:
        ev = Event(kind)
    except ValueError:
        return Ignored(Msg.EVENT_UPDATE, kind, known=False)
    if ev is Event.MEDIA_CONNECTION_INTERRUPTED:
        return MediaInterrupted()
    if ev in ROSTER_EVENTS:
        return RosterUpdate(ev, _people(event))
    return Ignored(Msg.EVENT_UPDATE, kind)


def parse(text: str | bytes) -> Message:
    """One RTMS message → data; raises `ProtocolError` for anything malformed."""
    try:
        msg = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("a message must be a JSON object")
    kind = _int(msg.get("msg_type"), "msg_type")
    status = _status(msg.get("status_code"))
    reason = msg.get("reason")
    reason_text = reason if isinstance(reason, str) else ""
    if kind in (Msg.SIGNALING_HAND_SHAKE_RESP, Msg.DATA_HAND_SHAKE_RESP) and status != STATUS_OK:
        return Refused(kind, status, reason_text)
    if kind == Msg.SIGNALING_HAND_SHAKE_RESP:
        urls = (msg.get("media_server") or {}).get("server_urls") or {}
        url = urls if isinstance(urls, str) else urls.get("video") or urls.get("all") if isinstance(urls, dict) else ""
        if not isinstance(url, str) or not url:
            raise ProtocolError("handshake answer without media_server.server_urls.video")
        return SignalingReady(url)
    if kind == Msg.DATA_HAND_SHAKE_RESP:
        return DataReady(_granted(msg))
    if kind == Msg.VIDEO_SUBSCRIPTION_RESP:
        uid = msg.get("user_id")
        return Subscribed(user_key(uid) if uid is not None else "", status, reason_text)
    if kind == Msg.KEEP_ALIVE_REQ:
        return KeepAlive(msg.get("timestamp", 0))
    if kind == Msg.EVENT_UPDATE:
        return _event_update(msg)
    if kind == Msg.MEDIA_DATA_VIDEO:
        content = msg.get("content")
        if not isinstance(content, dict):
            raise ProtocolError("video data without a `content` object")
        try:
            data = base64.b64decode(content.get("data", ""), validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise ProtocolError("video data is not base64") from None
        ts = content.get("timestamp")
        raw = content.get("user_id")
        # 0 names no participant (ER "Audio data" / MD: mixed audio is user_id 0, sent without a
        # name): such a frame, like one without `user_id`, is the stream subscribed to.
        anonymous = raw is None or (not isinstance(raw, bool) and raw in ("", 0, "0"))
        user = "" if anonymous else user_key(raw)  # a bool or an object is a ProtocolError there
        return VideoData(user, str(content.get("user_name") or ""),
                         data, ts if isinstance(ts, int) and not isinstance(ts, bool) else 0,
                         raw if user and isinstance(raw, int | str) else "")
    if kind == Msg.STREAM_STATE_UPDATE:
        state = msg.get("state")
        stop = _int(msg.get("reason", 0) or 0, "reason")
        if state in (StreamState.TERMINATED, StreamState.TERMINATING):
            return StreamStopped(stop)
        if state == StreamState.INTERRUPTED and stop == 14:
            return MediaInterrupted()
        return Ignored(kind)
    if kind == Msg.SESSION_STATE_UPDATE:
        if msg.get("state") == SessionState.STOPPED:
            said = msg.get("stop_reason", msg.get("reason", 0))  # the docs show both names
            return StreamStopped(_int(said or 0, "stop_reason"))
        return Ignored(kind)
    if kind == Msg.STREAM_CLOSE_RESP:
        return CloseAcknowledged(status)
    try:
        Msg(kind)
    except ValueError:
        return Ignored(kind, known=False)
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
