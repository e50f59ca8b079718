"""Janus protocol parsing and the connector's room logic against an in-memory Janus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.config import Config
from bot.connectors.base import (
    Closed,
    ConnectorError,
    ConnectorEvent,
    FailureReason,
    Joined,
    Left,
    Reconnected,
    Reconnecting,
    VideoOff,
)
from bot.connectors.janus import JanusConnector
from bot.connectors.janus_fake import FakeJanus, FakePeers
from bot.connectors.janus_protocol import (
    Attending,
    Gone,
    JanusError,
    JanusUrlError,
    Published,
    RoomDestroyed,
    RoomJoined,
    Unpublished,
    check,
    parse_target,
    room_events,
)

pytestmark = pytest.mark.component

TARGET = parse_target("janus+http://10.0.0.5:8088/janus?room=1234&pin=letmein")


def test_parse_target() -> None:
    t = parse_target("janus+https://sfu.school.example/janus/?room=42&pin=p&token=t&apisecret=s")
    assert (t.base_url, t.room, t.pin, t.token, t.apisecret) == ("https://sfu.school.example/janus", 42, "p", "t", "s")
    assert "'p'" not in repr(t) and "'s'" not in repr(t) and "'t'" not in repr(t), "secrets stay out of repr"
    assert t.description == "Janus room 42 at https://sfu.school.example/janus"
    assert parse_target("janus://h:1?room=abc").room == "abc"
    for bad in ("http://h/janus?room=1", "janus+http:///janus?room=1", "janus+http://h/janus"):
        with pytest.raises(JanusUrlError):
            parse_target(bad)


def test_room_events_and_errors() -> None:
    pub = {"id": 5, "display": "Ada", "streams": [{"type": "video", "mid": "1", "simulcast": True},
                                                  {"type": "audio", "mid": "0"}]}
    [joined] = room_events({"videoroom": "joined", "private_id": 9, "publishers": [pub],
                            "attendees": [{"id": 6, "display": "Ben"}]})
    assert isinstance(joined, RoomJoined) and joined.private_id == 9
    ada = joined.publishers[0]
    assert ada.key == "5" and ada.video and ada.simulcast and ada.video_mid == "1"
    assert not joined.attendees[0].video
    audio_only = {"id": 7, "display": "C", "streams": [{"type": "audio"}, {"type": "video", "disabled": True}]}
    [published] = room_events({"videoroom": "event", "publishers": [audio_only]})
    assert isinstance(published, Published) and not published.feeds[0].video
    assert room_events({"videoroom": "event", "unpublished": 5}) == [Unpublished("5")]
    assert room_events({"videoroom": "event", "unpublished": "ok"}) == []  # our own
    assert room_events({"videoroom": "event", "leaving": 5}) == [Gone("5")]
    assert room_events({"videoroom": "event", "kicked": 5}) == [Gone("5")]
    assert room_events({"videoroom": "destroyed"}) == [RoomDestroyed()]
    assert isinstance(room_events({"videoroom": "event", "joining": {"id": 8, "display": "D"}})[0], Attending)
    assert room_events({"videoroom": "talking"}) == []
    with pytest.raises(JanusError) as err:
        check({"janus": "event", "plugindata": {"data": {"error_code": 433, "error": "Unauthorized"}}})
    assert err.value.failure is FailureReason.WRONG_SECRET
    with pytest.raises(JanusError) as err:
        check({"janus": "error", "error": {"code": 403, "reason": "Unauthorized request"}})
    assert err.value.failure is FailureReason.WRONG_SECRET
    with pytest.raises(JanusError) as err:
        check({"janus": "event", "plugindata": {"data": {"error_code": 426, "error": "No such room"}}})
    assert err.value.failure is FailureReason.MEETING_NOT_FOUND


def config(**janus: Any) -> Config:
    return Config.model_validate({"janus": {"keepalive_s": 0.2, "reconnect_timeout_s": 1.0,
                                            "request_timeout_s": 1.0, **janus}})


Body = Callable[[FakeJanus, JanusConnector, list[ConnectorEvent]], Awaitable[None]]


def with_connector(fake: FakeJanus, body: Body, peers: FakePeers | None = None, **janus: Any) -> FakePeers:
    peers = peers or FakePeers()

    async def main() -> None:
        connector = JanusConnector(TARGET, config(**janus), transport=fake, peers=peers)
        events: list[ConnectorEvent] = []

        async def collect() -> None:
            async for ev in connector.events():
                events.append(ev)

        collector = asyncio.ensure_future(collect())
        await connector.join()
        try:
            await body(fake, connector, events)
        finally:
            await connector.leave()
            await asyncio.wait_for(collector, 2)

    asyncio.run(main())
    return peers


def kinds(events: list[ConnectorEvent], feed: str) -> list[str]:
    return [type(e).__name__ for e in events if getattr(e, "feed_id", None) == feed]


async def settle() -> None:
    await asyncio.sleep(0.3)


def test_roster_follows_the_room() -> None:
    fake = FakeJanus(pin="letmein")
    fake.publish(11, "Ada", simulcast=True)
    fake.attend(12, "Ben")

    async def body(j: FakeJanus, c: JanusConnector, events: list[ConnectorEvent]) -> None:
        await settle()
        j.publish(13, "Cam")  # late
        j.publish(12, "Ben")  # camera on
        await settle()
        j.unpublish(11)  # Ada's camera off
        j.leave(13)  # Cam leaves
        await settle()
        j.destroy()
        await settle()

    peers = with_connector(fake, body)
    joins = [r["body"] for r in fake.requests if r["janus"] == "message" and r["body"]["request"] == "join"]
    assert joins[0] == {"request": "join", "ptype": "publisher", "room": 1234,
                        "display": Config().bot.name, "pin": "letmein"}
    assert {j["streams"][0]["feed"] for j in joins[1:]} == {11, 12, 13}
    assert all(j["private_id"] == 7 and j["pin"] == "letmein" for j in joins[1:])
    configures = [r["body"] for r in fake.requests if r["janus"] == "message" and r["body"]["request"] == "configure"]
    assert configures == [{"request": "configure", "streams": [{"mid": "0", "substream": 0, "temporal": 0}]}]
    assert len(peers.offers) == 3 and all(p.closed for p in peers.peers)


def test_event_sequence() -> None:
    fake = FakeJanus()
    fake.publish(11, "Ada")
    fake.attend(12, "Ben")
    seen: list[ConnectorEvent] = []

    async def body(j: FakeJanus, c: JanusConnector, events: list[ConnectorEvent]) -> None:
        await settle()
        j.publish(12, "Ben")
        await settle()
        j.unpublish(11)
        j.leave(12)
        await settle()
        j.destroy()
        await settle()
        seen.extend(events)

    with_connector(fake, body)
    assert kinds(seen, "11") == ["Joined", "VideoOn", "VideoOff"]
    assert kinds(seen, "12") == ["Joined", "VideoOn", "VideoOff", "Left"]
    ada = next(e for e in seen if isinstance(e, Joined) and e.feed_id == "11")
    ben = next(e for e in seen if isinstance(e, Joined) and e.feed_id == "12")
    assert ada.display_name == "Ada" and ada.video_expected and not ben.video_expected
    assert any(isinstance(e, Closed) and e.reason is None for e in seen)


@pytest.mark.parametrize(("fake", "reason"), [
    (FakeJanus(pin="right"), FailureReason.WRONG_SECRET),
    (FakeJanus(room=999), FailureReason.MEETING_NOT_FOUND),
])
def test_refused_join(fake: FakeJanus, reason: FailureReason) -> None:
    async def main() -> None:
        c = JanusConnector(TARGET, config(), transport=fake, peers=FakePeers())
        with pytest.raises(ConnectorError) as err:
            await c.join()
        assert err.value.reason is reason
        await c.leave()

    asyncio.run(main())


def test_unreachable_janus_is_meeting_not_found() -> None:
    fake = FakeJanus()
    fake.down = True

    async def main() -> None:
        with pytest.raises(ConnectorError) as err:
            await JanusConnector(TARGET, config(), transport=fake).join()
        assert err.value.reason is FailureReason.MEETING_NOT_FOUND and "refused" in err.value.detail

    asyncio.run(main())


def test_lost_session_reconnects_and_keeps_the_roster() -> None:
    fake = FakeJanus()
    fake.publish(11, "Ada")
    fake.publish(12, "Ben")
    seen: list[ConnectorEvent] = []

    async def body(j: FakeJanus, c: JanusConnector, events: list[ConnectorEvent]) -> None:
        await settle()
        j.leave(12)  # Ben leaves while the bot is away: must turn into Left after reconnecting
        j.forget_sessions()
        await asyncio.sleep(1.0)
        seen.extend(events)

    peers = with_connector(fake, body)
    names = [type(e).__name__ for e in seen]
    assert "Reconnecting" in names and "Reconnected" in names
    after = seen[names.index("Reconnected"):]
    assert kinds(seen, "11").count("Joined") == 1, "Ada is not announced twice"
    assert kinds(after, "11") == ["VideoOn"], "Ada's video comes back on a new subscription"
    assert "Left" in kinds(seen, "12")
    assert len(peers.offers) == 3  # Ada, Ben, then Ada again


def test_reconnect_gives_up_with_a_network_close() -> None:
    fake = FakeJanus()
    fake.publish(11, "Ada")
    seen: list[ConnectorEvent] = []

    async def body(j: FakeJanus, c: JanusConnector, events: list[ConnectorEvent]) -> None:
        await settle()
        j.forget_sessions()
        j.down = True
        await asyncio.sleep(1.5)
        seen.extend(events)

    with_connector(fake, body, reconnect_timeout_s=0.5)
    closed = [e for e in seen if isinstance(e, Closed)]
    assert closed and closed[0].reason is FailureReason.NETWORK
    assert isinstance(seen[-1], Closed) and any(isinstance(e, Reconnecting) for e in seen)
    assert not any(isinstance(e, Reconnected) for e in seen)


def test_failed_media_is_resubscribed() -> None:
    fake = FakeJanus()
    fake.publish(11, "Ada")
    seen: list[ConnectorEvent] = []

    async def body(j: FakeJanus, c: JanusConnector, events: list[ConnectorEvent]) -> None:
        await settle()
        peers.closers[0]()  # ICE failed on Ada's subscription
        await asyncio.sleep(1.5)
        seen.extend(events)

    peers = FakePeers()
    with_connector(fake, body, peers)
    assert kinds(seen, "11") == ["Joined", "VideoOn", "VideoOff", "VideoOn"]
    assert len(peers.offers) == 2 and peers.peers[0].closed
    assert not any(isinstance(e, Left | Reconnected) for e in seen)


def test_a_classpulse_bot_in_the_room_is_never_a_student() -> None:
    # A restarted bot finds its dead predecessor still listed (Janus times it out later): not a student.
    fake = FakeJanus()
    fake.attend(21, Config().bot.name)
    fake.publish(11, "Ada")

    async def body(j: FakeJanus, c: JanusConnector, events: list[ConnectorEvent]) -> None:
        await settle()
        j.publish(22, Config().bot.name.upper())  # another ClassPulse bot publishing (names compare casefolded)
        await settle()

    seen: list[ConnectorEvent] = []

    async def record(j: FakeJanus, c: JanusConnector, events: list[ConnectorEvent]) -> None:
        await body(j, c, events)
        seen.extend(events)

    peers = with_connector(fake, record)
    names = [e.display_name for e in seen if isinstance(e, Joined)]
    assert names == ["Ada"] and len(peers.offers) == 1


def test_after_an_sfu_restart_returning_students_continue_and_missing_ones_are_no_signal_then_left() -> None:
    """Janus restarted: everybody comes back with a new feed id, some after the bot, some never."""
    fake = FakeJanus()
    fake.publish(11, "Ada")
    fake.publish(12, "Ben")
    fake.attend(13, "Cy")
    seen: list[ConnectorEvent] = []

    async def body(j: FakeJanus, c: JanusConnector, events: list[ConnectorEvent]) -> None:
        await settle()
        j.forget_sessions()
        j.publishers.clear()  # a restarted Janus knows nobody
        j.attendees.clear()
        for _ in range(100):
            if any(isinstance(e, Reconnected) for e in events):
                break
            await asyncio.sleep(0.02)
        j.publish(21, "Ada")  # Ada's client rejoined after the bot
        j.attend(23, "Cy")
        await asyncio.sleep(1.2)  # rejoin_grace_s is 0.6 s: Ben never came back
        seen.extend(events)

    with_connector(fake, body, rejoin_grace_s=0.6)
    assert kinds(seen, "11") == ["Joined", "VideoOn", "VideoOff", "VideoOn"], "Ada continues under her first feed"
    assert [e.fault for e in seen if isinstance(e, VideoOff)] == [True, True], "lost to the restart: no signal"
    assert kinds(seen, "12") == ["Joined", "VideoOn", "VideoOff", "Left"], "Ben: no signal, then left after the grace"
    assert kinds(seen, "13") == ["Joined"], "Cy (camera off) continues too"
    assert not kinds(seen, "21") and not kinds(seen, "23"), "no second student for a new feed id"


def test_a_video_stream_listed_as_disabled_is_the_camera_turned_off() -> None:
    fake = FakeJanus()
    fake.publish(11, "Ada")
    seen: list[ConnectorEvent] = []

    async def body(j: FakeJanus, c: JanusConnector, events: list[ConnectorEvent]) -> None:
        await settle()
        entry = {"id": 11, "display": "Ada", "streams": [{"type": "video", "mid": "0", "disabled": True}]}
        j._broadcast({"publishers": [entry]})
        await settle()
        seen.extend(events)

    with_connector(fake, body)
    offs = [e for e in seen if isinstance(e, VideoOff)]
    assert kinds(seen, "11") == ["Joined", "VideoOn", "VideoOff"] and not offs[0].fault


def configures_of(fake: FakeJanus) -> list[int]:
    return [r["body"]["streams"][0]["substream"] for r in fake.requests
            if r["janus"] == "message" and r["body"]["request"] == "configure"]


def test_simulcast_layer_follows_face_size() -> None:
    """Small faces move a simulcasting student up a layer, large ones back down; others untouched."""
    fake = FakeJanus()
    fake.publish(11, "Ada", simulcast=True)
    fake.publish(12, "Ben")  # one layer only: never configured

    async def body(j: FakeJanus, c: JanusConnector, events: list[ConnectorEvent]) -> None:
        await settle()
        for width in (80.0, 90.0, 100.0, 95.0, 85.0):  # window of 5, median 90 < 120
            c.face_sizes({"11": width, "12": 60.0})
        await settle()
        for _ in range(5):
            c.face_sizes({"11": None})  # nobody found at layer 1: maybe too small to find
        await settle()
        for _ in range(5):
            c.face_sizes({"11": 400.0})  # 200 at half the width >= 150: down
        await settle()

    with_connector(fake, body)
    assert configures_of(fake) == [0, 1, 2, 1]


def test_simulcast_layer_stays_fixed_when_disabled() -> None:
    fake = FakeJanus()
    fake.publish(11, "Ada", simulcast=True)

    async def body(j: FakeJanus, c: JanusConnector, events: list[ConnectorEvent]) -> None:
        await settle()
        for _ in range(10):
            c.face_sizes({"11": 50.0})
        await settle()

    with_connector(fake, body, min_face_px=0, substream=1)
    assert configures_of(fake) == [1]


def test_receive_workers_that_cannot_start_fail_the_join_clearly() -> None:
    """janus.receive_workers with a worker that cannot start: an internal failure naming the
    workers, before anything is asked of Janus; nothing is left running."""
    from bot.web.receive_pool import ReceivePool

    fake = FakeJanus()
    pools: list[ReceivePool] = []

    def broken(n: int) -> ReceivePool:
        pools.append(ReceivePool(n, module="bot.no_such_worker_module", start_timeout_s=20))
        return pools[-1]

    async def main() -> None:
        connector = JanusConnector(TARGET, config(receive_workers=2), transport=fake, receive_pool=broken)
        with pytest.raises(ConnectorError) as err:
            await connector.join()
        assert err.value.reason is FailureReason.INTERNAL
        assert "receive workers could not start" in err.value.detail
        await connector.leave()

    asyncio.run(main())
    assert len(pools) == 1 and pools[0].pids() == []
    assert not [r for r in fake.requests if r["janus"] == "create"]
