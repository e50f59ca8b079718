"""Class rosters over the API: upload/download, matches to confirm, opt-out, erasure, attendance rules.

* ``PUT /classes/{id}/roster`` (text/csv ``name,aliases,email,student_id``) replaces the roster;
  students keep their stable ``roster_student_id`` across uploads (by ``student_id``).
* ``GET /classes/{id}/roster`` as JSON, or as CSV with ``?format=csv`` (cells escaped against
  spreadsheet formula injection).
* ``GET /classes/{id}/matches`` lists how each session's participants matched the roster;
  ``POST /classes/{id}/matches/{session_id}/{participant_id}`` confirms a proposal (or names
  another roster student), or rejects it with ``"roster_student_id": ""``.
* ``POST /classes/{id}/roster/{rsid}/opt-out`` opts a roster student out (or back in).
* ``DELETE /classes/{id}/roster/{rsid}`` deletes the student everywhere (`roster_erasure`).
* ``PATCH /classes/{id}`` (in `api_classes`) sets the late / absent thresholds.

Each change that alters what a report shows renders the affected sessions' reports again.
"""

from __future__ import annotations

from functools import partial

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.config import Config
from bot.db.records import ClassRecord, RosterMatchRecord, RosterStudentRecord
from bot.service import files
from bot.service.api_common import own_class, run_db
from bot.service.api_sessions import rerender_reports
from bot.service.auth import now_iso
from bot.service.errors import ApiError, not_found, read_json
from bot.service.roster_erasure import erase_student, pending_proposals
from bot.service.state import db_key, manager_key, store_key
from bot.sessions.roster_apply import report_roster
from bot.sessions.roster_match import RosterError, RosterStudent, parse_roster_csv, roster_to_csv
from bot.web.app import config_key

MAX_ROSTER_BYTES = 1 << 20  # 5,000 students with long alias lists fit in well under 1 MB
TYPES = ("text/csv", "application/csv", "text/plain", "application/octet-stream")


class RosterStudentOut(BaseModel):
    roster_student_id: str
    student_id: str
    name: str
    aliases: list[str]
    email: str
    opted_out: bool


class RosterOut(BaseModel):
    class_id: str
    students: list[RosterStudentOut]
    uploaded_at: str = ""
    added: int | None = None
    kept: int | None = None
    removed: int | None = None


class MatchOut(BaseModel):
    session_id: str
    participant_id: str
    display_name: str
    kind: str  # exact | alias | email | confirmed | fuzzy | ambiguous | unmatched
    roster_student_id: str
    roster_name: str
    candidates: list[dict[str, str]]  # [{"roster_student_id", "name"}]
    reason: str
    confirmed: bool
    needs_confirmation: bool


class MatchDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roster_student_id: str = Field(max_length=32, description='the roster student this participant is; "" = none')


class RosterOptOutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    opted_out: bool = True


class ErasureOut(BaseModel):
    deleted: str
    roster_rows_deleted: list[str]
    participants_deleted: int
    observations_deleted: int
    reports_rerendered: list[str]
    reports_removed: list[str]
    possible: list[dict[str, str]]  # names only proposed as the student, kept (with ?possible=keep)


def student_out(r: RosterStudentRecord) -> RosterStudentOut:
    return RosterStudentOut(roster_student_id=r.roster_student_id, student_id=r.student_id, name=r.name,
                            aliases=list(r.alias_list), email=r.email, opted_out=r.opted_out)


def _busy(request: web.Request, class_id: str) -> None:
    if request.app[manager_key].busy_class(class_id):
        raise ApiError(409, "the class has a running session: end it first")


async def _read_csv(request: web.Request) -> str:
    if request.content_type not in TYPES:
        raise ApiError(415, "send the roster as text/csv (header name,aliases,email,student_id)")
    data = bytearray()
    while chunk := await request.content.read(1 << 16):
        data += chunk
        if len(data) > MAX_ROSTER_BYTES:
            raise ApiError(413, f"the roster is larger than {MAX_ROSTER_BYTES >> 20} MB")
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(422, f"the roster is not UTF-8 text (byte {exc.start}); save the CSV as UTF-8",
                       [{"field": "body", "message": "not UTF-8"}]) from None


