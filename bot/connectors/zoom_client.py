"""RTMS websockets: one JSON message per text frame, keep-alives answered on the spot.

Transport only — what the messages mean lives in `zoom_protocol`, what to do with them in
the connector. Zoom closes a socket whose KEEP_ALIVE_REQ (12) goes unanswered three
times, so the answer (13, same timestamp) is sent here, before anything else can delay
it, on the signaling and the media socket alike. `last_seen` feeds the connector's
watchdog (Zoom recommends redoing the signaling handshake after 65 s without keep-alives).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.connectors import zoom_protocol as zp

log = logging.getLogger(__name__)


class SocketClosed(Exception):
    """The websocket closed or failed; `detail` says how."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RtmsSocket:
    """One RTMS websocket (signalling or media)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, name: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ws = ws
        self.name = name
        self.keepalives = 0
        self._clock = clock
        #: When Zoom last sent anything on this socket (the keep-alive watchdog reads it).
        self.last_seen = clock()

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, url: str, name: str, timeout_s: float,
                   clock: Callable[[], float] = time.monotonic) -> RtmsSocket:
        """Connect; refused or unreachable servers raise `SocketClosed`."""
        try:
            ws = await http.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=timeout_s),
                                       heartbeat=None, autoping=True, max_msg_size=16 << 20)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise SocketClosed(f"cannot open the {name} socket at {url}: {exc or type(exc).__name__}") from None
        return cls(ws, name, clock)

    async def send(self, message: dict[str, Any]) -> None:
        try:
            await self.ws.send_str(zp.encode(message))
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise SocketClosed(f"{self.name} socket: send failed: {exc}") from None

    async def receive(self) -> zp.Message:
        """The next message other than a keep-alive; raises `SocketClosed` at the end."""
        while True:
            msg = await self.ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                raise SocketClosed(f"{self.name} socket closed by Zoom (code {self.ws.close_code})")
            if msg.type is aiohttp.WSMsgType.ERROR:
                raise SocketClosed(f"{self.name} socket failed: {self.ws.exception()}")
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                continue
            self.last_seen = self._clock()
            try:
                parsed = zp.parse(msg.data)
            except zp.ProtocolError as exc:
                log.warning("%s socket: ignoring a malformed message: %s", self.name, exc)
                continue
            if isinstance(parsed, zp.KeepAlive):
                self.keepalives += 1
                await self.send(zp.keep_alive_reply(parsed.timestamp))
                continue
            return parsed

    async def expect(self, kind: type[zp.Message], timeout_s: float) -> zp.Message:
        """Wait for a message of `kind` (or a `Refused`), skipping others; TimeoutError after `timeout_s`."""
        async with asyncio.timeout(timeout_s):
            while True:
                msg = await self.receive()
                if isinstance(msg, (kind, zp.Refused, zp.StreamStopped)):
                    return msg

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def close(self) -> None:
        if not self.ws.closed:
            await self.ws.close()
