"""The bot side of `classpulse bench`, run inside the benchmark's network namespace.

This process is the bot exactly as `classpulse join classroom:CODE` runs it — the built-in
classroom (WHIP) server, a `LiveSession` with the real analyser, the production sampler —
and it starts the load generator (`bot.bench.load`) as a child so that only the bot's own
CPU is measured here. After every student's first frame has arrived (plus a short
settling time) it measures a steady window of `seconds` and prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from aiohttp import web

from analysis.store import Store
from bot.bench.memory import TraceMalloc
from bot.bench.resources import TreeSample, sample_tree, slope_per_min
from bot.config import Config, load_config
from bot.connectors.classroom import ClassroomConnector
from bot.sessions.analyzer import analyzer_factory
from bot.sessions.live import LiveSession
from bot.sessions.sampler import Analyze
from bot.web.app import classroom_key, init_app, receive_pool_key
from bot.web.backlog import EncodedBacklog

CODE = "bench"
SETTLE_S = 3.0  # after the last first frame: let jitter buffers and the first ticks settle
ALIVE_S = 2.0  # a student counts as still streaming when frames arrived in the window's last ALIVE_S
LAG_PROBE_S = 0.05  # the event-loop lag probe sleeps this long and measures the overshoot
VALID_FPS_SHARE = 0.9  # a run whose students were received below 0.9x the sent fps is invalid


class LagProbe:
    """Event-loop lag: how late a `LAG_PROBE_S` sleep wakes up (receiving shares this loop)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(LAG_PROBE_S)
            self.lags.append(loop.time() - t0 - LAG_PROBE_S)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def _rss_mb(pid: int | str = "self") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _no_analysis(samples: Any) -> list[Any]:
    """The receive-only run's analyser: nothing (it also never ticks; see `run`)."""
    return []
WARMUP_S = 180.0  # the RSS slope is fitted after this much of the window (caches, pools, buffers fill)


def _cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) of this process, or of child `pid` from /proc."""
    if pid is None:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _backlog(app: web.Application) -> dict[str, int]:
    """Media waiting inside aiortc: encoded frames queued for the decoder threads, decoded frames
    queued for `recv()`, and the event loop's tasks. Diagnostics only, so aiortc's private
    attributes are read defensively: a backlog that grows is memory that grows."""
    dec = trk = skipped = 0
    room = app[classroom_key].rooms.get(CODE)
    for pub in room.publishers.values() if room else ():
        pc = getattr(pub.peer, "pc", None)
        for r in pc.getReceivers() if pc is not None else ():
            q = getattr(r, "_RTCRtpReceiver__decoder_queue", None)
            dec += q.qsize() if q is not None else 0
            skipped += q.stats.dropped if isinstance(q, EncodedBacklog) else 0
            track = getattr(r, "_track", None)
            trk += track._queue.qsize() if track is not None else 0
    return {"decoder_queue": dec, "track_queue": trk, "loop_tasks": len(asyncio.all_tasks()),
            "encoded_frames_dropped": skipped}


async def _watch(samples: list[TreeSample], every_s: float, exclude: list[int],
                 trace: TraceMalloc | None, backlog: list[dict[str, int]], app: web.Application) -> None:
    """Sample the bot's process tree (without the load generator) every `every_s` from now on."""
    t0 = time.monotonic()
    while True:
        samples.append(sample_tree(time.monotonic() - t0, exclude=exclude))
        backlog.append(_backlog(app))
        print(json.dumps({"t": round(samples[-1].t), "rss_mb": round(samples[-1].rss_mb, 1),
                          "threads": samples[-1].threads, **backlog[-1]}), file=sys.stderr, flush=True)
        if trace is not None:
            trace.maybe_snapshot(time.monotonic() - t0)
        await asyncio.sleep(every_s)


