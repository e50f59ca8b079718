"""Stream servers named by a webhook or a `zoom:` URL go through the address guard."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest

from analysis.store import Store
from bot.config import Config, ZoomSection, load_config
from bot.connectors.base import ConnectorError, FailureReason
from bot.connectors.zoom import ZoomConnector
from bot.connectors.zoom_fake import FakeZoom
from bot.connectors.zoom_protocol import StreamRef
from bot.connectors.zoom_servers import check_server_url, server_guard
from bot.service.urlguard import Guard, IPAddress
from bot.sessions.live import LiveSession
from bot.sim.fake_analyzer import RecordingAnalyzer

REPO = Path(__file__).resolve().parents[1]


def resolving_to(address: str) -> Guard:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(address)]

    return Guard(resolve=resolve)


@pytest.mark.parametrize(("url", "address"), [
    ("wss://rtms-sjc1.zoom.us/signaling", "170.114.10.5"),
    ("ws://rtms.example.org:8443/x", "8.8.8.8"),
])
def test_public_stream_servers_pass(url: str, address: str) -> None:
    asyncio.run(check_server_url(resolving_to(address), url, "signaling server"))


@pytest.mark.parametrize(("url", "address", "why"), [
    ("wss://rtms.evil.example/s", "10.1.2.3", "private address"),
    ("wss://rtms.evil.example/s", "169.254.169.254", "link-local"),
    ("ws://127.0.0.1:9/s", "127.0.0.1", "loopback"),
    ("wss://[::1]/s", "::1", "loopback"),
    ("wss://localhost/s", "127.0.0.1", "loopback"),
    ("wss://2130706433/s", "8.8.8.8", "loopback"),  # 127.0.0.1 spelled as a number
])
def test_private_stream_servers_are_refused(url: str, address: str, why: str) -> None:
    with pytest.raises(ConnectorError) as err:
        asyncio.run(check_server_url(resolving_to(address), url, "media server"))
    assert err.value.reason is FailureReason.MEETING_NOT_FOUND
    assert why in err.value.detail and "zoom.allow_private_server_urls" in err.value.detail


def test_only_websocket_urls_are_stream_servers() -> None:
    with pytest.raises(ConnectorError, match="not a ws"):
        asyncio.run(check_server_url(None, "https://rtms.zoom.us/", "signaling server"))


def test_the_switch_defaults_off_and_reads_the_environment() -> None:
    assert ZoomSection().allow_private_server_urls is False
    assert server_guard(ZoomSection()) is not None
    assert server_guard(ZoomSection(allow_private_server_urls=True)) is None
    config = load_config(REPO / "config.yaml", env={"CLASSPULSE_ZOOM__ALLOW_PRIVATE_SERVER_URLS": "true"})
    assert config.zoom.allow_private_server_urls is True


def test_a_loopback_stream_server_is_refused_before_any_socket_opens(tmp_path: Path) -> None:
    config = Config.model_validate({"store": {"url": f"sqlite:///{tmp_path}/cp.db"},
                                    "zoom": {"client_id": "cid", "client_secret": "secret"}})

    async def main() -> tuple[LiveSession, FakeZoom]:
        zoom = FakeZoom("cid", "secret")
        stream = await zoom.start()
        try:
            connector = ZoomConnector(StreamRef(stream.meeting_uuid, stream.rtms_stream_id, stream.server_urls),
                                      config.zoom)
            live = LiveSession(connector, config, Store(config.store.url), analyze_factory=RecordingAnalyzer,
                               render=None)
            await live.run()
        finally:
            await zoom.close()
        return live, zoom

    live, zoom = asyncio.run(main())
    assert live.lifecycle.failure is FailureReason.MEETING_NOT_FOUND
    assert "loopback" in live.lifecycle.detail and "signaling server 127.0.0.1" in live.lifecycle.detail
    assert zoom.log.signaling_connections == 0
