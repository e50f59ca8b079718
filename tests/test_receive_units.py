"""Receive workers without processes: the wire protocol, a room losing a worker's peers, the
sampler fetching a tick's frames per worker (`bot.web.receive_*`, `bot.sessions.sampler`)."""

from __future__ import annotations

import asyncio
import struct
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from analysis.records import Observation
from bot.connectors.base import EventChannel, Joined, Left, VideoOff, VideoOn
from bot.connectors.fake import FakeCamera, solid
from bot.sessions.sampler import Sampler, to_bgr_all
from bot.sim.fake_analyzer import RecordingAnalyzer
from bot.web import receive_protocol as wire
from bot.web.classroom import Admission, Room
from bot.web.rtc import OnClosed, OnTrack
from tests.test_bot_sampler import _Clock, _states, _tick

# -- protocol ----------------------------------------------------------------------------------


def test_check_names_the_bad_message_and_its_source() -> None:
    assert wire.check(("offer", 1, 2, "v=0"), wire.TO_WORKER, "the bot") == ("offer", 1, 2, "v=0")
    with pytest.raises(wire.ProtocolError, match="bad message from worker 3: unknown kind 'explode'"):
        wire.check(("explode",), wire.FROM_WORKER, "worker 3")
    with pytest.raises(wire.ProtocolError, match=r"'offer' needs fields \(int, int, str\), got \('offer', 1, 'x'\)"):
        wire.check(("offer", 1, "x"), wire.TO_WORKER, "the bot")
    with pytest.raises(wire.ProtocolError, match=r"expected a \(kind, \.\.\.\) tuple, got \[1, 2\]"):
        wire.check([1, 2], wire.TO_WORKER, "the bot")
    with pytest.raises(wire.ProtocolError, match=r"bad frame notice from w: \(1, 'x'\)"):
        wire.check_notice((1, "x"), "w")
    assert wire.check_notice((1, 2, 3, 640, 480), "w") == (1, 2, 3, 640, 480)


def test_messages_round_trip_and_broken_frames_are_protocol_errors() -> None:
    async def read(data: bytes) -> object:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await wire.read(reader, "worker 0")

    msg = ("frames", [(1, 7, 2, 640, 480)])
    assert asyncio.run(read(wire.encode(msg))) == msg
    with pytest.raises(EOFError, match="worker 0 closed the connection"):
        asyncio.run(read(b""))
    with pytest.raises(EOFError, match="mid-message"):
        asyncio.run(read(wire.encode(msg)[:-3]))
    with pytest.raises(wire.ProtocolError, match="a message of 4294967295 bytes"):
        asyncio.run(read(struct.pack(">I", 2**32 - 1)))
    with pytest.raises(wire.ProtocolError, match="cannot unpickle"):
        asyncio.run(read(struct.pack(">I", 3) + b"abc"))


# -- a room whose peers a worker held ----------------------------------------------------------
class LosablePeer:
    def __init__(self, on_closed: OnClosed) -> None:
        self.on_closed = on_closed
        self.lost = False
        self.closed = False

    async def close(self) -> None:
        self.closed = True

    def die(self) -> None:
        """What `ReceivePool` does for each peer of a worker that died."""
        self.lost = True
        self.on_closed()


class LosablePeers:
    def __init__(self) -> None:
        self.peers: list[LosablePeer] = []

    async def __call__(self, offer_sdp: str, on_track: OnTrack, on_closed: OnClosed) -> tuple[str, LosablePeer]:
        on_track(FakeCamera(solid(80), fps=50))
        peer = LosablePeer(on_closed)
        self.peers.append(peer)
        return "v=0\r\n", peer


async def _events(channel: EventChannel, n: int) -> list[Any]:
    got: list[Any] = []
    it = channel.__aiter__()
    for _ in range(n):
        got.append(await asyncio.wait_for(it.__anext__(), 5))
    return got


def test_a_lost_peer_is_no_signal_and_the_same_name_reconnecting_is_the_same_student() -> None:
    async def main() -> None:
        peers = LosablePeers()
        room = Room("c", "C", 10, peers, Admission(10, first_media_timeout_s=5, rejoin_grace_s=60))
        channel = EventChannel()
        room.attach(channel)
        rid_a, _ = await room.publish("Ada", "offer")
        await room.publish("Ben", "offer")
        first = await _events(channel, 4)
        assert [type(e) for e in first] == [Joined, VideoOn, Joined, VideoOn]
        peers.peers[0].die()  # Ada's worker died
        [off] = await _events(channel, 1)
        assert off == VideoOff(rid_a, fault=True)  # our fault: no_signal, not camera off, not left
        assert room.seated == 1 and room.lost == {"Ada": [rid_a]}
        rid_new, _ = await room.publish("Ada", "offer")  # her page offers again; lands on a live worker
        [on] = await _events(channel, 1)
        assert isinstance(on, VideoOn) and on.feed_id == rid_a  # the same student: no second Joined
        assert rid_new != rid_a and room.lost == {} and room.seated == 2
        assert await room.unpublish(rid_new)
        [left] = await _events(channel, 1)
        assert left == Left(rid_a)
        await room.close()

    asyncio.run(main())


