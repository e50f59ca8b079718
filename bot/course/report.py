"""Writing a class's course report: the one path the CLI, the API and the demo share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from analysis.course import ABSENT_AFTER_S, LATE_AFTER_S
from analysis.store import Store
from bot.config import Config
from bot.course.identity import course_identity, roster_identity
from bot.course.inputs import ClassRef, course_input, resolve_class
from bot.course.roster import with_roster
from bot.db.store import ServiceStore
from reports.format import safe_stem
from reports.render import COURSE_FORMATS, render_course


def course_folder(out_dir: str | Path, cls: ClassRef) -> Path:
    """``<reports>/courses/<class>``: a stem made safe (class names are typed by people)."""
    return Path(out_dir) / "courses" / (cls.key or safe_stem(cls.name, cls.name))


def write_course_report(store: Store, db: ServiceStore, config: Config, cls: ClassRef | str, *,
                        out_dir: str | Path | None = None, formats: Sequence[str] = COURSE_FORMATS,
                        now: datetime | None = None, late_after_s: float | None = None,
                        absent_after_s: float | None = None) -> list[Path]:
    """Render `cls`'s course report (course.html, course.pdf, attendance.csv); returns the paths.

    A service class brings its roster (students matched across sessions by roster student, not
    by name) and its late / absent thresholds, unless the caller gives thresholds.
    """
    ref = resolve_class(store, db, cls) if isinstance(cls, str) else cls
    record = db.get_class(ref.key) if ref.key else None
    identity = roster_identity(db.rosters.matches(class_id=ref.key)) if record is not None else course_identity
    if late_after_s is None:
        late_after_s = 60 * record.late_after_min if record is not None else LATE_AFTER_S
    if absent_after_s is None:
        absent_after_s = 60 * record.absent_after_min if record is not None else ABSENT_AFTER_S
    course = course_input(store, db, ref, emotions=config.analysis.emotions,
                          generated_at=(now or datetime.now(UTC)).replace(microsecond=0).isoformat(),
                          identity=identity, late_after_s=late_after_s, absent_after_s=absent_after_s)
    if record is not None:
        snapshots = {s.session_id: snap for s in course.sessions
                     if (snap := db.rosters.session_roster(s.session_id)) is not None}
        course = with_roster(course, snapshots, db.rosters.roster(record.class_id),
                             db.rosters.matches(class_id=record.class_id))
    folder = Path(out_dir) if out_dir is not None else course_folder(config.reports.out_dir, ref)
    return render_course(course, folder, formats, paper=config.reports.paper.lower())
