"""Sessions as jobs on PostgreSQL workers: real PostgreSQL, real `classpulse worker` processes.

Every test starts its workers (and, for the scheduler, `classpulse serve` nodes) as separate
OS processes on a throw-away PostgreSQL cluster (tests/databases.py). The workers run the
fake analyser (`--analyzer fake`: every student reads as absent, no TensorFlow) so six classes
fit two shared cores; everything else — procrastinate, the queue locks, heartbeats, the sweep,
attempts and the fence, rendering — is the production code. Intervals are shortened through
the configuration (heartbeat 1 s, stalled after 3 s, sweep 1 s, flush 1 s) so takeovers take
seconds, not the production 10–13 s. A test that needs PostgreSQL fails under CI when it is
missing and skips elsewhere.
"""

from __future__ import annotations

import asyncio
import calendar
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from analysis import schema
from analysis.store import Store
from bot.bench.cluster import ClusterProcesses, add_classes, enqueue, figures, wait_until
from bot.db.records import ScheduleRecord
from bot.db.store import ServiceStore, SessionConflict
from tests.databases import cluster

pytestmark = [pytest.mark.slow, pytest.mark.integration]

FAST = {"CLASSPULSE_CLUSTER__HEARTBEAT_S": "1", "CLASSPULSE_CLUSTER__STALLED_AFTER_S": "3",
        "CLASSPULSE_CLUSTER__SWEEP_S": "1", "CLASSPULSE_CLUSTER__RETRY_S": "0.5", "CLASSPULSE_STORE__FLUSH_S": "1",
        "CLASSPULSE_REPORTS__FORMATS": "[html]", "CLASSPULSE_CLUSTER__LEADER_POLL_S": "0.5",
        "CLASSPULSE_CLUSTER__LIVE_S": "0.5"}
SIM = "sim:?students=2&faces=builtin&fps=2"
FINAL = ("done", "failed", "interrupted")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ClusterProcesses, Store, ServiceStore]]:
    url = cluster().new_database()
    store = Store(url)
    db = ServiceStore(store)
    harness = ClusterProcesses(url, tmp_path, FAST, analyzer="fake")
    try:
        yield harness, store, db
    finally:
        harness.stop(30)
        store.close()


def _holder_pid(db: ServiceStore, sid: str) -> int | None:
    live = [a for a in db.attempts(sid) if not a.ended_at]
    return int(live[-1].holder.split(":")[1]) if live else None


def _states(db: ServiceStore, ids: list[str]) -> list[str]:
    return [r.state if r else "?" for r in (db.session(i) for i in ids)]


def _attempt_rows(db: ServiceStore, sid: str) -> dict[int, tuple[float, float, int]]:
    o = schema.observations
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(o.c.attempt, sa.func.min(o.c.t), sa.func.max(o.c.t), sa.func.count())
                            .where(o.c.session_id == sid).group_by(o.c.attempt)).all()
    return {int(a): (float(lo), float(hi), int(n)) for a, lo, hi, n in rows}


def test_six_classes_on_three_workers_one_killed_are_all_taken_over_once(world) -> None:  # type: ignore[no-untyped-def]
    harness, store, db = world
    for _ in range(3):
        harness.start_worker(capacity=6)  # three 2-student classes each: the two survivors hold all six
    # All three must be up before the classes are queued: on a busy machine one worker alone would
    # otherwise take three classes and the rest fail no_capacity before the others have started.
    assert wait_until(harness.ready, 120), "the three workers started"
    classes = add_classes(db, 6, 2, url=SIM, prefix="six")
    ids = asyncio.run(enqueue(harness.config(), store, db, classes, duration_s=40))  # room for a slow join
    assert wait_until(lambda: all(s == "in_class" for s in _states(db, ids)), 60), _states(db, ids)
    time.sleep(4)
    pids = [_holder_pid(db, i) for i in ids]
    victim = max(set(pids), key=pids.count)
    killed = [i for i, p in zip(ids, pids, strict=True) if p == victim]
    proc = harness.proc_of(victim or -1)
    assert proc is not None
    proc.kill()
    assert wait_until(lambda: all(s in FINAL for s in _states(db, ids)), 90, 1.0), _states(db, ids)

    out = figures(db, store, ids, Path(harness.config().reports.out_dir))
    assert out["classes_completed"] == 6 and out["reports_rendered"] == 6, out
    assert out["duplicate_bots"] == 0, out
    assert out["resumed_after_kill_s"] is not None and out["resumed_after_kill_s"] < 30, out
    for sid in ids:
        attempts = db.attempts(sid)
        gaps = store.interruptions(sid)
        if sid in killed:
            assert [a.end_reason for a in attempts] == ["worker_lost", "done"], attempts
            assert attempts[0].holder != attempts[1].holder
            assert [g.reason for g in gaps] == ["worker_lost"] and gaps[0].to_at, gaps
            spans = _attempt_rows(db, sid)
            assert set(spans) == {1, 2} and spans[1][1] < spans[2][0], spans  # one bot at a time
        else:
            assert [a.end_reason for a in attempts] == ["done"] and not gaps, (attempts, gaps)


