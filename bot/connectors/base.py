"""The one interface every meeting platform sits behind.

A session never knows which platform it talks to. A connector:

1. `join()`s the meeting (raising `ConnectorError` with a precise `FailureReason`),
2. reports the roster as a stream of `events()`: `Joined`, `VideoOn` (with one video
   track per participant), `VideoOff`, `Left`, and platform-level `Reconnecting`,
   `Reconnected` and `Closed`,
3. `leave()`s, after which `events()` ends.

Participants are named by the platform's own id for their connection (`feed_id`: a Janus
feed, a WHIP resource, a Zoom user id). Those ids change when a student drops and
rejoins; mapping them to one stable student is the session's job (`bot.sessions.roster`), so every
connector stays a thin translation of its platform.

Video tracks follow aiortc's `MediaStreamTrack` contract — `await recv()` returns frames
with `to_ndarray(format="bgr24")` (or plain BGR arrays) and raises `MediaStreamError` when
the track ends — because aiortc's remote tracks already are that, and a platform that
pushes frames (Zoom RTMS sends JPEG/H.264 over websockets) can wrap them in
`bot.connectors.push.PushVideoTrack`.

Some platforms deliver only a few individual streams at a time (Zoom RTMS: one).
`Capabilities.max_video_streams` says so and `watch()` chooses which participants'
video to receive; platforms without the limit ignore it.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from bot.connectors.informing import BY_THE_BOT


class FailureReason(StrEnum):
    """Why a session could not do its job; shown to the teacher, so each one is specific."""

    MEETING_NOT_FOUND = "meeting_not_found"  # no such room / URL / class code, or nothing answers there
    WRONG_SECRET = "wrong_secret"  # PIN, room secret, API secret or token refused
    NOT_ADMITTED = "never_admitted"  # the meeting answered but never let the bot in
    NETWORK = "network"  # signalling or media (ICE/DTLS) connection failed or was lost
    NOBODY_JOINED = "nobody_joined"  # the bot was in, no student ever came
    CANCELLED = "cancelled"  # asked to leave before the class started
    INTERNAL = "internal"  # a bug or a local resource problem (store, worker)


class ConnectorError(Exception):
    """A failure the connector understood, with the reason a teacher can act on."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@runtime_checkable
class VideoTrack(Protocol):
    """What the sampler needs from a track: aiortc's `MediaStreamTrack` satisfies it."""

    kind: str

    async def recv(self) -> Any: ...

    def stop(self) -> None: ...


# -- roster events ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Joined:
    feed_id: str
    display_name: str
    #: The platform says this participant's camera is on and a `VideoOn` is on its way
    #: (e.g. a Janus publisher being subscribed): not sampled as camera off meanwhile.
    video_expected: bool = False


@dataclass(frozen=True)
class VideoOn:
    """The participant's camera is being received on `track` (replaces any earlier track)."""

    feed_id: str
    track: VideoTrack


@dataclass(frozen=True)
class VideoOff:
    feed_id: str
    #: The video was lost to a fault on our side or the network's (a failed subscription, the
    #: SFU gone, a reconnect), not turned off by the student: sampled as `no_signal`, never
    #: `camera_off`, until video comes back (DESIGN.md, "Observation states").
    fault: bool = False


@dataclass(frozen=True)
class Left:
    feed_id: str


@dataclass(frozen=True)
class Reconnecting:
    """Signalling was lost; the connector is trying to get back in. Collected data is kept."""

    detail: str


@dataclass(frozen=True)
class Reconnected:
    pass


@dataclass(frozen=True)
class Closed:
    """The meeting is over for the bot (room destroyed, kicked, connection lost for good)."""

    reason: FailureReason | None  # None: the meeting ended normally
    detail: str
    #: The platform withdrew consent for this meeting's data (Zoom RTMS stop reason 8,
    #: "stream revoked: assets must be deleted immediately"): the session must delete
    #: everything it stored or buffered for this class now, and render nothing.
    delete_data: bool = False


ConnectorEvent = Joined | VideoOn | VideoOff | Left | Reconnecting | Reconnected | Closed


@dataclass(frozen=True)
class Capabilities:
    #: How many participants' video the platform delivers at once; None means all of them.
    max_video_streams: int | None = None


class EventChannel:
    """An ordered, closable event stream: connectors `put`, the session iterates.

    Unbounded on purpose: roster events are few and must never be lost or block the
    platform's receive loop.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[ConnectorEvent | None] = asyncio.Queue()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, event: ConnectorEvent) -> None:
        if not self._closed:
            self._queue.put_nowait(event)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[ConnectorEvent]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event


class Connector(abc.ABC):
    """Base class of meeting connectors; see the module docstring for the contract."""

    #: Shown in reports ("source") and logs, e.g. "Janus room 1234 at http://…". No secrets.
    description: str = ""
    capabilities: Capabilities = Capabilities()
    #: How the students are told (`bot.connectors.informing`); recorded with the session.
    informed_by: str = BY_THE_BOT
    #: False when the platform may never name some participants (Zoom RTMS: nobody is replayed,
    #: docs/zoom.md): a roster student never seen is then "not visible to ClassPulse", not absent.
    sees_everyone: bool = True

    def __init__(self) -> None:
        self.channel = EventChannel()

    @abc.abstractmethod
    async def join(self) -> None:
        """Enter the meeting; raises `ConnectorError`. Events may start before it returns."""

    @abc.abstractmethod
    async def leave(self) -> None:
        """Leave the meeting, stop every track and end `events()`. Safe to call twice."""

    def events(self) -> AsyncIterator[ConnectorEvent]:
        return self.channel.__aiter__()

    def known_people(self) -> list[tuple[str, str]]:
        """(feed id, name) of everybody the platform named so far, kept with the session so a
        resumed attempt can pass them to `remember_people` (platforms that do not re-announce
        who is present: Zoom RTMS). Default: nothing to keep (the platform re-announces)."""
        return []

    def remember_people(self, people: Iterable[tuple[str, str]]) -> None:  # noqa: B027 - optional hook
        """Before `join()`: the people an earlier attempt of this session knew (`known_people`)."""

    async def watch(self, feed_ids: Collection[str]) -> None:  # noqa: B027 - optional hook
        """Choose whose video to receive when `capabilities.max_video_streams` limits it."""

    def face_sizes(self, sizes: Mapping[str, float | None]) -> None:  # noqa: B027 - optional hook
        """After each sample: the width in received pixels of each feed's main face (None: video
        came but no face was found). A platform that lets the receiver pick a stream's quality
        (Janus simulcast, `bot.connectors.layers`) asks for the smallest one that still shows
        faces large enough for the analysis; the others ignore it."""
