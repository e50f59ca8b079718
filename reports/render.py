"""Render a stored session into HTML and PDF reports.

One entry point, `render_session`, reads a session through three store methods and writes::

    out_dir/class.html, class.pdf
    out_dir/students/<safe-name>.html, <safe-name>.pdf   (one per student who did not opt out)
    out_dir/all-students.pdf                              (every student report, one file)

File names come from `reports.format.safe_stem`, never from raw display names, so a name
like "../../x" cannot escape `out_dir`. Files are written to a temporary name and renamed,
so a delivery step never picks up half a PDF. WeasyPrint is imported lazily: building the
HTML needs only Jinja2.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import jinja2

from analysis.attendance import ClassRoll
from analysis.records import Interruption, Observation, Participant, SessionInfo
from reports.context import ClassReport, Reports, StudentReport, build_reports
from reports.course import CourseInput, CourseReport, build_course_report

if TYPE_CHECKING:
    from weasyprint.document import Document

FORMATS = ("html", "pdf")
COURSE_FORMATS = ("html", "pdf", "csv")
PAPER_SIZES = {"a4": "A4", "letter": "Letter"}
TEMPLATES = Path(__file__).with_name("templates")


class ReportStore(Protocol):
    """The part of `analysis.store.Store` that reports read."""

    def session(self, session_id: str) -> SessionInfo: ...
    def participants(self, session_id: str) -> list[Participant]: ...
    def observations(self, session_id: str, participant_id: str | None = None) -> list[Observation]: ...
    def interruptions(self, session_id: str) -> list[Interruption]: ...


@functools.cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _paper(paper: str) -> str:
    try:
        return PAPER_SIZES[paper.lower()]
    except KeyError:
        raise ValueError(f"unknown paper size {paper!r}; expected one of {', '.join(PAPER_SIZES)}") from None


def class_html(report: ClassReport, *, paper: str = "a4", ext: str = "html") -> str:
    """The class report as a standalone HTML page; `ext` is the extension student links use."""
    return _env().get_template("class.html.j2").render(report=report, paper=_paper(paper), ext=ext)


def student_html(report: StudentReport, *, paper: str = "a4") -> str:
    return _env().get_template("student.html.j2").render(report=report, paper=_paper(paper), ext="html")


def _write(path: Path, data: bytes | str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    tmp.replace(path)
    return path


class _Pdf:
    """Shares one font configuration across documents (font discovery is the slow part)."""

    def __init__(self, base: Path) -> None:
        from weasyprint.text.fonts import FontConfiguration

        self.fonts = FontConfiguration()
        self.base = base

    def document(self, html: str) -> Document:
        from weasyprint import HTML

        return HTML(string=html, base_url=str(self.base)).render(font_config=self.fonts)

    @staticmethod
    def bytes(doc: Document, pages: Sequence[Any] | None = None) -> bytes:
        target = doc if pages is None else doc.copy(list(pages))
        out = target.write_pdf()
        assert out is not None
        return out


def write_reports(reports: Reports, out_dir: str | Path, formats: Sequence[str] = FORMATS, *,
                  paper: str = "a4") -> list[Path]:
    """Write already-built report contexts; returns the paths written, class report first."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown report format(s) {sorted(unknown)}; expected html and/or pdf")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if reports.students:
        (out / "students").mkdir(exist_ok=True)
    written: list[Path] = []
    pdf = _Pdf(out) if "pdf" in formats else None
    if "html" in formats:
        written.append(_write(out / "class.html", class_html(reports.class_report, paper=paper)))
    if pdf is not None:
        doc = pdf.document(class_html(reports.class_report, paper=paper, ext="pdf"))
        written.append(_write(out / "class.pdf", pdf.bytes(doc)))
    bundle: list[Any] = []
    first: Document | None = None
    for student in reports.students:
        html = student_html(student, paper=paper)
        if "html" in formats:
            written.append(_write(out / "students" / f"{student.stem}.html", html))
        if pdf is not None:
            doc = pdf.document(html)
            written.append(_write(out / "students" / f"{student.stem}.pdf", pdf.bytes(doc)))
            bundle.extend(doc.pages)
            first = first or doc
    if pdf is not None and first is not None:
        written.append(_write(out / "all-students.pdf", pdf.bytes(first, bundle)))
    return written


def render_session(store: ReportStore, session_id: str, out_dir: str | Path,
                   formats: Sequence[str] = FORMATS, *, paper: str = "a4", roll: ClassRoll | None = None,
                   opted_out: frozenset[str] = frozenset()) -> list[Path]:
    """Render the class report and every consenting student's report for one stored session.

    Reads only `store.session`, `store.participants` and `store.observations`; `paper` is
    "a4" (default) or "letter". `roll` is the class's roster side (see `analysis.attendance`);
    `opted_out` names participants to leave out as opted out without deleting their data
    (a fuzzy match to an opted-out roster student, until the teacher decides). Returns the
    paths written.
    """
    _paper(paper)
    info = store.session(session_id)
    people = [replace(p, opted_out=True) if p.participant_id in opted_out else p
              for p in store.participants(session_id)]
    reports = build_reports(info, people, store.observations(session_id), store.interruptions(session_id), roll)
    return write_reports(reports, out_dir, formats, paper=paper)


def course_html(report: CourseReport, *, paper: str = "a4") -> str:
    """The course report as a standalone HTML page."""
    return _env().get_template("course.html.j2").render(report=report, paper=_paper(paper))


def course_pdf(report: CourseReport, *, paper: str = "a4", base: Path | None = None) -> bytes:
    pdf = _Pdf(base or Path.cwd())
    return pdf.bytes(pdf.document(course_html(report, paper=paper)))


def render_course(course: CourseInput, out_dir: str | Path, formats: Sequence[str] = COURSE_FORMATS, *,
                  paper: str = "a4") -> list[Path]:
    """Write the course report of a class: ``course.html``, ``course.pdf`` and ``attendance.csv``
    (the attendance grid, escaped against formula injection) in `out_dir`; returns the paths."""
    from reports.course_csv import attendance_csv

    unknown = set(formats) - set(COURSE_FORMATS)
    if unknown:
        raise ValueError(f"unknown course report format(s) {sorted(unknown)}; expected html, pdf and/or csv")
    report = build_course_report(course)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "html" in formats:
        written.append(_write(out / "course.html", course_html(report, paper=paper)))
    if "pdf" in formats:
        written.append(_write(out / "course.pdf", course_pdf(report, paper=paper, base=out)))
    if "csv" in formats:
        written.append(_write(out / "attendance.csv", attendance_csv(report)))
    return written
