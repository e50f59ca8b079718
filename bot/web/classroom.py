"""Built-in classrooms: rooms keyed by class code, students publishing over WHIP.

A `Room` holds the students' peer connections and reports them to the bot's session
through the connector's event channel (`attach`). Students may connect before the bot
attaches; attaching replays who is already there, as a Janus `joined` reply does.

A publisher is *pending* from its offer until its first video frame arrives and only
then takes a seat and is announced (`Joined`, `VideoOn`). A pending publisher that sends
no frame within `first_media_timeout_s` (ICE/DTLS never completed: a ghost) is closed and
leaves nothing behind: no seat, no student, no report. Each client address may have at
most `max_pending_per_client` offers pending (429 with Retry-After), and the room at most
`max_students` pending ones, so a flood of offers cannot fill the class or the memory.

A peer whose connection was lost on our side (`Peer.lost`: the receive worker holding it died,
`bot.web.receive_pool`) is not a student leaving: the session hears `VideoOff(fault=True)`
(`no_signal`), the seat is freed, and the student's browser offers again (the join page does when
its connection fails). A new publisher with the same name within `rejoin_grace_s` continues that
student under the old feed id (`VideoOn` only, no second `Joined`); after the grace it is `Left`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from bot.connectors.base import EventChannel, Joined, Left, VideoOff, VideoOn, VideoTrack
from bot.web.first_frame import first_frame
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
    client: str = ""  # the address the offer came from (pending-offer cap)
    feed_id: str = ""  # the id the session knows the student by: the resource id, or a lost one's

    def __post_init__(self) -> None:
        self.feed_id = self.feed_id or self.resource_id


@dataclass(frozen=True)
class Admission:
    """How a room admits publishers (`classroom.*` in the configuration)."""

    max_students: int = 60
    first_media_timeout_s: float = 10.0
    max_pending_per_client: int = 10  # 0: no cap (benchmarks publish every student from one address)
    rejoin_grace_s: float = 60.0  # a student whose peer was lost on our side may come back this long


class Room:
    def __init__(self, code: str, class_name: str, max_students: int, peers: PeerFactory,
                 admission: Admission | None = None) -> None:
        self.code = code
        self.class_name = class_name
        self.max_students = max_students
        self.admission = admission or Admission(max_students)
        self._peers = peers
        self.publishers: dict[str, Publisher] = {}
        self.channel: EventChannel | None = None
        self.closed = False
        self.ghosts = 0  # publishers dropped because no frame came (metrics, tests)
        self.lost: dict[str, list[str]] = {}  # name → feed ids of students whose peer was lost on our side
        self._tasks: set[asyncio.Task[object]] = set()

    @property
    def seated(self) -> int:
        return sum(1 for p in self.publishers.values() if p.announced)

    def pending_from(self) -> Counter[str]:
        return Counter(p.client for p in self.publishers.values() if not p.announced)

    def attach(self, channel: EventChannel) -> None:
        """The bot's session listens from now on; it first hears who is already here."""
        self.channel = channel
        for p in self.publishers.values():
            if not p.announced:
                continue
            channel.put(Joined(p.feed_id, p.name, video_expected=p.track is not None))
            if p.track is not None:
                channel.put(VideoOn(p.feed_id, p.track))

    def _emit(self, event: Joined | VideoOn | VideoOff | Left) -> None:
        if self.channel is not None:
            self.channel.put(event)

    def _check_admission(self, client: str) -> None:
        if self.closed:
            raise WhipError(404, "this class has ended")
        if self.seated >= self.max_students:
            raise WhipError(503, "the class is full")
        pending = self.pending_from()
        cap = self.admission.max_pending_per_client
        if cap and pending[client] >= cap:
            raise WhipError(429, f"too many cameras connecting from your address ({cap}); try again in a moment",
                            retry_after_s=max(1, round(self.admission.first_media_timeout_s / 2)))
        if sum(pending.values()) >= 2 * self.max_students:  # a bound on peers, not on seats
            raise WhipError(503, "too many cameras are connecting; try again in a moment",
                            retry_after_s=max(1, round(self.admission.first_media_timeout_s / 2)))

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def publish(self, name: str, offer_sdp: str, client: str = "") -> tuple[str, str]:
        """Accept one student's offer; returns (resource id, SDP answer). Announced at the first frame."""
        self._check_admission(client)
        pub = Publisher(new_resource_id(), name, client=client)
        self.publishers[pub.resource_id] = pub  # pending: counts against the pending caps, not a seat

        def on_track(track: VideoTrack) -> None:
            if pub.announced and pub.resource_id in self.publishers:
                self._spawn(self._await_media(pub, track))  # a renegotiated track: the same rule
            else:
                pub.track = track

        def on_closed() -> None:
            if pub.peer is not None and pub.peer.lost:
                self._lose(pub)
            else:
                self._spawn(self.unpublish(pub.resource_id))

        try:
            answer, pub.peer = await self._peers(offer_sdp, on_track, on_closed)
        except OfferError as exc:
            self.publishers.pop(pub.resource_id, None)
            raise WhipError(400, str(exc)) from None
        except BaseException:
            self.publishers.pop(pub.resource_id, None)
            raise
        self._spawn(self._await_media(pub, pub.track))
        return pub.resource_id, answer

    async def _await_media(self, pub: Publisher, track: VideoTrack | None) -> None:
        """Announce the publisher at its first frame, or drop it as a ghost."""
        try:
            if track is None:
                raise TimeoutError
            ready = await first_frame(track, self.admission.first_media_timeout_s)
        except Exception:  # TimeoutError: no frame in time; MediaStreamError: the track ended first
            if not pub.announced and pub.resource_id in self.publishers:
                self.ghosts += 1
                log.info("dropped a camera that sent no video within %g s (class %s)",
                         self.admission.first_media_timeout_s, self.code)
                await self.unpublish(pub.resource_id)
            return
        if pub.resource_id not in self.publishers or self.closed:
            ready.stop()
            return
        if not pub.announced and self.seated >= self.max_students:
            log.info("class %s filled up while %s was connecting", self.code, pub.name)
            await self.unpublish(pub.resource_id)
            return
        pub.track = ready
        if not pub.announced:
            pub.announced = True  # Joined goes out before VideoOn
            back = self._take_lost(pub.name)
            if back is not None:
                pub.feed_id = back  # the same student, whose peer was lost on our side: no second Joined
                log.info("%s is back in class %s", pub.name, self.code)
            else:
                self._emit(Joined(pub.feed_id, pub.name, video_expected=True))
                log.info("%s joined class %s", pub.name, self.code)
        self._emit(VideoOn(pub.feed_id, ready))

    def _lose(self, pub: Publisher) -> None:
        """The peer was lost on our side: no signal (not the student's camera) while they reconnect."""
        if self.publishers.pop(pub.resource_id, None) is None:
            return
        if not pub.announced:
            return  # nobody knew this camera yet: nothing to explain
        self._emit(VideoOff(pub.feed_id, fault=True))
        self.lost.setdefault(pub.name, []).append(pub.feed_id)
        log.info("%s lost video in class %s (our side); waiting %g s for them to reconnect",
                 pub.name, self.code, self.admission.rejoin_grace_s)
        self._spawn(self._forget(pub.name, pub.feed_id))

    def _take_lost(self, name: str) -> str | None:
        feeds = self.lost.get(name)
        if not feeds:
            return None
        feed = feeds.pop(0)
        if not feeds:
            del self.lost[name]
        return feed

    async def _forget(self, name: str, feed_id: str) -> None:
        """A lost student who did not come back within the grace has left."""
        await asyncio.sleep(self.admission.rejoin_grace_s)
        feeds = self.lost.get(name, [])
        if feed_id in feeds:
            feeds.remove(feed_id)
            if not feeds:
                del self.lost[name]
            self._emit(Left(feed_id))

    async def unpublish(self, resource_id: str) -> bool:
        pub = self.publishers.pop(resource_id, None)
        if pub is None:
            return False
        if pub.announced:
            self._emit(Left(pub.feed_id))
        if pub.peer is not None:
            await pub.peer.close()
        log.info("%s left class %s", pub.name, self.code)
        return True

    async def close(self) -> None:
        self.closed = True
        for rid in list(self.publishers):
            await self.unpublish(rid)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.lost.clear()
        self.channel = None


class Classroom:
    """All rooms of one server."""

    def __init__(self, max_students: int = 60, peers: PeerFactory = receive_video,
                 admission: Admission | None = None) -> None:
        self.max_students = max_students
        self.peers = peers
        self.admission = admission or Admission(max_students)
        self.rooms: dict[str, Room] = {}

    def open(self, code: str, class_name: str = "Class") -> Room:
        check_code(code)
        room = self.rooms.get(code)
        if room is None or room.closed:
            room = self.rooms[code] = Room(code, class_name, self.max_students, self.peers, self.admission)
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