def store_roster(request: web.Request, cls: ClassRecord, text: str) -> RosterOut:
    """Parse and store a roster CSV (synchronous); `RosterError` names the line and column."""
    students = parse_roster_csv(text)
    rows, added, kept, removed = request.app[db_key].rosters.replace(cls.class_id, students, now_iso())
    return RosterOut(class_id=cls.class_id, students=[student_out(r) for r in rows],
                     uploaded_at=rows[0].uploaded_at if rows else "", added=added, kept=kept, removed=removed)


async def put_roster(request: web.Request) -> web.Response:
    cls = await own_class(request, request.match_info["class_id"])
    text = await _read_csv(request)
    try:
        out = await run_db(request, lambda: store_roster(request, cls, text))
    except RosterError as exc:
        raise ApiError(422, str(exc), [{"field": "body", "message": str(exc)}]) from None
    return web.json_response(out.model_dump())


async def get_roster(request: web.Request) -> web.Response:
    cls = await own_class(request, request.match_info["class_id"])
    rows = await run_db(request, lambda: request.app[db_key].rosters.roster(cls.class_id))
    wants_csv = request.query.get("format") == "csv" or "text/csv" in request.headers.get("Accept", "")
    if wants_csv:
        text = roster_to_csv(RosterStudent(r.student_id, r.name, r.alias_list, r.email) for r in rows)
        return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
            "Content-Disposition": f'attachment; filename="roster-{cls.class_id}.csv"',
            "X-Content-Type-Options": "nosniff"})
    out = RosterOut(class_id=cls.class_id, students=[student_out(r) for r in rows],
                    uploaded_at=rows[0].uploaded_at if rows else "")
    return web.json_response(out.model_dump())


def match_out(m: RosterMatchRecord, names: dict[str, str]) -> MatchOut:
    return MatchOut(session_id=m.session_id, participant_id=m.participant_id, display_name=m.display_name,
                    kind=m.kind, roster_student_id=m.roster_student_id, roster_name=names.get(m.roster_student_id, ""),
                    candidates=[{"roster_student_id": c, "name": names.get(c, "")} for c in m.candidate_ids],
                    reason=m.reason, confirmed=m.confirmed, needs_confirmation=not m.confirmed and bool(m.candidates))


def class_matches(request: web.Request, class_id: str, *, pending: bool = False) -> list[MatchOut]:
    db = request.app[db_key]
    names = {r.roster_student_id: r.name for r in db.rosters.roster(class_id)}
    found = [match_out(m, names) for m in db.rosters.matches(class_id=class_id)]
    return [m for m in found if m.needs_confirmation] if pending else found


async def list_matches(request: web.Request) -> web.Response:
    cls = await own_class(request, request.match_info["class_id"])
    pending = request.query.get("pending", "").lower() in ("1", "true", "yes")
    items = await run_db(request, lambda: class_matches(request, cls.class_id, pending=pending))
    return web.json_response({"items": [m.model_dump() for m in items], "total": len(items)})


async def apply_roster(request: web.Request, session_ids: list[str]) -> None:
    """Apply the roster again to ended sessions (opt-outs, decisions) and render their reports anew."""
    store, db = request.app[store_key], request.app[db_key]
    for sid in session_ids:
        if sid in request.app[manager_key].running:
            continue
        await run_db(request, partial(report_roster, store, db, sid, now_iso()))
        await rerender_reports(request, sid)


async def decide_match(request: web.Request, cls: ClassRecord, session_id: str, participant_id: str,
                       roster_student_id: str) -> MatchOut:
    """The teacher's decision on one participant (API and dashboard)."""
    db = request.app[db_key]
    roster = await run_db(request, lambda: db.rosters.roster(cls.class_id))
    names = {r.roster_student_id: r.name for r in roster}
    if roster_student_id and roster_student_id not in names:
        raise ApiError(422, "no such student on this class's roster",
                       [{"field": "roster_student_id", "message": "not on the roster"}])
    found = await run_db(request, lambda: db.rosters.match(session_id, participant_id))
    if found is None or found.class_id != cls.class_id:
        raise not_found("match")
    decided = await run_db(request, lambda: db.rosters.decide(session_id, participant_id, roster_student_id))
    assert decided is not None
    await apply_roster(request, [session_id])
    return match_out(decided, names)


