"""Messages between the bot and its receive workers (`bot.web.receive_pool`, `bot.web.receive_worker`).

One stream socket per worker carries small pickled tuples, each framed by a 4-byte big-endian
length. Pixels never travel here: the worker writes the frames the sampler asks for into its own
shared-memory segment and answers with the slot table (`bot.sessions.frame_arena.Slot`).

The bot → worker requests:

- ``("offer", req, peer, sdp)``: answer a student's WHIP offer (`bot.web.rtc.receive_video`);
  reply ``("reply", req, True, answer_sdp)`` or ``("reply", req, False, why)`` (the offer is unusable);
- ``("close", req, peer)``: close that peer connection; reply ``("reply", req, True, None)``;
- ``("stop_track", track)``: the bot no longer reads that track (no reply);
- ``("fetch", req, [track, ...])``: the newest frame of each track as BGR in shared memory;
  reply ``("reply", req, True, (segment name or None, [Slot or None, ...], [seq or None, ...], seconds))``
  (seconds: the worker's own time converting and copying);
- ``("stop",)``: close everything and exit.

The worker → bot notices:

- ``("ready", pid)`` once, after its imports; ``("failed", traceback)`` if it could not start;
- ``("track", peer, track)``: a video track arrived on that peer (before the offer's reply, as
  aiortc's "track" event fires during `setRemoteDescription`);
- ``("frames", [(track, seq, frames, width, height), ...])``: the newest frame of each track
  that received any since the last notice (`frames` of them), sent at most every `notice_s`;
- ``("ended", track)``: the track ended; ``("closed", peer)``: the peer connection failed or closed.

`check` validates a message's shape, so a malformed one is a clear `ProtocolError` naming the
message, never an `IndexError` deep in a handler.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_MESSAGE = 4 << 20  # an SDP is a few kB, a frame notice for 100 students a few kB more

#: kind → the types of the fields after it (`object` for anything)
TO_WORKER: dict[str, tuple[type, ...]] = {
    "offer": (int, int, str), "close": (int, int), "stop_track": (int,), "fetch": (int, list), "stop": (),
}
FROM_WORKER: dict[str, tuple[type, ...]] = {
    "ready": (int,), "failed": (str,), "reply": (int, bool, object), "track": (int, int), "frames": (list,),
    "ended": (int,), "closed": (int,),
}


class ProtocolError(ValueError):
    """A message that is not one of the protocol's, or a broken frame on the socket."""


def check(msg: object, kinds: dict[str, tuple[type, ...]], source: str) -> tuple[Any, ...]:
    """`msg` when it is a tuple of a known kind with fields of the right types; else ProtocolError."""
    if not isinstance(msg, tuple) or not msg or not isinstance(msg[0], str):
        raise ProtocolError(f"bad message from {source}: expected a (kind, ...) tuple, got {_short(msg)}")
    kind, fields = msg[0], msg[1:]
    want = kinds.get(kind)
    if want is None:
        raise ProtocolError(f"bad message from {source}: unknown kind {kind!r}")
    if len(fields) != len(want) or not all(t is object or isinstance(f, t) for f, t in zip(fields, want, strict=False)):
        raise ProtocolError(f"bad message from {source}: {kind!r} needs fields "
                            f"({', '.join(t.__name__ for t in want)}), got {_short(msg)}")
    return msg


def check_notice(entry: object, source: str) -> tuple[int, int, int, int, int]:
    """One `(track, seq, frames, width, height)` of a "frames" notice, all ints."""
    if not (isinstance(entry, tuple) and len(entry) == 5 and all(isinstance(v, int) for v in entry)):
        raise ProtocolError(f"bad frame notice from {source}: {_short(entry)}")
    return entry


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def encode(msg: tuple[Any, ...]) -> bytes:
    body = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    if len(body) > MAX_MESSAGE:
        raise ProtocolError(f"message {msg[0]!r} is {len(body)} bytes, over the {MAX_MESSAGE} limit")
    return HEADER.pack(len(body)) + body


async def read(reader: asyncio.StreamReader, source: str) -> object:
    """The next message; EOFError when the other side closed the socket."""
    try:
        head = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError:
        raise EOFError(f"{source} closed the connection") from None
    (size,) = HEADER.unpack(head)
    if size > MAX_MESSAGE:
        raise ProtocolError(f"bad frame from {source}: a message of {size} bytes (limit {MAX_MESSAGE})")
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise EOFError(f"{source} closed the connection mid-message") from None
    try:
        return pickle.loads(body)
    except Exception as exc:
        raise ProtocolError(f"bad frame from {source}: cannot unpickle ({exc})") from None
