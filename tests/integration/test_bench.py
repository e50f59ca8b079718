"""Smoke run of `classpulse bench`: two students for a few seconds, JSON keys and real samples.

A benchmark is not a timed test: this only checks that the whole path (namespace, relayed
VP8 clip, built-in classroom, real analyser, measurement, clean-up) works and reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.sim.netns import available

REPO = Path(__file__).resolve().parent.parent.parent
KEYS = {"students", "samples_per_student_per_s", "dropped_share", "latency_p50_s", "latency_p95_s",
        "cpu_percent", "peak_rss_mb", "streaming",
        # issue 15: honest counting and what the session received
        "students_lost", "processes", "fps_received_per_student", "fresh_share", "valid", "loop_lag_ms",
        # issue 18: resources of the whole process tree over the run
        "rss_tree_mb", "rss_slope_mb_per_min", "threads_start", "threads_end", "backlog"}


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.mark.integration
@pytest.mark.slow
def test_bench_two_students_reports_json(videos_dir: Path) -> None:
    why = available()
    if why:
        pytest.skip(why)
    before = _namespaces()
    clips = [str(p) for p in sorted(videos_dir.glob("*.mp4"))[:2]]
    res = subprocess.run([sys.executable, "-m", "bot", "bench", "--students", "2", "--fps", "10", "--size", "320x240",
                          "--seconds", "4", "--videos", *clips, "--json"], capture_output=True, text=True, cwd=REPO,
                         timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert set(out) >= KEYS, out
    assert out["students"] == 2 and out["streaming"] == 2
    assert out["samples_per_student_per_s"] > 0.5, out
    assert out["latency_p95_s"] is not None and out["latency_p95_s"] < 5
    assert out["peak_rss_mb"] > 50 and out["cpu_percent"] > 0
    assert out["students_lost"] == 0 and out["valid"], out
    assert 0 < out["fresh_share"] <= 1 and out["fps_received_per_student"]["median"] > 5
    # the bot's main process, its analysis process (`analysis.process`, on by default), the senders
    assert [p["role"].split()[0] for p in out["processes"]] == ["bot", "analysis", "load"]
    assert _namespaces() <= before, "the benchmark's namespace is deleted afterwards"


@pytest.mark.integration
@pytest.mark.slow
def test_bench_with_receive_workers_lists_them_and_samples_their_students(videos_dir: Path) -> None:
    """`classroom.receive_workers=2`: the students' peers live in two worker processes (issue 15)."""
    why = available()
    if why:
        pytest.skip(why)
    clips = [str(p) for p in sorted(videos_dir.glob("*.mp4"))[:2]]
    res = subprocess.run([sys.executable, "-m", "bot", "--set", "classroom.receive_workers=2", "bench", "--students",
                          "2", "--fps", "10", "--size", "320x240", "--seconds", "4", "--videos", *clips, "--json"],
                         capture_output=True, text=True, cwd=REPO, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert set(out) >= KEYS, out
    assert [p["role"].split()[0] for p in out["processes"]] == ["bot", "analysis", "receive", "receive", "load"]
    assert all(p["cpu_percent"] is not None and p["cpu_percent"] > 0 for p in out["processes"]), out["processes"]
    assert out["streaming"] == 2 and out["students_lost"] == 0 and out["valid"], out
    assert out["samples_per_student_per_s"] > 0.5 and out["fresh_share"] > 0.5, out
    assert out["receive_workers"] == 2 and out["receive_restarts"] == 0 and out["receive_fetch_failed"] == 0
    cost = out["receive_fetch_ms_per_frame"]
    assert cost["total"] > 0 and 0 < cost["in_worker"] < cost["total"] and 0 < cost["copy_out"] < cost["total"], cost