async def post_match(request: web.Request) -> web.Response:
    cls = await own_class(request, request.match_info["class_id"])
    body = await read_json(request, MatchDecisionIn)
    out = await decide_match(request, cls, request.match_info["session_id"], request.match_info["participant_id"],
                             body.roster_student_id)
    return web.json_response(out.model_dump())


async def _own_student(request: web.Request, cls: ClassRecord) -> RosterStudentRecord:
    rsid = request.match_info["roster_student_id"]
    found = await run_db(request, lambda: request.app[db_key].rosters.student(rsid))
    if found is None or found.class_id != cls.class_id:
        raise not_found("roster student")
    return found


async def set_student_opt_out(request: web.Request, cls: ClassRecord, student: RosterStudentRecord,
                              opted_out: bool) -> list[str]:
    """Opt a roster student out (their data in the class's sessions is deleted) or back in (from now on)."""
    db = request.app[db_key]
    _busy(request, cls.class_id)
    await run_db(request, lambda: db.rosters.set_opted_out(student.roster_student_id, opted_out))
    sessions = await run_db(request, lambda: [s.session_id for s in db.sessions(class_id=cls.class_id)[0]])
    await apply_roster(request, sessions)
    return sessions


async def roster_opt_out(request: web.Request) -> web.Response:
    cls = await own_class(request, request.match_info["class_id"])
    student = await _own_student(request, cls)
    body = await read_json(request, RosterOptOutIn)
    await set_student_opt_out(request, cls, student, body.opted_out)
    fresh = await run_db(request, lambda: request.app[db_key].rosters.student(student.roster_student_id))
    assert fresh is not None
    return web.json_response(student_out(fresh).model_dump())


async def erase_everywhere(request: web.Request, cls: ClassRecord, student: RosterStudentRecord,
                           possible: str = "ask") -> ErasureOut:
    """Delete the student everywhere in the class owner's data (API and dashboard). `possible`:
    what to do with names only proposed as the student — "delete", "keep", or "ask" (409 if any)."""
    store, db = request.app[store_key], request.app[db_key]
    config: Config = request.app[config_key]
    manager = request.app[manager_key]
    busy = [sid for sid, r in manager.running.items() if r.owner == cls.owner and not r.done.is_set()]
    if busy:
        raise ApiError(409, f"a session of {cls.owner} is running ({busy[0]}): end it first")
    if possible == "ask":
        pending = await run_db(request, lambda: pending_proposals(db, student, cls.owner))
        if pending:
            names = ", ".join(f"“{p['display_name']}” ({p['session_id']})" for p in pending[:10])
            raise ApiError(409, f"{len(pending)} name(s) are only proposed as {student.name}, not confirmed: {names}. "
                                "Confirm or reject them first, or repeat with ?possible=delete (delete them too, "
                                "they may be someone else) or ?possible=keep")
    done = await run_db(request, lambda: erase_student(store, db, student, cls.owner,
                                                       possible_too=possible == "delete"))
    removed: list[str] = []
    for sid in done.empty_sessions:
        folder = files.session_dir(config.reports.out_dir, sid)
        if folder is not None and files.list_files(folder):
            await run_db(request, partial(files.delete_folder, folder))
            removed.append(sid)
    rerendered = []
    for sid in done.sessions:
        folder = files.session_dir(config.reports.out_dir, sid)
        if sid not in done.empty_sessions and folder is not None and files.list_files(folder):
            await rerender_reports(request, sid)
            rerendered.append(sid)
    return ErasureOut(deleted=student.roster_student_id, roster_rows_deleted=done.roster_rows,
                      participants_deleted=done.participants, observations_deleted=done.observations,
                      reports_rerendered=rerendered, reports_removed=removed, possible=done.possible)


async def delete_roster_student(request: web.Request) -> web.Response:
    cls = await own_class(request, request.match_info["class_id"])
    student = await _own_student(request, cls)
    possible = request.query.get("possible", "ask")
    if possible not in ("ask", "delete", "keep"):
        raise ApiError(422, "possible must be ask, delete or keep", [{"field": "possible", "message": "bad value"}])
    out = await erase_everywhere(request, cls, student, possible)
    return web.json_response(out.model_dump())


