"""Classes: create, list, read, map to a Zoom meeting, delete (with all data of their sessions),
class-wide opt-out. A class says how its students are told ClassPulse is on and, for Zoom
(no bot tile, no chat), the notice the teacher shares (`bot.connectors.informing`)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import asdict

from aiohttp import web

from bot.config import Config
from bot.connectors import informing
from bot.db.records import ClassRecord
from bot.service.api_common import own_class, page_response, principal_of, run_db
from bot.service.api_sessions import erase_session, rerender_reports
from bot.service.auth import now_iso
from bot.service.errors import ApiError, not_found, query, read_json
from bot.service.schemas import (
    ClassIn,
    ClassOut,
    ClassPatchIn,
    DeletedOut,
    Page,
    StudentOptOutIn,
    StudentOptOutOut,
)
from bot.service.state import db_key, deliveries_key, manager_key, store_key
from bot.service.urlguard import RefusedAddress
from bot.web.app import config_key

log = logging.getLogger(__name__)


def class_out(request: web.Request, record: ClassRecord) -> dict[str, object]:
    config: Config = request.app[config_key]
    return ClassOut(**asdict(record),
                    students_informed_by=informing.informed_by(record.meeting_url, record.zoom_meeting_id),
                    notice_to_share=informing.notice_to_share(config.bot.notice, record.meeting_url,
                                                              record.zoom_meeting_id)).model_dump()


async def list_classes(request: web.Request) -> web.Response:
    page = query(request, Page)
    rows, total = await run_db(request, lambda: request.app[db_key].classes(
        owner=principal_of(request).owner_filter(), limit=page.limit, offset=page.offset))
    return page_response([class_out(request, r) for r in rows], total, page)


async def _zoom_meeting_free(request: web.Request, number: str, class_id: str = "") -> None:
    """One class per Zoom meeting: a webhook must name exactly one class (and one owner)."""
    if not number:
        return
    other = await run_db(request, lambda: request.app[db_key].class_for_zoom_meeting(number))
    if other is not None and other.class_id != class_id:
        raise ApiError(409, f"Zoom meeting {number} already belongs to another class",
                       [{"field": "zoom_meeting_id", "message": "already mapped to another class"}])


async def create_class(request: web.Request) -> web.Response:
    body = await read_json(request, ClassIn)
    who = principal_of(request)
    if body.owner is not None and body.owner != who.name and not who.is_admin:
        raise ApiError(403, "only an admin can create a class for another teacher",
                       [{"field": "owner", "message": "not allowed for a teacher token"}])
    if body.webhook_url:
        await _check_webhook(request, body.webhook_url)
    if body.meeting_url:
        try:
            request.app[manager_key].meetings.validate(body.meeting_url)
        except ValueError as exc:
            raise ApiError(422, str(exc), [{"field": "meeting_url", "message": str(exc)}]) from None
    await _zoom_meeting_free(request, body.zoom_meeting_id)
    record = ClassRecord(class_id=f"cls-{secrets.token_hex(6)}", name=body.name, owner=body.owner or who.name,
                         meeting_url=body.meeting_url, email=body.email, webhook_url=body.webhook_url,
                         created_at=now_iso(), zoom_meeting_id=body.zoom_meeting_id,
                         expected_students=body.expected_students)
    await run_db(request, lambda: request.app[db_key].add_class(record))
    return web.json_response(class_out(request, record), status=201)


async def patch_class(request: web.Request) -> web.Response:
    """Change a class's Zoom meeting (\"\" unmaps it) and/or its late / absent thresholds."""
    cls = await own_class(request, request.match_info["class_id"])
    body = await read_json(request, ClassPatchIn)
    if body.zoom_meeting_id is not None:
        await _zoom_meeting_free(request, body.zoom_meeting_id, cls.class_id)
    late = cls.late_after_min if body.late_after_min is None else body.late_after_min
    absent = cls.absent_after_min if body.absent_after_min is None else body.absent_after_min
    if late > absent:
        message = f"late_after_min ({late:g}) must not exceed absent_after_min ({absent:g})"
        raise ApiError(422, message, [{"field": "late_after_min", "message": message}])
    db = request.app[db_key]
    await run_db(request, lambda: db.update_class(cls.class_id, zoom_meeting_id=body.zoom_meeting_id,
                                                  late_after_min=late, absent_after_min=absent))
    fresh = await run_db(request, lambda: db.get_class(cls.class_id))
    if fresh is None:
        raise ApiError(404, f"class {cls.class_id} was deleted meanwhile")
    return web.json_response(class_out(request, fresh))


