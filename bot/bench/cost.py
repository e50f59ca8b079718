"""`python -m bot.bench.cost`: the capacity cost model — what one student costs the bot, by part.

    sudo PYTHONPATH=. .venv/bin/python -m bot.bench.cost [--receive] [--json] [--students 10]

Three parts, each measured here (docs/bot.md, "Cost model", has the table and the arithmetic):

1. **Analysis per stage** (`bot.bench.stages`): detection (YuNet, BlazeFace, on the full and
   on downscaled frames), tracking, face mesh, pose, quality, crop, the emotion model per face
   in batches of 1, 10 and 50, the frame conversion and the camera-off check.
2. **Analysis per sample, before and after the live shortcuts**: the same ticks (every face
   clip is one student, one frame per second of clip) go through the pipeline as `classpulse
   analyze` runs it (no shortcuts) and as a live session runs it (`analysis.live_*`),
   alternating which goes first, so the ratio is fair on a busy machine. It also says how
   often the two agree (face found, attentive, eyes open, emotion present) — a shortcut must
   not change what is read.
3. **Receive, sender and event loop** (`--receive`, root: a real WebRTC run in a network
   namespace, `classpulse bench --receive-only`): the bot's CPU per received student at
   640x480 15 fps, 640x480 5 fps and the classroom profile (what the join page sends), the
   load generator's CPU per student (the bench's own sender cost) and the event-loop lag.

Every figure is a median or a ratio inside one run; on a shared machine absolute numbers
move with the other load, so compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bot.bench.stages import CANVAS, default_videos, letterbox, measure_stages, sample_frames

CORES = 2
TARGET_STUDENTS = 50


def clip_ticks(videos: list[Path], ticks: int, per_second: int = 4) -> list[list[np.ndarray]]:
    """`ticks` ticks of one frame per clip: tick t holds every student's frame t.

    The shared clips last only a few seconds, so each is sampled `per_second` times per second
    of clip and played back and forth (never jumping back to its first frame) to make `ticks`.
    """
    import cv2

    per_clip: list[list[np.ndarray]] = []
    for path in videos:
        cap = cv2.VideoCapture(str(path))
        step = max(1, round((cap.get(cv2.CAP_PROP_FPS) or 25.0) / per_second))
        frames: list[np.ndarray] = []
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if index % step == 0:
                frames.append(letterbox(frame, CANVAS))
            index += 1
        cap.release()
        if frames:
            per_clip.append(frames)
    return [[clip[ping_pong(t, len(clip))] for clip in per_clip] for t in range(ticks)]


def ping_pong(t: int, length: int) -> int:
    """Index at step t of a clip played forward, then backward, and so on."""
    if length <= 1:
        return 0
    period = 2 * length - 2
    i = t % period
    return i if i < length else period - i


def _agree(a: Any, b: Any) -> dict[str, int]:
    fa, fb = a.primary, b.primary
    out = {"samples": 1, "present_same": int(a.state == b.state)}
    if fa is not None and fb is not None:
        out.update(both_faces=1, attentive_same=int(fa.attentive == fb.attentive),
                   eyes_same=int(fa.eyes_open == fb.eyes_open),
                   emotion_same=int((fa.emotions is None) == (fb.emotions is None) and (
                       fa.emotions is None or int(np.argmax(fa.emotions)) == int(np.argmax(fb.emotions)))),
                   uncertain_same=int(fa.uncertain == fb.uncertain))
    return out


def compare_pipelines(ticks: list[list[np.ndarray]], config: Any) -> dict[str, Any]:
    """ms per sample without and with the live shortcuts on the same ticks, and their agreement."""
    from analysis.pipeline import Analyzer, Sample
    from bot.sessions.analyzer import live_settings_from, settings_from

    full = Analyzer(settings_from(config))
    live = Analyzer(live_settings_from(config))
    _ = full.classifier, live.classifier
    ms: dict[str, list[float]] = {"analyze (no shortcuts)": [], "live (shortcuts)": []}
    agree: dict[str, int] = {}
    for t, frames in enumerate(ticks):
        tick = [Sample("cost", f"student{i}", float(t), f) for i, f in enumerate(frames)]
        order = [("analyze (no shortcuts)", full), ("live (shortcuts)", live)]
        results = {}
        for name, analyzer in order if t % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            results[name] = analyzer.analyze(tick)
            ms[name].append((time.perf_counter() - t0) * 1000.0 / len(tick))
        for a, b in zip(results["analyze (no shortcuts)"], results["live (shortcuts)"], strict=True):
            for k, v in _agree(a, b).items():
                agree[k] = agree.get(k, 0) + v
            for side, o in (("before", a), ("after", b)):
                if o.primary is not None:
                    agree[f"uncertain_{side}"] = agree.get(f"uncertain_{side}", 0) + int(o.primary.uncertain)
                    agree[f"attentive_{side}"] = agree.get(f"attentive_{side}", 0) + int(bool(o.primary.attentive))
    before = statistics.median(ms["analyze (no shortcuts)"][1:] or ms["analyze (no shortcuts)"])
    after = statistics.median(ms["live (shortcuts)"][1:] or ms["live (shortcuts)"])
    faces = max(1, agree.get("both_faces", 0))
    return {
        "ticks": len(ticks), "students": len(ticks[0]) if ticks else 0,
        "ms_per_sample": {"before": round(before, 2), "after": round(after, 2)},
        "ratio_after_to_before": round(after / before, 3) if before else None,
        "agreement": {
            "present": round(agree.get("present_same", 0) / max(1, agree.get("samples", 0)), 4),
            "attentive": round(agree.get("attentive_same", 0) / faces, 4),
            "eyes_open": round(agree.get("eyes_same", 0) / faces, 4),
            "emotion_top_or_both_missing": round(agree.get("emotion_same", 0) / faces, 4),
            "uncertain": round(agree.get("uncertain_same", 0) / faces, 4),
        },
        # direction of the differences: faces flagged uncertain / read attentive on each side
        "uncertain_faces": {"before": agree.get("uncertain_before", 0), "after": agree.get("uncertain_after", 0)},
        "attentive_faces": {"before": agree.get("attentive_before", 0), "after": agree.get("attentive_after", 0)},
        "live_counters": {"mesh_runs": live.timings.mesh_runs, "mesh_reused": live.timings.mesh_reused,
                          "emotion_skipped": live.timings.emotion_skipped,
                          "detector_modes": dict(live.timings.detector_modes)},
    }


RECEIVE_RUNS = (
    ("640x480 15 fps", (640, 480), 15, None),
    ("640x480 5 fps", (640, 480), 5, None),
    ("classroom profile", None, None, "classroom"),
)


def measure_receive(students: int, seconds: float, config: Any) -> list[dict[str, Any]]:
    """Receive-only benchmark runs: the bot's and the sender's CPU per student, event-loop lag."""
    from bot.bench.clip import BITRATE
    from bot.bench.live import BenchOptions, classroom_profile, run_bench

    rows = []
    for label, size, fps, profile in RECEIVE_RUNS:
        bitrate = BITRATE
        if profile == "classroom":
            size, fps, bitrate = classroom_profile(config)
        assert size is not None and fps is not None
        r = run_bench(BenchOptions(students=students, fps=fps, size=size, seconds=seconds, bitrate=bitrate,
                                   profile=profile or "custom", receive_only=True))
        bot = r["processes"][0]["cpu_percent"]
        load = r["processes"][1]["cpu_percent"]
        rows.append({"run": label, "size": r["size"], "fps": r["fps"], "bitrate_kbps": r["bitrate_kbps"],
                     "students": students, "valid": r["valid"],
                     "fps_received_median": r["fps_received_per_student"]["median"],
                     "receive_cpu_ms_per_s_per_student": round(10 * bot / students, 2),
                     "sender_cpu_ms_per_s_per_student": round(10 * load / students, 2),
                     "loop_lag_ms": r["loop_lag_ms"], "bot_cpu_percent": bot})
    return rows


def arithmetic(per_sample_ms: float, receive_ms: float | None, students: int = TARGET_STUDENTS,
               rate: float = 1.0) -> dict[str, Any]:
    """CPU milliseconds per second that `students` need (1 sample/s each), against `CORES` cores."""
    analysis = students * rate * per_sample_ms
    receive = students * receive_ms if receive_ms is not None else None
    total = analysis + (receive or 0.0)
    return {"students": students, "analysis_ms_per_s": round(analysis, 1),
            "receive_ms_per_s": None if receive is None else round(receive, 1),
            "total_ms_per_s": round(total, 1), "cores_needed": round(total / 1000.0, 2), "cores": CORES,
            "share_of_machine": round(total / (1000.0 * CORES), 3)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-clip", type=int, default=4, help="frames per clip for the stage timings (default 4)")
    p.add_argument("--repeat", type=int, default=5, help="timed calls per frame and stage (default 5)")
    p.add_argument("--ticks", type=int, default=30, help="ticks for the before/after comparison (default 30)")
    p.add_argument("--receive", action="store_true", help="also measure receive/sender CPU (root, WebRTC)")
    p.add_argument("--students", type=int, default=10, help="students per receive run (default 10)")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per receive run (default 20)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from bot.config import load_config

    config = load_config(None)
    videos = default_videos()
    if not videos:
        print("no face clips in the shared videos folder", file=sys.stderr)
        return 2
    stages = measure_stages(sample_frames(videos, args.per_clip), repeat=args.repeat)
    compare = compare_pipelines(clip_ticks(videos, args.ticks), config)
    receive = measure_receive(args.students, args.seconds, config) if args.receive else []
    classroom = next((r for r in receive if r["run"] == "classroom profile"), None)
    recv_ms = classroom["receive_cpu_ms_per_s_per_student"] if classroom else None
    result = {
        "analysis_stages": stages, "per_sample": compare, "receive": receive,
        "for_50_students": {
            "before": arithmetic(compare["ms_per_sample"]["before"], recv_ms),
            "after": arithmetic(compare["ms_per_sample"]["after"], recv_ms),
        },
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    st = r["analysis_stages"]
    lines = [f"Analysis stages ({st['frames']} frames {st['frame_size']}, median face "
             f"{st['face_size_median_px']} px, load average {r['loadavg_1m']}):", "",
             "| stage | median ms | p90 ms | n |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['median_ms']} | {v['p90_ms']} | {v['n']} |" for k, v in st["stages"].items()]
    c = r["per_sample"]
    lines += ["", f"Per sample over {c['ticks']} ticks of {c['students']} students: before "
              f"{c['ms_per_sample']['before']} ms, after {c['ms_per_sample']['after']} ms "
              f"(ratio {c['ratio_after_to_before']}); agreement {c['agreement']}; {c['live_counters']}"]
    if r["receive"]:
        lines += ["", "| receive run | sent | received fps (median) | bot CPU ms/s per student | "
                  "sender CPU ms/s per student | loop lag p50/p95/max ms |", "|---|---|---|---|---|---|"]
        for x in r["receive"]:
            lag = x["loop_lag_ms"]
            lines.append(f"| {x['run']} | {x['size']} {x['fps']} fps {x['bitrate_kbps']} kbps | "
                         f"{x['fps_received_median']} | {x['receive_cpu_ms_per_s_per_student']} | "
                         f"{x['sender_cpu_ms_per_s_per_student']} | {lag['p50']}/{lag['p95']}/{lag['max']} |")
    for k, v in r["for_50_students"].items():
        lines.append(f"\n50 students, {k} the shortcuts: {v}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
