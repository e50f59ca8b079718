"""The built-in classroom over HTTP: join page, WHIP publish/delete, and every bad request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCConfiguration, RTCPeerConnection

from bot.config import Config
from bot.connectors.base import Joined, Left, VideoOn
from bot.connectors.classroom import ClassroomConnector
from bot.connectors.fake import FakeCamera, solid
from bot.web.app import classroom_key, init_app
from bot.web.rtc import OnClosed, OnTrack, Peer, receive_video

OFFER = ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
         "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\na=fingerprint:sha-256 AA:BB\r\n"
         "a=sendonly\r\na=rtpmap:96 VP8/90000\r\n")
SDP = {"Content-Type": "application/sdp"}


class FakePeer:
    def __init__(self) -> None:
        self.closed = False
        self.lost = False

    async def close(self) -> None:
        self.closed = True


class FakePeers:
    """Answers every offer at once and hands the room a fake camera, like aiortc's "track"."""

    def __init__(self) -> None:
        self.peers: list[FakePeer] = []
        self.closers: list[OnClosed] = []

    async def __call__(self, offer_sdp: str, on_track: OnTrack, on_closed: OnClosed) -> tuple[str, Peer]:
        on_track(FakeCamera(solid(80), fps=10))
        peer = FakePeer()
        self.peers.append(peer)
        self.closers.append(on_closed)
        return "v=0\r\nanswer\r\n", peer


def config(**classroom: Any) -> Config:
    return Config.model_validate({"classroom": {"max_students": 2, "max_body_bytes": 4096, **classroom}})


Body = Callable[[TestClient[Any, Any], ClassroomConnector], Awaitable[None]]


def with_client(body: Body, peers: Any = None, code: str = "maths-7b") -> None:
    async def main() -> None:
        app = init_app(config(), peers=peers or FakePeers())
        async with TestClient(TestServer(app)) as client:
            connector = ClassroomConnector(app[classroom_key], code, "Maths 7B")
            await connector.join()
            try:
                await body(client, connector)
            finally:
                await connector.leave()

    asyncio.run(main())


def drain(connector: ClassroomConnector) -> list[Any]:
    events = []
    q = connector.channel._queue
    while not q.empty():
        ev = q.get_nowait()
        if ev is not None:
            events.append(ev)
    return events


async def events(connector: ClassroomConnector, n: int, within_s: float = 3.0) -> list[Any]:
    """The next `n` events: a student is announced at their first frame, a moment after the 201."""
    got: list[Any] = []
    for _ in range(int(within_s / 0.01)):
        got += drain(connector)
        if len(got) >= n:
            return got
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {n} events, got {got}")


def test_join_page_shows_class_and_notice_escaped() -> None:
    async def body(client: TestClient[Any, Any], connector: ClassroomConnector) -> None:
        res = await client.get("/join/maths-7b")
        html = await res.text()
        assert res.status == 200 and "Maths 7B" in html
        assert "No video or pictures are stored" in html
        assert '"/join/" + encodeURIComponent(code) + "/whip"' in html  # asks where to offer (a cluster: a worker)
        assert (await client.get("/join/maths-7b/whip")).status == 200
        assert await (await client.get("/join/maths-7b/whip")).json() == {"whip": "/whip/maths-7b"}
        # asks for what the analysis needs (classroom.publish_*): 640x480 at 5 fps, 300 kbps at most
        publish = json.loads(html.split("const publish = ", 1)[1].split(";", 1)[0])
        assert publish == {"width": 640, "height": 480, "fps": 5, "max_bitrate": 300000}
        assert "frameRate: {ideal: publish.fps, max: publish.fps}" in html
        assert "maxFramerate: publish.fps" in html and "sender.setParameters(params)" in html
        assert (await client.get("/join/nope-nope")).status == 404
        assert (await client.get("/join/%3Cscript%3E")).status == 404

    with_client(body)


def test_publish_and_delete_follow_whip() -> None:
    peers = FakePeers()

    async def body(client: TestClient[Any, Any], connector: ClassroomConnector) -> None:
        res = await client.post("/whip/maths-7b", params={"name": "Ada <b>"}, data=OFFER, headers=SDP)
        assert res.status == 201, await res.text()
        assert res.content_type == "application/sdp" and (await res.text()).startswith("v=0")
        location = res.headers["Location"]
        assert location.startswith("/whip/maths-7b/")
        got = await events(connector, 2)
        assert [type(e) for e in got] == [Joined, VideoOn]
        assert got[0].display_name == "Ada <b>" and got[0].feed_id == location.rsplit("/", 1)[1]
        assert (await client.delete(location)).status == 200
        assert [type(e) for e in drain(connector)] == [Left] and peers.peers[0].closed
        assert (await client.delete(location)).status == 404
        opts = await client.options("/whip/maths-7b")
        assert opts.status == 204 and opts.headers["Accept-Post"] == "application/sdp"

    with_client(body, peers)


