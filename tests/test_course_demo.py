"""`classpulse demo --course N`: short lessons through the one session runner, then the course report."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from analysis.store import Store
from bot.config import Config
from bot.sim.demo_course import lesson_url, run_course_demo
from bot.sim.fake_analyzer import RecordingAnalyzer
from bot.sim.meeting import parse_sim_url

pytestmark = pytest.mark.component


def test_lessons_rotate_who_is_late_absent_and_away() -> None:
    plans = [parse_sim_url(lesson_url(k, 20.0, builtin=True)) for k in range(3)]
    late = [[s.name for s in p.students if 0 < s.joins_at <= 20] for p in plans]
    never = [[s.name for s in p.students if s.joins_at > 20] for p in plans]
    assert late == [["Chloé"], ["Dev"], ["Emil"]] and never == [["Emil"], ["Ada"], ["Ben"]]
    assert all(len(p.students) == 5 and p.faces == "builtin" for p in plans)


def test_three_lessons_one_failed_give_a_course_report(tmp_path: Path) -> None:
    config = Config.model_validate({"store": {"data_dir": str(tmp_path)}, "analysis": {"sample_interval_s": 0.5},
                                    "session": {"join_timeout_s": 5}})
    lines: list[str] = []
    paths = run_course_demo(config, 3, seconds=3.0, builtin=True, progress=lines.append,
                            analyze_factory=RecordingAnalyzer)
    assert [p.name for p in paths] == ["course.html", "course.pdf", "attendance.csv"]
    assert all(p.is_relative_to(tmp_path / "reports" / "courses") for p in paths)
    assert "(simulated fault)" in lines[1]
    text = " ".join(" ".join(pg.extract_text() for pg in PdfReader(str(paths[1])).pages).split())
    assert "Demo course" in text and "not recorded (failed)" in text and "3 sessions" in text
    rows = list(csv.reader(io.StringIO(paths[2].read_text())))
    assert [r[0] for r in rows[1:]] == ["Ada", "Ben", "Chloé", "Dev", "Emil"]
    assert {r[2] for r in rows[1:]} == {"not recorded"}  # the failed lesson is nobody's absence
    assert rows[5][1] == "absent" and rows[2][3] == "absent"  # Emil never joins lesson 1, Ben lesson 3
    store = Store(config.store.url)
    try:
        assert [d.status for d in store.session_digests()] == ["recorded", "failed", "recorded"]
    finally:
        store.close()
