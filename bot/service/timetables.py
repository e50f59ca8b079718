"""A school's timetable into the service store: one class per calendar UID, one calendar schedule each.

`plan_for` reads an iCalendar file and plans it against what the owner imported before
(`bot.timetable.plan`: create, update or unchanged by UID, next runs, skipped events with the
reason). `apply` carries a plan out: new lessons become classes with a schedule that follows
the lesson's own calendar rule; changed ones are updated in place (their schedule is replaced,
keeping the meetings that already ran, so a moved lesson never runs twice); unchanged ones are
left alone. Lessons without a joinable link become classes without a schedule (a class
without a meeting URL cannot start) and the plan says so. The CLI and the API both call this;
the running service picks rows written by another process up with `ScheduleRunner.sync`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from bot.db.records import ClassRecord
from bot.db.store import ServiceStore
from bot.service.auth import now_iso
from bot.service.schedules import calendar_row
from bot.timetable.command import CommandResult, import_timetable
from bot.timetable.plan import Existing, ImportPlan


@dataclass
class Applied:
    created: list[str] = field(default_factory=list)  # class ids
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)  # schedule ids made
    without_link: list[str] = field(default_factory=list)  # class ids that cannot start yet

    def as_json(self) -> dict[str, list[str]]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "schedules": self.schedules, "without_link": self.without_link}

    def text(self) -> str:
        lines = [f"applied: {len(self.created)} class(es) created, {len(self.updated)} updated, "
                 f"{len(self.unchanged)} unchanged, {len(self.schedules)} schedule(s) written"]
        if self.without_link:
            lines.append(f"{len(self.without_link)} class(es) have no meeting link and will not start until "
                         "one is set: " + ", ".join(self.without_link))
        return "\n".join(lines) + "\n"


def existing(db: ServiceStore, owner: str) -> dict[str, Existing]:
    return {c.timetable_uid: Existing(c.timetable_uid, c.timetable_fingerprint, c.class_id)
            for c in db.timetable_classes(owner)}


def plan_for(db: ServiceStore, data: bytes, *, source: str, owner: str, now: datetime, start: str | None = None,
             as_json: bool = False, default_tz: str | None = None, classroom_base: str = "") -> CommandResult:
    return import_timetable(data, source=source, now=now, owner=owner, start=start, as_json=as_json,
                            default_tz=default_tz, existing=existing(db, owner), classroom_base=classroom_base)


def apply(db: ServiceStore, plan: ImportPlan, owner: str) -> Applied:
    """Carry out `plan` for `owner` in the store (synchronous: run it off the event loop). Only rows
    are written: the scheduler gives them jobs when it syncs (`ScheduleRunner.sync`)."""
    out = Applied()
    for planned in plan.schedules:
        lesson = planned.lesson
        if planned.action == "unchanged":
            out.unchanged.append(planned.class_id)
            continue
        done = ""
        if planned.action == "create":
            cls = ClassRecord(class_id=f"cls-{secrets.token_hex(6)}", name=lesson.class_name, owner=owner,
                              created_at=now_iso(), meeting_url=lesson.meeting_url, timetable_uid=lesson.uid,
                              timetable_fingerprint=planned.fingerprint)
            db.add_class(cls)
            class_id = cls.class_id
            out.created.append(class_id)
        else:
            class_id = planned.class_id
            db.update_class(class_id, name=lesson.class_name, meeting_url=lesson.meeting_url,
                            timetable_fingerprint=planned.fingerprint)
            old = [s for s in db.schedules(class_id=class_id)[0] if s.calendar]
            done = ",".join(sorted({k for s in old for k in s.done_keys.split(",") if k}))
            for s in old:
                db.delete_schedule(s.schedule_id)
            out.updated.append(class_id)
        if not lesson.meeting_url:
            out.without_link.append(class_id)
            continue
        row = calendar_row(owner=owner, class_id=class_id, lesson=lesson, done_keys=done)
        db.add_schedule(row)
        out.schedules.append(row.schedule_id)
    return out
