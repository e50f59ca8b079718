"""Which addresses the service may call: public unicast only, never itself (SSRF guard).

A teacher types a webhook URL; the service then makes HTTP requests to it from inside the
school's network. Without a guard that is a way to reach the cloud metadata service
(169.254.169.254), the school's intranet, or the service's own API, and the error text of
a failed delivery would tell the teacher which internal ports are open.

`refusal(ip)` is the pure rule: the reason an address is refused, or None. It looks
through every IPv6 spelling of an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``), because a
socket connects to the embedded IPv4 address. `host_address(host)` reads the numeric host
spellings browsers and libc accept (``2130706433``, ``0x7f000001``, ``0177.0.0.1``,
``127.1``) the way the WHATWG URL standard does, so they cannot pass as names.

`Guard` applies the rule to a URL (names are resolved, every answer must be allowed) and,
as an aiohttp resolver (`GuardedResolver`), to the very addresses aiohttp connects to, so
a DNS answer that changes between the check and the call (rebinding) is checked again.
An admin allow-list of networks (``delivery.allow_networks``) lets a school call its own
internal receiver; the service's own listening addresses stay refused even then.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud metadata and other names that are never a school's webhook receiver.
METADATA_NAMES = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
    "metadata.azure.internal", "metadata.tencentyun.com", "metadata.oraclecloud.com",
})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local-use translation prefix
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


class RefusedAddress(Exception):
    """The URL or one of its addresses may not be called; the message is safe to show."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address stands for, with the form's name, if any."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    packed = ip.packed
    if packed[:12] == bytes(12) and int(ip) > 1:  # ::a.b.c.d (deprecated IPv4-compatible), not :: or ::1
        return "IPv4-compatible", ipaddress.IPv4Address(packed[12:])
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(packed[12:])
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    return None


def _v4_refusal(ip: ipaddress.IPv4Address) -> str | None:
    checks = ((ip.is_unspecified, "unspecified address"), (ip.is_loopback, "loopback address"),
              (ip.is_link_local, "link-local address (cloud metadata lives here)"),
              (ip.is_multicast, "multicast address"), (ip in _SHARED, "carrier-grade NAT address"),
              (ip.is_private, "private address"), (ip.is_reserved, "reserved address"),
              (not ip.is_global, "not a public address"))
    return next((why for hit, why in checks if hit), None)


