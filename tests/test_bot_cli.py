"""`classpulse join` as a user meets it: durations, bad URLs, failed joins, a short class."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.join import parse_duration, progress_line

REPO = Path(__file__).resolve().parent.parent
LIGHT = ["--set", "analysis.emotions=off", "--set", "analysis.detector=haar"]


def classpulse(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "--set", f"store.url=sqlite:///{tmp_path}/cp.db", *LIGHT,
                           *args], capture_output=True, text=True, cwd=REPO, timeout=timeout)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("45m", 2700), ("1h30m", 5400),
                                               ("1.5h", 5400), (" 2m30s ", 150)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "-5m", "5 minutes", "m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_progress_line() -> None:
    line = progress_line({"state": "in_class", "elapsed_s": 3725.2, "present": 3, "students": 4, "samples": 90,
                          "dropped": 10, "latency_p95_s": 0.234, "reconnects": 0})
    assert line.startswith("in_class   01:02:05  students 3 present / 4 seen  samples 90  dropped 10 (10.0%)")
    assert line.endswith("p95 latency 0.23 s")
    assert progress_line({"state": "in_class", "elapsed_s": 5, "present": 1, "students": 1, "samples": 1,
                          "dropped": 0, "latency_p95_s": None, "reconnects": 2}).endswith("reconnects 2")
    slowed = progress_line({"state": "in_class", "elapsed_s": 5, "present": 40, "students": 40, "samples": 80,
                            "dropped": 0, "latency_p95_s": 1.2, "deferred": 3, "interval_s": 1.34})
    assert slowed.endswith("over capacity: 1 sample per student every 1.3 s")


@pytest.mark.slow  # three interpreter start-ups
def test_bad_url_and_duration_are_one_line_errors(tmp_path: Path) -> None:
    res = classpulse(tmp_path, "join", "zoom://123")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "unsupported meeting URL" in res.stderr
    res = classpulse(tmp_path, "join", "janus+http://h/janus")
    assert res.returncode == 2 and "?room=" in res.stderr
    res = classpulse(tmp_path, "join", "classroom:x", "--duration", "soon")
    assert res.returncode == 2 and "--duration" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow  # the child process loads TensorFlow
def test_unreachable_janus_fails_with_its_reason(tmp_path: Path) -> None:
    res = classpulse(tmp_path, "join", "janus+http://127.0.0.1:9/janus?room=1234&pin=secret")
    assert res.returncode == 1, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("classpulse: error: session live-") and "meeting_not_found" in last
    assert "secret" not in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_an_empty_builtin_class_runs_for_its_duration_and_renders(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = classpulse(tmp_path, "--set", f"classroom.port={port}", "--set", "reports.formats=[html]",
                     "join", "classroom:maths-7b", "--duration", "2s", "--out", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    assert f"students join at http://127.0.0.1:{port}/join/maths-7b" in res.stderr
    assert "done (max_duration)" in res.stderr
    paths = [Path(p) for p in res.stdout.split()]
    assert paths and all(p.exists() and p.is_relative_to(tmp_path / "out") for p in paths)
