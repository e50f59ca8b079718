"""The frozen course input of a class, from what the stores keep (`reports.course.CourseInput`).

Sessions come from three places:

* the term summaries (`Store.session_digests`): every session that ended since summaries are
  written, recorded, interrupted or failed, for `store.summary_retention_days`;
* the service's sessions of the class that ended without a summary (older ones): a failed
  one is "not recorded", a recorded one is summarised now from its raw data if that is
  still kept;
* the runs its schedules missed (`schedule_runs`: the service was down, no capacity): "not
  recorded", never anyone's absence.

Students are joined across sessions by `bot.course.identity.course_identity` (one place to
swap in roster matches). When one student shows up twice in a session (phone and laptop),
the connection with more samples stands for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC

from analysis.course import ABSENT_AFTER_S, LATE_AFTER_S, CourseSession
from analysis.store import Store, StoreError
from analysis.summaries import SessionDigest, StudentDigest, digest_session, status_of
from bot.course.identity import Identity, course_identity, course_label
from bot.db.records import ClassRecord
from bot.db.store import ServiceStore
from reports.course import CourseInput


class CourseNotFound(LookupError):
    """No class (or no kept session) by that id or name."""


@dataclass(frozen=True)
class ClassRef:
    """A class as the course view finds it: the service's class, or a name (sessions started without one)."""

    key: str  # the service's class id; "" for sessions started by name only (CLI, demo)
    name: str
    owner: str = ""


def resolve_class(store: Store, db: ServiceStore, ref: str) -> ClassRef:
    """A class by id, else by its exact name (one class of that name, or kept sessions of that name)."""
    found = db.get_class(ref)
    if found is not None:
        return ClassRef(found.class_id, found.name, found.owner)
    named: list[ClassRecord] = [c for c in db.classes()[0] if c.name == ref]
    if len(named) == 1:
        return ClassRef(named[0].class_id, named[0].name, named[0].owner)
    if len(named) > 1:
        ids = ", ".join(c.class_id for c in named)
        raise CourseNotFound(f"{len(named)} classes are named {ref!r} ({ids}): give the class id")
    if store.session_digests(class_key="", class_name=ref):
        return ClassRef("", ref)
    known = sorted({d.class_name for d in store.session_digests()} | {c.name for c in db.classes()[0]})
    hint = f"; known: {', '.join(known[:10])}{' …' if len(known) > 10 else ''}" if known else ""
    raise CourseNotFound(f"no class or kept session named or with id {ref!r}{hint}")


def _missed(db: ServiceStore, class_id: str) -> list[CourseSession]:
    from bot.db.service_state import DbScheduleRecords

    records = DbScheduleRecords(db)
    out = []
    for schedule in db.schedules(class_id=class_id)[0]:
        for r in records.of(schedule.schedule_id):
            if r.kind != "missed":
                continue
            due = r.due_at.astimezone(UTC).isoformat()
            out.append(CourseSession(f"missed:{schedule.schedule_id}:{due}", due,
                                     "no_capacity" if r.reason == "no_capacity" else "missed", note=r.detail))
    return out


def _older_sessions(store: Store, db: ServiceStore, cls: ClassRef, kept: set[str]
                    ) -> list[tuple[SessionDigest, tuple[StudentDigest, ...]]]:
    """Ended service sessions of the class without a kept summary, summarised now."""
    if not cls.key:
        return []
    out: list[tuple[SessionDigest, tuple[StudentDigest, ...]]] = []
    for r in db.sessions(class_id=cls.key)[0]:
        if not r.final or r.session_id in kept or r.failure == "revoked":
            continue
        try:
            info = store.session(r.session_id)
        except StoreError:
            out.append((SessionDigest(r.session_id, cls.key, r.class_name, r.started_at or r.created_at, r.ended_at,
                                      "failed"), ()))
            continue
        status = status_of(r.state, len(store.interruptions(r.session_id)))
        out.append(digest_session(info, store.participants(r.session_id), store.observations(r.session_id),
                                  class_key=cls.key, status=status, written_at=""))
    return out


def course_sessions(digests: Iterable[tuple[SessionDigest, Iterable[StudentDigest]]],
                    identity: Identity = course_identity) -> tuple[list[CourseSession], dict[str, str]]:
    """Course sessions keyed by student identity, and each student's name (their latest display name)."""
    sessions = []
    names: dict[str, tuple[str, str]] = {}  # identity → (started_at, label)
    for d, students in digests:
        by_student: dict[str, StudentDigest] = {}
        for st in students:
            key = identity(st.display_name, st.participant_id, st.session_id)
            if key not in by_student or st.n_samples > by_student[key].n_samples:
                by_student[key] = st
            if key not in names or names[key][0] <= d.started_at:
                names[key] = (d.started_at, course_label(st.display_name))
        note = "" if d.status != "failed" else "the bot could not record this session"
        sessions.append(CourseSession(d.session_id, d.started_at, d.status, by_student, settings=d.settings,
                                      model_version=d.model_version, note=note))
    return sessions, {k: label for k, (_, label) in names.items()}


def course_input(store: Store, db: ServiceStore, cls: ClassRef, *, emotions: bool, generated_at: str,
                 teacher: str = "", identity: Identity = course_identity, late_after_s: float = LATE_AFTER_S,
                 absent_after_s: float = ABSENT_AFTER_S) -> CourseInput:
    """The frozen input of `cls`'s course report (see the module docstring); late and absent
    after the given seconds from the start of the recording (the class's thresholds)."""
    kept = (store.session_digests(class_key=cls.key) if cls.key
            else store.session_digests(class_key="", class_name=cls.name))
    pairs: list[tuple[SessionDigest, Iterable[StudentDigest]]] = []
    by_session: dict[str, list[StudentDigest]] = {d.session_id: [] for d in kept}
    for st in store.student_digests(by_session):
        by_session[st.session_id].append(st)
    pairs += [(d, by_session[d.session_id]) for d in kept]
    pairs += _older_sessions(store, db, cls, set(by_session))
    sessions, names = course_sessions(pairs, identity)
    if cls.key:
        sessions += _missed(db, cls.key)
    if not sessions:
        raise CourseNotFound(f"class {cls.name!r} has no session yet")
    ordered = sorted(names.items(), key=lambda kv: (kv[1].casefold(), kv[0]))
    emotions_on = emotions and any(d.emotions_enabled for d, _ in pairs)
    return CourseInput(class_name=cls.name, teacher=teacher or cls.owner, sessions=tuple(sessions),
                       names=tuple(ordered), emotions_enabled=emotions_on, generated_at=generated_at,
                       late_after_s=late_after_s, absent_after_s=absent_after_s)
