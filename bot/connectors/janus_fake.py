"""An in-memory Janus VideoRoom behind the `JanusTransport` interface, for connector unit tests.

Follows the real API's shape: sync ``success`` for core requests, ``ack`` then an event
with the same transaction for plugin requests, events on the long-poll, error 458 when
a session is gone. Only what the bot uses is modelled.

Source for the shapes: the Janus VideoRoom API documentation
(https://janus.conf.meetecho.com/docs/videoroom.html, multistream Janus 1.x). In particular a
publisher in a `publishers` list carries `streams: [{type, mindex, mid, codec, simulcast}]`
(`simulcast: true` when it sends several layers), and a subscriber's `configure` request takes
`streams: [{mid, substream, temporal}]` and is answered by an event with `"configured": "ok"`.
The simulcast request and the layer switch are also checked against a real Janus
(`tests/integration/test_chromium.py`).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from bot.connectors.fake import FakeCamera, solid
from bot.connectors.janus_client import TransportError
from bot.web.rtc import OnClosed, OnTrack, Peer

Msg = dict[str, Any]
PLUGIN = "janus.plugin.videoroom"


class FakeJanus:
    def __init__(self, room: int = 1234, pin: str = "") -> None:
        self.room = room
        self.pin = pin
        self.ids = itertools.count(100)
        self.sessions: dict[int, asyncio.Queue[Msg]] = {}
        self.handles: dict[int, int] = {}  # handle → session
        self.listeners: set[int] = set()  # handles joined as (non-publishing) publishers
        self.publishers: dict[int, Msg] = {}
        self.attendees: dict[int, Msg] = {}
        self.subscribed: list[int] = []
        self.requests: list[Msg] = []
        self.down = False

    # -- transport -------------------------------------------------------------------------
    async def post(self, path: str, body: Msg) -> Msg:
        if self.down:
            raise TransportError("connection refused", unreachable=True)
        self.requests.append(body)
        tid, kind = body["transaction"], body["janus"]
        parts = [int(p) for p in path.strip("/").split("/") if p]
        if parts and parts[0] not in self.sessions:
            return {"janus": "error", "transaction": tid, "error": {"code": 458, "reason": "No such session"}}
        if kind == "create":
            sid = next(self.ids)
            self.sessions[sid] = asyncio.Queue()
            return {"janus": "success", "transaction": tid, "data": {"id": sid}}
        if kind == "attach":
            hid = next(self.ids)
            self.handles[hid] = parts[0]
            return {"janus": "success", "transaction": tid, "data": {"id": hid}}
        if kind in ("keepalive",):
            return {"janus": "ack", "transaction": tid}
        if kind in ("detach", "destroy"):
            if kind == "destroy":
                self.sessions.pop(parts[0], None)
            return {"janus": "success", "transaction": tid}
        if kind == "message":
            self._message(parts[0], parts[1], tid, body["body"], body.get("jsep"))
            return {"janus": "ack", "transaction": tid}
        return {"janus": "error", "transaction": tid, "error": {"code": 453, "reason": "unknown request"}}

    async def poll(self, session_id: int) -> list[Msg]:
        q = self.sessions.get(session_id)
        if q is None:
            return [{"janus": "error", "error": {"code": 458, "reason": "No such session"}}]
        try:
            first = await asyncio.wait_for(q.get(), 0.2)
        except TimeoutError:
            return [{"janus": "keepalive"}]
        out = [first]
        while not q.empty():
            out.append(q.get_nowait())
        return out

    async def close(self) -> None:
        pass

    # -- the room --------------------------------------------------------------------------
    def _send(self, hid: int, data: Msg, tid: str | None = None, jsep: Msg | None = None) -> None:
        sid = self.handles.get(hid)
        if sid is None or sid not in self.sessions:
            return
        msg: Msg = {"janus": "event", "sender": hid, "plugindata": {"plugin": PLUGIN, "data": data}}
        if tid:
            msg["transaction"] = tid
        if jsep:
            msg["jsep"] = jsep
        self.sessions[sid].put_nowait(msg)

    def _message(self, sid: int, hid: int, tid: str, body: Msg, jsep: Msg | None) -> None:
        req = body.get("request")
        if req == "join" and body.get("room") != self.room:
            self._send(hid, {"videoroom": "event", "error_code": 426, "error": f"No such room ({body['room']})"}, tid)
        elif req == "join" and self.pin and body.get("pin") != self.pin:
            self._send(hid, {"videoroom": "event", "error_code": 433, "error": "Unauthorized (wrong pin)"}, tid)
        elif req == "join" and body["ptype"] == "publisher":
            self.listeners.add(hid)
            self._send(hid, {"videoroom": "joined", "room": self.room, "id": hid, "private_id": 7,
                             "publishers": list(self.publishers.values()),
                             "attendees": list(self.attendees.values())}, tid)
        elif req == "join" and body["ptype"] == "subscriber":
            feed = body["streams"][0]["feed"]
            if feed not in self.publishers:
                self._send(hid, {"videoroom": "event", "error_code": 428, "error": "No such feed"}, tid)
                return
            self.subscribed.append(feed)
            self._send(hid, {"videoroom": "attached", "room": self.room, "streams": [{"mid": "0", "feed_id": feed}]},
                       tid, {"type": "offer", "sdp": f"v=0\r\nfake offer for {feed}\r\n"})
        elif req in ("start", "configure", "leave"):
            self._send(hid, {"videoroom": {"start": "event", "configure": "event", "leave": "event"}[req],
                             {"start": "started", "configure": "configured", "leave": "leaving"}[req]: "ok"}, tid)

    def _broadcast(self, data: Msg) -> None:
        for hid in list(self.listeners):
            self._send(hid, {"videoroom": "event", "room": self.room, **data})

    def publish(self, feed: int, display: str, *, simulcast: bool = False) -> None:
        self.attendees.pop(feed, None)
        entry = {"id": feed, "display": display,
                 "streams": [{"type": "video", "mindex": 0, "mid": "0", "codec": "vp8", "simulcast": simulcast}]}
        self.publishers[feed] = entry
        self._broadcast({"publishers": [entry]})

    def attend(self, feed: int, display: str) -> None:
        self.attendees[feed] = {"id": feed, "display": display}
        self._broadcast({"joining": {"id": feed, "display": display}})

    def unpublish(self, feed: int) -> None:
        entry = self.publishers.pop(feed)
        self.attendees[feed] = {"id": feed, "display": entry["display"]}
        self._broadcast({"unpublished": feed})

    def leave(self, feed: int) -> None:
        self.publishers.pop(feed, None)
        self.attendees.pop(feed, None)
        self._broadcast({"leaving": feed})

    def destroy(self) -> None:
        for hid in list(self.listeners):
            self._send(hid, {"videoroom": "destroyed", "room": self.room})

    def forget_sessions(self) -> None:
        """Janus restarted or timed us out: every session is gone (polls get 458)."""
        self.sessions.clear()
        self.listeners.clear()


class FakePeer:
    def __init__(self) -> None:
        self.closed = False
        self.lost = False

    async def close(self) -> None:
        self.closed = True


class FakePeers:
    """Answers subscriber offers with a fake camera; `fail(i)` simulates ICE failure of peer i."""

    def __init__(self) -> None:
        self.offers: list[str] = []
        self.closers: list[OnClosed] = []
        self.peers: list[FakePeer] = []

    async def __call__(self, offer_sdp: str, on_track: OnTrack, on_closed: OnClosed) -> tuple[str, Peer]:
        self.offers.append(offer_sdp)
        self.closers.append(on_closed)
        on_track(FakeCamera(solid(100), fps=10))
        peer = FakePeer()
        self.peers.append(peer)
        return "v=0\r\nfake answer\r\n", peer
