"""The SSRF rule: every non-public spelling of an address is refused, public ones pass."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from bot.service.urlguard import Guard, RefusedAddress, host_address, parse_networks, refusal


@pytest.mark.parametrize(("host", "address"), [
    ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("0", "0.0.0.0"), ("169.254.169.254.", "169.254.169.254"),
    ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"), ("3232235521", "192.168.0.1"),
])
def test_numeric_host_spellings_are_addresses(host: str, address: str) -> None:
    assert host_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["hooks.example", "10.example", "a.b.c.d.e", "0x1g", "xn--bcher-kva.example"])
def test_names_are_names(host: str) -> None:
    """A last label that is not a number makes a name (WHATWG "ends in a number"), e.g. 0x1g."""
    assert host_address(host) is None


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.1.1.1", "1.2.3.99999999", "08.1.1.1"])
def test_broken_numbers_are_refused_not_resolved(host: str) -> None:
    with pytest.raises(RefusedAddress, match="not a valid"):
        host_address(host)


@pytest.mark.parametrize(("ip", "needle"), [
    ("127.0.0.1", "loopback"), ("0.0.0.0", "unspecified"), ("169.254.169.254", "link-local"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("100.64.0.1", "carrier-grade"),
    ("224.0.0.1", "multicast"), ("255.255.255.255", "private"), ("198.18.0.1", "private"),
    ("::1", "loopback"), ("::", "unspecified"), ("fe80::1", "link-local"), ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"), ("ff02::1", "multicast"), ("::ffff:127.0.0.1", "IPv4-mapped"),
    ("::ffff:8.8.8.8", "IPv4-mapped"), ("::127.0.0.1", "IPv4-compatible"), ("64:ff9b::a9fe:a9fe", "NAT64"),
    ("64:ff9b::7f00:1", "NAT64"), ("64:ff9b:1::1", "local NAT64"), ("2002:a00:1::1", "6to4"),
    ("2001:db8::1", "not a public"),
])
def test_non_public_addresses_are_refused(ip: str, needle: str) -> None:
    why = refusal(ipaddress.ip_address(ip))
    assert why is not None and needle in why


@pytest.mark.parametrize("ip", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "64:ff9b::808:808",
                                "2002:808:808::1"])
def test_public_addresses_pass(ip: str) -> None:
    assert refusal(ipaddress.ip_address(ip)) is None


def check(url: str, guard: Guard | None = None) -> None:
    asyncio.run((guard or Guard()).check_url(url))


@pytest.mark.parametrize(("url", "needle"), [
    ("http://2130706433/", "loopback"), ("http://0x7f000001:8080/", "loopback"), ("http://0/", "unspecified"),
    ("http://[::ffff:127.0.0.1]:8080/", "IPv4-mapped"), ("http://metadata.google.internal/computeMetadata/v1/",
                                                         "metadata"),
    ("http://METADATA.google.internal./", "metadata"), ("http://localhost:9/", "loopback"),
    ("http://x.localhost/", "loopback"), ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1%25eth0]/", "link-local"),
])
def test_urls_to_refused_hosts(url: str, needle: str) -> None:
    with pytest.raises(RefusedAddress, match=needle):
        check(url)


def test_names_are_resolved_and_every_answer_must_be_public() -> None:
    async def dns(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.8")]

    with pytest.raises(RefusedAddress, match="private"):
        check("https://hooks.example/x", Guard(resolve=dns))


def test_an_unresolvable_name_is_returned_without_addresses() -> None:
    async def dns(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        raise OSError("no such name")

    target = asyncio.run(Guard(resolve=dns).check_url("https://later.example/x"))
    assert target.addresses == () and target.port == 443


def test_allow_list_admits_internal_receivers_but_never_the_service_itself() -> None:
    guard = Guard(allow=parse_networks(["10.20.0.0/16", "127.0.0.0/8"]), own={("0.0.0.0", 8080)})
    check("http://10.20.3.4:9000/hook", guard)
    check("http://127.0.0.1:9000/hook", guard)
    with pytest.raises(RefusedAddress, match="private"):
        check("http://10.21.0.1/hook", guard)
    for url in ("http://127.0.0.1:8080/api/v1/classes", "http://[::ffff:127.0.0.1]:8080/"):
        with pytest.raises(RefusedAddress, match=r"this service|IPv4-mapped"):
            check(url, guard)
    with pytest.raises(RefusedAddress, match="this service"):
        check("https://pulse.school.example/x", Guard(public_url="https://pulse.school.example"))


def test_bad_allow_list_entries_name_themselves() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33'"):
        parse_networks(["10.0.0.0/8", "10.0.0.0/33"])
