"""The attendance export of a course: one row per student, one column per session.

Cells read ``present``, ``late``, ``absent``, ``not recorded`` (ClassPulse did not record the
session, or the student in an interrupted one: never an absence) or ``not enrolled``; the
last columns count them. Display names are chosen by students, so every cell is escaped
against spreadsheet formula injection (OWASP "CSV Injection"): a cell that begins with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe, which
Excel, LibreOffice and Google Sheets show as text and never evaluate.
"""

from __future__ import annotations

import csv
import io

from reports.course import CourseReport
from reports.course_charts import CELL_NAMES, cell_kind

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text, never as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def attendance_csv(report: CourseReport) -> str:
    """The attendance grid as CSV text (UTF-8, CRLF line ends, every field quoted)."""
    out = io.StringIO()
    w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    kinds = ("present", "late", "absent", "not_recorded")
    w.writerow([safe_cell(c) for c in ["Student", *(f"{s.number}: {s.label}" for s in report.sessions),
                                       "present (on time)", "late", "absent", "not recorded"]])
    for row, trend in zip(report.students, report.course.students, strict=True):
        cells = [cell_kind(c) for c in trend.sessions]
        w.writerow([safe_cell(c) for c in [row.name, *(CELL_NAMES[k] for k in cells),
                                           *(str(cells.count(k)) for k in kinds)]])
    return out.getvalue()
