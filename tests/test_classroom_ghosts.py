"""WHIP ghosts: offers that never send video hold no seat, are dropped quickly and leave no student."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Config
from bot.connectors.base import Joined, VideoOn
from bot.connectors.classroom import ClassroomConnector
from bot.connectors.fake import FakeCamera, solid
from bot.web.app import classroom_key, init_app
from bot.web.rtc import OnClosed, OnTrack, Peer
from tests.test_bot_web import OFFER, SDP, FakePeer, drain, events

pytestmark = pytest.mark.component


class SilentTrack:
    """A video track whose peer never completed ICE/DTLS: recv() waits for ever."""

    kind = "video"

    def __init__(self) -> None:
        self.stopped = False

    async def recv(self) -> Any:
        await asyncio.Event().wait()

    def stop(self) -> None:
        self.stopped = True


class Peers:
    """Ghost peers for offers named "ghost…", real cameras for everyone else."""

    def __init__(self) -> None:
        self.peers: list[FakePeer] = []

    async def __call__(self, offer_sdp: str, on_track: OnTrack, on_closed: OnClosed) -> tuple[str, Peer]:
        ghost = "ghost" in offer_sdp
        on_track(SilentTrack() if ghost else FakeCamera(solid(80), fps=20))
        peer = FakePeer()
        self.peers.append(peer)
        return "v=0\r\nanswer\r\n", peer


def ghost_offer(i: int) -> str:
    return OFFER.replace("s=-", f"s=ghost{i}")


async def with_room(body: Any, **classroom: Any) -> None:
    config = Config.model_validate({"classroom": {"max_students": 60, "first_media_timeout_s": 0.3, **classroom}})
    peers = Peers()
    app = init_app(config, peers=peers)
    async with TestClient(TestServer(app)) as client:
        connector = ClassroomConnector(app[classroom_key], "maths-7b", "Maths 7B")
        await connector.join()
        try:
            await body(client, connector, app[classroom_key].room("maths-7b"), peers)
        finally:
            await connector.leave()


async def until(cond: Any, within_s: float = 3.0) -> None:
    for _ in range(int(within_s / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def test_a_ghost_is_never_announced_and_is_dropped_after_the_first_media_timeout() -> None:
    async def body(client: TestClient[Any, Any], connector: ClassroomConnector, room: Any, peers: Peers) -> None:
        res = await client.post("/whip/maths-7b", params={"name": "Ghost"}, data=ghost_offer(0), headers=SDP)
        assert res.status == 201
        assert room.seated == 0 and len(room.publishers) == 1  # pending: no seat
        await until(lambda: not room.publishers)
        assert room.ghosts == 1 and peers.peers[0].closed
        assert drain(connector) == []  # never a Joined: no student, no report

    asyncio.run(with_room(body))


def test_a_ghost_flood_from_one_address_cannot_fill_the_class() -> None:
    async def body(client: TestClient[Any, Any], connector: ClassroomConnector, room: Any, peers: Peers) -> None:
        statuses = []
        for i in range(59):
            res = await client.post("/whip/maths-7b", params={"name": f"G{i}"}, data=ghost_offer(i), headers=SDP)
            statuses.append(res.status)
            if res.status == 429:
                assert res.headers["Retry-After"] and "too many cameras" in await res.text()
        assert statuses.count(201) == 10 and statuses.count(429) == 49
        # real students from other addresses still get in while the ghosts are pending
        for n in range(3):
            await room.publish(f"Student {n}", OFFER, client=f"10.0.0.{n + 1}")
        got = await events(connector, 6)
        assert [type(e) for e in got] == [Joined, VideoOn] * 3 and room.seated == 3
        await until(lambda: room.ghosts == 10, within_s=20)
        assert len(room.publishers) == 3 and all(p.announced for p in room.publishers.values())

    # the ghosts must still be pending when the flood ends: 59 requests on a loaded 2-core machine took
    # longer than 0.3 s and let ghosts time out mid-flood (then more than 10 got in)
    asyncio.run(with_room(body, max_pending_per_client=10, first_media_timeout_s=3.0))


def test_a_full_class_counts_seated_students_only() -> None:
    async def body(client: TestClient[Any, Any], connector: ClassroomConnector, room: Any, peers: Peers) -> None:
        for i in range(2):
            res = await client.post("/whip/maths-7b", params={"name": f"G{i}"}, data=ghost_offer(i), headers=SDP)
            assert res.status == 201
        res = await client.post("/whip/maths-7b", params={"name": "Ada"}, data=OFFER, headers=SDP)
        assert res.status == 201  # two ghosts pending in a two-seat class: Ada still gets in
        got = await events(connector, 2)
        assert [e.display_name for e in got if isinstance(e, Joined)] == ["Ada"]

    asyncio.run(with_room(body, max_students=2, max_pending_per_client=0))
