"""aiortc's receive queues, bounded (issue 18, item 13): a bot that falls behind drops, never grows.

Real VP8 frames from aiortc's own encoder and decoder worker; the install is checked on a
real aiortc receiver, because it replaces private attributes of the installed aiortc.
"""

from __future__ import annotations

import asyncio
import fractions
import threading

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpCodecParameters
from aiortc.codecs import depayload, get_encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpreceiver import decoder_worker

from bot.web.backlog import ENCODED_LIMIT, EncodedBacklog, NewestFrames, is_key_frame
from bot.web.rtc import receive_video

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)


def vp8_frames(n: int, keys: set[int]) -> list[JitterFrame]:
    """n encoded 64x48 VP8 frames (moving content), key frames at the given indexes."""
    enc = get_encoder(VP8)
    out = []
    for i in range(n):
        img = np.full((48, 64, 3), 0, np.uint8)
        img[:, (i * 3) % 64] = 255
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts, frame.time_base = i * 3000, fractions.Fraction(1, 90_000)
        payloads, ts = enc.encode(frame, force_keyframe=i in keys)
        out.append(JitterFrame(b"".join(depayload(VP8, p) for p in payloads), ts))
    return out


def test_key_frames_are_told_from_delta_frames() -> None:
    frames = vp8_frames(6, keys={0, 4})
    assert [is_key_frame("VP8", f.data) for f in frames] == [True, False, False, False, True, False]
    assert is_key_frame("H264", b"\x00\x00\x00\x01\x67\x42") and not is_key_frame("H264", b"\x00\x00\x01\x41\x9a")
    assert is_key_frame("opus", b"\x01")  # codecs without key frames: every frame can start a decoder


def test_an_overflowing_backlog_is_dropped_and_decoding_restarts_at_a_key_frame() -> None:
    frames = vp8_frames(ENCODED_LIMIT + 20, keys={0, ENCODED_LIMIT + 10})
    want_key = threading.Event()
    backlog = EncodedBacklog(ENCODED_LIMIT, want_key)
    for f in frames[:ENCODED_LIMIT]:
        backlog.put((VP8, f))
    assert backlog.qsize() == ENCODED_LIMIT and not want_key.is_set()
    for f in frames[ENCODED_LIMIT:]:  # nobody decodes: the backlog is cut, deltas skipped until the key frame
        backlog.put((VP8, f))
    assert want_key.is_set(), "a key frame is asked for at once (aiortc sends a PLI)"
    assert backlog.stats.overflows == 1
    assert backlog.qsize() == 10 and backlog.stats.dropped == ENCODED_LIMIT + 10
    backlog.put(None)  # the end marker is never dropped

    async def decode() -> list[av.VideoFrame]:
        out: asyncio.Queue[av.VideoFrame | None] = asyncio.Queue()
        error = threading.Event()
        worker = threading.Thread(target=decoder_worker, args=(asyncio.get_running_loop(), backlog, out, error))
        worker.start()
        decoded = []
        while (frame := await out.get()) is not None:
            decoded.append(frame)
        await asyncio.get_running_loop().run_in_executor(None, worker.join)
        assert not error.is_set(), "the decoder never saw a delta frame without its key frame"
        return decoded

    assert len(asyncio.run(decode())) == 10


def test_newest_frames_keeps_the_newest_and_the_end_marker() -> None:
    async def main() -> list[object]:
        q = NewestFrames(2)
        for i in range(5):
            await q.put(i)
        assert q.qsize() == 2 and q.dropped == 3
        await q.put(None)
        await q.put(7)  # the oldest frame goes, the end marker stays
        await q.put(8)
        return [q.get_nowait() for _ in range(q.qsize())]

    assert asyncio.run(main()) == [None, 7, 8]


class _Still(MediaStreamTrack):
    kind = "video"

    async def recv(self) -> av.VideoFrame:
        raise NotImplementedError  # never sent: only the offer is needed


def test_receive_video_bounds_the_receivers_of_the_installed_aiortc() -> None:
    async def main() -> None:
        sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        sender.addTransceiver(_Still(), direction="sendonly")
        await sender.setLocalDescription(await sender.createOffer())
        tracks: list[MediaStreamTrack] = []
        _, peer = await receive_video(sender.localDescription.sdp, tracks.append, lambda: None)
        try:
            [track] = tracks
            [receiver] = [r for r in peer.pc.getReceivers() if r.track is track]  # type: ignore[attr-defined]
            assert isinstance(receiver._RTCRtpReceiver__decoder_queue, EncodedBacklog)
            assert isinstance(track._queue, NewestFrames)  # type: ignore[attr-defined]
        finally:
            await peer.close()
            await sender.close()

    asyncio.run(main())
