"""Zoom's RTMS webhooks start and end ordinary service sessions (`zoom:?…` meeting URLs).

``meeting.rtms_started`` starts a session through the one `SessionRunner`, owned by
`zoom.owner` (so it is listed, delivered and retained like any other); its id is derived
from the RTMS stream id, so a webhook Zoom retries is the same session, not a second bot.
``meeting.rtms_stopped`` asks that session to leave. (Mapping a Zoom meeting to a class
and its teacher needs the meeting's stable id from Zoom's payload; until then every Zoom
session belongs to `zoom.owner`.)
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from urllib.parse import urlencode

from aiohttp import web

from bot.config import Config
from bot.connectors.zoom_protocol import StreamRef, failure_for_stop, is_revoked
from bot.connectors.zoom_webhook import webhook_handler
from bot.service.state import db_key, manager_key
from bot.sessions.lifecycle import LeaveReason
from bot.sessions.runner import SessionConflict, SessionSpec

log = logging.getLogger(__name__)


def stream_url(ref: StreamRef) -> str:
    """The ``zoom:?…`` meeting URL of one RTMS stream (what `classpulse join` also accepts)."""
    return "zoom:?" + urlencode({"meeting_uuid": ref.meeting_uuid, "rtms_stream_id": ref.rtms_stream_id,
                                 "server_urls": ref.server_urls})


def session_id_for(rtms_stream_id: str) -> str:
    return "zoom-" + hashlib.sha256(rtms_stream_id.encode()).hexdigest()[:16]


def add_zoom_webhook(app: web.Application, config: Config) -> None:
    tasks: set[asyncio.Task[None]] = set()

    async def start(ref: StreamRef) -> None:
        spec = SessionSpec(meeting_url=stream_url(ref), owner=config.zoom.owner, class_name="Zoom class",
                           origin="zoom", session_id=session_id_for(ref.rtms_stream_id))
        try:
            sid = await app[manager_key].start(spec)
        except SessionConflict:
            log.info("RTMS stream %s already has a session (webhook retry): ignored", ref.rtms_stream_id)
            return
        except ValueError as exc:
            log.error("RTMS stream %s cannot be analysed: %s", ref.rtms_stream_id, exc)
            return
        log.info("RTMS stream %s of meeting %s: session %s", ref.rtms_stream_id, ref.meeting_uuid, sid)

    def started(ref: StreamRef) -> None:
        task = asyncio.ensure_future(start(ref))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def stopped(meeting_uuid: str, rtms_stream_id: str, stop_reason: int) -> None:
        sid = session_id_for(rtms_stream_id)
        runner = app[manager_key]
        if is_revoked(stop_reason):  # "assets must be deleted immediately"
            if runner.discard(sid, f"Zoom revoked RTMS stream {rtms_stream_id} (stop reason {stop_reason})"):
                return
            task = asyncio.ensure_future(_erase_ended(sid))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            return
        if runner.leave(sid, LeaveReason.MEETING_ENDED):
            log.info("RTMS stream %s stopped: %s", rtms_stream_id, failure_for_stop(stop_reason)[1])

    async def _erase_ended(sid: str) -> None:
        """A revoke for a class that already ended: its stored data and reports go too."""
        loop = asyncio.get_running_loop()
        record = await loop.run_in_executor(None, app[db_key].session, sid)
        if record is None:
            return
        log.warning("RTMS stream of session %s revoked after the class: deleting its data", sid)
        await loop.run_in_executor(None, app[manager_key].erase, sid)

    handler = webhook_handler(config.zoom.webhook_secret.get_secret_value(), started, stopped)
    app.router.add_post(config.zoom.webhook_path, handler)
