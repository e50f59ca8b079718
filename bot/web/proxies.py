"""Who the client is and whether it came over TLS, when the service sits behind a reverse proxy.

Behind a TLS-terminating proxy (nginx, Caddy, a load balancer) every request arrives over
plain HTTP from the proxy's address: without help the log-in cookie would never be
``Secure``, the login form's Origin check would compare ``https://…`` with ``http://…``,
and every rate limit would count the proxy, not the student or teacher. Proxies say what
they saw in ``X-Forwarded-For`` (the chain of client addresses, each hop appending the
address it received from) and ``X-Forwarded-Proto``. Anyone can send those headers, so they
are believed only from peers in ``service.trusted_proxies`` (CIDRs; empty by default:
ignored). `forwarded` walks ``X-Forwarded-For`` from the right, past trusted proxies, to the
first address no trusted proxy vouches for: that is the client; the scheme is the one the
proxy that received from it reported. `middleware` rewrites the request (``request.remote``,
``request.scheme``, so ``request.secure``) before any handler sees it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
trusted_proxies_key: web.AppKey[tuple[IPNetwork, ...]] = web.AppKey("trusted_proxies")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_proxies(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The networks of `service.trusted_proxies`; ValueError naming the bad entry."""
    nets = []
    for value in values:
        try:
            nets.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ValueError(f"service.trusted_proxies: {value!r} is not an IP network (CIDR)") from None
    return tuple(nets)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":")[0]
    try:
        ip = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def trusted(peer: str | None, proxies: tuple[IPNetwork, ...]) -> bool:
    ip = _address(peer or "")
    return ip is not None and any(ip in net for net in proxies)


@dataclass(frozen=True)
class Client:
    remote: str  # the client's address as the service believes it
    scheme: str  # http | https
    via_proxy: bool = False


def forwarded(peer: str | None, scheme: str, forwarded_for: str | None, forwarded_proto: str | None,
              proxies: tuple[IPNetwork, ...]) -> Client:
    """The client and scheme of a request from `peer`; the headers count only if `peer` is trusted."""
    if not proxies or not trusted(peer, proxies):
        return Client(peer or "", scheme)
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    protos = [p.strip().lower() for p in (forwarded_proto or "").split(",") if p.strip()]
    remote, seen = peer or "", scheme
    depth = 0  # how many trusted proxies have been walked past (the peer is the first)
    while True:
        proto = protos[len(protos) - 1 - depth] if depth < len(protos) else None
        if proto in ("http", "https"):
            seen = proto
        if depth >= len(hops):
            break
        hop = hops[len(hops) - 1 - depth]
        ip = _address(hop)
        if ip is None:  # garbage in the chain: stop at the last address we could vouch for
            break
        remote = str(ip)  # without port or brackets: one spelling per client for the rate limits
        depth += 1
        if not trusted(hop, proxies):
            break
    return Client(remote, seen, via_proxy=True)


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    proxies = request.app.get(trusted_proxies_key, ())
    if not proxies:
        return await handler(request)
    client = forwarded(request.remote, request.scheme, request.headers.get("X-Forwarded-For"),
                       request.headers.get("X-Forwarded-Proto"), proxies)
    if client.via_proxy:
        request = request.clone(remote=client.remote, scheme=client.scheme)
    return await handler(request)
