"""REST API v1: one route table drives registration, access checks, the OpenAPI document and tests.

Access rules: every route except the OpenAPI document needs a bearer token. `Route.role`
is the least role allowed (admin-only routes answer 403 to teachers). Ownership is
checked per object: a teacher asking for another teacher's class, session or report gets
404, the same answer as for an id that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from bot.service.api_classes import (
    create_class,
    delete_class,
    get_class,
    list_classes,
    opt_out_student,
    patch_class,
)
from bot.service.api_common import COOKIE, PREFIX, cookie_principal, page_response, run_db
from bot.service.api_courses import course_report
from bot.service.api_reports import (
    access_log,
    download,
    get_delivery,
    get_report,
    list_deliveries,
    list_reports,
    retry_delivery,
)
from bot.service.api_rosters import (
    ErasureOut,
    MatchDecisionIn,
    MatchOut,
    RosterOptOutIn,
    RosterOut,
    RosterStudentOut,
    delete_roster_student,
    get_roster,
    list_matches,
    post_match,
    put_roster,
    roster_opt_out,
)
from bot.service.api_schedules import create_schedule, delete_schedule, get_schedule, list_schedules
from bot.service.api_sessions import (
    create_session,
    delete_session_data,
    get_session,
    leave_session,
    list_participants,
    list_sessions,
    opt_out,
)
from bot.service.api_timetables import (
    delete_feed,
    get_feed,
    import_timetable,
    list_feeds,
    refresh_feed,
    subscribe_feed,
)
from bot.service.auth import Principal, Role, authenticate, list_tokens
from bot.service.errors import error_response, query
from bot.service.schemas import (
    AccessOut,
    ClassIn,
    ClassOut,
    ClassPatchIn,
    DeletedOut,
    DeliveryOut,
    FeedIn,
    FeedOut,
    OptOutOut,
    Page,
    ParticipantOut,
    ReportOut,
    ScheduleIn,
    ScheduleOut,
    SessionIn,
    SessionOut,
    StudentOptOutIn,
    StudentOptOutOut,
)
from bot.service.state import db_key, principal_key, via_key

__all__ = ["COOKIE", "PREFIX", "ROUTES", "Route", "add_routes"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # below PREFIX
    handler: Handler
    summary: str
    role: Role | None = Role.TEACHER  # None: public
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    paged: bool = False
    content: str = "application/json"
    upload: str = ""  # a non-JSON request body's media type (e.g. text/calendar)


# -- admin ------------------------------------------------------------------------------------
async def tokens(request: web.Request) -> web.Response:
    page = query(request, Page)
    rows = await run_db(request, lambda: list_tokens(request.app[db_key]))
    return page_response(rows[page.offset:page.offset + page.limit], len(rows), page)


async def openapi(request: web.Request) -> web.Response:
    from bot.service.openapi import document

    return web.json_response(document(ROUTES, PREFIX))


ROUTES: list[Route] = [
    Route("GET", "/openapi.json", openapi, "this document", role=None),
    Route("GET", "/classes", list_classes, "list classes (teachers: their own)", paged=True, response=ClassOut),
    Route("POST", "/classes", create_class, "create a class", body=ClassIn, response=ClassOut, status=201),
    Route("GET", "/classes/{class_id}", get_class, "one class", response=ClassOut),
    Route("PATCH", "/classes/{class_id}", patch_class, "map the class to its Zoom meeting (zoom_meeting_id)",
          body=ClassPatchIn, response=ClassOut),
    Route("DELETE", "/classes/{class_id}", delete_class, "delete a class and all data of its sessions",
          response=DeletedOut),
    Route("POST", "/classes/{class_id}/opt-out", opt_out_student,
          "opt a student out of every session of a class (by name): delete their data", body=StudentOptOutIn,
          response=StudentOptOutOut),
    Route("GET", "/classes/{class_id}/course-report", course_report,
          "the class's course report across the term: ?format=pdf (default), html or csv (attendance); "
          "owner or admin", content="application/pdf"),
    Route("PUT", "/classes/{class_id}/roster", put_roster, "upload the class roster (text/csv: name,aliases,email,"
          "student_id; aliases separated by ';'); replaces the roster, students keep their roster_student_id",
          response=RosterOut, upload="text/csv"),
    Route("GET", "/classes/{class_id}/roster", get_roster, "the class roster (JSON; ?format=csv for the CSV, "
          "cells escaped against spreadsheet formulas)", response=RosterOut),
    Route("POST", "/classes/{class_id}/roster/{roster_student_id}/opt-out", roster_opt_out,
          "opt a roster student out (their data in every session of the class is deleted) or back in",
          body=RosterOptOutIn, response=RosterStudentOut),
    Route("DELETE", "/classes/{class_id}/roster/{roster_student_id}", delete_roster_student,
          "delete this student everywhere: roster rows, matches, their data in every session of the owner's "
          "classes; reports rendered again or removed (?possible=delete|keep: names only proposed as them)",
          response=ErasureOut),
    Route("GET", "/classes/{class_id}/matches", list_matches, "how session participants matched the roster "
          "(?pending=true: fuzzy or ambiguous proposals awaiting the teacher)"),
    Route("POST", "/classes/{class_id}/matches/{session_id}/{participant_id}", post_match,
          "confirm a proposed match (or name another roster student), or reject it with roster_student_id \"\"",
          body=MatchDecisionIn, response=MatchOut),
    Route("GET", "/sessions", list_sessions, "list sessions", paged=True, response=SessionOut),
    Route("POST", "/sessions", create_session, "invite the bot now (meeting_url or class_id)", body=SessionIn,
          response=SessionOut, status=201),
    Route("GET", "/sessions/{session_id}", get_session, "state and live numbers", response=SessionOut),
    Route("POST", "/sessions/{session_id}/leave", leave_session, "end the session (bot leaves, reports render)",
          response=SessionOut, status=202),
    Route("DELETE", "/sessions/{session_id}", leave_session, "end the session (same as POST …/leave)",
          response=SessionOut, status=202),
    Route("DELETE", "/sessions/{session_id}/data", delete_session_data,
          "delete all data of an ended session (observations, participants, reports)", response=DeletedOut),
    Route("GET", "/sessions/{session_id}/participants", list_participants, "participants of a session",
          paged=True, response=ParticipantOut),
    Route("POST", "/sessions/{session_id}/participants/{participant_id}/opt-out", opt_out,
          "opt a student out: delete their data, re-render reports without them", response=OptOutOut),
    Route("GET", "/schedules", list_schedules, "list recurring schedules", paged=True, response=ScheduleOut),
    Route("POST", "/schedules", create_schedule, "schedule the bot for a class (cron, time zone, skip dates)",
          body=ScheduleIn, response=ScheduleOut, status=201),
    Route("GET", "/schedules/{schedule_id}", get_schedule, "one schedule with its next run", response=ScheduleOut),
    Route("DELETE", "/schedules/{schedule_id}", delete_schedule, "delete a schedule", response=DeletedOut),
    Route("POST", "/timetables", import_timetable, "import a school timetable (text/calendar): a class and a "
          "calendar schedule per lesson, re-import updates by UID; ?dry_run=true plans only", status=201,
          upload="text/calendar"),
    Route("POST", "/timetables/feeds", subscribe_feed, "subscribe to a timetable feed URL (read now, then daily; "
          "the webhook address guard applies)", body=FeedIn, response=FeedOut, status=201),
    Route("GET", "/timetables/feeds", list_feeds, "subscribed timetable feeds with their last read and error",
          paged=True, response=FeedOut),
    Route("GET", "/timetables/feeds/{feed_id}", get_feed, "one feed", response=FeedOut),
    Route("POST", "/timetables/feeds/{feed_id}/refresh", refresh_feed, "read the feed now", response=FeedOut),
    Route("DELETE", "/timetables/feeds/{feed_id}", delete_feed, "stop reading a feed (its classes stay)",
          response=DeletedOut),
    Route("GET", "/reports", list_reports, "sessions with rendered reports", paged=True, response=ReportOut),
    Route("GET", "/reports/{session_id}", get_report, "the report files of a session", response=ReportOut),
    Route("GET", "/reports/{session_id}/files/{path:.+}", download, "download an HTML or PDF report",
          content="application/pdf"),
    Route("GET", "/deliveries", list_deliveries, "report deliveries (e-mail, webhook) with their state",
          paged=True, response=DeliveryOut),
    Route("GET", "/deliveries/{delivery_id}", get_delivery, "one delivery", response=DeliveryOut),
    Route("POST", "/deliveries/{delivery_id}/retry", retry_delivery, "retry a failed delivery",
          response=DeliveryOut, status=202),
    Route("GET", "/tokens", tokens, "list API tokens (admin)", role=Role.ADMIN, paged=True),
    Route("GET", "/access-log", access_log, "who opened which report, when and how (admin; filters: who, "
          "session_id, class_id, participant_id, via, since, until)", role=Role.ADMIN, paged=True,
          response=AccessOut),
]


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return ""


async def caller(request: web.Request) -> Principal | None:
    """The bearer token's principal; for GET also the dashboard's log-in cookie (never for changes: CSRF)."""
    token = bearer(request)
    if token:
        db = request.app[db_key]
        return await run_db(request, lambda: authenticate(db, token))
    if request.method == "GET":
        found = await cookie_principal(request)
        return found[0] if found else None
    return None


def guarded(route: Route) -> Handler:
    """The route's handler behind authentication and its role check."""
    if route.role is None:
        return route.handler

    @functools.wraps(route.handler)
    async def handler(request: web.Request) -> web.StreamResponse:
        who = await caller(request)
        if who is None:
            return error_response(401, "a valid API token is required (Authorization: Bearer cp_…)",
                                  headers={"WWW-Authenticate": 'Bearer realm="classpulse"'})
        if route.role is Role.ADMIN and not who.is_admin:
            return error_response(403, "this endpoint needs an admin token")
        request[principal_key] = who
        request[via_key] = "api" if bearer(request) else "dashboard"
        return await route.handler(request)

    return handler


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, PREFIX + route.path, guarded(route))

