"""A Janus API client: sessions, handles, transactions and events over a pluggable transport.

Janus answers a plugin request with an ``ack`` and delivers the real answer later as an
event carrying the same transaction, on the session's event stream (HTTP long-poll or
websocket). `JanusClient` matches the two and routes every other event to the handle
it belongs to. `HttpTransport` is the real transport; unit tests use an in-memory one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp

from bot.connectors.janus_protocol import PLUGIN, JanusError, JanusTarget, check, plugin_data, transaction

log = logging.getLogger(__name__)

Message = dict[str, Any]


class TransportError(Exception):
    """Janus could not be reached or answered with something that is not the Janus API."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class JanusTransport(Protocol):
    async def post(self, path: str, body: Message) -> Message: ...

    async def poll(self, session_id: int) -> list[Message]: ...

    async def close(self) -> None: ...


class HttpTransport:
    """Janus's REST transport: POST requests, long-poll GET for events."""

    def __init__(self, base_url: str, request_timeout_s: float = 10.0, poll_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.request_timeout_s = request_timeout_s
        self.poll_s = poll_s
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    async def _json(self, method: str, url: str, limit_s: float, body: Message | None = None) -> Any:
        try:
            async with self._session().request(method, url, json=body,
                                               timeout=aiohttp.ClientTimeout(total=limit_s)) as res:
                if res.status == 404:
                    raise TransportError(f"{url}: HTTP 404 (is this the Janus API path?)", unreachable=True)
                if res.status != 200:
                    raise TransportError(f"{url}: HTTP {res.status}")
                return await res.json(content_type=None)
        except aiohttp.ClientConnectorError as exc:
            raise TransportError(f"cannot reach Janus at {self.base_url}: {exc.os_error or exc}",
                                 unreachable=True) from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise TransportError(f"Janus at {self.base_url}: {exc or type(exc).__name__}") from None
        except TimeoutError:
            raise TransportError(f"Janus at {self.base_url} did not answer within {limit_s:g} s") from None

    async def post(self, path: str, body: Message) -> Message:
        reply = await self._json("POST", self.base_url + path, self.request_timeout_s, body)
        if not isinstance(reply, dict):
            raise TransportError(f"Janus at {self.base_url}: unexpected reply {reply!r:.100}")
        return reply

    async def poll(self, session_id: int) -> list[Message]:
        url = f"{self.base_url}/{session_id}?maxev=10"
        reply = await self._json("GET", url, self.poll_s + self.request_timeout_s)
        events = reply if isinstance(reply, list) else [reply]
        return [e for e in events if isinstance(e, dict)]

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


class JanusClient:
    def __init__(self, transport: JanusTransport, target: JanusTarget, request_timeout_s: float = 10.0) -> None:
        self.transport = transport
        self.target = target
        self.request_timeout_s = request_timeout_s
        self.session_id: int | None = None
        self.on_event: Callable[[int | None, Message], None] = lambda sender, msg: None
        self._pending: dict[str, asyncio.Future[Message]] = {}

    def _auth(self, body: Message) -> Message:
        if self.target.apisecret:
            body["apisecret"] = self.target.apisecret
        if self.target.token:
            body["token"] = self.target.token
        return body

    async def _request(self, path: str, body: Message, *, wait_event: bool = False) -> Message:
        tid = transaction()
        body = self._auth({**body, "transaction": tid})
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[tid] = future
        try:
            reply = check(await self.transport.post(path, body))
            if reply.get("janus") != "ack" or not wait_event:
                return reply
            return check(await asyncio.wait_for(future, self.request_timeout_s))
        except TimeoutError:
            raise TransportError(f"Janus did not answer {body.get('janus')} within "
                                 f"{self.request_timeout_s:g} s") from None
        finally:
            self._pending.pop(tid, None)

    async def create(self) -> int:
        reply = await self._request("", {"janus": "create"})
        self.session_id = int(reply["data"]["id"])
        return self.session_id

    async def attach(self) -> int:
        reply = await self._request(f"/{self.session_id}", {"janus": "attach", "plugin": PLUGIN})
        return int(reply["data"]["id"])

    async def message(self, handle: int, body: Message, jsep: Message | None = None
                      ) -> tuple[Message, Message | None]:
        """A plugin request; returns the plugin's data and JSEP, sync or async alike."""
        msg: Message = {"janus": "message", "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        reply = await self._request(f"/{self.session_id}/{handle}", msg, wait_event=True)
        return plugin_data(reply), reply.get("jsep")

    async def detach(self, handle: int) -> None:
        await self._request(f"/{self.session_id}/{handle}", {"janus": "detach"})

    async def keepalive(self) -> None:
        await self._request(f"/{self.session_id}", {"janus": "keepalive"})

    async def destroy(self) -> None:
        if self.session_id is not None:
            await self._request(f"/{self.session_id}", {"janus": "destroy"})
            self.session_id = None

    def dispatch(self, msg: Message) -> None:
        """One event from the stream: an awaited answer, or an event for its handle."""
        kind = msg.get("janus")
        if kind in ("ack", "keepalive"):
            return
        tid = msg.get("transaction")
        future = self._pending.get(tid) if isinstance(tid, str) else None
        if future is not None and not future.done() and kind in ("event", "success", "error"):
            future.set_result(msg)
            return
        self.on_event(msg.get("sender"), msg)

    async def poll_forever(self) -> None:
        """Deliver events until the session is gone; raises `TransportError` or `JanusError` then."""
        assert self.session_id is not None
        while True:
            for msg in await self.transport.poll(self.session_id):
                if msg.get("janus") == "error":
                    check(msg)  # e.g. 458 no such session: Janus forgot us
                self.dispatch(msg)

    async def close(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(JanusError(0, "client closed"))
        await self.transport.close()
