"""Receive-only WebRTC: answer an offer that sends us video, with aiortc.

Both the built-in classroom (a WHIP offer from a student) and the Janus connector (a
subscriber offer from the SFU) receive video the same way, behind the small
`PeerFactory` signature, so their logic is tested with in-memory fakes and real ICE/DTLS
only in integration tests. The ICE server list is empty on purpose: no public STUN
server is contacted; peers reach the bot on its host candidates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from bot.connectors.base import VideoTrack
from bot.web.backlog import bound_receiver

log = logging.getLogger(__name__)

OnTrack = Callable[[VideoTrack], None]
OnClosed = Callable[[], None]


class OfferError(ValueError):
    """An offer aiortc cannot answer (malformed, no usable codec, no ICE credentials…)."""


class Peer(Protocol):
    #: The connection was lost on our side (a receive worker holding it died), not closed by the
    #: student: the room and the Janus connector then report the video as our fault (`no_signal`).
    lost: bool

    async def close(self) -> None: ...


class PeerFactory(Protocol):
    def __call__(self, offer_sdp: str, on_track: OnTrack,
                 on_closed: OnClosed) -> Awaitable[tuple[str, Peer]]: ...


class AiortcPeer:
    def __init__(self, pc: RTCPeerConnection) -> None:
        self.pc = pc
        self.lost = False  # in the bot's own process: nothing of ours can die under it alone

    async def close(self) -> None:
        await self.pc.close()


async def receive_video(offer_sdp: str, on_track: OnTrack, on_closed: OnClosed) -> tuple[str, Peer]:
    """Answer `offer_sdp`; video tracks go to `on_track`, other media is declined.

    `on_closed` runs once when the connection fails or closes (ICE consent lost, peer gone).
    """
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    closed = False

    def closing() -> None:
        nonlocal closed
        if not closed:
            closed = True
            on_closed()

    @pc.on("track")
    def _track(track: VideoTrack) -> None:
        if track.kind == "video":
            for receiver in pc.getReceivers():
                if receiver.track is track:
                    bound_receiver(receiver, track)  # a bot that falls behind must not grow (backlog.py)
            on_track(track)

    @pc.on("connectionstatechange")
    async def _state() -> None:
        log.debug("peer connection %s", pc.connectionState)
        if pc.connectionState in ("failed", "closed"):
            closing()
            if pc.connectionState == "failed":
                await pc.close()

    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for t in pc.getTransceivers():
            if t.kind != "video":
                t.direction = "inactive"  # audio would queue up unread: decline it
        await pc.setLocalDescription(await pc.createAnswer())
    except asyncio.CancelledError:
        await pc.close()
        raise
    except Exception as exc:  # aiortc raises ValueError/KeyError/… on offers it cannot use
        await pc.close()
        raise OfferError(f"cannot use this offer: {exc or type(exc).__name__}") from None
    return pc.localDescription.sdp, AiortcPeer(pc)
