"""Webhooks cannot reach private networks, cloud metadata or the service itself; failures are honest.

Each case was reproduced against the service before the guard (issue 18, items 1 and 2):
saving these URLs answered 201 and deliveries really called them.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.service.state import deliveries_key
from tests.service_fixtures import Service, run, service
from tests.test_service_delivery import (
    API,
    SECRET,
    class_session_with_report,
    free_port,
    hook_sections,
    receiver,
    settled,
)

pytestmark = pytest.mark.component

PUBLIC = "93.184.216.34"
UNREACHABLE = "could not reach the receiver (connection failed or timed out)"  # the same for every port


async def save(s: Service, url: str) -> Any:
    return await s.client.post(f"{API}/classes", json={"name": "Hooked", "webhook_url": url},
                               headers=s.auth("alice"))


@pytest.mark.parametrize(("url", "needle"), [
    ("http://169.254.169.254/latest/meta-data/", "link-local"), ("http://10.0.0.1/h", "private"),
    ("http://192.168.1.10:8080/h", "private"), ("http://0.0.0.0:80/", "unspecified"),
    ("http://2130706433/", "loopback"), ("http://0x7f000001/", "loopback"), ("http://127.1/", "loopback"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"), ("http://[::ffff:127.0.0.1]:{port}/",
                                                                          "this service"),
    ("http://[::ffff:a9fe:a9fe]/", "IPv4-mapped"), ("http://[fd00::1]/", "unique-local"),
    ("http://100.100.100.200/", "carrier-grade"), ("http://[64:ff9b::a9fe:a9fe]/", "NAT64"),
])
def test_saving_a_webhook_to_a_non_public_address_is_422(tmp_path: Path, url: str, needle: str) -> None:
    async def main() -> None:
        async with service(tmp_path, {"delivery": {"webhook_secret": SECRET}}) as s:
            res = await save(s, url.format(port=s.client.server.port))
            assert res.status == 422, await res.text()
            err = (await res.json())["error"]
            assert err["fields"][0]["field"] == "webhook_url" and needle in err["message"]
            assert "refused" in err["message"]

    run(main)


def test_the_allow_list_admits_a_schools_internal_receiver(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path, {"delivery": {"webhook_secret": SECRET,
                                                   "allow_networks": ["10.20.0.0/16"]}}) as s:
            assert (await save(s, "http://10.20.1.2:9000/hook")).status == 201
            assert (await save(s, "http://10.21.1.2:9000/hook")).status == 422

    run(main)


class Answers(AbstractResolver):
    """A DNS server whose answer is set by the test (rebinding: public first, loopback later)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.asked.append(host)
        return [{"hostname": host, "host": self.address, "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        return None


def test_dns_rebinding_between_check_and_call_is_refused_at_connect(tmp_path: Path) -> None:
    """The name passes every check as a public address; aiohttp is then told 127.0.0.1 and must not connect."""

    async def main() -> None:
        async with receiver(fail_first=0) as (hook, calls), service(tmp_path, hook_sections(allow_networks=[])) as s:
            deliveries = s.client.server.app[deliveries_key]

            async def public(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
                return [ipaddress.ip_address(PUBLIC)]

            deliveries.resolve = public
            deliveries.connect_resolver = dns = Answers("127.0.0.1")
            await class_session_with_report(s, webhook_url=f"http://hooks.example:{hook.port}/hook")
            d = await settled(s, "webhook")
            assert calls == [] and dns.asked  # the connection-time answer was looked at, and refused
            assert d["state"] == "failed" and d["attempts"] == 1, d  # permanent: not retried
            assert d["last_error"] == "refused: loopback address"

    run(main)


def test_connection_failures_all_read_the_same(tmp_path: Path) -> None:
    """`last_error` must not tell a closed port from an open or filtered one (no port-scan oracle)."""

    async def main() -> None:
        async with service(tmp_path, hook_sections(attempts=1)) as s:
            await class_session_with_report(s, webhook_url=f"http://127.0.0.1:{free_port()}/hook")
            d = await settled(s, "webhook")
            assert d["state"] == "failed" and d["last_error"] == UNREACHABLE

    run(main)


@pytest.mark.parametrize(("status", "attempts"), [(404, 1), (410, 1), (401, 1), (429, 3), (408, 3), (503, 3)])
def test_permanent_http_errors_are_not_retried(tmp_path: Path, status: int, attempts: int) -> None:
    async def main() -> None:
        async with receiver(fail_first=-1, status=status) as (hook, calls), \
                service(tmp_path, hook_sections(attempts=3)) as s:
            await class_session_with_report(s, webhook_url=str(hook.make_url("/hook")))
            d = await settled(s, "webhook")
            assert d["state"] == "failed" and d["attempts"] == attempts and len(calls) == attempts
            assert d["last_error"] == f"webhook answered HTTP {status}"

    run(main)


def test_a_missing_pdf_fails_the_email_at_once(tmp_path: Path) -> None:
    async def main() -> None:
        sections = {"delivery": {"smtp_host": "127.0.0.1", "smtp_port": free_port(), "backoff_s": 0.05,
                                 "attempts": 4}}
        async with service(tmp_path, sections) as s:
            s.render.skip_pdf = True
            await class_session_with_report(s, email="rivera@school.example")
            d = await settled(s, "email")
            assert d["state"] == "failed" and d["attempts"] == 1 and d["last_error"] == "class.pdf is missing"

    run(main)
