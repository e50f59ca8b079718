"""Conformance: the connector's parser against Zoom's own example messages.

Every message here comes from `bot/connectors/zoom_fixtures.py`, transcribed field for
field from developers.zoom.us (Event reference, Stream a single participant's video,
Data type definitions, Handling media data) and zoom/rtms-samples; each fixture's
docstring names its source. A misreading of Zoom's format fails here, whatever the fake
does with it.
"""

from __future__ import annotations

import base64
import json

from bot.connectors import zoom_fixtures as fx
from bot.connectors import zoom_protocol as zp
from bot.connectors.base import FailureReason


def parse(msg: dict[str, object]) -> zp.Message:
    return zp.parse(json.dumps(msg))


def test_signaling_handshake_answers() -> None:
    assert parse(fx.signaling_handshake_response("wss://127.0.0.0:443")) == zp.SignalingReady("wss://127.0.0.0:443")
    for status, legacy in ((fx.STATUS_INVALID_SIGNATURE, False), (fx.LEGACY_STATUS_INVALID_SIGNATURE, True)):
        refused = parse(fx.signaling_handshake_response("", status_code=status))
        assert refused == zp.Refused(2, status, ""), legacy
        assert zp.failure_for_status(refused.status, refused.reason, refused.msg_type)[0] is FailureReason.WRONG_SECRET
    for status in (fx.STATUS_DUPLICATE_SIGNAL_REQUEST, fx.LEGACY_STATUS_DUPLICATE_SIGNAL_REQUEST):
        refused = parse(fx.signaling_handshake_response("", status_code=status))
        assert isinstance(refused, zp.Refused)
        assert zp.failure_for_status(refused.status, "", 2)[0] is FailureReason.NOT_ADMITTED
    gone = parse(fx.signaling_handshake_response("", status_code=fx.STATUS_INVALID_RTMS_STREAM_ID))
    assert isinstance(gone, zp.Refused)
    assert zp.failure_for_status(gone.status, "", 2)[0] is FailureReason.MEETING_NOT_FOUND


def test_event_updates_carry_the_event_in_an_event_object() -> None:
    assert parse(fx.first_packet_timestamp(1727384349123)) == zp.Ignored(6, 1)
    assert parse(fx.active_speaker_change(22334455, "John Smith", 1)) == zp.RosterUpdate(
        zp.Event.ACTIVE_SPEAKER_CHANGE, (zp.Person("22334455", "John Smith"),))
    # the join example writes ids as strings, the video events as integers: the same person either way
    assert parse(fx.participant_join([(16778240, "John Smith"), (33556610, "Alice")], 1)) == zp.RosterUpdate(
        zp.Event.PARTICIPANT_JOIN, (zp.Person("16778240", "John Smith"), zp.Person("33556610", "Alice")))
    assert parse(fx.participant_join([(16778240, "John Smith")], 1, string_ids=False)) == parse(
        fx.participant_join([(16778240, "John Smith")], 1))
    assert parse(fx.participant_leave([16778240], 1)) == zp.RosterUpdate(
        zp.Event.PARTICIPANT_LEAVE, (zp.Person("16778240"),))
    assert parse(fx.participant_video_on([16778240, 33556610], 1)) == zp.RosterUpdate(
        zp.Event.PARTICIPANT_VIDEO_ON, (zp.Person("16778240"), zp.Person("33556610")))
    assert parse(fx.participant_video_off([16778240], 1)) == zp.RosterUpdate(
        zp.Event.PARTICIPANT_VIDEO_OFF, (zp.Person("16778240"),))
    assert parse(fx.media_connection_interrupted(1)) == zp.MediaInterrupted()


def test_video_subscription_answers() -> None:
    assert parse(fx.video_subscription_response(16778240, 1738392033699)) == zp.Subscribed("16778240", 0, "OK")
    dup = parse(fx.video_subscription_response(16778240, 1, status_code=fx.STATUS_DUPLICATE_VIDEO_SUBSCRIPTION))
    assert isinstance(dup, zp.Subscribed) and dup.ok


def test_the_connectors_video_subscription_is_the_documented_one() -> None:
    ours = json.loads(zp.encode(zp.video_subscription("16778240", timestamp=1738392033699)))
    assert ours == fx.documented_video_subscription_request(16778240, 1738392033699)


def test_media_handshake_answer_says_what_was_granted() -> None:
    granted = {"codec": 5, "resolution": 2, "data_opt": 3, "fps": 5}  # the Event reference's example
    assert parse(fx.media_handshake_response(granted)) == zp.DataReady(zp.GrantedVideo(5, 2, 3, 5))
    refused = parse(fx.media_handshake_response(None, status_code=fx.STATUS_DUPLICATE_MEDIA_DATA_CONNECTION))
    assert refused == zp.Refused(4, 16, "")
    assert zp.failure_for_status(16, "", 4)[0] is FailureReason.NOT_ADMITTED


def test_video_data() -> None:
    data = base64.b64encode(b"\xff\xd8\xff\xe0jpeg").decode()
    assert parse(fx.video_data(16778240, "John Smith", data, 8, 1738392033699)) == zp.VideoData(
        "16778240", "John Smith", b"\xff\xd8\xff\xe0jpeg", 1738392033699)


def test_states_stops_close_and_keepalive() -> None:
    assert parse(fx.stream_state_update(fx.STREAM_TERMINATED, fx.STOP_MEETING_ENDED, 1)) == zp.StreamStopped(6)
    assert parse(fx.stream_state_update(fx.STREAM_ACTIVE, 0, 1)) == zp.Ignored(8)
    assert parse(fx.stream_state_update(fx.STREAM_INTERRUPTED, fx.STOP_DATA_CONNECTION_INTERRUPTED, 1)) == \
        zp.MediaInterrupted()
    revoked = parse(fx.session_state_update(fx.SESSION_STOPPED, fx.STOP_STREAM_REVOKED, 1, "s"))
    assert revoked == zp.StreamStopped(8) and zp.is_revoked(8)
    assert parse(fx.session_state_update(fx.SESSION_STARTED, 0, 1, "s")) == zp.Ignored(9)
    assert parse(fx.stream_close_response("x", 1)) == zp.CloseAcknowledged(0)
    assert parse(fx.keep_alive_request(1727384349123)) == zp.KeepAlive(1727384349123)


def test_the_documented_individual_handshake_is_what_the_connector_sends_minus_its_choices() -> None:
    doc = fx.documented_individual_media_handshake("m", "s", "sig")
    ours = json.loads(zp.encode(zp.data_handshake(zp.StreamRef("m", "s", ""), "sig", zp.VideoParams())))
    assert {k: v for k, v in ours.items() if k not in ("media_params", "payload_encryption")} == \
        {k: v for k, v in doc.items() if k != "media_params"}
    assert ours["media_params"]["video"].keys() == doc["media_params"]["video"].keys()
    assert ours["media_params"]["video"]["data_opt"] == 4
