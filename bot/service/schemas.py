"""Request and response bodies of the REST API (pydantic v2), also the source of the OpenAPI schemas.

Every request model forbids unknown fields, so a typo such as ``meeting_ur`` is a 422 naming
the field instead of being silently ignored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.service.names import check_typed


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _no_control_characters(cls, v: Any) -> Any:
        """Every typed text: a CR/LF in a class name would break the report e-mail's headers."""
        if isinstance(v, str):
            return check_typed(v)
        return v


def check_meeting_url(url: str, extra_schemes: tuple[str, ...] = ()) -> str:
    """The registry's own parser (one for every entry point); `fake` is the tests' extra scheme."""
    from bot.connectors.registry import validate_url

    validate_url(url, extra_schemes)
    return url


class ClassIn(_Request):
    name: str = Field(min_length=1, max_length=200)
    meeting_url: str = Field(default="", max_length=1000)
    email: str = Field(default="", max_length=320, pattern=r"^$|^[^@\s]+@[^@\s]+$")
    webhook_url: str = Field(default="", max_length=1000,
                             description="called (signed) when a report is ready; never this service itself")
    owner: str | None = Field(default=None, min_length=1, max_length=200,
                              description="the teacher owning the class (admins only; default: the caller)")
    zoom_meeting_id: str = Field(default="", max_length=1000, description=(
        "the class's Zoom meeting: its number (812 3456 7890) or join link (https://….zoom.us/j/…); "
        "Zoom RTMS streams of this meeting are analysed for this class, other meetings are ignored"))
    expected_students: int = Field(default=30, ge=1, le=1000,
                                   description="students the class brings: a cluster worker takes it only "
                                               "while they fit its capacity")

    @field_validator("meeting_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_meeting_url(v, ("fake",)) if v else v

    @field_validator("zoom_meeting_id")
    @classmethod
    def _zoom(cls, v: str) -> str:
        from bot.connectors.zoom_meetings import class_meeting_number

        return class_meeting_number(v)

    @field_validator("webhook_url")
    @classmethod
    def _hook(cls, v: str) -> str:
        from bot.service.delivery import check_webhook_url

        return check_webhook_url(v) if v else v


class ClassPatchIn(_Request):
    """What can change on a class after it was made: its Zoom meeting and its attendance rules.

    Fields left out keep their value; at least one must be sent.
    """

    zoom_meeting_id: str | None = Field(default=None, max_length=1000,
                                        description="meeting number or join link; \"\" unmaps the class")
    late_after_min: float | None = Field(default=None, ge=0, le=240, description="late after this many minutes")
    absent_after_min: float | None = Field(default=None, ge=0, le=240,
                                           description="joined later than this: counted absent")

    @field_validator("zoom_meeting_id")
    @classmethod
    def _zoom(cls, v: str | None) -> str | None:
        from bot.connectors.zoom_meetings import class_meeting_number

        return None if v is None else class_meeting_number(v)

    @model_validator(mode="after")
    def _some(self) -> ClassPatchIn:
        if self.zoom_meeting_id is None and self.late_after_min is None and self.absent_after_min is None:
            raise ValueError("send zoom_meeting_id, late_after_min and/or absent_after_min")
        return self


class SessionIn(_Request):
    meeting_url: str | None = Field(default=None, max_length=1000)
    class_id: str | None = Field(default=None, min_length=1, max_length=64)
    class_name: str | None = Field(default=None, min_length=1, max_length=200)
    duration_s: float | None = Field(default=None, gt=0, le=24 * 3600)

    @field_validator("meeting_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else check_meeting_url(v, ("fake",))

    @model_validator(mode="after")
    def _one_target(self) -> SessionIn:
        if (self.meeting_url is None) == (self.class_id is None):
            raise ValueError("give exactly one of meeting_url and class_id")
        return self


class ScheduleIn(_Request):
    """A recurring session, e.g. cron "0 9 * * mon,wed" in Europe/Berlin for 50 minutes."""

    class_id: str = Field(min_length=1, max_length=64)
    cron: str = Field(min_length=9, max_length=200,
                      description="5 crontab fields (minute hour day month weekday-names) or 6 with seconds first")
    timezone: str = Field(default="UTC", min_length=1, max_length=64)
    duration_min: float = Field(gt=0, le=24 * 60)
    start_date: date | None = None
    end_date: date | None = None
    skip_dates: list[date] = Field(default_factory=list, max_length=366, description="holidays: no session")
    misfire_grace_s: int = Field(default=300, ge=1, le=24 * 3600,
                                 description="how late a start may still happen when the service was down")

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from bot.service.schedules import check_cron

        return check_cron(v)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from bot.service.schedules import parse_timezone

        parse_timezone(v)
        return v

    @model_validator(mode="after")
    def _check(self) -> ScheduleIn:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if self.end_date and self.end_date < date.today():
            raise ValueError("end_date is in the past: the schedule would never run")
        return self


class ScheduleOut(BaseModel):
    schedule_id: str
    owner: str
    class_id: str
    cron: str
    timezone: str
    duration_s: float
    start_date: str
    end_date: str
    skip_dates: list[str]
    misfire_grace_s: int
    created_at: str
    next_run_at: str | None
    #: runs that did not start as planned: {"due_at", "kind" (missed | moved), "reason", "detail"};
    #: such a class is "not recorded", never the students' absence (in GET /schedules/{id})
    runs_not_as_planned: list[dict[str, str]] = []


class StudentOptOutIn(_Request):
    display_name: str = Field(min_length=1, max_length=200, description="the name the student joined with")


class StudentOptOutOut(BaseModel):
    display_name: str
    sessions: list[str]
    observations_deleted: int


class Page(_Request):
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class AccessLogQuery(Page):
    """Filters of ``GET /access-log``; `since`/`until` are ISO times (UTC when no offset is given)."""

    who: str | None = Field(default=None, max_length=200)
    session_id: str | None = Field(default=None, max_length=64)
    class_id: str | None = Field(default=None, max_length=64)
    participant_id: str | None = Field(default=None, max_length=200)
    via: Literal["api", "dashboard"] | None = None
    since: str | None = None
    until: str | None = None

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            t = datetime.fromisoformat(v)
        except ValueError:
            raise ValueError("not an ISO date or time (e.g. 2026-11-26 or 2026-11-26T09:00:00+01:00)") from None
        t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
        return t.replace(microsecond=0).isoformat()


class AccessOut(BaseModel):
    access_id: int | None
    at: str
    who: str
    role: str
    token_id: str
    session_id: str
    class_id: str
    subject: str  # class | student
    participant_id: str
    via: str  # api | dashboard
    format: str
    client: str


class FeedIn(_Request):
    url: str = Field(min_length=1, max_length=1000, pattern=r"^https?://",
                     description="the timetable's iCalendar URL (http or https, answering text/calendar)")
    tz: str | None = Field(default=None, max_length=64, description="zone for floating times (IANA name)")
    owner: str | None = Field(default=None, min_length=1, max_length=200,
                              description="the teacher the classes belong to (admins only; default: the caller)")

    @field_validator("tz")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v:
            from bot.timetable.zones import UnknownZone, resolve

            try:
                resolve(v)
            except UnknownZone as exc:
                raise ValueError(str(exc)) from None
        return v


class FeedOut(BaseModel):
    feed_id: str
    owner: str
    url: str
    tz: str
    created_at: str
    last_attempt_at: str  # "" = never read
    last_ok_at: str
    last_error: str  # "" after a good read
    last_result: dict[str, list[str]] | None  # what the last good read changed (created, updated, …)


class ClassOut(BaseModel):
    class_id: str
    name: str
    owner: str
    meeting_url: str
    email: str
    webhook_url: str
    created_at: str
    zoom_meeting_id: str = ""
    students_informed_by: str = Field(default="", description="how the class's students are told ClassPulse is on")
    notice_to_share: str = Field(default="", description=(
        "the text the teacher shares with the students (Zoom: no bot tile or chat); \"\" when the bot shows it"))
    late_after_min: float = 5.0  # joined later than this after the class start: late
    absent_after_min: float = 15.0  # … than this: counted absent
    expected_students: int = 30


class DeliveryOut(BaseModel):
    delivery_id: str
    session_id: str
    owner: str
    kind: str
    target: str
    state: str
    attempts: int
    last_error: str
    created_at: str
    updated_at: str
    event: str = "report.ready"  # report.ready | session.failed | run.missed
    class_id: str = ""
    detail: str = ""


class AttemptOut(BaseModel):
    number: int
    holder: str
    started_at: str
    heartbeat_at: str
    ended_at: str
    end_reason: str


class SessionOut(BaseModel):
    session_id: str
    owner: str
    class_id: str
    class_name: str
    meeting: str
    state: str
    failure: str
    detail: str
    created_at: str
    ended_at: str
    started_at: str = ""
    window_end: str = ""
    origin: str = ""
    attempt: int = 0
    attempts: list[AttemptOut] = []
    #: gaps in which nothing was recorded: {"from", "to", "reason"} (ISO 8601 UTC)
    interruptions: list[dict[str, str]] = []
    live: dict[str, Any] | None = None


class ReportFile(BaseModel):
    path: str
    bytes: int
    url: str


class ReportOut(BaseModel):
    session_id: str
    class_name: str
    owner: str
    files: list[ReportFile]


class ParticipantOut(BaseModel):
    participant_id: str
    display_name: str
    opted_out: bool


class OptOutOut(BaseModel):
    participant_id: str
    opted_out: bool
    observations_deleted: int


class DeletedOut(BaseModel):
    deleted: str
    observations_deleted: int = 0
    report_files_deleted: int = 0


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    fields: list[FieldError] = []


class ErrorOut(BaseModel):
    error: ErrorBody


def page_of(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a page of `model` items (for the OpenAPI document)."""
    return {"type": "object", "required": ["items", "total", "limit", "offset"],
            "properties": {"items": {"type": "array", "items": {"$ref": f"#/components/schemas/{model.__name__}"}},
                           "total": {"type": "integer"}, "limit": {"type": "integer"},
                           "offset": {"type": "integer"}}}
