"""`classpulse bench cluster`: W worker processes, C simulated classes at once, one worker killed.

It starts `classpulse worker` processes against a PostgreSQL database, makes C classes of S
`sim:` students, queues one session of M minutes for each (as `serve` does), optionally
SIGKILLs the worker that holds the most classes a third of the way in, waits for every
session to end and then reads its figures from the database (not from its own bookkeeping):

- ``classes_completed`` / ``reports_rendered``: sessions that ended ``done`` / those of them
  whose class report is in the reports folder;
- ``duplicate_bots``: sessions in which two attempts (each a worker process) wrote
  observations over overlapping session time (observation rows carry their attempt);
- ``resumed_after_kill_s``: the longest ``worker_lost`` interruption (last heartbeat of the
  dead attempt → the new attempt in class), null without ``--kill-one``;
- ``lost_observation_s_max``: the longest stretch of session time without any observation;
- ``enqueue_to_join_p95_s``: queued → first in class, 95th percentile over the sessions.

The same harness (`ClusterProcesses`) drives the cluster tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from analysis import schema
from analysis.store import Store
from bot.config import Config, load_config
from bot.db import tables
from bot.db.records import ClassRecord
from bot.db.store import ServiceStore
from bot.sessions.runner import SessionSpec, utc_now


class BenchError(RuntimeError):
    pass


@dataclass
class ClusterProcesses:
    """Worker processes on one database (the bench's and the tests' harness)."""

    url: str
    data_dir: Path
    settings: Mapping[str, str] = field(default_factory=dict)  # more CLASSPULSE_… variables
    analyzer: str = "production"
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        return {**os.environ, "PYTHONPATH": path, "CLASSPULSE_STORE__URL": self.url,
                "CLASSPULSE_STORE__DATA_DIR": str(self.data_dir), **self.settings}

    def config(self) -> Config:
        env = {k: v for k, v in self.env().items() if k.startswith("CLASSPULSE_")}
        return load_config(env=env)

    def start_worker(self, capacity: int, *, wrap: Sequence[str] = (), url: str = "") -> subprocess.Popen[bytes]:
        """One `classpulse worker`; `wrap` runs it inside something (`ip netns exec NS`), `url` is its own
        way to the database (e.g. over TCP from a network namespace)."""
        log = self.data_dir / f"worker-{len(self.procs) + 1}.log"
        env = {**self.env(), **({"CLASSPULSE_STORE__URL": url} if url else {})}
        with log.open("wb") as out:
            proc = subprocess.Popen([*wrap, sys.executable, "-m", "bot", "worker", "--capacity", str(capacity),
                                     "--analyzer", self.analyzer], env=env, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def ready(self) -> bool:
        """Every worker has loaded its analyser and registered with the queue."""
        return all("started: capacity" in log.read_text(errors="replace") for log in self.logs)

    def holder_pid(self, holder: str) -> int:
        return int(holder.split(":")[1])

    def proc_of(self, pid: int) -> subprocess.Popen[bytes] | None:
        return next((p for p in self.procs if p.pid == pid), None)

    def stop(self, timeout_s: float = 60.0) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGCONT)
                p.terminate()
        deadline = time.monotonic() + timeout_s
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def add_classes(db: ServiceStore, n: int, students: int, *, url: str, prefix: str = "bench") -> list[ClassRecord]:
    made = []
    for i in range(n):
        cls = ClassRecord(class_id=f"{prefix}-{i + 1}", name=f"Class {i + 1}", owner="bench",
                          created_at=utc_now().isoformat(), meeting_url=url, expected_students=students)
        if db.get_class(cls.class_id) is None:
            db.add_class(cls)
        made.append(cls)
    return made


async def enqueue(config: Config, store: Store, db: ServiceStore, classes: Sequence[ClassRecord],
                  duration_s: float) -> list[str]:
    """Queue one session per class, as `serve` does."""
    from bot.cluster.enqueue import QueuedSessions
    from bot.cluster.jobqueue import make_app
    from bot.connectors.registry import Registry

    queue = make_app(config.store.url)
    async with queue.open_async():
        sessions = QueuedSessions(config, store, db, Registry(config), queue=queue)
        return [await sessions.start(SessionSpec(meeting_url=c.meeting_url, owner=c.owner, class_name=c.name,
                                                 class_id=c.class_id, duration_s=duration_s, origin="api"))
                for c in classes]


def _seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def p95(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def figures(db: ServiceStore, store: Store, session_ids: Sequence[str], reports_dir: Path) -> dict[str, Any]:
    """The bench's figures, all read from the database (and the reports folder)."""
    s, a, o, gaps = tables.service_sessions, tables.attempts, schema.observations, schema.interruptions
    with db.engine.connect() as conn:
        sessions = conn.execute(sa.select(s).where(s.c.session_id.in_(session_ids))).all()
        spans = conn.execute(sa.select(o.c.session_id, o.c.attempt, sa.func.min(o.c.t), sa.func.max(o.c.t))
                             .where(o.c.session_id.in_(session_ids)).group_by(o.c.session_id, o.c.attempt)).all()
        times = conn.execute(sa.select(o.c.session_id, o.c.t).where(o.c.session_id.in_(session_ids))
                             .distinct().order_by(o.c.session_id, o.c.t)).all()
        lost = conn.execute(sa.select(gaps.c.from_at, gaps.c.to_at).where(
            gaps.c.session_id.in_(session_ids), gaps.c.reason == "worker_lost", gaps.c.to_at != "")).all()
        holders = conn.execute(sa.select(a.c.session_id, a.c.number, a.c.holder)
                               .where(a.c.session_id.in_(session_ids))).all()
    done = [r for r in sessions if r.state == "done"]
    by_session: dict[str, list[tuple[float, float]]] = {}
    for sid, _attempt, lo, hi in spans:
        by_session.setdefault(sid, []).append((float(lo), float(hi)))
    duplicates = sum(1 for ranges in by_session.values()
                     if any(x[0] < y[1] and y[0] < x[1] for i, x in enumerate(ranges) for y in ranges[i + 1:]))
    longest = 0.0
    previous: dict[str, float] = {}
    for sid, t in times:
        if sid in previous:
            longest = max(longest, float(t) - previous[sid])
        previous[sid] = float(t)
    joins = [_seconds(r.created_at, r.started_at) for r in sessions if r.started_at]
    return {
        "classes": len(session_ids),
        "workers": len({h for _, _, h in holders}),
        "classes_completed": len(done),
        "duplicate_bots": duplicates,
        "resumed_after_kill_s": max((_seconds(f, t) for f, t in lost), default=None),
        "reports_rendered": sum(1 for r in done if any((reports_dir / r.session_id).glob("class.*"))),
        "lost_observation_s_max": round(longest, 2),
        "enqueue_to_join_p95_s": p95(joins),
    }