def test_a_lost_student_who_does_not_come_back_within_the_grace_has_left() -> None:
    async def main() -> None:
        peers = LosablePeers()
        room = Room("c", "C", 10, peers, Admission(10, first_media_timeout_s=5, rejoin_grace_s=0.05))
        channel = EventChannel()
        room.attach(channel)
        rid, _ = await room.publish("Ada", "offer")
        await _events(channel, 2)
        peers.peers[0].die()
        assert await _events(channel, 2) == [VideoOff(rid, fault=True), Left(rid)]
        assert room.lost == {}
        await room.close()

    asyncio.run(main())


def test_a_peer_that_closes_by_itself_still_leaves() -> None:
    async def main() -> None:
        peers = LosablePeers()
        room = Room("c", "C", 10, peers, Admission(10, first_media_timeout_s=5))
        channel = EventChannel()
        room.attach(channel)
        rid, _ = await room.publish("Ada", "offer")
        await _events(channel, 2)
        peers.peers[0].on_closed()  # ICE consent lost: the student's network, not our worker
        assert await _events(channel, 1) == [Left(rid)]
        await room.close()

    asyncio.run(main())


# -- the sampler and frames that live in a worker ----------------------------------------------
class FakeSource:
    """Stands for a receive worker: hands out pixels for the frames it still has."""

    def __init__(self, gone: set[int] | None = None) -> None:
        self.gone = gone or set()
        self.requests: list[list[int]] = []

    def fetch_bgr(self, frames: list[Any]) -> list[np.ndarray | None]:
        self.requests.append([f.seq for f in frames])
        return [None if f.seq in self.gone else np.full((4, 6, 3), f.seq, np.uint8) for f in frames]


class RemoteFrame:
    def __init__(self, source: FakeSource, seq: int, received_frames: int = 1) -> None:
        self.bgr_source = source
        self.seq = seq
        self.width, self.height = 6, 4
        self.received_frames = received_frames


def test_to_bgr_all_asks_each_source_once_and_keeps_local_frames_and_gaps() -> None:
    a, b = FakeSource(), FakeSource(gone={5})
    local = np.zeros((2, 2, 3), np.uint8)
    out = to_bgr_all([RemoteFrame(a, 1), None, local, RemoteFrame(b, 5), RemoteFrame(a, 2), RemoteFrame(b, 6)])
    assert a.requests == [[1, 2]] and b.requests == [[5, 6]]
    assert out[1] is None and out[2] is local and out[3] is None
    assert [None if x is None else int(x[0, 0, 0]) for x in (out[0], out[4], out[5])] == [1, 2, 6]


class RemoteTrack:
    kind = "video"

    def __init__(self) -> None:
        self.q: asyncio.Queue[RemoteFrame] = asyncio.Queue()

    async def recv(self) -> RemoteFrame:
        return await self.q.get()

    def stop(self) -> None:
        pass


def test_the_sampler_counts_every_frame_a_notice_stands_for_and_a_vanished_frame_is_no_signal() -> None:
    analyze = RecordingAnalyzer()
    clock = _Clock()
    delivered: list[Observation] = []
    source = FakeSource()

    async def deliver(obs: list[Observation]) -> None:
        delivered.extend(obs)

    async def main() -> Sampler:
        sampler = Sampler("s", analyze, deliver, ThreadPoolExecutor(1), interval_s=1.0, clock=clock)
        tracks = {pid: RemoteTrack() for pid in ("a", "b")}
        for pid, track in tracks.items():
            sampler.join(pid)
            sampler.video_on(pid, track)
        tracks["a"].q.put_nowait(RemoteFrame(source, 1))
        tracks["b"].q.put_nowait(RemoteFrame(source, 2))
        tracks["a"].q.put_nowait(RemoteFrame(source, 3, received_frames=3))  # 3 frames since the first
        await asyncio.sleep(0.01)
        await _tick(sampler, clock)
        source.gone = {2}  # b's worker died between the pick and the fetch
        await _tick(sampler, clock)
        await sampler.stop()
        return sampler

    sampler = asyncio.run(main())
    assert sampler.participants()["a"]["frames"] == 4 and sampler.participants()["b"]["frames"] == 1
    assert source.requests == [[3, 2], [3, 2]]  # one request per tick for both students
    assert [int(s.frame[0, 0, 0]) for s in analyze.batches[0]] == [3, 2]
    assert _states(delivered, "b")[-1] == "no_signal"  # never camera_off for our fault
    assert len(analyze.batches[1]) == 1


def test_the_worker_refuses_to_start_by_hand(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.web.receive_worker import main

    assert main([]) == 2 and main(["not-a-number"]) == 2
    assert "started by the bot, not by hand" in capsys.readouterr().err
