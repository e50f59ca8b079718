"""`classpulse zoom-check` prints where a real stream stops; here its server is the fake Zoom."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from bot.config import Config
from bot.connectors.zoom_check import check
from bot.connectors.zoom_fake import FakeZoom, jpeg_frames
from bot.connectors.zoom_protocol import StreamRef

pytestmark = pytest.mark.component

CLIENT_ID, CLIENT_SECRET = "cid", "secret"


def config(secret: str = CLIENT_SECRET) -> Config:
    return Config.model_validate({"zoom": {"client_id": CLIENT_ID, "client_secret": secret, "dwell_s": 0.3,
                                           "frame_timeout_s": 0.5, "handshake_timeout_s": 3,
                                           "allow_private_server_urls": True}})  # the fake is on 127.0.0.1


def test_the_check_prints_each_step_and_the_frames_per_student(videos_dir: Path) -> None:
    frames = jpeg_frames(str(sorted(videos_dir.glob("*.mp4"))[0]), count=4)
    out = io.StringIO()

    async def main() -> bool:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
        zoom.add_present(7, "Ada Lovelace", frames)
        s = await zoom.start()

        async def speak_when_ready() -> None:
            for _ in range(250):
                if zoom.events_ready():
                    break
                await asyncio.sleep(0.02)
            await zoom.speak(7)

        speaker = asyncio.ensure_future(speak_when_ready())
        try:
            result = await check(StreamRef(s.meeting_uuid, s.rtms_stream_id, s.server_urls), config(), 2.0, out)
            await speaker
            assert zoom.live and zoom.log.stream_close_requests == 0  # the stream is left running
            return result.ok
        finally:
            await zoom.close()

    assert asyncio.run(main())
    text = out.getvalue()
    for step in ("signaling handshake accepted (2)", "media handshake accepted (4): granted codec 5",
                 "client ready (7)", "events subscribed", "event ACTIVE_SPEAKER_CHANGE: 7 'Ada Lovelace'",
                 "subscribing to the video of 7", "video subscription to 7 granted",
                 "first video frame from 7 'Ada Lovelace'", "RESULT: video received"):
        assert step in text, step


def test_a_refused_handshake_is_where_the_check_stops() -> None:
    out = io.StringIO()

    async def main() -> bool:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET)
        s = await zoom.start()
        try:
            result = await check(StreamRef(s.meeting_uuid, s.rtms_stream_id, s.server_urls), config("wrong"), 1.0, out)
            return result.ok
        finally:
            await zoom.close()

    assert not asyncio.run(main())
    assert "signaling handshake REFUSED: status 3 (INVALID_SIGNATURE" in out.getvalue()
    assert "STOPPED at the handshake: wrong_secret" in out.getvalue()
