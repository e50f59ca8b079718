"""Decoding what RTMS sends (JPEG pictures, an H.264 stream) and keeping Zoom secrets secret."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bot.config import load_config
from bot.connectors.zoom_media import H264Decoder, PictureDecoder


def test_jpeg_pictures_decode_to_bgr_and_garbage_is_counted() -> None:
    img = np.zeros((36, 64, 3), np.uint8)
    img[:, :32] = (0, 0, 255)
    ok, data = cv2.imencode(".jpg", img)
    assert ok
    dec = PictureDecoder()
    (frame,) = dec.decode(data.tobytes())
    assert frame.shape == (36, 64, 3) and frame[18, 5, 2] > 200 and frame[18, 60, 2] < 50
    assert dec.decode(b"not a jpeg") == [] and dec.errors == 1


def _h264_stream(n: int) -> list[bytes]:
    av = pytest.importorskip("av")
    try:
        enc = av.CodecContext.create("libx264", "w")
    except Exception:
        pytest.skip("PyAV has no libx264 encoder here")
    enc.width, enc.height, enc.pix_fmt = 64, 48, "yuv420p"
    enc.options = {"tune": "zerolatency", "preset": "ultrafast"}
    out: list[bytes] = []
    for i in range(n):
        arr = np.full((48, 64, 3), (i * 20) % 255, np.uint8)
        frame = av.VideoFrame.from_ndarray(arr, format="bgr24").reformat(format="yuv420p")
        frame.pts = i
        out += [bytes(p) for p in enc.encode(frame)]
    out += [bytes(p) for p in enc.encode(None)]
    return out


def test_h264_stream_decodes_across_messages_and_resets_per_student() -> None:
    packets = _h264_stream(6)
    dec = H264Decoder()
    frames = [f for p in packets for f in dec.decode(p)]
    frames += dec.decode(b"")  # flush
    assert len(frames) >= 5 and frames[0].width == 64
    dec.reset()  # the next student's stream: a new decoder, starting at their key frame
    again = [f for p in packets for f in dec.decode(p)]
    assert again, "a fresh decoder starts again at the key frame"


def test_zoom_secrets_come_from_env_and_are_never_shown() -> None:
    env = {"CLASSPULSE_ZOOM__CLIENT_ID": "abc", "CLASSPULSE_ZOOM__CLIENT_SECRET": "123456",
           "CLASSPULSE_ZOOM__WEBHOOK_SECRET": "s3cr3t-token"}
    cfg = load_config(env=env)
    assert cfg.zoom.client_secret.get_secret_value() == "123456"  # numeric-looking secret stays text
    assert "123456" not in repr(cfg) and "s3cr3t-token" not in repr(cfg) and "s3cr3t-token" not in str(cfg)
