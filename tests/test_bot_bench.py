"""`classpulse bench` argument checks and its root requirement (no network, no root needed)."""

from __future__ import annotations

import pytest

from bot.bench import live as bench
from bot.bench.live import BenchError, BenchOptions, format_result, parse_size
from bot.cli.main import main


def test_parse_size_accepts_even_sizes_and_names_bad_ones() -> None:
    assert parse_size("640x480") == (640, 480)
    assert parse_size("1280X720") == (1280, 720)
    for bad in ("640", "641x480", "axb", "8x8", "640x480x3"):
        with pytest.raises(ValueError, match="size"):
            parse_size(bad)


def test_bench_refuses_to_run_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.os, "geteuid", lambda: 1000)
    with pytest.raises(BenchError, match="must run as root"):
        bench.run_bench(BenchOptions(students=2))


def test_cli_reports_the_root_requirement_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench.os, "geteuid", lambda: 1000)
    assert main(["bench", "--students", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("classpulse: error: classpulse bench must run as root")


def test_cli_rejects_a_bad_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--students", "3", "--size", "640by480"]) == 2
    assert "--size" in capsys.readouterr().err


def test_format_result_shows_the_headline_numbers() -> None:
    text = format_result({"students": 5, "streaming": 5, "size": "640x480", "fps": 15, "seconds": 60.0,
                          "samples_per_student_per_s": 0.99, "dropped_share": 0.02, "dropped": 6,
                          "latency_p50_s": 0.1, "latency_p95_s": 0.3, "fps_per_student": 15.0,
                          "cpu_percent": 40.0, "cpu_count": 2, "load_generator_cpu_percent": 5.0,
                          "peak_rss_mb": 900.0, "analysis_ms_per_sample": {"detect": 12.0}})
    assert "0.99" in text and "2.0%" in text and "0.3 s" in text and "900.0 MB" in text
    assert "detect 12.0 ms" in text


def test_profile_classroom_sends_what_the_join_page_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[BenchOptions] = []
    monkeypatch.setattr(bench, "run_bench", lambda opts: seen.append(opts) or {
        "students": 2, "size": "640x480", "fps": opts.fps, "seconds": 1.0, "samples_per_student_per_s": 1.0,
        "dropped_share": 0.0, "cpu_percent": 1.0, "peak_rss_mb": 1.0})
    assert main(["--set", "classroom.publish_fps=4", "bench", "--students", "2", "--profile", "classroom"]) == 0
    assert (seen[0].size, seen[0].fps, seen[0].bitrate, seen[0].profile) == ((640, 480), 4, 300_000, "classroom")
    assert main(["bench", "--students", "2"]) == 0
    assert (seen[1].size, seen[1].fps, seen[1].profile) == ((640, 480), 15, "custom")


def test_profile_classroom_refuses_its_own_fps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--students", "2", "--profile", "classroom", "--fps", "15"]) == 2
    assert "leave out --fps and --size" in capsys.readouterr().err


def _snap(t: float, per: dict[str, int], **kw: float) -> dict[str, object]:
    return {"t": t, "per_student": per, **kw}


def test_received_fps_counts_missing_students_as_zero_and_lost_ones() -> None:
    from bot.bench.bot import alive, received_fps, validity

    a = _snap(0.0, {"a": 0, "b": 0, "c": 0})
    b = _snap(10.0, {"a": 150, "b": 140, "c": 20})
    assert received_fps(a, b, students=4) == {"min": 0.0, "median": 8.0}  # d never arrived
    c = _snap(8.0, {"a": 120, "b": 110, "c": 20})  # c stopped before the window's end
    assert alive(c, b) == 2
    assert validity({"min": 14.0, "median": 14.9}, 15) == (True, "")
    ok, why = validity({"min": 2.0, "median": 13.4}, 15)
    assert not ok and "below 0.9x" in why


def test_format_result_shows_validity_freshness_and_processes() -> None:
    text = format_result({"students": 5, "size": "640x480", "fps": 5, "seconds": 20.0,
                          "samples_per_student_per_s": 0.99, "dropped_share": 0.0, "dropped": 0,
                          "cpu_percent": 40.0, "peak_rss_mb": 900.0, "valid": False,
                          "invalid_reason": "received 3.1 fps", "fresh_share": 0.97,
                          "fps_received_per_student": {"min": 2.0, "median": 3.1}, "students_lost": 1,
                          "processes": [{"role": "bot", "cpu_percent": 40.0, "rss_mb": 900.0}],
                          "loop_lag_ms": {"p50": 1.0, "p95": 9.0, "max": 30.0}, "profile": "classroom"})
    assert "INVALID: received 3.1 fps" in text and "0.97" in text and "median 3.1" in text
    assert "students lost               1" in text and "bot 40.0 % / 900.0 MB" in text


def test_rss_slope_is_fitted_after_the_warm_up_only() -> None:
    from bot.bench.resources import TreeSample, slope_per_min

    flat_then_warm = [TreeSample(t, 900 + (200 if t < 180 else 0) + 0.5 * t / 60, 20, 1) for t in range(0, 601, 60)]
    assert slope_per_min(flat_then_warm, 180) == pytest.approx(0.5)  # the warm-up jump is not a trend
    assert slope_per_min(flat_then_warm[:4], 180) is None  # two points after minute 3 are no trend


def test_the_process_tree_is_read_from_proc() -> None:
    import os
    import subprocess
    import sys

    from bot.bench.resources import open_fds, sample_tree, tree

    child = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"  # running, not still forking
        assert child.pid in tree(os.getpid()) and child.pid not in tree(os.getpid(), exclude=[child.pid])
        both, alone = sample_tree(0.0), sample_tree(0.0, exclude=[child.pid])
        assert both.processes == alone.processes + 1 and both.rss_mb > alone.rss_mb > 10
        assert both.threads >= 1 and open_fds() >= 3
    finally:
        child.kill()
        child.wait()
