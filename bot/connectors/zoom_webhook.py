"""Zoom's webhook endpoint: verify, answer at once, hand RTMS starts and stops on.

Zoom retries a webhook that is not answered quickly, and an RTMS retry opens a second
connection that kicks out the first, so the handler only checks the signature, parses
the body and schedules the work: the 200 goes out before any socket is opened.

- Every request must carry a valid ``x-zm-signature`` for its ``x-zm-request-timestamp``
  (at most five minutes old): anything else gets 401 and is never acted on.
- ``endpoint.url_validation`` is answered with ``{plainToken, encryptedToken}``.
- ``meeting.rtms_started`` calls `on_started(Started)`: the stream (``meeting_uuid``,
  ``rtms_stream_id``, ``server_urls``) and, when Zoom sends them, the meeting number
  (``meeting_id``) and the user who started the stream (``operator_id``), which say which
  class it is. ``meeting.rtms_stopped`` calls `on_stopped(meeting_uuid, rtms_stream_id,
  stop_reason)`. Other events get 200 and are ignored.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.connectors.zoom_meetings import meeting_number
from bot.connectors.zoom_protocol import StreamRef
from bot.connectors.zoom_signing import url_validation_reply, verify_webhook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """One ``meeting.rtms_started``: the stream, and what says which meeting it is."""

    ref: StreamRef
    meeting_id: str = ""  # the meeting number (digits); "" when Zoom did not send one
    operator_id: str = ""  # the Zoom user who started the stream, when sent (logged only)


OnStarted = Callable[[Started], None]
OnStopped = Callable[[str, str, int], None]


def _fields(payload: dict[str, Any]) -> dict[str, Any]:
    """The RTMS fields: at the top of ``payload`` (Zoom's RTMS pages and rtms-samples) or
    inside ``payload.object`` (the layout of Zoom's other meeting webhooks)."""
    obj = payload.get("object")
    if isinstance(obj, dict):
        return {**obj, **payload}
    return payload


def webhook_handler(secret: str, on_started: OnStarted, on_stopped: OnStopped,
                    *, max_age_s: float = 300.0) -> Callable[[web.Request], Any]:
    """An aiohttp handler for Zoom's event notifications (POST, JSON)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if not verify_webhook(secret, request.headers.get("x-zm-request-timestamp"), body,
                              request.headers.get("x-zm-signature"), now=time.time(), max_age_s=max_age_s):
            log.warning("refused a webhook with a missing or wrong signature from %s", request.remote)
            return web.Response(status=401, text="bad signature")
        try:
            data = json.loads(body)
            event = data["event"]
            payload = _fields(data.get("payload") or {})
        except (ValueError, KeyError, TypeError, AttributeError):
            return web.Response(status=400, text="not a Zoom event")
        if event == "endpoint.url_validation":
            return web.json_response(url_validation_reply(secret, str(payload.get("plainToken", ""))))
        if event == "meeting.rtms_started":
            urls = payload.get("server_urls")
            if isinstance(urls, list):
                urls = urls[0] if urls else ""
            try:
                ref = StreamRef(str(payload["meeting_uuid"]), str(payload["rtms_stream_id"]), str(urls))
            except KeyError:
                return web.Response(status=400, text="rtms_started without meeting_uuid/rtms_stream_id")
            operator = payload.get("operator_id")
            on_started(Started(ref, meeting_number(payload.get("meeting_id")),
                               str(operator) if isinstance(operator, str | int) else ""))
            # on_started must only schedule work: the answer goes out now
        elif event == "meeting.rtms_stopped":
            try:
                stop_reason = int(payload.get("stop_reason", 0) or 0)
            except (TypeError, ValueError):
                stop_reason = 0
            on_stopped(str(payload.get("meeting_uuid", "")), str(payload.get("rtms_stream_id", "")), stop_reason)
        return web.Response(status=200)

    return handle
