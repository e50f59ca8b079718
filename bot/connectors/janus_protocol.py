"""Janus VideoRoom messages, replies and events as data — no I/O, no asyncio.

What the bot needs from the Janus API (see ../shared/notes/JANUS.md): create a session,
attach handles to ``janus.plugin.videoroom``, join as a never-publishing participant,
subscribe to each publisher, and understand the room's events. Errors are mapped to the
`FailureReason` a teacher can act on.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from bot.connectors.base import FailureReason

PLUGIN = "janus.plugin.videoroom"

# Janus core and VideoRoom error codes (janus/apierror.h, plugins/janus_videoroom.c).
CORE_UNAUTHORIZED = 403
CORE_SESSION_NOT_FOUND = 458
CORE_HANDLE_NOT_FOUND = 459
ROOM_NO_SUCH_ROOM = 426
ROOM_NO_SUCH_FEED = 428
ROOM_UNAUTHORIZED = 433
ROOM_NOT_JOINED = 424

_REASONS: dict[int, FailureReason] = {
    CORE_UNAUTHORIZED: FailureReason.WRONG_SECRET,
    ROOM_UNAUTHORIZED: FailureReason.WRONG_SECRET,
    ROOM_NO_SUCH_ROOM: FailureReason.MEETING_NOT_FOUND,
    CORE_SESSION_NOT_FOUND: FailureReason.NETWORK,
}


class JanusError(Exception):
    """An error reply from Janus core or the VideoRoom plugin."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"Janus error {code}: {reason}")
        self.code = code
        self.reason = reason

    @property
    def failure(self) -> FailureReason:
        return _REASONS.get(self.code, FailureReason.INTERNAL)


class JanusUrlError(ValueError):
    pass


@dataclass(frozen=True)
class JanusTarget:
    """Where and how to join: ``janus+http://host:8088/janus?room=1234&pin=…&token=…&apisecret=…``."""

    base_url: str  # http(s)://host:port/janus
    room: int | str
    pin: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    apisecret: str = field(default="", repr=False)

    @property
    def description(self) -> str:
        """For reports and logs: never includes secrets."""
        return f"Janus room {self.room} at {self.base_url}"


def parse_target(url: str) -> JanusTarget:
    parts = urlsplit(url)
    schemes = {"janus": "http", "janus+http": "http", "janus+https": "https"}
    if parts.scheme not in schemes:
        raise JanusUrlError(f"{url!r}: a Janus URL starts with janus+http:// or janus+https://")
    if not parts.hostname:
        raise JanusUrlError(f"{url!r}: no host")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    room_text = query.get("room", "")
    if not room_text:
        raise JanusUrlError(f"{url!r}: add the room, e.g. ?room=1234")
    room: int | str = int(room_text) if room_text.isdigit() else room_text
    base = urlunsplit((schemes[parts.scheme], parts.netloc, parts.path.rstrip("/") or "/janus", "", ""))
    return JanusTarget(base, room, query.get("pin", ""), query.get("token", ""), query.get("apisecret", ""))


def transaction() -> str:
    return secrets.token_hex(8)


# -- requests -----------------------------------------------------------------------------
def join_listener(t: JanusTarget, display: str) -> dict[str, Any]:
    """Join as a publisher that never publishes: the bot is listed, sees events, sends nothing."""
    body: dict[str, Any] = {"request": "join", "ptype": "publisher", "room": t.room, "display": display}
    if t.pin:
        body["pin"] = t.pin
    return body


def join_subscriber(t: JanusTarget, feed: int | str, private_id: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"request": "join", "ptype": "subscriber", "room": t.room,
                            "streams": [{"feed": feed}]}
    if private_id is not None:
        body["private_id"] = private_id
    if t.pin:
        body["pin"] = t.pin
    return body


def start() -> dict[str, Any]:
    return {"request": "start"}


def pick_substream(mid: str, substream: int) -> dict[str, Any]:
    return {"request": "configure", "streams": [{"mid": mid, "substream": substream, "temporal": 0}]}


def leave() -> dict[str, Any]:
    return {"request": "leave"}


# -- replies and events -------------------------------------------------------------------
@dataclass(frozen=True)
class Feed:
    """A participant of the room as Janus lists it."""

    id: int | str
    display: str
    video: bool = False  # publishes a (not disabled) video stream
    simulcast: bool = False
    video_mid: str | None = None
    #: The key of the earlier feed this one continues (the same student back after an SFU
    #: restart, with a new Janus id): the session keeps hearing about one feed.
    alias: str = ""

    @property
    def key(self) -> str:
        return self.alias or str(self.id)


def feed_of(entry: dict[str, Any]) -> Feed:
    video = [s for s in entry.get("streams", []) if s.get("type") == "video" and not s.get("disabled")]
    return Feed(
        id=entry["id"], display=str(entry.get("display") or ""), video=bool(video),
        simulcast=any(s.get("simulcast") for s in video),
        video_mid=str(video[0]["mid"]) if video and "mid" in video[0] else None,
    )


def check(reply: dict[str, Any]) -> dict[str, Any]:
    """The reply itself, or `JanusError` for a core error or a plugin error inside it."""
    if reply.get("janus") == "error":
        err = reply.get("error") or {}
        raise JanusError(int(err.get("code", 0)), str(err.get("reason", "unknown error")))
    data = plugin_data(reply)
    if data and "error_code" in data:
        raise JanusError(int(data["error_code"]), str(data.get("error", "unknown error")))
    return reply


def plugin_data(msg: dict[str, Any]) -> dict[str, Any]:
    data = (msg.get("plugindata") or {}).get("data")
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class RoomJoined:
    private_id: int | None
    publishers: tuple[Feed, ...]
    attendees: tuple[Feed, ...]


@dataclass(frozen=True)
class Published:
    feeds: tuple[Feed, ...]


@dataclass(frozen=True)
class Attending:
    feed: Feed


@dataclass(frozen=True)
class Unpublished:
    feed_id: str


@dataclass(frozen=True)
class Gone:
    feed_id: str


@dataclass(frozen=True)
class RoomDestroyed:
    pass


RoomEvent = RoomJoined | Published | Attending | Unpublished | Gone | RoomDestroyed


def room_events(data: dict[str, Any]) -> list[RoomEvent]:
    """What a VideoRoom message on the bot's own handle means; unknown content gives nothing."""
    kind = data.get("videoroom")
    if kind == "joined":
        return [RoomJoined(data.get("private_id"), tuple(feed_of(p) for p in data.get("publishers", [])),
                           tuple(feed_of(a) for a in data.get("attendees", [])))]
    if kind == "destroyed":
        return [RoomDestroyed()]
    if kind != "event":
        return []
    out: list[RoomEvent] = []
    if data.get("publishers"):
        out.append(Published(tuple(feed_of(p) for p in data["publishers"])))
    if isinstance(data.get("joining"), dict):
        out.append(Attending(feed_of(data["joining"])))
    unpublished = data.get("unpublished")
    if unpublished is not None and unpublished != "ok":
        out.append(Unpublished(str(unpublished)))
    leaving = data.get("leaving")
    if leaving is not None and leaving != "ok":
        out.append(Gone(str(leaving)))
    if data.get("kicked") is not None:
        out.append(Gone(str(data["kicked"])))
    return out