@pytest.mark.parametrize(("path", "params", "data", "headers", "status", "needle"), [
    ("/whip/maths-7b", {"name": "A"}, "hello", SDP, 400, "v=0"),
    ("/whip/maths-7b", {"name": "A"}, OFFER.replace("m=video", "m=audio"), SDP, 400, "no video"),
    ("/whip/maths-7b", {"name": "A"}, OFFER.replace("a=fingerprint", "a=x"), SDP, 400, "fingerprint"),
    ("/whip/maths-7b", {"name": "A"}, b"v=0\r\n\xff\xfe", SDP, 400, "UTF-8"),
    ("/whip/maths-7b", {"name": "A"}, OFFER, {"Content-Type": "application/json"}, 415, "application/sdp"),
    ("/whip/maths-7b", {"name": "A"}, OFFER + "a=x:" + "y" * 5000 + "\r\n", SDP, 413, "4096"),
    ("/whip/maths-7b", {}, OFFER, SDP, 400, "name"),
    ("/whip/maths-7b", {"name": "\x00\x01 "}, OFFER, SDP, 400, "name"),
    ("/whip/maths-7b", {"name": "x" * 65}, OFFER, SDP, 400, "64"),
    ("/whip/other-class", {"name": "A"}, OFFER, SDP, 404, "no such class"),
    ("/whip/..", {"name": "A"}, OFFER, SDP, 404, ""),
])
def test_bad_requests_get_clear_4xx(path: str, params: dict[str, str], data: str | bytes,
                                    headers: dict[str, str], status: int, needle: str) -> None:
    async def body(client: TestClient[Any, Any], connector: ClassroomConnector) -> None:
        res = await client.post(path, params=params, data=data, headers=headers)
        assert res.status == status
        assert needle in await res.text()
        assert drain(connector) == []
        # the server and the room are fine afterwards
        ok = await client.post("/whip/maths-7b", params={"name": "Ben"}, data=OFFER, headers=SDP)
        assert ok.status == 201

    with_client(body)


def test_chunked_oversized_body_is_413() -> None:
    async def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 1000

    async def body(client: TestClient[Any, Any], connector: ClassroomConnector) -> None:
        res = await client.post("/whip/maths-7b", params={"name": "A"}, data=chunks(), headers=SDP)
        assert res.status == 413

    with_client(body)


def test_full_class_is_503_and_a_dropped_peer_leaves() -> None:
    peers = FakePeers()

    async def body(client: TestClient[Any, Any], connector: ClassroomConnector) -> None:
        async def publish(name: str) -> int:
            res = await client.post("/whip/maths-7b", params={"name": name}, data=OFFER, headers=SDP)
            return res.status

        assert [await publish("A"), await publish("B")] == [201, 201]
        await events(connector, 4)  # both seated at their first frame
        res = await client.post("/whip/maths-7b", params={"name": "C"}, data=OFFER, headers=SDP)
        assert res.status == 503 and "full" in await res.text()
        drain(connector)
        peers.closers[0]()  # ICE failed for A: the room lets A go and frees the seat
        await asyncio.sleep(0.05)
        assert [type(e) for e in drain(connector)] == [Left]
        assert await publish("C") == 201

    with_client(body, peers)


def test_students_before_the_bot_are_replayed_and_leaving_closes_the_class() -> None:
    async def main() -> None:
        app = init_app(config(), peers=FakePeers())
        async with TestClient(TestServer(app)) as client:
            app[classroom_key].open("early-class", "Early")
            res = await client.post("/whip/early-class", params={"name": "Ada"}, data=OFFER, headers=SDP)
            assert res.status == 201
            room = app[classroom_key].room("early-class")
            for _ in range(300):
                if room.seated:
                    break
                await asyncio.sleep(0.01)
            connector = ClassroomConnector(app[classroom_key], "early-class")
            await connector.join()
            assert [type(e) for e in drain(connector)] == [Joined, VideoOn]
            second = ClassroomConnector(app[classroom_key], "early-class")
            with pytest.raises(Exception, match="already runs"):
                await second.join()
            await connector.leave()
            assert (await client.get("/join/early-class")).status == 404
            res = await client.post("/whip/early-class", params={"name": "Ben"}, data=OFFER, headers=SDP)
            assert res.status == 404

    asyncio.run(main())


def test_real_aiortc_negotiation_without_stun() -> None:
    """A real aiortc offer gets a real answer; no STUN candidate, audio declined."""

    async def body(client: TestClient[Any, Any], connector: ClassroomConnector) -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        cam = FakeCamera(solid(100), fps=5)
        pc.addTransceiver(cam, direction="sendonly")
        pc.addTransceiver("audio", direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        res = await client.post("/whip/maths-7b", params={"name": "Real"}, data=pc.localDescription.sdp,
                                headers=SDP)
        answer = await res.text()
        assert res.status == 201, answer
        assert "typ srflx" not in answer and "a=recvonly" in answer and "a=inactive" in answer
        bad = await client.post("/whip/maths-7b", params={"name": "Bad"},
                                data=OFFER.replace("UDP/TLS/RTP/SAVPF 96", "RTP/AVP 0"), headers=SDP)
        assert bad.status == 400, await bad.text()
        await client.delete(res.headers["Location"])
        await pc.close()
        cam.stop()

    with_client(body, peers=receive_video)