def resources(samples: list[TreeSample], end: TreeSample, window_s: float) -> dict[str, Any]:
    """RSS per sample, its slope after the warm-up and the thread counts, for the JSON document."""
    every = [*samples, end]
    return {
        "rss_tree_mb": [[round(s.t), round(s.rss_mb, 1)] for s in every],
        "rss_slope_mb_per_min": None if (k := slope_per_min(every, min(WARMUP_S, window_s / 3))) is None
        else round(k, 2),
        "rss_slope_after_s": min(WARMUP_S, window_s / 3),
        "threads_start": samples[0].threads if samples else end.threads,
        "threads_end": end.threads,
        "tree_processes": end.processes,  # how many processes the bot's tree has ("processes" lists their roles)
    }


async def _until_all_streaming(session: LiveSession, students: int, timeout_s: float) -> float:
    """Seconds waited until `students` participants have delivered frames (or the timeout)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        parts = session.sampler.participants() if session.sampler else {}
        if sum(1 for p in parts.values() if p["frames"] > 0) >= students:
            break
        await asyncio.sleep(0.25)
    return time.monotonic() - start


class _Probe:
    """Builds the real analyser like the session would and keeps it, to read its stage timings."""

    def __init__(self, config: Config) -> None:
        self._make = analyzer_factory(config)
        self.analyzer: Any = None

    def __call__(self) -> Analyze:
        analyze = self._make()
        self.analyzer = getattr(analyze, "__self__", None)
        return analyze

    def analysis_pid(self) -> int | None:
        """The analyser's own process, when it runs in one (`bot.sessions.analysis_process`)."""
        pid = getattr(self.analyzer, "pid", None)
        return pid if isinstance(pid, int) else None

    def timings(self) -> dict[str, float]:
        t = getattr(self.analyzer, "timings", None)
        if t is None:
            return {}
        hand = getattr(self.analyzer, "transport", None)  # the analysis process's hand-over, if any
        extra = {} if hand is None else {"pack": hand.pack_s, "outside_child": hand.call_s - hand.child_s}
        return {**extra, "detect": t.detect, "signals": t.signals, "classify": t.classify, "analysed": t.samples,
                "faces": t.faces, "mesh_runs": t.mesh_runs, "mesh_reused": t.mesh_reused,
                "emotion_skipped": t.emotion_skipped, **{f"mode_{k}": v for k, v in t.detector_modes.items()}}


def _receive(app: web.Application | None) -> dict[str, Any]:
    """The receive workers' CPU seconds by pid (`classroom.receive_workers`), restarts and the cost of
    fetching sampled frames from them; empty when the bot receives in its own process."""
    pool = app.get(receive_pool_key) if app is not None else None
    if pool is None:
        return {}
    cpu = {}
    for pid in pool.pids():
        with contextlib.suppress(OSError):
            cpu[pid] = _cpu_s(pid)
    f = pool.fetch_stats
    return {"receive_cpu": cpu, "receive_restarts": pool.restarts, "fetch_s": f.seconds, "fetched": f.frames,
            "fetch_worker_s": f.worker_seconds, "fetch_copy_s": f.copy_seconds, "fetches": f.fetches,
            "fetch_failed": f.failed}


def _snapshot(session: LiveSession, load_pid: int, probe: _Probe, lag: LagProbe | None = None,
              app: web.Application | None = None) -> dict[str, Any]:
    assert session.sampler is not None
    st = session.sampler.stats
    child = probe.analysis_pid()  # the analysis process (analysis.process on), if running
    return {**_receive(app), "t": time.monotonic(), "cpu": _cpu_s(), "load_cpu": _cpu_s(load_pid),
            "samples": st.samples,
            "analysis_pid": child, "analysis_cpu": _cpu_s(child) if child else None,
            "analysis_restarts": st.analysis_restarts,
            "dropped": st.dropped, "frames": st.frames, "latencies": len(st.latencies),
            "fresh": st.fresh, "deferred": st.deferred, "inferences": st.inferences,
            "per_student": {pid: p["frames"] for pid, p in session.sampler.participants().items()},
            "lags": len(lag.lags) if lag else 0, "timings": probe.timings(), "load_pid": load_pid}