@dataclass(frozen=True)
class ClusterOptions:
    db: str
    workers: int
    classes: int
    students: int
    minutes: float
    kill_one: bool = False
    analyzer: str = "production"
    fps: int = 5
    settings: tuple[tuple[str, str], ...] = ()


def wait_until(check: Any, timeout_s: float, every_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every_s)
    return bool(check())


def run_cluster_bench(opts: ClusterOptions) -> dict[str, Any]:
    from bot.cluster.jobqueue import is_postgres

    if not is_postgres(opts.db):
        raise BenchError("--db must be a PostgreSQL URL (postgresql+psycopg://…): a cluster needs PostgreSQL")
    if min(opts.workers, opts.classes, opts.students) < 1 or opts.minutes <= 0:
        raise BenchError("--workers, --classes, --students and --minutes must be positive")
    if opts.kill_one and opts.workers < 2:
        raise BenchError("--kill-one needs at least 2 workers (one must take the killed one's classes over)")
    data = Path(tempfile.mkdtemp(prefix="classpulse-cluster-"))
    harness = ClusterProcesses(opts.db, data, dict(opts.settings), opts.analyzer)
    config = harness.config()
    store = Store(opts.db)
    try:
        db = ServiceStore(store)
        # Room for a fair share each, and after a kill for all classes on the survivors.
        survivors = opts.workers - 1 if opts.kill_one else opts.workers
        capacity = opts.students * math.ceil(opts.classes / survivors)
        for _ in range(opts.workers):
            harness.start_worker(capacity)
        if not wait_until(harness.ready, 600, 1.0):  # production workers load TensorFlow first
            raise BenchError(f"workers did not start (logs in {data})")
        meeting = f"sim:?students={opts.students}&fps={opts.fps}"
        classes = add_classes(db, opts.classes, opts.students, url=meeting,
                              prefix=f"bench-{datetime.now():%H%M%S}")
        ids = asyncio.run(enqueue(config, store, db, classes, opts.minutes * 60))

        def states() -> list[str]:
            return [r.state if r else "?" for r in (db.session(i) for i in ids)]

        if opts.kill_one:
            wait_until(lambda: all(x in ("in_class", "done", "failed", "interrupted") for x in states()), 300)
            time.sleep(opts.minutes * 60 / 3)
            holders = [a.holder for i in ids for a in db.attempts(i) if not a.ended_at]
            pids = [harness.holder_pid(h) for h in holders]
            victim = max(set(pids), key=pids.count) if pids else None
            proc = harness.proc_of(victim) if victim else None
            if proc is None:
                raise BenchError("no worker holds a class to kill")
            proc.kill()
        final = ("done", "failed", "interrupted")
        if not wait_until(lambda: all(x in final for x in states()), opts.minutes * 60 + 300, 1.0):
            raise BenchError(f"sessions did not end in time: {states()} (logs in {data})")
        out = figures(db, store, ids, Path(config.reports.out_dir))
        out["workers"] = opts.workers
        return out
    finally:
        harness.stop()
        store.close()
