"""Which RTMS stream servers ClassPulse may connect to: public unicast addresses only.

The signaling URL comes from a webhook body (signed by Zoom, but a leaked webhook secret
or a hand-typed ``classpulse join 'zoom:?…server_urls=…'`` could name anything) and the
media URL from the signaling server's answer. Without a check, either could make the
service open websockets to the cloud metadata service or the school's intranet. So both
go through the service's address guard (`bot.service.urlguard`, the same rule as report
webhooks): the host must resolve to public unicast addresses only, and aiohttp connects
only to addresses the guard passed (`GuardedResolver`, against DNS rebinding).

`zoom.allow_private_server_urls` (default false) turns the check off for tests (the
in-process fake Zoom listens on 127.0.0.1) and for on-premise setups whose stream servers
live on private addresses.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import aiohttp

from bot.config import ZoomSection
from bot.connectors.base import ConnectorError, FailureReason
from bot.service.urlguard import Guard, GuardedResolver, RefusedAddress

_AS_HTTP = {"wss": "https", "ws": "http"}


def server_guard(settings: ZoomSection) -> Guard | None:
    """The guard for stream servers, or None when private addresses are allowed."""
    return None if settings.allow_private_server_urls else Guard()


def http_session(guard: Guard | None, connect_timeout_s: float) -> aiohttp.ClientSession:
    """The client session the RTMS sockets are opened with; with a guard, every DNS answer is checked."""
    timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout_s, sock_connect=connect_timeout_s)
    if guard is None:
        return aiohttp.ClientSession(timeout=timeout)
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(guard), use_dns_cache=False)
    return aiohttp.ClientSession(timeout=timeout, connector=connector)


async def check_server_url(guard: Guard | None, url: str, what: str) -> None:
    """ConnectorError (meeting_not_found) unless `url` is a ws(s) URL the guard allows."""
    parts = urlsplit(url)
    if parts.scheme not in _AS_HTTP or not parts.hostname:
        raise ConnectorError(FailureReason.MEETING_NOT_FOUND, f"the {what} URL {url[:200]!r} is not a ws(s):// URL")
    if guard is None:
        return
    try:
        await guard.check_url(urlunsplit((_AS_HTTP[parts.scheme], parts.netloc, parts.path, "", "")))
    except RefusedAddress as exc:
        raise ConnectorError(FailureReason.MEETING_NOT_FOUND,
                             f"Zoom's {what} {parts.hostname}: {exc} (only public addresses, unless "
                             "zoom.allow_private_server_urls is true: tests, on-premise servers)") from None