def test_a_stopped_worker_finds_itself_fenced_and_stops_writing(world) -> None:  # type: ignore[no-untyped-def]
    harness, store, db = world
    harness.start_worker(capacity=4)
    harness.start_worker(capacity=4)
    assert wait_until(harness.ready, 120), "both workers started"  # a busy machine starts them slowly
    (cls,) = add_classes(db, 1, 2, url=SIM, prefix="stop")
    (sid,) = asyncio.run(enqueue(harness.config(), store, db, [cls], duration_s=30))
    assert wait_until(lambda: _states(db, [sid]) == ["in_class"], 60)
    slow = harness.proc_of(_holder_pid(db, sid))
    assert slow is not None
    assert wait_until(lambda: 1 in _attempt_rows(db, sid), 30), "attempt 1 has written observations"
    os.kill(slow.pid, signal.SIGSTOP)  # "40 s" in production terms: well past stalled_after_s here
    assert wait_until(lambda: len(db.attempts(sid)) == 2 and _states(db, [sid]) == ["in_class"], 30)
    time.sleep(2)
    os.kill(slow.pid, signal.SIGCONT)
    assert slow.wait(20) == 75  # fenced at its next flush: exits without touching the queue
    assert wait_until(lambda: _states(db, [sid]) == ["done"], 60), _states(db, [sid])
    spans = _attempt_rows(db, sid)
    assert spans[1][1] < spans[2][0], spans  # nothing of attempt 1 after attempt 2 began
    assert [a.end_reason for a in db.attempts(sid)] == ["worker_lost", "done"]
    assert [g.reason for g in store.interruptions(sid)] == ["worker_lost"]


def test_sigterm_hands_the_class_to_another_worker(world) -> None:  # type: ignore[no-untyped-def]
    harness, store, db = world
    harness.start_worker(capacity=4)
    harness.start_worker(capacity=4)
    assert wait_until(harness.ready, 120), "both workers started"  # a busy machine starts them slowly
    (cls,) = add_classes(db, 1, 2, url=SIM, prefix="term")
    (sid,) = asyncio.run(enqueue(harness.config(), store, db, [cls], duration_s=24))
    assert wait_until(lambda: _states(db, [sid]) == ["in_class"], 60)
    first = harness.proc_of(_holder_pid(db, sid))
    assert first is not None
    (second,) = [p for p in harness.procs if p is not first]
    assert wait_until(lambda: 1 in _attempt_rows(db, sid), 30), "attempt 1 has written observations"
    first.terminate()
    assert first.wait(30) == 0
    assert wait_until(lambda: _states(db, [sid]) == ["done"], 60), _states(db, [sid])
    attempts = db.attempts(sid)
    assert [a.end_reason for a in attempts] == ["handover", "done"], attempts
    assert int(attempts[1].holder.split(":")[1]) == second.pid
    assert [g.reason for g in store.interruptions(sid)] == ["handover"]
    assert len(list((Path(harness.config().reports.out_dir) / sid).glob("class.*"))) == 1


def test_twenty_concurrent_starts_of_one_class_make_one_session(world) -> None:  # type: ignore[no-untyped-def]
    harness, store, db = world
    (cls,) = add_classes(db, 1, 2, url=SIM, prefix="race")
    config = harness.config()

    async def race() -> list[object]:
        from bot.cluster.enqueue import QueuedSessions
        from bot.cluster.jobqueue import make_app
        from bot.connectors.registry import Registry
        from bot.sessions.runner import SessionSpec

        queue = make_app(config.store.url)
        async with queue.open_async():
            sessions = QueuedSessions(config, store, db, Registry(config), queue=queue)
            spec = SessionSpec(meeting_url=cls.meeting_url, owner=cls.owner, class_id=cls.class_id, origin="api")
            return await asyncio.gather(*(sessions.start(spec) for _ in range(20)), return_exceptions=True)

    results = asyncio.run(race())
    started = [r for r in results if isinstance(r, str)]
    assert len(started) == 1 and all(isinstance(r, SessionConflict) for r in results if r not in started), results
    assert db.sessions(class_id=cls.class_id)[1] == 1
    with db.engine.connect() as conn:
        jobs = conn.execute(sa.text("SELECT count(*) FROM procrastinate_jobs")).scalar_one()
    assert jobs == 1