def _stage_ms(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """Analyser milliseconds per analysed sample in the window, by stage (why a tick takes long)."""
    ta, tb = a["timings"], b["timings"]
    n = tb.get("analysed", 0) - ta.get("analysed", 0)
    if not n:
        return {}
    return {k: round(1000 * (tb[k] - ta[k]) / n, 1) for k in ("detect", "signals", "classify", "pack", "outside_child")
            if k in tb and k in ta}


def _quantiles(values: list[float], *qs: float, scale: float = 1.0, digits: int = 4) -> list[float | None]:
    v = sorted(values)
    return [round(scale * v[min(len(v) - 1, int(q * len(v)))], digits) if v else None for q in qs]


def received_fps(a: dict[str, Any], b: dict[str, Any], students: int) -> dict[str, float | None]:
    """Frames per second received per student in the window: min and median over `students`
    (a student missing from either snapshot received nothing there)."""
    wall = b["t"] - a["t"]
    rates = sorted((b["per_student"].get(pid, 0) - a["per_student"].get(pid, 0)) / wall for pid in b["per_student"])
    rates = [0.0] * max(0, students - len(rates)) + rates
    if not rates:
        return {"min": None, "median": None}
    return {"min": round(rates[0], 2), "median": round(rates[len(rates) // 2] if len(rates) % 2 else
                                                        (rates[len(rates) // 2 - 1] + rates[len(rates) // 2]) / 2, 2)}


def alive(c: dict[str, Any], b: dict[str, Any]) -> int:
    """Students whose frames still arrived between snapshots `c` and `b` (the window's end)."""
    return sum(1 for pid, n in b["per_student"].items() if n > c["per_student"].get(pid, 0))


def validity(fps: dict[str, float | None], sent_fps: float | None) -> tuple[bool, str]:
    """A run is valid only when the median student was received at >= 0.9x the fps sent."""
    if sent_fps is None:
        return True, ""
    median = fps["median"]
    if median is None or median < VALID_FPS_SHARE * sent_fps:
        return False, f"received {median} fps per student (median) of {sent_fps} sent: below {VALID_FPS_SHARE}x"
    return True, ""


def processes(a: dict[str, Any], b: dict[str, Any], wall: float) -> list[dict[str, Any]]:
    """CPU (100 = one core) and RSS per process of the bot, and the load generator for reference.

    The analysis process is its own role when the analyser runs in one; when it was restarted
    in the window (another pid at the end) its CPU is unknown (None)."""
    def pct(x: float, y: float) -> float:
        return round(100 * (y - x) / wall, 1)

    child = b.get("analysis_pid")
    receivers = b.get("receive_cpu")  # pid → CPU seconds of each receive worker, when there are some
    main = "bot (event loop + sampler" if receivers else "bot (receive + event loop"
    out: list[dict[str, Any]] = [{
        "role": f"{main})" if child else f"{main} + analysis)",
        "cpu_percent": pct(a["cpu"], b["cpu"]), "rss_mb": _rss_mb()}]
    if child:
        same = a.get("analysis_pid") == child and a.get("analysis_cpu") is not None
        out.append({"role": "analysis process", "pid": child,
                    "cpu_percent": pct(a["analysis_cpu"], b["analysis_cpu"]) if same else None,
                    "rss_mb": _rss_mb(child)})
    for pid, cpu in (receivers or {}).items():  # a worker restarted in the window: CPU unknown (None)
        before = (a.get("receive_cpu") or {}).get(pid)
        out.append({"role": "receive", "pid": pid, "cpu_percent": pct(before, cpu) if before is not None else None,
                    "rss_mb": _rss_mb(pid)})
    load_pid = b.get("load_pid")
    out.append({"role": "load generator (not the bot)", "cpu_percent": pct(a["load_cpu"], b["load_cpu"]),
                "rss_mb": _rss_mb(load_pid) if load_pid else None})
    return out


def measure(session: LiveSession, a: dict[str, Any], b: dict[str, Any], students: int,
            c: dict[str, Any] | None = None, sent_fps: float | None = None,
            lag: LagProbe | None = None) -> dict[str, Any]:
    """The benchmark's numbers for the window between snapshots `a` and `b` (`c`: ALIVE_S before `b`)."""
    assert session.sampler is not None
    st = session.sampler.stats
    wall = b["t"] - a["t"]
    lat = sorted(list(st.latencies)[a["latencies"] - b["latencies"]:] if b["latencies"] > a["latencies"] else [])
    samples, dropped = b["samples"] - a["samples"], b["dropped"] - a["dropped"]
    fresh = b["fresh"] - a["fresh"]
    fps = received_fps(a, b, students)
    valid, why = validity(fps, sent_fps)
    lags = lag.lags[a["lags"]:b["lags"]] if lag else []
    p50_lag, p95_lag = _quantiles(lags, 0.5, 0.95, scale=1000, digits=1)
    procs = processes(a, b, wall)

    def q(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 4) if lat else None

    return {
        "students": students,
        "streaming": sum(1 for p in session.sampler.participants().values() if p["frames"] > 0),
        "seconds": round(wall, 2),
        # honest counting: only samples whose detection ran on a frame received since that
        # student's previous sample count (a repeated or frozen frame is no new sample)
        "samples_per_student_per_s": round(fresh / students / wall, 4),
        "samples_with_any_frame_per_student_per_s": round(len(lat) / students / wall, 4),
        "fresh_share": round(fresh / len(lat), 4) if lat else None,
        "students_lost": students - alive(c, b) if c is not None else None,
        "fps_sent": sent_fps,
        "fps_received_per_student": fps,
        # which quality the bot received: median fps since each track's first frame and frame size
        "video_received": session.sampler.received(),
        "valid": valid,
        "invalid_reason": why,
        "deferred_ticks": b["deferred"] - a["deferred"],
        # seconds between one student's samples in the window (the configured interval unless over capacity)
        "sample_interval_s": round(wall / n, 3) if (n := b["inferences"] - a["inferences"]) else None,
        "loop_lag_ms": {"p50": p50_lag, "p95": p95_lag, "max": round(1000 * max(lags), 1) if lags else None},
        "processes": procs,
        "analysis_restarts": b.get("analysis_restarts", 0) - a.get("analysis_restarts", 0),
        **_receive_window(a, b),
        "samples_total": samples,
        "dropped": dropped,
        "dropped_share": round(dropped / (samples + dropped), 4) if samples + dropped else 0.0,
        "latency_p50_s": q(0.50),
        "latency_p95_s": q(0.95),
        "fps_per_student": round((b["frames"] - a["frames"]) / students / wall, 2),
        # the whole bot: its main process plus its analysis process when it has one
        "cpu_percent": round(sum(p["cpu_percent"] or 0.0 for p in procs if not p["role"].startswith("load")), 1),
        "load_generator_cpu_percent": round(100 * (b["load_cpu"] - a["load_cpu"]) / wall, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "analysis_ms_per_sample": _stage_ms(a, b),
        # what the live shortcuts did in the window (mode_fast/half/full: the per-stream detector)
        "analysis_counts": {k: v - a["timings"].get(k, 0) for k, v in b["timings"].items()
                            if k not in ("detect", "signals", "classify", "pack", "outside_child")},
        "cpu_count": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def _receive_window(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """With receive workers: their restarts in the window and what handing the sampled frames over cost
    per frame: the whole call on the sampler's thread (every worker asked at once), of it the slowest
    worker's BGR conversion and copy into shared memory, and the copy out in the bot's process."""
    if "receive_cpu" not in b:
        return {}
    fetched = b["fetched"] - a["fetched"]

    def per_frame(key: str) -> float | None:
        return round(1000 * (b[key] - a[key]) / fetched, 3) if fetched else None

    return {"receive_workers": len(b["receive_cpu"]), "receive_restarts": b["receive_restarts"] - a["receive_restarts"],
            "receive_fetch_ms_per_frame": {"total": per_frame("fetch_s"), "in_worker": per_frame("fetch_worker_s"),
                                           "copy_out": per_frame("fetch_copy_s")},
            "receive_fetch_frames_per_tick": round(fetched / n, 1) if (n := b["fetches"] - a["fetches"]) else None,
            "receive_fetch_failed": b["fetch_failed"] - a["fetch_failed"]}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="cp-bench-"))
    config = load_config(args.config, overrides=[
        *args.set, *(["analysis.sample_interval_s=60"] if args.receive_only else []),
        f"store.url=sqlite:///{tmp}/bench.db", f"classroom.host={args.host}",
        f"classroom.port={args.port}", f"classroom.max_students={max(args.students, 1)}",
        "classroom.max_pending_per_client=0",  # every simulated student publishes from this machine
        "classroom.offers_per_minute_per_client=0",  # … so the per-address rate limit is off for the bench
        f"reports.out_dir={tmp}/reports"])
    app = init_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    base = f"http://{args.host}:{args.port}"
    probe = _Probe(config)
    factory: Any = (lambda: _no_analysis) if args.receive_only else probe
    session = LiveSession(ClassroomConnector(app[classroom_key], CODE, "Benchmark", base), config,
                          Store(config.store.url), class_name="Benchmark", analyze_factory=factory, render=None)
    lag = LagProbe()
    task = asyncio.ensure_future(session.run())
    load: asyncio.subprocess.Process | None = None
    try:
        await asyncio.wait_for(session.in_class.wait(), 120)  # includes loading the model
        load = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.bench.load", "--base-url", base, "--code", CODE,
            "--students", str(args.students), "--clip", args.clip,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL)
        assert session.sampler is not None
        # the sampler keeps the last 20 000 latencies; the window must see all of its own
        session.sampler.stats.latencies = deque(session.sampler.stats.latencies)
        waited = await _until_all_streaming(session, args.students, 30 + 2 * args.students)
        lag.start()
        await asyncio.sleep(SETTLE_S)
        trace = TraceMalloc.from_env(args.seconds)
        tree: list[TreeSample] = []
        backlog: list[dict[str, int]] = []
        watch = asyncio.ensure_future(_watch(tree, args.sample_every, [load.pid], trace, backlog, app))
        a = _snapshot(session, load.pid, probe, lag, app)
        await asyncio.sleep(max(0.0, args.seconds - ALIVE_S))
        c = _snapshot(session, load.pid, probe, lag, app)
        await asyncio.sleep(min(ALIVE_S, args.seconds))
        b = _snapshot(session, load.pid, probe, lag, app)
        watch.cancel()
        end = sample_tree(b["t"] - a["t"], exclude=[load.pid])
        result = measure(session, a, b, args.students, c=c, sent_fps=args.fps_sent, lag=lag) | {
            "connect_s": round(waited, 2), "receive_only": args.receive_only}
        result |= resources(tree, end, args.seconds) | {"backlog": [*backlog, _backlog(app)]}
        if trace is not None:
            result["tracemalloc"] = trace.finish()
    finally:
        lag.stop()
        session.request_leave()
        await asyncio.wait_for(task, 60)
        if load is not None:
            await _stop(load)
        await runner.cleanup()
    return result


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.stdin is not None:
        proc.stdin.close()  # the load generator leaves when its stdin closes
    try:
        await asyncio.wait_for(proc.wait(), 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--students", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--clip", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--sample-every", type=float, default=60.0, help="seconds between RSS samples")
    p.add_argument("--config")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--fps-sent", type=float, help="fps each student sends (the run is invalid below 0.9x)")
    p.add_argument("--receive-only", action="store_true",
                   help="no analysis at all: the bot only receives (the cost model's receive CPU)")
    json.dump(asyncio.run(run(p.parse_args())), sys.stdout)
    print()


if __name__ == "__main__":
    main()
