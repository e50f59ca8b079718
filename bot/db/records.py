"""The service's records: one frozen dataclass per table row, field names = column names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    name: str
    role: str
    secret_sha256: str
    created_at: str
    revoked_at: str = ""


@dataclass(frozen=True)
class ClassRecord:
    class_id: str
    name: str
    owner: str
    created_at: str
    meeting_url: str = ""
    email: str = ""
    webhook_url: str = ""
    timetable_uid: str = ""  # the calendar UID the class was imported from ("" = made by hand)
    timetable_fingerprint: str = ""
    zoom_meeting_id: str = ""  # the Zoom meeting number whose RTMS streams are this class's
    late_after_min: float = 5.0  # joined later than this after the class start: late
    absent_after_min: float = 15.0  # … than this: counted absent
    expected_students: int = 30  # a cluster worker takes the class only while this many fit its capacity


@dataclass(frozen=True)
class SessionRecord:
    """One class meeting as the service sees it; `attempt` is the current attempt (the fence)."""

    session_id: str
    owner: str
    class_name: str
    meeting: str  # description without secrets
    state: str
    created_at: str
    class_id: str = ""
    failure: str = ""
    detail: str = ""
    ended_at: str = ""
    meeting_url: str = ""
    duration_s: float | None = None
    window_end: str = ""  # ISO: until when the class may be continued after a fault ("" = unknown)
    started_at: str = ""
    attempt: int = 0
    origin: str = ""  # api | schedule | cli | zoom
    #: JSON [[feed id, name], …] the platform named, for a resumed attempt (Zoom does not
    #: re-announce who is present); kept only while the session is open.
    known_people: str = ""

    @property
    def final(self) -> bool:
        from bot.db.tables import FINAL_STATES

        return self.state in FINAL_STATES


@dataclass(frozen=True)
class AttemptRecord:
    session_id: str
    number: int
    holder: str  # host:pid of the process that ran it
    started_at: str
    heartbeat_at: str
    ended_at: str = ""
    end_reason: str = ""  # done | failed | crash | restart | superseded | connection_lost | shutdown
    join_link: str = ""  # the built-in classroom's join page on the worker running this attempt


@dataclass(frozen=True)
class ScheduleRecord:
    schedule_id: str
    owner: str
    class_id: str
    cron: str
    timezone: str
    duration_s: float
    misfire_grace_s: int
    created_at: str
    start_date: str = ""
    end_date: str = ""
    skip_dates: str = ""  # comma-separated ISO dates
    calendar: str = ""  # a timetable lesson's iCalendar text: the schedule follows it (cron is "")
    done_keys: str = ""  # comma-separated ISO original starts of the occurrences that have run


@dataclass(frozen=True)
class DeliveryRecord:
    delivery_id: str
    session_id: str
    owner: str
    kind: str
    target: str
    state: str
    created_at: str
    attempts: int = 0
    last_error: str = ""
    updated_at: str = ""
    event: str = "report.ready"  # report.ready | session.failed | run.missed
    class_id: str = ""
    detail: str = ""  # what happened, for notices (a failure's reason, a missed run's time)


@dataclass(frozen=True)
class RosterStudentRecord:
    roster_student_id: str  # ClassPulse's stable id ("rs-…"), kept across re-uploads
    class_id: str
    student_id: str  # the school's id from the CSV
    name: str
    aliases: str = ""  # ';'-separated
    email: str = ""
    opted_out: bool = False
    position: int = 0
    uploaded_at: str = ""

    @property
    def alias_list(self) -> tuple[str, ...]:
        return tuple(a for a in self.aliases.split(";") if a)


@dataclass(frozen=True)
class RosterMatchRecord:
    session_id: str
    participant_id: str
    class_id: str
    display_name: str
    roster_student_id: str = ""  # "" = matched nobody (unmatched, ambiguous, rejected)
    kind: str = "unmatched"
    candidates: str = ""  # comma-separated roster student ids
    reason: str = ""
    confirmed: bool = False  # certain tier, or the teacher's decision
    created_at: str = ""

    @property
    def candidate_ids(self) -> tuple[str, ...]:
        return tuple(c for c in self.candidates.split(",") if c)


@dataclass(frozen=True)
class SessionRosterRecord:
    session_id: str
    class_id: str
    students: str  # JSON [[roster_student_id, name], …]
    sees_everyone: bool = True
    late_after_s: float = 300.0
    absent_after_s: float = 900.0
    created_at: str = ""


@dataclass(frozen=True)
class AccessRecord:
    """One opening of a report: who, which session and student, when, how (`report_access`)."""

    at: str  # ISO UTC
    who: str
    role: str
    token_id: str
    session_id: str
    class_id: str
    subject: str  # class | student
    participant_id: str  # "" for the class report
    via: str  # api | dashboard
    format: str  # html | pdf
    client: str = ""
    access_id: int | None = None  # given by the database


@dataclass(frozen=True)
class FeedRecord:
    """A subscribed timetable feed (`timetable_feeds`)."""

    feed_id: str
    owner: str
    url: str
    created_at: str
    tz: str = ""
    last_attempt_at: str = ""
    last_ok_at: str = ""
    last_error: str = ""
    last_result: str = ""  # JSON of the last good read's changes
