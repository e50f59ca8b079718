"""The webhook endpoint: signature check, URL validation, fast answers that only schedule work."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

from aiohttp import web

from bot.connectors.zoom_fake import send_webhook
from bot.connectors.zoom_meetings import class_meeting_number, meeting_number
from bot.connectors.zoom_protocol import StreamRef
from bot.connectors.zoom_webhook import Started, webhook_handler

SECRET = "hook-secret"


def serve_and(requests: list[tuple[str, dict[str, Any], dict[str, str]]]) -> tuple[
        list[tuple[int, object]], list[Started], list[tuple[str, str, int]]]:
    started: list[Started] = []
    stopped: list[tuple[str, str, int]] = []

    async def main() -> list[tuple[int, object]]:
        app = web.Application()
        app.router.add_post("/hook", webhook_handler(SECRET, started.append,
                                                     lambda m, s, r: stopped.append((m, s, r))))
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        try:
            return [await send_webhook(url, SECRET, event, payload, **extra)
                    for event, payload, extra in requests]
        finally:
            await runner.cleanup()

    return asyncio.run(main()), started, stopped


def test_url_validation_is_answered_with_the_encrypted_token() -> None:
    (answer,), _, _ = serve_and([("endpoint.url_validation", {"plainToken": "abc123"}, {})])
    assert answer == (200, {"plainToken": "abc123",
                            "encryptedToken": hmac.new(SECRET.encode(), b"abc123", hashlib.sha256).hexdigest()})


def test_bad_signatures_are_refused_and_never_acted_on() -> None:
    payload = {"meeting_uuid": "m", "rtms_stream_id": "s", "server_urls": "wss://x"}
    answers, started, _ = serve_and([
        ("meeting.rtms_started", payload, {"signature": "v0=" + "0" * 64}),
        ("meeting.rtms_started", payload, {"timestamp": "1000000000"}),  # signed, but a 2001 replay
        ("endpoint.url_validation", {"plainToken": "abc"}, {"signature": "v0=bad"}),
    ])
    assert [a[0] for a in answers] == [401, 401, 401]
    assert started == []


def test_started_and_stopped_are_handed_on() -> None:
    payload = {"meeting_uuid": "m==", "rtms_stream_id": "s1", "server_urls": "wss://rtms.example/sig"}
    answers, started, stopped = serve_and([
        ("meeting.rtms_started", payload, {}),
        ("meeting.rtms_stopped", {"meeting_uuid": "m==", "rtms_stream_id": "s1", "stop_reason": 6}, {}),
        ("meeting.participant_joined", {}, {}),
    ])
    assert [a[0] for a in answers] == [200, 200, 200]
    assert started == [Started(StreamRef("m==", "s1", "wss://rtms.example/sig"))]
    assert stopped == [("m==", "s1", 6)]


def test_rtms_fields_inside_payload_object_are_read_too() -> None:
    """Zoom's other meeting webhooks nest their fields in `payload.object`; accept that layout."""
    obj = {"meeting_uuid": "m==", "rtms_stream_id": "s1", "server_urls": "wss://rtms.example/sig"}
    answers, started, stopped = serve_and([
        ("meeting.rtms_started", {"account_id": "a", "object": obj}, {}),
        ("meeting.rtms_stopped", {"object": {**obj, "stop_reason": "8"}}, {}),
    ])
    assert [a[0] for a in answers] == [200, 200]
    assert started == [Started(StreamRef("m==", "s1", "wss://rtms.example/sig"))]
    assert stopped == [("m==", "s1", 8)]


def test_the_meeting_number_and_operator_are_read_as_number_or_text() -> None:
    """``meeting_id`` (changelog "RTMS April release") names the class; ``operator_id`` (rtms-samples) is logged."""
    base = {"meeting_uuid": "m==", "rtms_stream_id": "s1", "server_urls": "wss://rtms.example/sig"}
    _, started, _ = serve_and([
        ("meeting.rtms_started", {**base, "meeting_id": 81234567890, "operator_id": "u-1"}, {}),
        ("meeting.rtms_started", {"account_id": "a", "object": {**base, "meeting_id": "812 3456 7890"}}, {}),
        ("meeting.rtms_started", {**base, "meeting_id": "not-a-number"}, {}),
    ])
    assert [(s.meeting_id, s.operator_id) for s in started] == [("81234567890", "u-1"), ("81234567890", ""),
                                                                ("", "")]


def test_a_class_names_its_meeting_by_number_or_join_link() -> None:
    assert class_meeting_number("812 3456 7890") == "81234567890"
    assert class_meeting_number("https://school.zoom.us/j/81234567890?pwd=abc") == "81234567890"
    assert class_meeting_number("") == ""
    assert meeting_number(True) == meeting_number(None) == meeting_number(12) == ""
    for bad in ("https://evil.example/j/81234567890", "https://zoom.us/my/teacher", "81-2a", "12345"):
        try:
            class_meeting_number(bad)
        except ValueError as exc:
            assert "Zoom" in str(exc)
        else:
            raise AssertionError(f"{bad!r} accepted")
