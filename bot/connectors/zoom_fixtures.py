"""Zoom RTMS messages exactly as Zoom publishes them: the conformance fixtures.

Every function returns one message transcribed field for field from Zoom's public
material; its docstring names the page or sample it follows. The fake Zoom
(`bot.connectors.zoom_fake`) builds everything it sends from these, and
`tests/test_zoom_conformance.py` parses each of them with the connector's parser, so a
field the connector misreads fails a test here instead of passing against a fake that
shares the connector's misunderstanding.

Deliberately independent of the connector: nothing here imports `zoom_protocol`; the
numbers are Zoom's enum integers written out (Data type definitions, "use the
representative enum integers").

Sources (public, read 2026-11):

- EVENT_REF  https://developers.zoom.us/docs/rtms/event-reference/
- SINGLE     https://developers.zoom.us/docs/rtms/meetings/video-single-stream/
- DATA_TYPES https://developers.zoom.us/docs/rtms/data-types/
- MEDIA      developers.zoom.us RTMS "Handling media data" (video section)
- STREAMS    https://developers.zoom.us/docs/rtms/meetings/work-with-streams/ (failover and reconnection)
- SAMPLES    github.com/zoom/rtms-samples: boilerplate/working_js/signalingSocket.js,
             boilerplate/working_js/mediaMessageHandler.js,
             rtms_api/reconnection_and_chaos_mode_js/index.js,
             library/javascript/rtmsManager/signalingSocketMessageHandler.js
"""

from __future__ import annotations

from typing import Any

EVENT_REF = "https://developers.zoom.us/docs/rtms/event-reference/"
SINGLE = "https://developers.zoom.us/docs/rtms/meetings/video-single-stream/"
DATA_TYPES = "https://developers.zoom.us/docs/rtms/data-types/"
STREAMS = "https://developers.zoom.us/docs/rtms/meetings/work-with-streams/"

# -- enums, Data type definitions (DATA_TYPES) -------------------------------------------------
# RTMS_STATUS_CODE, current table.
STATUS_OK = 0
STATUS_INVALID_RTMS_STREAM_ID = 2
STATUS_INVALID_SIGNATURE = 3
STATUS_INVALID_PAYLOAD = 4
STATUS_INVALID_MEDIA_TYPE = 7
STATUS_DUPLICATE_SIGNAL_REQUEST = 8
STATUS_DUPLICATE_MEDIA_DATA_CONNECTION = 16
STATUS_INVALID_MEDIA_VIDEO_DATA_OPT = 29
STATUS_INVALID_RTMS_SESSION_ID = 40
STATUS_INVALID_CLIENT_READY_ACK = 41
STATUS_DUPLICATE_VIDEO_SUBSCRIPTION = 44
STATUS_INTERNAL_EXCEPTION = 45
# The older numbering still printed by zoom/rtms-samples' status lookups and by the
# reconnection sample's README ("status_code 15 (INVALID_SIGNATURE)").
LEGACY_STATUS_INVALID_SIGNATURE = 15
LEGACY_STATUS_DUPLICATE_SIGNAL_REQUEST = 17
LEGACY_STATUS_DUPLICATE_MEDIA_DATA_CONNECTION = 31

# RTMS_STOP_REASON (DATA_TYPES).
STOP_MEETING_ENDED = 6
STOP_STREAM_REVOKED = 8  # "assets must be deleted immediately"
STOP_SIGNAL_CONNECTION_INTERRUPTED = 13
STOP_DATA_CONNECTION_INTERRUPTED = 14
STOP_AWAIT_RECONNECTION_TIMEOUT = 19
STOP_RECEIVER_REQUEST_CLOSE = 20
STOP_KEEP_ALIVE_TIMEOUT = 24

# RTMS_STREAM_STATE / RTMS_SESSION_STATE (DATA_TYPES).
STREAM_ACTIVE = 1
STREAM_INTERRUPTED = 2
STREAM_TERMINATED = 4
SESSION_STARTED = 2
SESSION_STOPPED = 5

# RTMS_EVENT_TYPE (DATA_TYPES).
EVENT_FIRST_PACKET_TIMESTAMP = 1
EVENT_ACTIVE_SPEAKER_CHANGE = 2
EVENT_PARTICIPANT_JOIN = 3
EVENT_PARTICIPANT_LEAVE = 4
EVENT_MEDIA_CONNECTION_INTERRUPTED = 7
EVENT_PARTICIPANT_VIDEO_ON = 8
EVENT_PARTICIPANT_VIDEO_OFF = 9

# MEDIA_PAYLOAD_TYPE, MEDIA_DATA_OPTION, MEDIA_DATA_TYPE (DATA_TYPES).
CODEC_JPG, CODEC_PNG, CODEC_H264 = 5, 6, 7
DATA_OPT_ACTIVE_SPEAKER, DATA_OPT_INDIVIDUAL = 3, 4
MEDIA_TYPE_VIDEO = 2


# -- signaling connection ------------------------------------------------------------------------
def signaling_handshake_response(media_url: str, *, status_code: int = STATUS_OK, reason: str = "") -> dict[str, Any]:
    """EVENT_REF "Signaling handshake response" (same shape in SAMPLES signalingSocket.js)."""
    return {"msg_type": 2, "protocol_version": 1, "sequence": 0, "status_code": status_code, "reason": reason,
            "media_server": {"server_urls": {"audio": media_url, "video": media_url, "transcript": media_url,
                                             "all": media_url}}}


def first_packet_timestamp(ts: int) -> dict[str, Any]:
    """EVENT_REF "First timestamp from the signaling connection" (sent unsolicited)."""
    return {"msg_type": 6, "event": {"event_type": 1, "timestamp": ts}}


