"""`classpulse demo --live`: a real live class on this machine, end to end to reports.

The bot hosts its built-in classroom, simulated students (one face video each, relayed
as pre-encoded VP8 by `bot.bench.load`) join it over WHIP, the bot samples them with the
real analyser for `seconds`, leaves at that maximum duration and renders the reports —
the same path as `classpulse join classroom:CODE`, with real WebRTC in between.

Real ICE needs a non-loopback address, so everything runs in a private network namespace
(root only). Where that is not possible, `LiveDemoUnavailable` says why and the CLI falls
back to the offline demo.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.sim.netns import available
from model.datasets import REPO_ROOT as REPO
from model.datasets import videos_dir

SHARED_VIDEOS = videos_dir()
NAMES = ("Ada", "Ben", "Chloé", "Dev", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kemal", "Lea")
CODE = "demo"
CLIP_BASE_S = 10.0  # encoded seconds per student clip: a few seconds of encoding each, once


class LiveDemoUnavailable(Exception):
    """The live demo cannot run here (not root, no namespaces, no videos)."""


def run_live_demo(videos: Sequence[str] | None, seconds: float, out_dir: str | None,
                  config_path: str | None = None, overrides: Sequence[str] = (), students: int = 5) -> list[Path]:
    """Run the live class in a fresh namespace; returns the report paths."""
    from bot.bench.clip import make_clip
    from bot.sim.netns import namespace

    why = available()
    if why:
        raise LiveDemoUnavailable(why)
    sources = [Path(v) for v in videos] if videos else sorted(SHARED_VIDEOS.glob("*.mp4"))[:students]
    if not sources:
        raise LiveDemoUnavailable(f"no face videos (pass --videos or put *.mp4 files in {SHARED_VIDEOS})")
    print(f"demo: preparing {len(sources)} student clips (cached after the first run)", file=sys.stderr)
    clips = [make_clip([s], (640, 480), 15, seconds + 120, base_s=CLIP_BASE_S) for s in sources]
    with namespace("cpdemo") as ns:
        cmd = [sys.executable, "-m", "bot.sim.demo_live", "--seconds", str(seconds), "--host", ns.address,
               "--names", ",".join(NAMES[i % len(NAMES)] for i in range(len(clips)))]
        for c in clips:
            cmd += ["--clip", str(c)]
        if out_dir:
            cmd += ["--out", out_dir]
        if config_path:
            cmd += ["--config", config_path]
        for o in overrides:
            cmd += ["--set", o]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        res = subprocess.run(ns.command(cmd), stdout=subprocess.PIPE, text=True, env=env, timeout=seconds + 600)
    lines = res.stdout.strip().splitlines()
    if res.returncode != 0 or not lines:
        raise RuntimeError(f"the live demo failed (exit {res.returncode}); see the messages above")
    out: dict[str, Any] = json.loads(lines[-1])
    if out["failure"]:
        raise RuntimeError(f"the live demo session failed: {out['failure']}: {out['detail']}")
    return [Path(p) for p in out["reports"]]


async def _inside(a: argparse.Namespace) -> dict[str, Any]:
    """The bot side, inside the namespace: classroom, one session through the runner, students."""
    from aiohttp import web

    from analysis.store import Store
    from bot.config import load_config
    from bot.connectors.registry import ClassroomHost, Registry
    from bot.db.store import ServiceStore
    from bot.sessions.runner import SessionRunner, SessionSpec
    from bot.web.app import classroom_key, init_app

    overrides = [*a.set, f"classroom.host={a.host}"] + ([f"reports.out_dir={a.out}"] if a.out else [])
    config = load_config(a.config, overrides=overrides)
    app = init_app(config)
    web_runner = web.AppRunner(app)
    await web_runner.setup()
    await web.TCPSite(web_runner, a.host, config.classroom.port).start()
    base = f"http://{a.host}:{config.classroom.port}"
    store = Store(config.store.url)
    meetings = Registry(config, ClassroomHost(app[classroom_key], base))
    sessions = SessionRunner(config, store, ServiceStore(store), meetings)
    sid = await sessions.start(SessionSpec(meeting_url=f"classroom:{CODE}", owner="Demo teacher",
                                           class_name="Demo class (live)", duration_s=a.seconds, origin="cli"))
    run = asyncio.ensure_future(sessions.wait(sid))
    load: asyncio.subprocess.Process | None = None
    try:
        running = sessions.running[sid]
        await until_in_class(running)
        print(f"demo: the bot is in the class at {base}/join/{CODE}; {len(a.clip)} students join", file=sys.stderr)
        clip_args = [x for c in a.clip for x in ("--clip", c)]
        load = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.bench.load", "--base-url", base, "--code", CODE, "--students",
            str(len(a.clip)), "--names", a.names, *clip_args, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL)
        while not run.done():
            await asyncio.wait([run], timeout=10)
            p = sessions.live_numbers(sid)
            if p is not None:
                print(f"demo: {p['elapsed_s']:5.0f}/{a.seconds:.0f} s, {p['present']} students present, "
                      f"{p['samples']} samples, {p['dropped']} dropped", file=sys.stderr)
        outcome = run.result()
    finally:
        if not run.done():
            sessions.leave(sid)
            await asyncio.wait_for(run, 120)
        if load is not None and load.stdin is not None:
            load.stdin.close()
            await asyncio.wait_for(load.wait(), 20)
        await web_runner.cleanup()
        store.close()
    assert outcome is not None
    return {"session_id": outcome.session_id, "state": outcome.state, "failure": outcome.failure or None,
            "detail": outcome.detail, "reports": [str(p) for p in outcome.reports],
            "report_error": outcome.report_error}


async def until_in_class(running: Any, timeout_s: float = 120.0) -> None:
    """Wait until the runner's attempt has a live session that got into the class."""
    for _ in range(int(timeout_s * 10)):
        if running.live is not None:
            await asyncio.wait_for(running.live.in_class.wait(), timeout_s)
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the bot did not get into the class")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--clip", action="append", required=True)
    p.add_argument("--names", required=True)
    p.add_argument("--out")
    p.add_argument("--config")
    p.add_argument("--set", action="append", default=[])
    json.dump(asyncio.run(_inside(p.parse_args())), sys.stdout)
    print()


if __name__ == "__main__":
    main()
