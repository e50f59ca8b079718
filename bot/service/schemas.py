"""Request and response bodies of the REST API (pydantic v2), also the source of the OpenAPI schemas.

Every request model forbids unknown fields, so a typo such as ``meeting_ur`` is a 422 naming
the field instead of being silently ignored.
"""

from __future__ import annotations

from datetime import date
from typing import Any

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
    expected_students: int = Field(default=30, ge=1, le=1000,
                                   description="students the class brings: a cluster worker takes it only "
                                               "while they fit its capacity")

    @field_validator("meeting_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_meeting_url(v, ("fake",)) if v else v

    @field_validator("webhook_url")
    @classmethod
    def _hook(cls, v: str) -> str:
        from bot.service.delivery import check_webhook_url

        return check_webhook_url(v) if v else v


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


class ClassOut(BaseModel):
    class_id: str
    name: str
    owner: str
    meeting_url: str
    email: str
    webhook_url: str
    created_at: str
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
