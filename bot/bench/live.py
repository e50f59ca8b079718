"""`classpulse bench`: how many students one bot process samples on this machine.

Real WebRTC needs a non-loopback address (aioice never offers 127.0.0.1), so the run
happens in a private network namespace made for it and deleted afterwards (root only).
Inside it, `bot.bench.bot` is the bot — built-in classroom, real analyser, production
sampler — and starts `bot.bench.load`, N students relaying one pre-encoded VP8 clip
(`bot.bench.clip`) so that the load generator costs little next to the bot.

The numbers come from a steady window after every student streams: analysed samples
with a frame per student per second, the share of samples dropped because inference
was still busy, frame-to-observation latency, the bot process's CPU and peak RSS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.bench.clip import BITRATE, make_clip
from bot.sim.netns import namespace
from model.datasets import REPO_ROOT as REPO
from model.datasets import videos_dir

SHARED_VIDEOS = videos_dir()
CLIP_MARGIN_S = 240.0  # start-up, connecting N students and leaving happen while the clip plays


class BenchError(Exception):
    """The benchmark cannot run here (not root, no videos, the bot side failed)."""


@dataclass(frozen=True)
class BenchOptions:
    students: int
    fps: int = 15
    size: tuple[int, int] = (640, 480)
    seconds: float = 60.0
    videos: tuple[Path, ...] = ()
    config: str | None = None
    overrides: tuple[str, ...] = ()
    bitrate: int = BITRATE  # bit/s of the students' clip
    profile: str = "custom"  # "classroom": what the built-in join page sends (`classroom_profile`)
    receive_only: bool = False  # no analysis: what receiving alone costs (the cost model)
    spy: Path | None = None  # py-spy's collapsed stacks of the bot process go here (py-spy installed)


PROFILES = ("custom", "classroom")


def classroom_profile(config: Any) -> tuple[tuple[int, int], int, int]:
    """(size, fps, bit/s) the built-in join page asks the browser to send (`classroom.publish_*`)."""
    c = config.classroom
    return (c.publish_width, c.publish_height), c.publish_fps, c.publish_max_kbps * 1000


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' → (640, 480); even sizes only (VP8 with 4:2:0 chroma)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like 640x480, not {text!r}") from None
    if not (16 <= w <= 3840 and 16 <= h <= 2160) or w % 2 or h % 2:
        raise ValueError(f"size {text!r}: even width 16..3840 and height 16..2160 expected")
    return w, h


def run_bench(opts: BenchOptions) -> dict[str, Any]:
    """Run one benchmark and return its numbers (see `bot.bench.bot.measure`)."""
    if os.geteuid() != 0:
        raise BenchError("classpulse bench must run as root: it creates a private network namespace "
                         "(WebRTC needs a non-loopback address); run it with sudo or in the CI container")
    videos = list(opts.videos) or sorted(SHARED_VIDEOS.glob("*.mp4"))
    if not videos:
        raise BenchError(f"no face videos: pass --videos or put *.mp4 files in {SHARED_VIDEOS}")
    clip = make_clip(videos, opts.size, opts.fps, opts.seconds + CLIP_MARGIN_S, bitrate=opts.bitrate)
    with namespace("cpbench") as ns:
        cmd = [sys.executable, "-m", "bot.bench.bot", "--students", str(opts.students),
               "--seconds", str(opts.seconds), "--clip", str(clip), "--host", ns.address,
               "--fps-sent", str(opts.fps)]
        if opts.receive_only:
            cmd.append("--receive-only")
        if opts.spy is not None:
            spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            cmd = [spy, "record", "--format", "raw", "--rate", "50", "--nonblocking", "--threads", "--output",
                   str(opts.spy), "--", *cmd]
        if opts.config:
            cmd += ["--config", opts.config]
        for o in opts.overrides:
            cmd += ["--set", o]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        limit_s = 2 * opts.seconds + 600 + 3 * opts.students  # a loaded machine (or tracemalloc) is slow
        try:
            res = subprocess.run(ns.command(cmd), capture_output=True, text=True, cwd=REPO, env=env,
                                 timeout=limit_s)
        except subprocess.TimeoutExpired as exc:
            tail = (exc.stderr or b"")[-2000:]
            text = tail.decode(errors="replace") if isinstance(tail, bytes) else str(tail)
            raise BenchError(f"the bot side did not finish within {limit_s:g} s: {text.strip()}") from None
    if os.environ.get("CLASSPULSE_BENCH_STDERR"):  # the bot side's (and load generator's) log, for diagnosis
        Path(os.environ["CLASSPULSE_BENCH_STDERR"]).write_text(res.stderr)
    lines = res.stdout.strip().splitlines()
    if res.returncode != 0 or not lines:
        raise BenchError(f"the bot side failed (exit {res.returncode}): {res.stderr.strip()[-2000:]}")
    out: dict[str, Any] = json.loads(next(line for line in reversed(lines) if line.startswith("{")))
    out.update(fps=opts.fps, size=f"{opts.size[0]}x{opts.size[1]}", bitrate_kbps=opts.bitrate // 1000,
               profile=opts.profile)
    return out


def _fmt(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value}{unit}"


def format_result(r: dict[str, Any]) -> str:
    """A short human-readable summary of one run."""
    lat = f"{_fmt(r.get('latency_p50_s'), ' s')} / {_fmt(r.get('latency_p95_s'), ' s')}"
    stages: dict[str, float] = r.get("analysis_ms_per_sample") or {}
    fps = r.get("fps_received_per_student") or {}
    lag = r.get("loop_lag_ms") or {}
    procs = ", ".join(f"{p['role']} {p['cpu_percent']} % / {p['rss_mb']} MB" for p in r.get("processes") or [])
    validity = "valid" if r.get("valid", True) else f"INVALID: {r.get('invalid_reason')}"
    return "\n".join([
        f"run                         {validity} (profile {r.get('profile', 'custom')}, "
        f"{r.get('bitrate_kbps', '?')} kbps sent)",
        f"students                    {r['students']} ({r.get('streaming', '?')} streaming) at "
        f"{r.get('size')} {r.get('fps')} fps, {r['seconds']} s measured",
        f"samples per student per s   {r['samples_per_student_per_s']}",
        f"dropped samples             {r['dropped_share']:.1%} ({r.get('dropped', 0)})",
        f"latency p50 / p95           {lat}",
        f"frames per student per s    {r.get('fps_per_student')}",
        f"bot CPU                     {r['cpu_percent']} % of one core ({r.get('cpu_count')} cores; "
        f"load generator {r.get('load_generator_cpu_percent')} %)",
        f"bot peak RSS                {r['peak_rss_mb']} MB",
        f"RSS slope after warm-up     {_fmt(r.get('rss_slope_mb_per_min'), ' MB/min')} (whole tree; threads "
        f"{r.get('threads_start', '-')} → {r.get('threads_end', '-')})",
        "analysis per sample         " + (", ".join(f"{k} {v} ms" for k, v in stages.items()) or "-"),
        f"fresh samples               {_fmt(r.get('fresh_share'))} (share whose frame was new)",
        f"received fps per student    min {_fmt(fps.get('min'))} / median {_fmt(fps.get('median'))}",
        f"students lost               {_fmt(r.get('students_lost'))}",
        f"video received              median {_fmt((r.get('video_received') or {}).get('fps_median'))} fps at "
        f"{_fmt((r.get('video_received') or {}).get('size_median'))}",
        f"sampling interval           {_fmt(r.get('sample_interval_s'), ' s')} "
        f"({r.get('deferred_ticks', 0)} ticks deferred: over capacity every student is sampled less often)",
        f"event-loop lag p50/p95/max  {_fmt(lag.get('p50'))} / {_fmt(lag.get('p95'))} / {_fmt(lag.get('max'))} ms",
        f"processes                   {procs or '-'}",
    ])
