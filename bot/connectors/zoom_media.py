"""Zoom RTMS video payloads → frames the sampler takes (BGR arrays or `av.VideoFrame`s).

RTMS sends each participant's video either as whole JPEG/PNG pictures (one per message,
at most 5 fps) or as an H.264 elementary stream (Annex B, up to 30 fps). Pictures decode
on their own with OpenCV; H.264 needs one stateful decoder per participant (PyAV),
because P-frames refer to earlier frames — a decoder is reset when the subscription moves
to another student, since the next stream starts at a new key frame.

Decoding runs on the event loop: a 640x360 JPEG decodes in about a millisecond, and at
most one individual stream arrives at a time.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np

from bot.connectors.zoom_protocol import Codec

log = logging.getLogger(__name__)


class FrameDecoder(Protocol):
    def decode(self, data: bytes) -> list[Any]: ...

    def reset(self) -> None: ...


class PictureDecoder:
    """JPEG or PNG → one BGR array; a corrupt picture yields nothing (and is counted)."""

    def __init__(self) -> None:
        self.errors = 0

    def decode(self, data: bytes) -> list[Any]:
        import cv2

        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            self.errors += 1
            return []
        return [img]

    def reset(self) -> None:
        pass


class H264Decoder:
    """An H.264 Annex B stream → `av.VideoFrame`s; keeps state between messages."""

    def __init__(self) -> None:
        self.errors = 0
        self._ctx: Any = None

    def decode(self, data: bytes) -> list[Any]:
        import av

        if self._ctx is None:
            self._ctx = av.CodecContext.create("h264", "r")
        try:
            frames: list[Any] = []
            for packet in self._ctx.parse(data):
                frames.extend(self._ctx.decode(packet))
            return frames
        except av.FFmpegError:
            self.errors += 1
            log.debug("undecodable H.264 data (%d bytes)", len(data))
            return []

    def reset(self) -> None:
        self._ctx = None


def decoder_for(codec: Codec) -> FrameDecoder:
    return H264Decoder() if codec is Codec.H264 else PictureDecoder()
