"""The benchmark's pre-encoded student video: one long VP8 file made once and cached.

Encoding one VP8 stream per simulated student would cost the load generator more CPU than
the bot spends receiving it (notes/MEDIA_COST.md), so every student relays the same
pre-encoded packets (`MediaPlayer(decode=False)`). The file must be longer than the run:
aiortc's player with `loop=True` restarts timestamps when it wraps and then floods, so the
source clips are concatenated to the needed length instead of looped by the player.
"""

from __future__ import annotations

import fractions
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np

KEYFRAME_EVERY_S = 2.0  # a lost keyframe stays lost until the next one: keep them frequent
BITRATE = 520_000  # about what a browser sends for 640x480@15 (notes/MEDIA_COST.md)
BASE_S = 30.0  # seconds encoded; longer files repeat these packets (no encoder cost per second)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "classpulse" / "bench"


def _frames(paths: Sequence[Path], size: tuple[int, int], fps: float) -> Iterator[np.ndarray]:
    """yuv420p frames of every clip in turn, resampled to `fps` by timestamp, forever."""
    while True:
        for path in paths:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                next_t = 0.0
                for frame in container.decode(stream):
                    t = float(frame.time) if frame.time is not None else next_t
                    while t >= next_t:  # repeat frames for clips slower than `fps`
                        yield frame.reformat(width=size[0], height=size[1], format="yuv420p").to_ndarray()
                        next_t += 1.0 / fps


def make_clip(sources: Sequence[Path], size: tuple[int, int], fps: int, seconds: float,
              folder: Path | None = None, base_s: float = BASE_S, bitrate: int = BITRATE) -> Path:
    """A VP8 (IVF) file of at least `seconds` at `size`, `fps` and `bitrate` (bit/s), reused when already made."""
    if not sources:
        raise FileNotFoundError("no source videos for the benchmark clip")
    folder = folder or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(repr([(str(p), p.stat().st_size) for p in sources]).encode()).hexdigest()[:10]
    rate = "" if bitrate == BITRATE else f"-{bitrate // 1000}k"
    out = folder / f"students-{key}-{size[0]}x{size[1]}-{fps}fps{rate}-{int(seconds)}s-{int(base_s)}b.ivf"
    if out.exists():
        return out
    base = _encode(sources, size, fps, min(seconds, base_s), bitrate)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    total = int(seconds * fps)
    with av.open(str(tmp), mode="w", format="ivf") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(total):  # the base starts with a keyframe, so its repeats decode cleanly
            data, keyframe = base[i % len(base)]
            packet = av.Packet(data)
            packet.pts = packet.dts = i
            packet.time_base = fractions.Fraction(1, fps)
            packet.is_keyframe = keyframe
            packet.stream = stream
            container.mux(packet)
    tmp.rename(out)
    return out


def _encode(sources: Sequence[Path], size: tuple[int, int], fps: int, seconds: float,
            bitrate: int = BITRATE) -> list[tuple[bytes, bool]]:
    """`seconds` of the source clips as VP8 packets (payload, keyframe), first one a keyframe."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = size
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, fps)
    codec.framerate = fractions.Fraction(fps, 1)
    codec.bit_rate = bitrate
    codec.gop_size = int(KEYFRAME_EVERY_S * fps)
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    packets: list[tuple[bytes, bool]] = []
    frames = _frames(sources, size, fps)
    for i in range(int(seconds * fps)):
        frame = av.VideoFrame.from_ndarray(next(frames), format="yuv420p")
        frame.pts = i
        frame.time_base = codec.time_base
        packets.extend((bytes(p), p.is_keyframe) for p in codec.encode(frame))
    packets.extend((bytes(p), p.is_keyframe) for p in codec.encode(None))
    if not packets or not packets[0][1]:
        raise RuntimeError("the VP8 encoder did not start with a keyframe")
    return packets