def test_a_class_no_worker_has_room_for_fails_as_no_capacity(world) -> None:  # type: ignore[no-untyped-def]
    harness, store, db = world
    harness.settings = {**FAST, "CLASSPULSE_SESSION__JOIN_TIMEOUT_S": "3",
                        "CLASSPULSE_DELIVERY__ADMIN_WEBHOOK_URL": "https://ops.example.invalid/hook"}
    harness.start_worker(capacity=3)
    (cls,) = add_classes(db, 1, 5, url="sim:?students=5&faces=builtin&fps=2", prefix="big")
    with db.engine.begin() as conn:  # a webhook target so the owner's notice has somewhere to go
        from bot.db import tables

        conn.execute(sa.update(tables.classes).where(tables.classes.c.class_id == cls.class_id)
                     .values(webhook_url="https://example.invalid/hook"))
    (sid,) = asyncio.run(enqueue(harness.config(), store, db, [cls], duration_s=20))
    assert wait_until(lambda: _states(db, [sid]) == ["failed"], 30), _states(db, [sid])
    record = db.session(sid)
    assert record is not None and record.failure == "no_capacity" and not db.attempts(sid)
    notices = sorted(db.deliveries(session_id=sid)[0], key=lambda n: n.target)  # the owner's and the admins'
    assert [(n.event, n.target) for n in notices] == [("session.failed", "https://example.invalid/hook"),
                                                      ("session.failed", "https://ops.example.invalid/hook")]
    assert all("no_capacity" in n.detail for n in notices)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(harness: ClusterProcesses, name: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = harness.data_dir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(_free_port())],
                                env=harness.env(), stdout=out, stderr=subprocess.STDOUT)
    harness.procs.append(proc)
    return proc, log


FIRED = re.compile(r"schedule fired schedule_id=\S+ session_id=([\w-]+)")


def test_two_schedulers_fire_each_trigger_once_and_the_standby_takes_over(world) -> None:  # type: ignore[no-untyped-def]
    harness, _store, db = world
    harness.settings = {**FAST, "CLASSPULSE_SESSION__JOIN_TIMEOUT_S": "1"}  # no worker: runs fail fast
    (cls,) = add_classes(db, 1, 2, url=SIM, prefix="sched")
    db.add_schedule(ScheduleRecord(schedule_id="sch-every5s", owner=cls.owner, class_id=cls.class_id,
                                   cron="*/5 * * * * *", timezone="UTC", duration_s=60, misfire_grace_s=3,
                                   created_at="2026-01-01T00:00:00+00:00"))
    leader, leader_log = _serve(harness, "serve-a")
    assert wait_until(lambda: "elected leader" in leader_log.read_text(errors="replace"), 60)
    _standby, standby_log = _serve(harness, "serve-b")
    assert wait_until(lambda: "started" in standby_log.read_text(errors="replace")
                      or "Running on" in standby_log.read_text(errors="replace"), 60)
    assert wait_until(lambda: len(FIRED.findall(leader_log.read_text(errors="replace"))) >= 3, 40)
    assert "elected leader" not in standby_log.read_text(errors="replace")
    leader.kill()
    killed_at = time.time()
    assert wait_until(lambda: len(FIRED.findall(standby_log.read_text(errors="replace"))) >= 2, 40)
    a = FIRED.findall(leader_log.read_text(errors="replace"))
    b = FIRED.findall(standby_log.read_text(errors="replace"))
    assert not set(a) & set(b) and len(set(a + b)) == len(a + b), (a, b)  # each planned start once
    stamps = sorted(calendar.timegm(time.strptime(s.rsplit("-", 1)[1], "%Y%m%dT%H%M%SZ")) for s in a + b)
    assert all(later - earlier == 5 for earlier, later in itertools.pairwise(stamps)), stamps
    assert max(stamps) >= killed_at  # the standby fired the runs after the kill
    sessions = db.sessions(class_id=cls.class_id)[0]
    assert sorted(s.session_id for s in sessions) == sorted(a + b)


