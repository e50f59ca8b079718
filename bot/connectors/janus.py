"""Janus VideoRoom connector: a silent, listed participant that subscribes to every camera.

The bot joins as a publisher that never publishes (so students see it in the room and
it receives the room's events), and opens one subscription — one Janus handle and one
aiortc peer connection — per student. One subscription per student instead of one
multistream subscription with renegotiation: a student's leave, failure or retry never
touches anyone else's media, and aiortc never has to renegotiate a live connection. The
price is one ICE/DTLS handshake per student, paid once.

Events followed: ``joined`` (who is there), ``publishers`` (a camera came on; also late
joiners; a video stream listed as ``disabled`` is a muted camera), ``joining`` (an
attendee without camera), ``unpublished`` (camera off), ``leaving``/``kicked`` (gone),
``destroyed`` (class over). A lost Janus session (network drop, Janus restart) is
re-created within `janus.reconnect_timeout_s`; feeds that survived are subscribed again
and students keep their identity in the session.

Faults are told apart from a student's camera (DESIGN.md, "Observation states"): video
lost because a subscription failed (Janus ``hangup`` on our handle, our peer connection
failed or closed) or because the bot lost the room goes out as ``VideoOff(fault=True)``
(`no_signal`). Janus's ``unpublished`` carries no reason — a student who stops publishing
and a publisher whose ICE failed look alike there — so it is a plain ``VideoOff`` and the
sampler judges it by the stream: frames that stopped before the notice mean the link died
first. After an SFU restart every student comes back with a new Janus id, often after the
bot: students missing when the bot gets back in are kept `no_signal` for
`janus.rejoin_grace_s`, and a feed with the same display name that appears meanwhile
continues that student under the old feed key (no "left", no second student).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.config import Config
from bot.connectors.base import (
    Closed,
    Connector,
    ConnectorError,
    FailureReason,
    Joined,
    Left,
    Reconnected,
    Reconnecting,
    VideoOff,
    VideoOn,
    VideoTrack,
)
from bot.connectors.janus_client import HttpTransport, JanusClient, JanusTransport, Message, TransportError
from bot.connectors.janus_protocol import (
    Attending,
    Feed,
    Gone,
    JanusError,
    JanusTarget,
    Published,
    RoomDestroyed,
    RoomEvent,
    RoomJoined,
    Unpublished,
    join_listener,
    join_subscriber,
    leave,
    pick_substream,
    plugin_data,
    room_events,
    start,
)
from bot.connectors.layers import LayerChooser, LayerRule
from bot.web.receive_pool import ReceivePool, ReceiveWorkerError
from bot.web.rtc import Peer, PeerFactory, receive_video

log = logging.getLogger(__name__)

MAX_RESUBSCRIBE = 3


@dataclass
class _Subscription:
    feed: Feed
    handle: int | None = None
    peer: Peer | None = None
    track: VideoTrack | None = None
    closing: bool = False
    layers: LayerChooser | None = None  # a simulcast publisher's layer, chosen by face size


def _failure(exc: Exception) -> ConnectorError:
    if isinstance(exc, JanusError):
        return ConnectorError(exc.failure, f"Janus refused: {exc.reason} (error {exc.code})")
    if isinstance(exc, TransportError):
        reason = FailureReason.MEETING_NOT_FOUND if exc.unreachable else FailureReason.NETWORK
        return ConnectorError(reason, str(exc))
    return ConnectorError(FailureReason.INTERNAL, repr(exc))


class JanusConnector(Connector):
    def __init__(self, target: JanusTarget, config: Config, *,
                 transport: JanusTransport | None = None, peers: PeerFactory = receive_video,
                 receive_pool: Callable[[int], ReceivePool] = ReceivePool) -> None:
        super().__init__()
        self.target = target
        self.config = config
        self.description = target.description
        self._transport = transport
        self._peers = peers
        self._make_pool = receive_pool
        self._pool: ReceivePool | None = None  # janus.receive_workers >= 1: subscribers' peers live there
        self._client: JanusClient | None = None
        self._handle: int | None = None
        self._private_id: int | None = None
        self._feeds: dict[str, Feed] = {}  # present participants
        self._subs: dict[str, _Subscription] = {}
        self._retries: dict[str, int] = {}
        self._ids: dict[str, str] = {}  # Janus feed id → the key the session knows it by (see `Feed.alias`)
        self._away: set[str] = set()  # keys missing after a rejoin, within `rejoin_grace_s`
        self._tasks: set[asyncio.Task[None]] = set()
        self._poll: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._leaving = False

    # -- joining ---------------------------------------------------------------------------
    async def join(self) -> None:
        if self.config.janus.receive_workers > 0 and self._peers is receive_video:
            await self._start_pool(self.config.janus.receive_workers)
        try:
            await self._enter()
        except (JanusError, TransportError) as exc:
            await self._drop_client()
            await self._close_pool()
            raise _failure(exc) from None
        except BaseException:
            await self._close_pool()
            raise
        self._supervisor = asyncio.ensure_future(self._supervise())

    async def _start_pool(self, workers: int) -> None:
        """Subscribers' media in receive worker processes (`bot.web.receive_pool`): signalling and
        keep-alives stay here, each subscriber's peer connection, ICE and decoding go to a worker."""
        pool = self._make_pool(workers)
        try:
            await pool.start()
        except ReceiveWorkerError as exc:
            raise ConnectorError(FailureReason.INTERNAL, f"the receive workers could not start: {exc}") from None
        self._pool = pool
        self._peers = pool

    async def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            self._peers = receive_video
            await pool.close()

    async def _enter(self) -> None:
        j = self.config.janus
        transport = self._transport or HttpTransport(self.target.base_url, j.request_timeout_s)
        client = JanusClient(transport, self.target, j.request_timeout_s)
        client.on_event = self._on_event
        self._client = client
        await client.create()
        self._handle = await client.attach()
        self._poll = asyncio.ensure_future(client.poll_forever())
        data, _ = await client.message(self._handle, join_listener(self.target, self.config.bot.name))
        joined = next((e for e in room_events(data) if isinstance(e, RoomJoined)), None)
        if joined is None:
            raise JanusError(0, f"unexpected answer to join: {data!r:.200}")
        rejoining = self._private_id is not None
        self._private_id = joined.private_id
        self._retries.clear()
        ids_now = {str(f.id) for f in (*joined.attendees, *joined.publishers)}
        grace = self.config.janus.rejoin_grace_s
        for key in [k for k, f in self._feeds.items() if str(f.id) not in ids_now and k not in self._away]:
            if rejoining and grace > 0:  # maybe still reconnecting themselves: no signal, not "left"
                self._away.add(key)
                self._spawn(self._expire_away(key, grace))
            else:
                self._gone(key)
        for f in joined.attendees:
            self._attend(f)
        for f in joined.publishers:
            self._publish(f)
        log.info("joined %s: %d publishers, %d attendees", self.description, len(joined.publishers),
                 len(joined.attendees))

    # -- room events -----------------------------------------------------------------------
    def _on_event(self, sender: int | None, msg: Message) -> None:
        if sender is not None and sender == self._handle:
            for event in room_events(plugin_data(msg)):
                self._on_room_event(event)
            return
        if msg.get("janus") in ("hangup", "detached"):
            sub = next((s for s in self._subs.values() if s.handle == sender), None)
            if sub is not None:
                reason = str(msg.get("reason", ""))
                log.info("Janus hung up on %s: %s", sub.feed.display, reason)
                # "ICE failed" is our link to Janus; "Close PC" is Janus closing it on purpose (the
                # publisher went away): then the stream's freshness tells camera off from a fault.
                self._lost_media(sub.feed.key, fault="ICE" in reason)

    def _on_room_event(self, event: RoomEvent) -> None:
        if isinstance(event, Published):
            for f in event.feeds:
                self._publish(f)
        elif isinstance(event, Attending):
            self._attend(event.feed)
        elif isinstance(event, Unpublished):
            self._spawn(self._unsubscribe(self._ids.get(event.feed_id, event.feed_id)))
        elif isinstance(event, Gone):
            self._gone(self._ids.get(event.feed_id, event.feed_id))
        elif isinstance(event, RoomDestroyed):
            self.channel.put(Closed(None, "the Janus room was destroyed"))

    def _is_bot(self, feed: Feed) -> bool:
        """The bot itself, or another ClassPulse bot (a predecessor Janus has not timed out yet)."""
        return feed.display.strip().casefold() == self.config.bot.name.strip().casefold()

    def _claim(self, feed: Feed) -> Feed:
        """The feed under the key the session knows: its own, or a missing student's of the same name."""
        known = self._ids.get(str(feed.id))
        if known is None:
            name = feed.display.strip().casefold()
            known = next((k for k in sorted(self._away) if self._feeds[k].display.strip().casefold() == name), None)
            if known is None:
                return feed
            self._away.discard(known)
            self._ids[str(feed.id)] = known
            log.info("%s is back in the room (feed %s continues %s)", feed.display, feed.id, known)
        return replace(feed, alias=known) if known != str(feed.id) else feed

    def _attend(self, feed: Feed) -> None:
        if self._is_bot(feed):
            return  # never a student: no report, no presence line
        feed = self._claim(feed)
        if feed.key not in self._feeds:
            self._feeds[feed.key] = feed
            self.channel.put(Joined(feed.key, feed.display, video_expected=feed.video))

    def _publish(self, feed: Feed) -> None:
        if self._is_bot(feed):
            return
        self._attend(feed)
        feed = self._claim(feed)
        self._feeds[feed.key] = feed
        if feed.video and feed.key not in self._subs:
            sub = self._subs[feed.key] = _Subscription(feed)
            self._spawn(self._subscribe(sub))
        elif not feed.video and feed.key in self._subs:  # the video stream is listed as disabled: muted
            self._spawn(self._unsubscribe(feed.key))

    def _gone(self, key: str) -> None:
        self._spawn(self._unsubscribe(key))  # VideoOff goes out now, before Left
        self._away.discard(key)
        if self._feeds.pop(key, None) is not None:
            self.channel.put(Left(key))
        self._retries.pop(key, None)
        for janus_id in [i for i, k in self._ids.items() if k == key]:
            del self._ids[janus_id]

    async def _expire_away(self, key: str, grace_s: float) -> None:
        await asyncio.sleep(grace_s)
        if key in self._away:
            log.info("%s did not come back within %g s after the rejoin", self._feeds[key].display, grace_s)
            self._gone(key)

    def _lost_media(self, key: str, fault: bool = False) -> None:
        """A subscription's connection failed: retry a few times while the student is still there.

        Without `fault` the sampler judges by the stream (frames that stopped before: no signal;
        fresh until now: the publisher went away on purpose, camera off unless they come back)."""
        sub = self._subs.get(key)
        if sub is None or sub.closing:
            return
        self._spawn(self._resubscribe(key, fault))

    async def _resubscribe(self, key: str, fault: bool = False) -> None:
        await self._unsubscribe(key, fault=fault)
        feed = self._feeds.get(key)
        tries = self._retries.get(key, 0)
        if feed is None or self._leaving or tries >= MAX_RESUBSCRIBE:
            return
        self._retries[key] = tries + 1
        await asyncio.sleep(1.0 * (tries + 1))
        if key in self._feeds and key not in self._subs and not self._leaving:
            self._publish(self._feeds[key])

    # -- subscriptions ---------------------------------------------------------------------
    async def _subscribe(self, sub: _Subscription) -> None:
        client, feed = self._client, sub.feed
        assert client is not None

        def on_track(track: VideoTrack) -> None:
            if not sub.closing:
                sub.track = track
                self.channel.put(VideoOn(feed.key, track))

        def on_closed() -> None:
            if not sub.closing:  # a receive worker that died under the peer: our side, not the student
                self._lost_media(feed.key, fault=sub.peer is not None and sub.peer.lost)

        try:
            sub.handle = await client.attach()
            body = join_subscriber(self.target, feed.id, self._private_id)
            _, jsep = await client.message(sub.handle, body)
            if not jsep or jsep.get("type") != "offer":
                raise JanusError(0, "no offer in the subscription answer")
            answer, sub.peer = await self._peers(str(jsep["sdp"]), on_track, on_closed)
            if sub.closing:
                await sub.peer.close()
                return
            await client.message(sub.handle, start(), {"type": "answer", "sdp": answer})
            j = self.config.janus
            if feed.simulcast and j.substream >= 0 and feed.video_mid is not None:
                await client.message(sub.handle, pick_substream(feed.video_mid, j.substream))
                if j.min_face_px > 0:
                    sub.layers = LayerChooser(LayerRule(min_face_px=j.min_face_px), j.substream)
            log.info("subscribed to %s (feed %s)", feed.display, feed.key)
        except Exception as exc:
            if not sub.closing:
                log.warning("subscribing to %s failed: %s", feed.display, exc)
                self._lost_media(feed.key)

    def _unsubscribe(self, key: str, fault: bool = False) -> Coroutine[Any, Any, None]:
        """Stop a subscription: the roster hears it at once, Janus and the peer are closed after.

        `fault`: the video was lost on our side or the network's, not turned off by the student."""
        sub = self._subs.pop(key, None)
        if sub is not None:
            sub.closing = True
            if sub.track is not None:
                self.channel.put(VideoOff(key, fault=fault))
                sub.track.stop()
        return self._close_subscription(sub)

    async def _close_subscription(self, sub: _Subscription | None) -> None:
        if sub is None:
            return
        if sub.peer is not None:
            await sub.peer.close()
        if sub.handle is not None and self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.detach(sub.handle)

    def face_sizes(self, sizes: Mapping[str, float | None]) -> None:
        """Move a simulcast student to the smallest layer whose face is still large enough."""
        for key, width in sizes.items():
            sub = self._subs.get(key)
            if sub is None or sub.layers is None or sub.closing or sub.handle is None:
                continue
            layer = sub.layers.add(width)
            if layer is not None and sub.feed.video_mid is not None:
                seen = "no face" if width is None else f"faces about {width:.0f} px wide"
                log.info("asking Janus for simulcast layer %d of %s (%s)", layer, sub.feed.display, seen)
                self._spawn(self._configure_layer(sub, layer))

    async def _configure_layer(self, sub: _Subscription, layer: int) -> None:
        if self._client is None or sub.handle is None or sub.closing or sub.feed.video_mid is None:
            return
        try:
            await self._client.message(sub.handle, pick_substream(sub.feed.video_mid, layer))
        except Exception as exc:  # the stream goes on at the old layer
            log.warning("switching %s to simulcast layer %d failed: %s", sub.feed.display, layer, exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- staying in ------------------------------------------------------------------------
    async def _supervise(self) -> None:
        """Keep the session alive; when it is lost, get back in or report the class closed."""
        while not self._leaving:
            assert self._poll is not None
            keepalive = asyncio.ensure_future(self._keepalive())
            try:
                await self._poll
                error: BaseException | None = None
            except (JanusError, TransportError) as exc:
                error = exc
            finally:
                keepalive.cancel()
            if self._leaving:
                return
            log.warning("lost the Janus session: %s", error)
            self.channel.put(Reconnecting(str(error)))
            if not await self._reconnect():
                self.channel.put(Closed(FailureReason.NETWORK, f"could not get back into the room: {error}"))
                self.channel.close()
                return
            self.channel.put(Reconnected())

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.config.janus.keepalive_s)
            if self._client is not None:
                try:
                    await self._client.keepalive()
                except (JanusError, TransportError) as exc:
                    log.warning("Janus keepalive failed: %s", exc)

    async def _reconnect(self) -> bool:
        for key in list(self._subs):
            await self._unsubscribe(key, fault=True)
        await self._drop_client()
        deadline = time.monotonic() + self.config.janus.reconnect_timeout_s
        delay = 0.5
        while not self._leaving and time.monotonic() < deadline:
            try:
                await self._enter()
                return True
            except (JanusError, TransportError) as exc:
                log.info("rejoining Janus failed: %s", exc)
                await self._drop_client()
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 5.0)
        return False

    async def _drop_client(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(BaseException):
                await self._poll
            self._poll = None
        if self._client is not None:
            await self._client.close()
        self._client = None
        self._handle = None

    # -- leaving ---------------------------------------------------------------------------
    async def leave(self) -> None:
        if self._leaving:
            return
        self._leaving = True
        if self._supervisor is not None:
            self._supervisor.cancel()
        for key in list(self._subs):
            await self._unsubscribe(key)
        for task in list(self._tasks):
            task.cancel()
        client = self._client
        if client is not None and self._handle is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.message(self._handle, leave()), 2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.destroy(), 2)
        await self._drop_client()
        await self._close_pool()
        self.channel.close()