def refusal(ip: IPAddress) -> str | None:
    """Why `ip` may not be called (e.g. "private address"), or None for a public unicast address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_refusal(ip)
    if ip.scope_id:
        ip = ipaddress.IPv6Address(ip.compressed.split("%")[0])
    embedded = _embedded_v4(ip)
    if embedded is not None:
        form, v4 = embedded
        if form in ("IPv4-mapped", "IPv4-compatible"):
            return f"{form} IPv6 address"  # never a real receiver; sockets would reach the IPv4 host
        inner = _v4_refusal(v4)
        return f"{form} form of a {inner}" if inner else None
    checks = ((ip.is_unspecified, "unspecified address"), (ip.is_loopback, "loopback address"),
              (ip.is_link_local, "link-local address"), (ip.is_site_local, "site-local address"),
              (ip.is_multicast, "multicast address"), (ip in _NAT64_LOCAL, "local NAT64 address"),
              (ip in _UNIQUE_LOCAL, "private (unique-local) address"), (ip.is_reserved, "reserved address"),
              (not ip.is_global, "not a public address"))
    return next((why for hit, why in checks if hit), None)


def _number(part: str) -> int | None:
    """One part of a numeric IPv4 host: decimal, 0x-hex or 0-octal (WHATWG "IPv4 number parser")."""
    text, base = part, 10
    if text[:2].lower() == "0x":
        text, base = text[2:], 16
    elif len(text) > 1 and text.startswith("0"):
        text, base = text[1:], 8
    if text == "":
        return 0
    try:
        return int(text, base) if text.isalnum() and text.isascii() else None
    except ValueError:
        return None


def host_address(host: str) -> IPAddress | None:
    """The address a URL host spells, or None for a name; RefusedAddress for a broken number.

    ``2130706433``, ``0x7f000001``, ``0177.0.0.1`` and ``127.1`` are all 127.0.0.1, as in a
    browser and libc's inet_aton; a host whose last label is a number is never a name.
    """
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%")[0])
        except ValueError:
            raise RefusedAddress(f"{host!r} is not a valid IPv6 address") from None
    parts = host.split(".")
    if not parts or _number(parts[-1]) is None:
        return None
    numbers = [_number(p) for p in parts]
    if len(parts) > 4 or any(n is None for n in numbers):
        raise RefusedAddress(f"{host!r} is not a valid IPv4 address")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise RefusedAddress(f"{host!r} is not a valid IPv4 address")
    total = values[-1]
    for i, n in enumerate(values[:-1]):
        total += n << (8 * (3 - i))
    return ipaddress.IPv4Address(total)


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The allow-list; ValueError names the entry that is not a network."""
    out = []
    for c in cidrs:
        try:
            out.append(ipaddress.ip_network(c.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{c!r} is not a network (use CIDR such as 10.20.0.0/16)") from None
    return tuple(out)


Resolve = Callable[[str, int], Awaitable[list[IPAddress]]]


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host` (OSError when it does not resolve)."""
    import asyncio

    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


@dataclass(frozen=True)
class Target:
    """A checked URL: its host, port and the addresses it resolved to (empty: did not resolve)."""

    host: str
    port: int
    addresses: tuple[IPAddress, ...]


@dataclass
class Guard:
    """The rule for one service: allow-listed networks and its own (address, port) pairs."""

    allow: tuple[IPNetwork, ...] = ()
    own: set[tuple[str, int]] = field(default_factory=set)
    public_url: str = ""
    resolve: Resolve = system_resolve

    def check_address(self, ip: IPAddress, port: int) -> None:
        """RefusedAddress unless `ip:port` may be called."""
        if self._is_own(ip, port):
            raise RefusedAddress("refused: the address of this service itself")
        if any(ip in net for net in self.allow if net.version == ip.version):
            return
        why = refusal(ip)
        if why is not None:
            raise RefusedAddress(f"refused: {why}")

    def _is_own(self, ip: IPAddress, port: int) -> bool:
        plain = ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip
        for own_ip, own_port in self.own:
            if own_port != port:
                continue
            mine = ipaddress.ip_address(own_ip)
            if plain == mine or plain.is_loopback or plain.is_unspecified or mine.is_unspecified:
                return True
        return False

    async def check_url(self, url: str) -> Target:
        """Check a URL before it is saved or called; RefusedAddress says why not.

        A name that does not resolve is returned with no addresses: the caller decides
        (saving keeps it with a warning; a delivery fails and retries later).
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RefusedAddress("the URL must be http(s) with a host")
        host = parts.hostname.lower().rstrip(".")
        try:
            port = int(parts.port or (443 if parts.scheme == "https" else 80))
        except ValueError:
            raise RefusedAddress("the URL has an invalid port") from None
        if self.public_url:
            pub = urlsplit(self.public_url)
            if (pub.hostname or "").lower() == host and int(pub.port or (443 if pub.scheme == "https" else 80)) == port:
                raise RefusedAddress("refused: the address of this service itself")
        if host in METADATA_NAMES:
            raise RefusedAddress("refused: a cloud metadata name")
        if host == "localhost" or host.endswith(".localhost"):
            raise RefusedAddress("refused: loopback address")
        literal = host_address(host)
        if literal is not None:
            self.check_address(literal, port)
            return Target(host, port, (literal,))
        try:
            found = await self.resolve(host, port)
        except OSError:
            return Target(host, port, ())
        for ip in found:
            self.check_address(ip, port)
        return Target(host, port, tuple(found))


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that checks every answer: aiohttp connects only to addresses the guard passed.

    aiohttp skips the resolver for IP-literal hosts, so `Guard.check_url` runs before every
    call as well; this class closes the gap between that check and the connection for names.
    """

    def __init__(self, guard: Guard, inner: AbstractResolver | None = None) -> None:
        self.guard = guard
        self.inner = inner or ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host.lower().rstrip(".") in METADATA_NAMES:
            raise RefusedAddress("refused: a cloud metadata name")
        answers = await self.inner.resolve(host, port, family)
        for a in answers:
            self.guard.check_address(ipaddress.ip_address(a["host"].split("%")[0]), port)
        return answers

    async def close(self) -> None:
        await self.inner.close()