def _http(method: str, url: str, token: str, body: dict[str, object] | None = None) -> tuple[int, bytes]:
    import json
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_api_queues_a_class_a_worker_runs_it_live_numbers_reach_the_api_node_which_serves_the_report(world) -> None:  # type: ignore[no-untyped-def]
    import json

    from bot.service.auth import Role, create_token

    harness, _store, db = world
    (cls,) = add_classes(db, 1, 2, url=SIM, prefix="api")
    _, token = create_token(db, cls.owner, Role.TEACHER)
    harness.start_worker(capacity=4)  # writes its reports under <tmp>/reports
    serve_data = harness.data_dir / "api-node"
    node = ClusterProcesses(harness.url, serve_data, FAST, analyzer="fake")  # its own, empty reports folder
    serve_data.mkdir()
    port = _free_port()
    log = serve_data / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], env=node.env(),
                                stdout=out, stderr=subprocess.STDOUT)
    harness.procs.append(proc)
    base = f"http://127.0.0.1:{port}/api/v1"
    assert wait_until(lambda: "elected leader" in log.read_text(errors="replace"), 60)
    status, body = _http("POST", f"{base}/sessions", token, {"class_id": cls.class_id, "duration_s": 12})
    assert status == 201, body
    sid = json.loads(body)["session_id"]
    assert json.loads(body)["state"] == "queued"
    assert _http("POST", f"{base}/sessions", token, {"class_id": cls.class_id})[0] == 409  # one per class

    def live() -> dict[str, object] | None:  # the worker's numbers on the API node: LISTEN/NOTIFY
        found = json.loads(_http("GET", f"{base}/sessions/{sid}", token)[1]).get("live")
        return found if isinstance(found, dict) and found.get("state") == "in_class" else None

    assert wait_until(lambda: live() is not None, 40)
    numbers = live()
    assert numbers is not None and numbers["students"] == 2 and "present_names" not in numbers, numbers
    assert wait_until(lambda: _states(db, [sid]) == ["done"], 60), _states(db, [sid])
    assert (harness.data_dir / "reports" / sid / "class.html").is_file()  # rendered by the worker
    assert not (serve_data / "reports" / sid).exists()
    status, body = _http("GET", f"{base}/reports/{sid}", token)
    assert status == 200, body
    paths = [f["path"] for f in json.loads(body)["files"]]
    assert "class.html" in paths, paths
    status, page = _http("GET", f"{base}/reports/{sid}/files/class.html", token)
    assert status == 200 and cls.name.encode() in page


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


@pytest.fixture
def partitionable() -> Iterator[tuple[str, str, str]]:
    """A network namespace joined to the host by a veth pair: (namespace, host-side link, host address)."""
    from bot.sim.netns import available

    why = available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the partition test needs network namespaces under CI: {why}")
        pytest.skip(why)
    tag = os.urandom(3).hex()
    ns, host_if, ns_if = f"cpc-{tag}", f"cph{tag}", f"cpn{tag}"
    octet = int(tag[:2], 16)
    host_ip, ns_ip = f"198.19.{octet}.1", f"198.19.{octet}.2"
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns)
        _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", ns, "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        _ip("-n", ns, "link", "set", ns_if, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        yield ns, host_if, host_ip
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=20)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def test_a_worker_cut_off_by_a_network_partition_is_replaced_and_then_fenced(world, partitionable) -> None:  # type: ignore[no-untyped-def]
    harness, store, db = world
    ns, host_if, host_ip = partitionable
    pg = cluster()
    port = 20000 + int.from_bytes(os.urandom(2), "big") % 20000
    proxy = subprocess.Popen([sys.executable, str(Path(__file__).with_name("pg_tcp_proxy.py")), host_ip, str(port),
                              str(pg.socket / ".s.PGSQL.5432")], stdout=subprocess.PIPE)
    harness.procs.append(proxy)
    assert proxy.stdout is not None and proxy.stdout.readline().strip() == b"ready"
    database = sa.engine.make_url(harness.url).database
    cut_off = harness.start_worker(capacity=4, wrap=["ip", "netns", "exec", ns],
                                   url=f"postgresql+psycopg://postgres@{host_ip}:{port}/{database}")
    (cls,) = add_classes(db, 1, 2, url=SIM, prefix="part")
    (sid,) = asyncio.run(enqueue(harness.config(), store, db, [cls], duration_s=40))
    assert wait_until(lambda: _states(db, [sid]) == ["in_class"], 60)
    assert _holder_pid(db, sid) == cut_off.pid
    harness.start_worker(capacity=4)
    time.sleep(2)
    _ip("link", "set", host_if, "down")  # the partition: the worker and its bot run on, cut off
    try:
        assert wait_until(lambda: len(db.attempts(sid)) == 2 and _states(db, [sid]) == ["in_class"], 40)
        time.sleep(2)
    finally:
        _ip("link", "set", host_if, "up")  # back: its next flush is refused by the fence
    assert cut_off.wait(60) == 75
    assert wait_until(lambda: _states(db, [sid]) == ["done"], 60), _states(db, [sid])
    spans = _attempt_rows(db, sid)
    assert set(spans) == {1, 2} and spans[1][1] < spans[2][0], spans  # it wrote nothing after the takeover
    assert [a.end_reason for a in db.attempts(sid)] == ["worker_lost", "done"]
