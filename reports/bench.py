"""Benchmark: render a synthetic class from a temporary SQLite store and print wall times.

    python -m reports.bench --students 30 --minutes 50 [--keep DIR] [--no-emotions]
    python -m reports.bench --course [--students 30 --sessions 24] [--repeat 3] [--keep DIR]

Not a test: it reports how long the teacher waits after class (target: class report plus
30 student PDFs within 20 s on 2 cores). The synthetic class has the situations reports
must survive: camera-off stretches, a student who never turns the camera on, stepping
away, missing samples, uncertain faces, a moment when most of the class looks away and one
when many faces read negative, one opted-out student, long and non-ASCII names.

`--course` renders a course report (HTML, PDF and the attendance CSV) of a synthetic term
(target: 30 students × 24 sessions within 10 s): missed runs, an interrupted session, a
change of analysis settings, students who join late, miss sessions or fade, and a display
name that tries formula injection.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from analysis.records import FaceReading, Observation, Participant, Quality, SessionInfo, State
from model.labels import LABELS
from reports.course import CourseInput

FIRST = ["Ada", "Bo", "Chen", "Dara", "Emil", "Fatima", "Goran", "Hana", "Ines", "Jonas", "Kemal", "Lea",
         "Mateo", "Nia", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Xenia",
         "Yusuf", "Zoë"]
LAST = ["Ahmed", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Horvath", "Ivanova", "Jensen",
        "Kowalski", "Łukasiewicz", "Moreau", "Nakamura", "O'Brien", "Popescu"]


def _probs(rng: random.Random, negative: bool) -> tuple[float, ...]:
    weights = {name: rng.random() * 0.15 for name in LABELS}
    weights["neutral"] += 1.6 + rng.random()
    weights["happy"] += rng.random() * 0.8
    if negative:
        weights["sad"] += 2.0 + rng.random()
        weights["angry"] += 1.0
    total = sum(weights.values())
    return tuple(weights[name] / total for name in LABELS)


def synthetic_session(n_students: int = 30, minutes: float = 50, *, seed: int = 7, emotions: bool = True,
                      session_id: str = "bench") -> tuple[SessionInfo, list[Participant], list[Observation]]:
    """A deterministic synthetic class sampled at 1 Hz (plus one opted-out participant)."""
    rng = random.Random(seed)
    seconds = int(minutes * 60)
    info = SessionInfo(session_id, "Physics 2B — Waves and Optics", teacher="Dr. Amara Okafor",
                       started_at="2025-11-25T09:00:00+00:00",
                       ended_at=f"2025-11-25T{9 + seconds // 3600:02d}:{seconds % 3600 // 60:02d}:00+00:00",
                       emotions_enabled=emotions, source="synthetic benchmark class")
    people = [Participant(session_id, f"p{i:03d}", f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}")
              for i in range(n_students)]
    if n_students >= 3:
        people[2] = Participant(session_id, "p002", "Maximiliana Alexandrovna Konstantinopoulou-Smythe")
    people.append(Participant(session_id, "p999", "Opted Out", opted_out=True))
    away_moment = (int(seconds * 0.6), int(seconds * 0.6) + 60)
    sad_moment = (int(seconds * 0.3), int(seconds * 0.3) + 45)
    obs: list[Observation] = []
    for i, p in enumerate(people[:n_students]):
        focus = rng.uniform(0.6, 0.97)
        off = [(a, a + rng.randint(60, 360)) for a in rng.sample(range(seconds), 2)] if i % 4 == 1 else []
        away = [(a, a + rng.randint(120, 400)) for a in rng.sample(range(seconds), 1)] if i % 6 == 3 else []
        gap = (seconds // 2, seconds // 2 + 40) if i % 9 == 5 else (0, 0)
        looking = rng.random() < focus
        for t in range(seconds):
            if gap[0] <= t < gap[1] or rng.random() < 0.01:
                continue  # missing samples
            if (i == 1 and n_students > 4) or any(a <= t < b for a, b in off):
                obs.append(Observation(session_id, p.participant_id, float(t), State.CAMERA_OFF))
                continue
            if any(a <= t < b for a, b in away) or rng.random() < 0.02:
                obs.append(Observation(session_id, p.participant_id, float(t), State.ABSENT))
                continue
            # attention comes in runs: flip rarely, so the long-run share of looking is `focus`
            flip = rng.random() < ((1 - focus) if looking else focus) / 15
            looking = looking != flip
            looking = looking and not (away_moment[0] <= t < away_moment[1] and i % 10 < 7)
            drift = t > seconds * 0.75 and i % 7 == 4  # a student who fades late in class
            looking = looking and not (drift and rng.random() < 0.6)
            quality = frozenset({rng.choice(list(Quality))}) if rng.random() < 0.04 else frozenset()
            neg = (sad_moment[0] <= t < sad_moment[1] and i % 2 == 0) or (i % 11 == 8 and rng.random() < 0.5)
            face = FaceReading(
                face_id=0, box=(200, 120, 180, 180), score=0.9, yaw=0.0 if looking else 40.0, pitch=0.0,
                attentive=None if rng.random() < 0.02 else looking, eyes_open=rng.random() > 0.01,
                emotions=_probs(rng, neg) if emotions else None, quality=quality)
            obs.append(Observation(session_id, p.participant_id, float(t), State.PRESENT, (face,)))
    return info, people, obs


def synthetic_course(n_students: int = 30, n_sessions: int = 24, *, seed: int = 11,
                     emotions: bool = True) -> CourseInput:
    """A deterministic synthetic term of one class, as the service would hand it to the report."""
    from datetime import UTC, datetime, timedelta

    from analysis.course import CourseSession
    from analysis.summaries import StudentDigest

    rng = random.Random(seed)
    names = [(f"st{i:03d}", f"{FIRST[i % len(FIRST)]} {LAST[(i * 5) % len(LAST)]}") for i in range(n_students)]
    if n_students >= 4:
        names[3] = (names[3][0], "=HYPERLINK(\"http://x.example\",\"Bo\")")
    start = datetime(2026, 9, 7, 7, 15, tzinfo=UTC)
    focus = {sid: rng.uniform(0.55, 0.95) for sid, _ in names}
    sessions = []
    for k in range(n_sessions):
        when = (start + timedelta(days=7 * (k // 2) + 3 * (k % 2))).isoformat()
        if k in (4, 15):
            sessions.append(CourseSession(f"c{k:03d}", when, "missed" if k == 4 else "no_capacity",
                                          note="the service was not running at the start time" if k == 4 else ""))
            continue
        status = "interrupted" if k == 9 else "recorded"
        digests = {}
        for i, (sid, name) in enumerate(names):
            if rng.random() < 0.08 or (status == "interrupted" and rng.random() < 0.3):
                continue  # absent (or unseen while the recording was interrupted)
            fade = 0.3 if i % 7 == 2 and k >= n_sessions - 3 else 0.0
            att = max(0.0, min(1.0, focus[sid] - fade + rng.uniform(-0.08, 0.08)))
            first = rng.choice([5.0, 20.0, 40.0, 420.0 if i % 5 == 0 else 30.0])
            digests[sid] = StudentDigest(f"c{k:03d}", f"p{i}", name, 2400, min(1.0, rng.uniform(0.85, 1.0) - fade / 2),
                                         att, 0.4 + 0.6 * att, 0.25 if i % 4 == 1 else 0.0, first, 2700.0, 2600.0)
        settings = '{"sample_interval_s": 1.0}' if k < 12 else '{"sample_interval_s": 0.5}'
        sessions.append(CourseSession(f"c{k:03d}", when, status, digests, settings=settings,  # type: ignore[arg-type]
                                      model_version="vgg@abc123" if emotions else "",
                                      note="analysis interrupted 07:40–07:52 (worker_lost)" if status == "interrupted"
                                      else ""))
    return CourseInput("Physics 2B — Waves and Optics", "Dr. Amara Okafor", tuple(sessions), tuple(names),
                       emotions_enabled=emotions, generated_at="2027-02-01T12:00:00+00:00")


def course_bench(args: argparse.Namespace) -> None:
    import statistics

    from reports.render import render_course

    course = synthetic_course(args.students, args.sessions, emotions=not args.no_emotions)
    times, cpu = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "course"
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            paths = render_course(course, out, paper=args.paper)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(f"course report, {args.students} students × {args.sessions} sessions: "
              f"{', '.join(p.name for p in paths)} in {out}")
        print(f"  render (aggregate + HTML + PDF + CSV), {args.repeat} runs: "
              f"{', '.join(f'{t:.2f}' for t in times)} s wall; median {statistics.median(times):.2f} s "
              f"(CPU in this process: median {statistics.median(cpu):.2f} s; wall grows when other work "
              "shares the cores)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m reports.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--course", action="store_true", help="render a course report instead (see --sessions)")
    ap.add_argument("--sessions", type=int, default=24, help="sessions of the course (--course)")
    ap.add_argument("--repeat", type=int, default=3, help="render the course this many times (--course)")
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--minutes", type=float, default=50)
    ap.add_argument("--no-emotions", action="store_true")
    ap.add_argument("--paper", default="a4", choices=["a4", "letter"])
    ap.add_argument("--keep", type=Path, help="write the reports here (default: a temporary folder)")
    args = ap.parse_args(argv)
    if args.course:
        course_bench(args)
        return

    from analysis.store import Store
    from reports.context import build_reports
    from reports.render import write_reports

    info, people, obs = synthetic_session(args.students, args.minutes, emotions=not args.no_emotions)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        store.create_session(info)
        for p in people:
            store.upsert_participant(p)
        store.add_observations(obs)
        out = args.keep or Path(tmp) / "reports"
        t0, cpu0 = time.perf_counter(), time.process_time()
        session = store.session(info.session_id)
        participants = store.participants(info.session_id)
        observations = store.observations(info.session_id)
        t1 = time.perf_counter()
        reports = build_reports(session, participants, observations)
        t2 = time.perf_counter()
        paths = write_reports(reports, out, paper=args.paper)
        t3, cpu3 = time.perf_counter(), time.process_time()
        store.close()
        pdfs = [p for p in paths if p.suffix == ".pdf"]
        print(f"{args.students} students × {args.minutes:g} min: {len(observations):,} observations, "
              f"{len(pdfs)} PDFs + {len(paths) - len(pdfs)} HTML files in {out}")
        print(f"  read store {t1 - t0:6.2f} s\n  aggregate  {t2 - t1:6.2f} s\n  render     {t3 - t2:6.2f} s")
        print(f"  total      {t3 - t0:6.2f} s wall from store read to last file "
              f"({cpu3 - cpu0:.2f} s CPU in this process; wall grows when other work shares the cores)")


if __name__ == "__main__":
    main()
