"""RTMS messages, Zoom signatures and the failure reasons they map to (pure, no I/O)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from bot.connectors import zoom_protocol as zp
from bot.connectors.base import FailureReason
from bot.connectors.zoom_signing import (
    stream_signature,
    url_validation_reply,
    verify_webhook,
    webhook_signature,
)

REF = zp.StreamRef("4444AAAiAAAAAiAiAiiAii==", "609340fc0c4d4ca0a0a0a0a0a0a0a0a0", "wss://rtms.zoom.us")


def test_stream_signature_is_hmac_of_id_uuid_stream() -> None:
    want = hmac.new(b"secret", f"cid,{REF.meeting_uuid},{REF.rtms_stream_id}".encode(), hashlib.sha256).hexdigest()
    assert stream_signature("cid", "secret", REF.meeting_uuid, REF.rtms_stream_id) == want
    assert stream_signature("cid", "other", REF.meeting_uuid, REF.rtms_stream_id) != want


def test_webhook_signature_and_verification() -> None:
    body = b'{"event":"meeting.rtms_started"}'
    sig = webhook_signature("tok", "1700000000", body)
    assert sig == "v0=" + hmac.new(b"tok", b"v0:1700000000:" + body, hashlib.sha256).hexdigest()
    assert verify_webhook("tok", "1700000000", body, sig, now=1700000010)
    assert not verify_webhook("tok", "1700000000", body + b" ", sig, now=1700000010)  # tampered body
    assert not verify_webhook("bad", "1700000000", body, sig, now=1700000010)  # wrong secret
    assert not verify_webhook("tok", "1700000000", body, sig, now=1700009999)  # replayed later
    assert not verify_webhook("tok", None, body, sig) and not verify_webhook("tok", "1", body, None)
    assert not verify_webhook("", "1700000000", body, webhook_signature("", "1700000000", body))


def test_url_validation_reply() -> None:
    reply = url_validation_reply("tok", "qgg8vlvZRS6UYooatFL8Aw")
    assert reply == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw",
                     "encryptedToken": hmac.new(b"tok", b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()}


def test_requests_carry_the_documented_fields() -> None:
    sig = json.loads(zp.encode(zp.signaling_handshake(REF, "abc")))
    assert sig == {"msg_type": 1, "protocol_version": 1, "sequence": 1, "meeting_uuid": REF.meeting_uuid,
                   "rtms_stream_id": REF.rtms_stream_id, "signature": "abc"}
    data = json.loads(zp.encode(zp.data_handshake(REF, "abc", zp.VideoParams())))
    assert data["msg_type"] == 3 and data["media_type"] == 2 and data["payload_encryption"] is False
    assert data["media_params"]["video"] == {"codec": 5, "resolution": 1, "data_opt": 4, "fps": 5}
    sub = json.loads(zp.encode(zp.event_subscription()))
    assert sub["msg_type"] == 5 and [e["event_type"] for e in sub["events"]] == [2, 3, 4, 8, 9]
    assert json.loads(zp.encode(zp.keep_alive_reply(7))) == {"msg_type": 13, "timestamp": 7}
    assert json.loads(zp.encode(zp.video_subscription("16778240", timestamp=5))) == {
        "msg_type": 28, "user_id": 16778240, "subscribe": True, "timestamp": 5}  # an unsigned int32 again
    assert json.loads(zp.encode(zp.stream_close(REF))) == {"msg_type": 21, "rtms_stream_id": REF.rtms_stream_id}


def test_user_ids_are_accepted_as_numbers_or_text() -> None:
    assert zp.user_key(16778240) == zp.user_key("16778240") == zp.user_key(" 16778240") == "16778240"
    assert zp.user_key("abc-1") == "abc-1" and zp.wire_user_id("abc-1") == "abc-1"
    bads: tuple[object, ...] = (None, True, "", 1.5, [])
    for bad in bads:
        with pytest.raises(zp.ProtocolError):
            zp.user_key(bad)


def test_parsing_answers_events_video_and_stops() -> None:
    ok = zp.parse(json.dumps({"msg_type": 2, "status_code": 0,
                              "media_server": {"server_urls": {"all": "wss://a", "video": "wss://v"}}}))
    assert ok == zp.SignalingReady("wss://v")
    assert zp.parse('{"msg_type": 2, "status_code": 3, "reason": "bad"}') == zp.Refused(2, 3, "bad")
    assert zp.parse('{"msg_type": 4, "status_code": 0}') == zp.DataReady(None)
    assert zp.parse('{"msg_type": 12, "timestamp": 99}') == zp.KeepAlive(99)
    joined = zp.parse(json.dumps({"msg_type": 6, "event": {"event_type": 3, "participants": [
        {"user_id": 1, "user_name": "Ada"}, {"user_id": "2", "user_name": "Alan"}]}}))
    assert joined == zp.RosterUpdate(zp.Event.PARTICIPANT_JOIN, (zp.Person("1", "Ada"), zp.Person("2", "Alan")))
    # the old reading: an event in `content` is not an event
    with pytest.raises(zp.ProtocolError):
        zp.parse(json.dumps({"msg_type": 6, "content": {"event_type": 3, "participants": []}}))
    video = zp.parse(json.dumps({"msg_type": 15, "content": {"user_id": 1, "user_name": "Ada", "timestamp": 5,
                                                             "data": base64.b64encode(b"\xff\xd8jpeg").decode()}}))
    assert isinstance(video, zp.VideoData) and video.data == b"\xff\xd8jpeg" and video.user_id == "1"
    assert zp.parse('{"msg_type": 8, "state": 4, "reason": 6}') == zp.StreamStopped(6)
    assert zp.parse('{"msg_type": 8, "state": 2, "reason": 14}') == zp.MediaInterrupted()
    assert zp.parse('{"msg_type": 9, "state": 5, "stop_reason": 1}') == zp.StreamStopped(1)
    assert zp.parse('{"msg_type": 9, "state": 5, "reason": 8}') == zp.StreamStopped(8)  # the table's name
    assert zp.parse('{"msg_type": 8, "state": 1}') == zp.Ignored(8)
    assert zp.parse('{"msg_type": 29, "user_id": 7, "status_code": 44}') == zp.Subscribed("7", 44, "")
    assert zp.Subscribed("7", 44).ok and not zp.Subscribed("7", 4).ok
    assert zp.parse('{"msg_type": 22, "status_code": 0}') == zp.CloseAcknowledged(0)
    assert zp.parse('{"msg_type": 29, "status_code": 0}') == zp.Subscribed("", 0, "")  # tolerated
    assert zp.parse('{"msg_type": 12, "timestamp": "1727384349123"}') == zp.KeepAlive("1727384349123")  # echoed
    for bad in ("nope", "[]", '{"msg_type": "2"}', '{"msg_type": 15, "content": {"user_id": 1, "data": "%%"}}',
                '{"msg_type": 2, "status_code": 0}', '{"msg_type": 6, "event": {"event_type": 3}}'):
        with pytest.raises(zp.ProtocolError):
            zp.parse(bad)


def test_types_zoom_added_later_are_ignored_not_errors() -> None:
    assert zp.parse('{"msg_type": 6, "event": {"event_type": 12, "timestamp": 1}}') == zp.Ignored(6, 12, known=False)
    assert zp.parse('{"msg_type": 77, "anything": true}') == zp.Ignored(77, known=False)
    assert zp.parse('{"msg_type": 6, "event": {"event_type": 5, "user_id": 1}}') == zp.Ignored(6, 5)


def test_status_codes_in_both_numberings_map_to_reasons_a_teacher_can_act_on() -> None:
    sig, media, sub = zp.Msg.SIGNALING_HAND_SHAKE_RESP, zp.Msg.DATA_HAND_SHAKE_RESP, zp.Msg.VIDEO_SUBSCRIPTION_RESP
    # the current table (Data type definitions)
    assert zp.failure_for_status(3, "", sig)[0] is FailureReason.WRONG_SECRET
    assert zp.failure_for_status(8, "", sig)[0] is FailureReason.NOT_ADMITTED
    assert zp.failure_for_status(16, "", media)[0] is FailureReason.NOT_ADMITTED
    assert zp.failure_for_status(2, "", sig)[0] is FailureReason.MEETING_NOT_FOUND
    assert zp.failure_for_status(40, "", sig)[0] is FailureReason.MEETING_NOT_FOUND
    assert zp.failure_for_status(45, "", sig)[0] is FailureReason.INTERNAL
    assert "DUPLICATE_VIDEO_SUBSCRIPTION" in zp.failure_for_status(44, "", sub)[1]
    # the older numbering: media-only codes cannot be the answer to a signaling handshake
    assert zp.failure_for_status(15, "", sig)[0] is FailureReason.WRONG_SECRET
    assert zp.failure_for_status(17, "", sig)[0] is FailureReason.NOT_ADMITTED
    assert zp.failure_for_status(31, "", media)[0] is FailureReason.NOT_ADMITTED
    # Zoom's reason text wins when it says what happened
    failure, detail = zp.failure_for_status(15, "Invalid signature", media)
    assert failure is FailureReason.WRONG_SECRET and "'Invalid signature'" in detail
    assert zp.failure_for_status(3, "duplicate signal request", sig)[0] is FailureReason.NOT_ADMITTED


def test_stop_reasons() -> None:
    assert zp.failure_for_stop(6) == (None, "the meeting ended (stop reason 6)")
    assert zp.failure_for_stop(20)[0] is None  # our own stream close
    assert zp.failure_for_stop(18)[0] is FailureReason.WRONG_SECRET
    assert zp.failure_for_stop(24)[0] is FailureReason.NETWORK and "keep-alive" in zp.failure_for_stop(24)[1]
    assert zp.failure_for_stop(8)[0] is None and zp.is_revoked(8) and not zp.is_revoked(6)
    assert all(r in zp.STOP_REASONS for r in range(27))


def test_zoom_urls_name_the_stream() -> None:
    ref = zp.parse_stream_url("zoom:?meeting_uuid=ab%2Fcd%3D%3D&rtms_stream_id=s1"
                              "&server_urls=wss%3A%2F%2Fz.example%2Fs")
    assert ref == zp.StreamRef("ab/cd==", "s1", "wss://z.example/s")
    for bad, needle in (("zoom:?meeting_uuid=m", "rtms_stream_id, server_urls"),
                        ("zoom:?meeting_uuid=m&rtms_stream_id=s&server_urls=http://x", "wss://"),
                        ("janus:?x", "starts with zoom:")):
        with pytest.raises(zp.ZoomUrlError, match=needle):
            zp.parse_stream_url(bad)


def test_join_accepts_zoom_urls() -> None:
    import asyncio

    from bot.config import Config
    from bot.connectors.registry import MeetingUrlError, Registry
    from bot.connectors.zoom import ZoomConnector

    async def main() -> None:
        meetings = Registry(Config())
        async with meetings.open("zoom:?meeting_uuid=m&rtms_stream_id=s&server_urls=wss://z", "c") as m:
            assert isinstance(m.connector, ZoomConnector) and m.connector.capabilities.max_video_streams == 1
        with pytest.raises(MeetingUrlError, match="server_urls"):
            async with meetings.open("zoom:?meeting_uuid=m", "c"):
                pass

    asyncio.run(main())


def test_video_params_follow_the_codec_rules() -> None:
    from bot.config import ZoomSection
    from bot.connectors.zoom import video_params

    assert video_params(ZoomSection(codec="jpg", fps=12)).fps == 5  # pictures: at most 5 fps
    assert video_params(ZoomSection(codec="h264", fps=5)).fps == 6  # H.264: only above 5 fps
    assert video_params(ZoomSection(codec="h264", fps=25)).fps == 25


def test_lenient_where_zoom_is_vague() -> None:
    """status_code absent, null or a numeric string; server_urls a plain string; a frame without
    user_id (the one individual stream subscribed to); ids kept as Zoom wrote them."""
    for status in (None, "0"):
        assert zp.parse(json.dumps({"msg_type": 4, "status_code": status})) == zp.DataReady(None)
    assert zp.parse('{"msg_type": 2, "status_code": "3"}') == zp.Refused(2, 3, "")
    assert zp.parse('{"msg_type": 2, "media_server": {"server_urls": "wss://m"}}') == zp.SignalingReady("wss://m")
    data = base64.b64encode(b"\xff\xd8").decode()
    anonymous = zp.parse(json.dumps({"msg_type": 15, "content": {"data": data, "timestamp": 1}}))
    assert isinstance(anonymous, zp.VideoData) and anonymous.user_id == ""
    for nobody in (0, "0"):  # user_id 0 is Zoom's "no single participant" (mixed audio): not a student "0"
        zero = zp.parse(json.dumps({"msg_type": 15, "content": {"user_id": nobody, "data": data, "timestamp": 1}}))
        assert isinstance(zero, zp.VideoData) and zero.user_id == ""
    joined = zp.parse(json.dumps({"msg_type": 6, "event": {"event_type": 3, "participants": [
        {"user_id": 1, "user_name": "Ada"}, {"user_id": "2", "user_name": "Alan"}]}}))
    assert isinstance(joined, zp.RosterUpdate) and [p.wire for p in joined.people] == [1, "2"]
    # 28 documents user_id as an unsigned int32: a numeric id learned as text goes out as a number
    assert json.loads(zp.encode(zp.video_subscription("2", timestamp=5, wire="2")))["user_id"] == 2
    assert json.loads(zp.encode(zp.video_subscription("abc-1", timestamp=5, wire="abc-1")))["user_id"] == "abc-1"