def active_speaker_change(user_id: int, user_name: str, ts: int) -> dict[str, Any]:
    """EVENT_REF "Active speaker change": user_id / user_name directly in `event`."""
    return {"msg_type": 6, "event": {"event_type": 2, "timestamp": ts, "user_id": user_id, "user_name": user_name}}


def participant_join(people: list[tuple[int, str]], ts: int, *, string_ids: bool = True) -> dict[str, Any]:
    """EVENT_REF "Participant joined": a `participants` list; the page's example writes the
    ids as strings ("xxxxxxxxxx") although the table says unsigned long, hence `string_ids`."""
    return {"msg_type": 6, "event": {"event_type": 3, "timestamp": ts, "participants": [
        {"user_id": str(uid) if string_ids else uid, "user_name": name} for uid, name in people]}}


def participant_leave(user_ids: list[int], ts: int, *, string_ids: bool = True) -> dict[str, Any]:
    """EVENT_REF "Participant leave": ids only, written as strings in the example."""
    return {"msg_type": 6, "event": {"event_type": 4, "timestamp": ts, "participants": [
        {"user_id": str(uid) if string_ids else uid} for uid in user_ids]}}


def participant_video_on(user_ids: list[int], ts: int) -> dict[str, Any]:
    """EVENT_REF "Participant video on" / SINGLE step 3: integer ids, no names."""
    return {"msg_type": 6, "event": {"event_type": 8, "timestamp": ts,
                                     "participants": [{"user_id": uid} for uid in user_ids]}}


def participant_video_off(user_ids: list[int], ts: int) -> dict[str, Any]:
    """EVENT_REF "Participant video off" / SINGLE step 3."""
    return {"msg_type": 6, "event": {"event_type": 9, "timestamp": ts,
                                     "participants": [{"user_id": uid} for uid in user_ids]}}


def media_connection_interrupted(ts: int) -> dict[str, Any]:
    """Event type 7 (DATA_TYPES; "sent automatically", EVENT_REF "Subscribe to events" note);
    SAMPLES reconnection_and_chaos_mode_js reads it from `msg.event.event_type`."""
    return {"msg_type": 6, "event": {"event_type": 7, "timestamp": ts}}


def video_subscription_response(user_id: int, ts: int, *, status_code: int = STATUS_OK,
                                reason: str = "OK") -> dict[str, Any]:
    """EVENT_REF "Video subscription response" / SINGLE step 4, on the signaling connection."""
    return {"msg_type": 29, "user_id": user_id, "status_code": status_code, "reason": reason, "timestamp": ts}


def stream_state_update(state: int, reason: int, ts: int) -> dict[str, Any]:
    """EVENT_REF "Stream state updated" ({state, reason, timestamp})."""
    return {"msg_type": 8, "state": state, "reason": reason, "timestamp": ts}


def session_state_update(state: int, stop_reason: int, ts: int, session_id: str) -> dict[str, Any]:
    """EVENT_REF "Session state updated": the example writes `stop_reason`, the field table
    says `reason` — the connector must read either."""
    return {"msg_type": 9, "state": state, "stop_reason": stop_reason, "timestamp": ts,
            "rtms_session_id": session_id}


def stream_close_response(stream_id: str, ts: int) -> dict[str, Any]:
    """EVENT_REF "Stream close response"."""
    return {"msg_type": 22, "rtms_stream_id": stream_id, "status_code": 0, "reason": "OK", "timestamp": ts}


def keep_alive_request(ts: int) -> dict[str, Any]:
    """EVENT_REF "Keep-alive request" (both connections, about every 10 s)."""
    return {"msg_type": 12, "timestamp": ts}


# -- media connection ----------------------------------------------------------------------------
def media_handshake_response(video: dict[str, int] | None, *, status_code: int = STATUS_OK,
                             reason: str = "") -> dict[str, Any]:
    """EVENT_REF "Media handshake response" (video part of its example: content_type 3,
    codec, resolution, data_opt, fps), carrying the parameters Zoom actually granted."""
    msg: dict[str, Any] = {"msg_type": 4, "protocol_version": 1, "status_code": status_code, "reason": reason,
                           "sequence": 0, "payload_encrypted": False}
    if video is not None:
        msg["media_params"] = {"video": {"content_type": 3, **video}}
    return msg


def video_data(user_id: int, user_name: str, data_b64: str, length: int, ts: int) -> dict[str, Any]:
    """EVENT_REF "Video data" / MEDIA example video packet: `content.{user_id, user_name,
    data, length, timestamp}`."""
    return {"msg_type": 15, "content": {"user_id": user_id, "user_name": user_name, "data": data_b64,
                                        "length": length, "timestamp": ts}}


# -- what ClassPulse sends, as documented (for tests comparing the connector's requests) ---------
def documented_video_subscription_request(user_id: int, ts: int) -> dict[str, Any]:
    """EVENT_REF "Video subscription request" / SINGLE step 4 — sent on the SIGNALING connection."""
    return {"msg_type": 28, "user_id": user_id, "subscribe": True, "timestamp": ts}


def documented_individual_media_handshake(meeting_uuid: str, stream_id: str, signature: str) -> dict[str, Any]:
    """SINGLE step 1 (data_opt 4; the page's example asks for JPG at 25 fps, which the codec
    rules of DATA_TYPES/MEDIA would not grant as JPG)."""
    return {"msg_type": 3, "protocol_version": 1, "meeting_uuid": meeting_uuid, "rtms_stream_id": stream_id,
            "signature": signature, "media_type": 2,
            "media_params": {"video": {"codec": 5, "resolution": 2, "data_opt": 4, "fps": 25}}}
