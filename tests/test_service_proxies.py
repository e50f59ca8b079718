"""Behind a TLS reverse proxy: X-Forwarded-* believed from `service.trusted_proxies` only.

The log-in cookie is `Secure` when the request came over https (directly or through a
trusted proxy); forwarded headers from any other peer are ignored, for the cookie and for
the client address that logs and rate limits use.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, load_config
from bot.web.proxies import Client, forwarded, parse_proxies
from tests.service_fixtures import Service, run, service
from tests.test_service_login import field

pytestmark = pytest.mark.component

PROXY = parse_proxies(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize("peer,xff,proto,expected", [
    # not from a trusted proxy: headers ignored whatever they say
    ("203.0.113.9", "198.51.100.1", "https", Client("203.0.113.9", "http")),
    ("127.0.0.1", "198.51.100.1", "https", Client("127.0.0.1", "http")),
    # one trusted proxy: the address it received from, the scheme it saw
    ("10.0.0.2", "198.51.100.1", "https", Client("198.51.100.1", "https", True)),
    ("10.0.0.2", "198.51.100.1", "http", Client("198.51.100.1", "http", True)),
    ("::ffff:10.0.0.2", "198.51.100.1", "https", Client("198.51.100.1", "https", True)),
    # a client that forges its own X-Forwarded-For: the proxy appended the real address on the right
    ("10.0.0.2", "1.2.3.4, 198.51.100.1", "https", Client("198.51.100.1", "https", True)),
    # two trusted proxies in a chain: walk past both
    ("10.0.0.2", "198.51.100.1, 10.0.0.3", "https, http", Client("198.51.100.1", "https", True)),
    ("fd00::2", "[2001:db8::7]:5555", "https", Client("2001:db8::7", "https", True)),
    # a trusted proxy that sent no X-Forwarded-For: the proxy is the client, its scheme still counts
    ("10.0.0.2", None, "https", Client("10.0.0.2", "https", True)),
    # garbage in the chain: stop at the last address a trusted proxy vouched for
    ("10.0.0.2", "evil, <script>", "javascript", Client("10.0.0.2", "http", True)),
])
def test_forwarded_headers_count_only_from_trusted_peers(peer: str, xff: str | None, proto: str,
                                                         expected: Client) -> None:
    assert forwarded(peer, "http", xff, proto, PROXY) == expected


def test_nothing_is_trusted_by_default_and_bad_networks_are_refused() -> None:
    assert forwarded("10.0.0.2", "http", "198.51.100.1", "https", ()) == Client("10.0.0.2", "http")
    assert load_config(env={}).service.trusted_proxies == ()
    assert parse_proxies([" 192.168.1.7 "]) == (ipaddress.ip_network("192.168.1.7/32"),)
    with pytest.raises(ConfigError, match="trusted_proxies"):
        load_config(env={}, overrides=["service.trusted_proxies=[nginx]"])


async def login(s: Service, origin: str, headers: dict[str, str]) -> Any:
    page = await s.client.get("/dashboard/login", headers=headers)
    value = field(await page.text(), "login_csrf")
    s.client.session.cookie_jar.clear()  # a Secure cookie is not sent back over http: send it by hand
    return await s.client.post("/dashboard/login", data={"token": s.tokens["alice"], "login_csrf": value},
                               headers={**headers, "Origin": origin, "Cookie": f"classpulse_login={value}"},
                               allow_redirects=False)


def set_cookie(res: Any, name: str) -> str:
    return next(v for v in res.headers.getall("Set-Cookie") if v.startswith(name + "="))


def test_the_log_in_cookie_is_secure_behind_a_trusted_tls_proxy(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path, {"service": {"trusted_proxies": ["127.0.0.0/8"]}}) as s:
            host = s.client.make_url("/").host
            port = s.client.make_url("/").port
            https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7", "Host": f"{host}:{port}"}
            res = await login(s, f"https://{host}:{port}", https)
            assert res.status == 303, await res.text()
            assert "Secure" in set_cookie(res, "classpulse_session")
            # the proxy's own http requests (health checks) still get a plain cookie
            res = await login(s, f"http://{host}:{port}", {})
            assert res.status == 303 and "Secure" not in set_cookie(res, "classpulse_session")

    run(main)


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path, {"service": {"trusted_proxies": ["10.0.0.0/8"]}}) as s:
            own = str(s.client.make_url("/")).rstrip("/")
            forged = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
            res = await login(s, own, forged)
            assert res.status == 303 and "Secure" not in set_cookie(res, "classpulse_session")
            # and an https Origin does not match this plain-http service: login CSRF check holds
            res = await login(s, own.replace("http://", "https://"), forged)
            assert res.status == 403

    run(main)
