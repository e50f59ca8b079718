"""Zoom's RTMS webhooks start and end ordinary service sessions (`zoom:?…` meeting URLs).

With auto-start RTMS every meeting of the Zoom account streams, so ``meeting.rtms_started``
is analysed only for a meeting mapped to a registered class: the webhook's meeting number
(``meeting_id``) → the class with that `zoom_meeting_id` → its owner. Any other meeting is
logged and ignored — unless `zoom.owner` is set, the explicit fallback for an account whose
every meeting is a class (docs/zoom.md). (`classpulse join 'zoom:…'` does not come here:
the operator chose that stream.)

The session runs through the one `SessionRunner` (listed, delivered, retained like any
other); its id is derived from the RTMS stream id, so a webhook Zoom retries is the same
session, not a second bot. A new ``meeting.rtms_started`` for a running stream with other
``server_urls`` is Zoom's failover to another server: the running session reconnects
there (`ZoomConnector.fail_over`). ``meeting.rtms_stopped`` asks the session to leave, or
deletes its data when the app was revoked.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.config import Config
from bot.connectors.zoom_protocol import StreamRef, failure_for_stop, is_revoked
from bot.connectors.zoom_webhook import Started, webhook_handler
from bot.db.records import ClassRecord
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
    tasks: set[asyncio.Future[Any]] = set()

    async def whose(event: Started) -> ClassRecord | str | None:
        """The class the meeting belongs to, `zoom.owner` (the fallback), or None: not analysed."""
        loop = asyncio.get_running_loop()
        cls = await loop.run_in_executor(None, app[db_key].class_for_zoom_meeting, event.meeting_id)
        if cls is not None:
            return cls
        if config.zoom.owner:
            return config.zoom.owner
        log.info("RTMS stream %s of Zoom meeting %s (started by %s) is not mapped to a class: ignored",
                 event.ref.rtms_stream_id, event.meeting_id or "(no meeting_id in the webhook)",
                 event.operator_id or "?")
        return None

    async def start(event: Started) -> None:
        ref = event.ref
        sid = session_id_for(ref.rtms_stream_id)
        if fail_over(sid, ref):
            return
        owner = await whose(event)
        if owner is None:
            return
        if isinstance(owner, ClassRecord):
            spec = SessionSpec(meeting_url=stream_url(ref), owner=owner.owner, class_name=owner.name,
                               class_id=owner.class_id, origin="zoom", session_id=sid)
        else:
            spec = SessionSpec(meeting_url=stream_url(ref), owner=owner, class_name="Zoom class", origin="zoom",
                               session_id=sid)
        try:
            await app[manager_key].start(spec)
        except SessionConflict as exc:
            log.info("RTMS stream %s not started: %s", ref.rtms_stream_id, exc)
            return
        except ValueError as exc:
            log.error("RTMS stream %s cannot be analysed: %s", ref.rtms_stream_id, exc)
            return
        log.info("RTMS stream %s of meeting %s: session %s (class %s)", ref.rtms_stream_id, ref.meeting_uuid, sid,
                 spec.class_id or "-")

    def fail_over(sid: str, ref: StreamRef) -> bool:
        """True when the stream already has a running session here: a retry, or Zoom's failover."""
        running = app[manager_key].running.get(sid)
        if running is None:
            return False
        connector = getattr(running.live, "connector", None)
        if connector is None or not getattr(connector, "fail_over", None) or not connector.fail_over(ref.server_urls):
            log.info("RTMS stream %s already has a session (webhook retry): ignored", ref.rtms_stream_id)
            return True
        log.warning("RTMS stream %s moved to another server: session %s reconnects there", ref.rtms_stream_id, sid)
        url = stream_url(ref)
        task = asyncio.ensure_future(asyncio.get_running_loop().run_in_executor(
            None, lambda: app[db_key].update_session(sid, meeting_url=url)))  # a resumed attempt goes there too
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return True

    def started(event: Started) -> None:
        task = asyncio.ensure_future(start(event))
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