async def _check_webhook(request: web.Request, url: str) -> None:
    config: Config = request.app[config_key]
    deliveries = request.app[deliveries_key]
    if not config.delivery.webhook_secret.get_secret_value():
        raise ApiError(422, "webhooks need delivery.webhook_secret in the service configuration",
                       [{"field": "webhook_url", "message": "no signing secret configured"}])
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    if sock:
        deliveries.own.add((str(sock[0]), int(sock[1])))
    try:
        target = await deliveries.guard.check_url(url)
    except RefusedAddress as exc:
        raise ApiError(422, f"webhook_url: {exc} (only public addresses, or delivery.allow_networks)",
                       [{"field": "webhook_url", "message": str(exc)}]) from None
    if not target.addresses:
        log.warning("webhook_url host %s does not resolve now: kept, checked again before each call", target.host)


async def get_class(request: web.Request) -> web.Response:
    record = await own_class(request, request.match_info["class_id"])
    return web.json_response(class_out(request, record))


async def refuse_while_open(request: web.Request, class_id: str) -> None:
    """409 while the class has an open session on any node (the database knows; this process may not)."""
    if await run_db(request, lambda: request.app[db_key].open_session_of_class(class_id)) is not None:
        raise ApiError(409, "the class has a running session: end it first")


async def delete_class(request: web.Request) -> web.Response:
    """Deletes the class and everything measured in its sessions (the right to erasure)."""
    cls = await own_class(request, request.match_info["class_id"])
    await refuse_while_open(request, cls.class_id)
    db = request.app[db_key]
    sessions, _ = await run_db(request, lambda: db.sessions(class_id=cls.class_id))
    obs = files_n = 0
    for s in sessions:
        o, f = await erase_session(request, s.session_id)
        obs += o
        files_n += f
    # term summaries kept past the raw data (their sessions may be gone from the service already)
    await run_db(request, lambda: request.app[store_key].delete_summaries(class_key=cls.class_id))
    await run_db(request, lambda: db.delete_class(cls.class_id))
    return web.json_response(DeletedOut(deleted=cls.class_id, observations_deleted=obs,
                                        report_files_deleted=files_n).model_dump())


async def opt_out_student(request: web.Request) -> web.Response:
    """Deletes one student's data in every session of a class (matched by name, case-insensitive)."""
    cls = await own_class(request, request.match_info["class_id"])
    body = await read_json(request, StudentOptOutIn)
    await refuse_while_open(request, cls.class_id)
    store = request.app[store_key]
    wanted = body.display_name.casefold()

    def erase() -> tuple[list[str], int, int]:
        sessions, _ = request.app[db_key].sessions(class_id=cls.class_id)
        touched, deleted = [], 0
        for s in sessions:
            for p in store.participants(s.session_id):
                if p.display_name.casefold() == wanted:
                    deleted += store.opt_out(s.session_id, p.participant_id)
                    touched.append(s.session_id)
        # the term summaries, also of sessions whose raw data retention already deleted
        kept = store.delete_summaries(class_key=cls.class_id, display_name=body.display_name)
        return sorted(set(touched)), deleted, kept

    touched, deleted, kept = await run_db(request, erase)
    if not touched and not kept:
        raise not_found("student")
    for sid in touched:
        await rerender_reports(request, sid)
    return web.json_response(StudentOptOutOut(display_name=body.display_name, sessions=touched,
                                              observations_deleted=deleted).model_dump())

