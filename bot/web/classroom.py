"""Built-in classrooms: rooms keyed by class code, students publishing over WHIP.

A `Room` holds the students' peer connections and reports them to the bot's session
through the connector's event channel (`attach`). Students may connect before the bot
attaches; attaching replays who is already there, as a Janus `joined` reply does.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.connectors.base import EventChannel, Joined, Left, VideoOn, VideoTrack
from bot.web.rtc import OfferError, Peer, PeerFactory, receive_video
from bot.web.whip import WhipError, check_code, new_resource_id

log = logging.getLogger(__name__)


@dataclass
class Publisher:
    resource_id: str
    name: str
    peer: Peer | None = None
    track: VideoTrack | None = None
    announced: bool = False  # Joined sent: the session knows this student


class Room:
    def __init__(self, code: str, class_name: str, max_students: int, peers: PeerFactory) -> None:
        self.code = code
        self.class_name = class_name
        self.max_students = max_students
        self._peers = peers
        self.publishers: dict[str, Publisher] = {}
        self.channel: EventChannel | None = None
        self.closed = False
        self._tasks: set[asyncio.Task[bool]] = set()

    def attach(self, channel: EventChannel) -> None:
        """The bot's session listens from now on; it first hears who is already here."""
        self.channel = channel
        for p in self.publishers.values():
            if not p.announced:
                continue
            channel.put(Joined(p.resource_id, p.name, video_expected=p.track is not None))
            if p.track is not None:
                channel.put(VideoOn(p.resource_id, p.track))

    def _emit(self, event: Joined | VideoOn | Left) -> None:
        if self.channel is not None:
            self.channel.put(event)

    async def publish(self, name: str, offer_sdp: str) -> tuple[str, str]:
        """Accept one student's camera; returns (resource id, SDP answer)."""
        if self.closed:
            raise WhipError(404, "this class has ended")
        if len(self.publishers) >= self.max_students:
            raise WhipError(503, "the class is full")
        pub = Publisher(new_resource_id(), name)
        self.publishers[pub.resource_id] = pub  # counts against the limit while negotiating

        def on_track(track: VideoTrack) -> None:
            pub.track = track
            if pub.announced and pub.resource_id in self.publishers:
                self._emit(VideoOn(pub.resource_id, track))

        def on_closed() -> None:
            task = asyncio.ensure_future(self.unpublish(pub.resource_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        try:
            answer, pub.peer = await self._peers(offer_sdp, on_track, on_closed)
        except OfferError as exc:
            self.publishers.pop(pub.resource_id, None)
            raise WhipError(400, str(exc)) from None
        except BaseException:
            self.publishers.pop(pub.resource_id, None)
            raise
        # Joined goes out before VideoOn even though aiortc fires "track" during negotiation.
        pub.announced = True
        self._emit(Joined(pub.resource_id, name, video_expected=pub.track is not None))
        if pub.track is not None:
            self._emit(VideoOn(pub.resource_id, pub.track))
        log.info("%s joined class %s", name, self.code)
        return pub.resource_id, answer

    async def unpublish(self, resource_id: str) -> bool:
        pub = self.publishers.pop(resource_id, None)
        if pub is None:
            return False
        self._emit(Left(resource_id))
        if pub.peer is not None:
            await pub.peer.close()
        log.info("%s left class %s", pub.name, self.code)
        return True

    async def close(self) -> None:
        self.closed = True
        for rid in list(self.publishers):
            await self.unpublish(rid)
        self.channel = None


class Classroom:
    """All rooms of one server."""

    def __init__(self, max_students: int = 60, peers: PeerFactory = receive_video) -> None:
        self.max_students = max_students
        self.peers = peers
        self.rooms: dict[str, Room] = {}

    def open(self, code: str, class_name: str = "Class") -> Room:
        check_code(code)
        room = self.rooms.get(code)
        if room is None or room.closed:
            room = self.rooms[code] = Room(code, class_name, self.max_students, self.peers)
        return room

    def room(self, code: str) -> Room:
        room = self.rooms.get(code)
        if room is None or room.closed:
            raise WhipError(404, "no such class")
        return room

    async def close_room(self, code: str) -> None:
        room = self.rooms.pop(code, None)
        if room is not None:
            await room.close()

    async def close(self) -> None:
        for code in list(self.rooms):
            await self.close_room(code)
