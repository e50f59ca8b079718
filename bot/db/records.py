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
