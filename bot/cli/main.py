"""The ``classpulse`` command: parse arguments, load configuration, run one subcommand.

As in uvicorn, the CLI only parses and validates (main → config) and hands over to the
module that does the work. Expected failures (bad config, unreadable files, missing
models or sessions) print one line ``classpulse: error: …`` and exit non-zero; ``-v``
adds the traceback for unexpected ones.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Quiet native logging of TensorFlow and FFmpeg before either is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

from bot.config import Config, ConfigError, load_config
from bot.quiet import preload_tensorflow
from model.datasets import datasets_dir

log = logging.getLogger("classpulse")
SHARED_DATA = datasets_dir()


class CliError(Exception):
    """An expected failure reported as one line."""


def _expected_errors() -> tuple[type[BaseException], ...]:
    from analysis.media import MediaError
    from analysis.store import StoreError
    from model.bundle import ModelError
    from training.data import DataError

    return (ConfigError, CliError, MediaError, StoreError, ModelError, DataError, FileNotFoundError,
            PermissionError)


# -- subcommands ------------------------------------------------------------------------------
def cmd_analyze(args: argparse.Namespace, config: Config) -> int:
    from bot.cli.analyze import analyze_paths, format_result

    results = []
    for r in analyze_paths(args.paths, config):
        results.append(r)
        if not args.json:
            print(format_result(r), flush=True)
    if args.json:
        json.dump({"files": results}, sys.stdout, indent=2)
        print()
    failed = [r for r in results if "error" in r]
    for r in failed:
        print(f"classpulse: error: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    from bot.sim.demo import run_demo

    paths: list[Path] | None = None
    if args.course is not None:
        from bot.sim.demo_course import run_course_demo

        if args.course < 1 or args.live:
            raise CliError("--course needs a number of lessons ≥ 1 (and runs without --live)")
        for p in run_course_demo(config, args.course, seconds=args.seconds or 20.0, videos=args.videos or None,
                                 out_dir=args.out, builtin=args.builtin_faces,
                                 progress=lambda line: print(line, file=sys.stderr, flush=True)):
            print(p)
        return 0
    if args.live:
        from bot.sim.demo_live import LiveDemoUnavailable, run_live_demo

        try:
            paths = run_live_demo(args.videos or None, args.seconds or 60.0, args.out, config_path=args.config,
                                  overrides=args.overrides)
        except LiveDemoUnavailable as exc:
            print(f"classpulse: the live demo cannot run here ({exc}); running the offline demo instead",
                  file=sys.stderr)
    if paths is None:
        paths = run_demo(config, videos=args.videos or None, seconds=args.seconds or 60.0, out_dir=args.out,
                         builtin=args.builtin_faces)
    for p in paths:
        print(p)
    return 0


def cmd_join(args: argparse.Namespace, config: Config) -> int:
    import asyncio

    from bot.cli.join import describe, parse_duration, run_join
    from bot.connectors.registry import MeetingUrlError
    from bot.web.receive_pool import ReceiveWorkerError

    try:
        duration = parse_duration(args.duration) if args.duration else None
    except ValueError as exc:
        raise CliError(f"--duration {exc}") from None
    try:
        if args.out:
            config = config.model_copy(update={"reports": config.reports.model_copy(
                update={"out_dir": str(Path(args.out).expanduser().resolve())})})
        result = asyncio.run(run_join(args.url, config, duration_s=duration, class_name=args.class_name,
                                      teacher=args.teacher, render=not args.no_reports))
    except MeetingUrlError as exc:
        raise CliError(str(exc)) from None
    except ReceiveWorkerError as exc:  # classroom.receive_workers: a worker could not start
        raise CliError(f"the classroom cannot receive cameras: {exc}") from None
    for p in result.reports:
        print(p)
    if result.report_error:
        print(f"classpulse: error: reports failed ({result.report_error}); retry with "
              f"`classpulse report {result.session_id}`", file=sys.stderr)
    if result.state == "failed":
        print(f"classpulse: error: {describe(result)}", file=sys.stderr)
        return 1
    print(f"classpulse: {describe(result)}", file=sys.stderr)
    return 1 if result.report_error else 0


def cmd_bench(args: argparse.Namespace, config: Config) -> int:
    if args.mode == "cluster":
        return cmd_bench_cluster(args)
    from bot.bench.clip import BITRATE
    from bot.bench.live import BenchError, BenchOptions, classroom_profile, format_result, parse_size, run_bench

    if args.students is None:
        raise CliError("bench: --students is required")
    bitrate = BITRATE
    if args.profile == "classroom":
        if args.fps is not None or args.size is not None:
            raise CliError("--profile classroom sends what the join page sends (classroom.publish_*): "
                           "leave out --fps and --size")
        size, fps, bitrate = classroom_profile(config)
    else:
        try:
            size = parse_size(args.size or "640x480")
        except ValueError as exc:
            raise CliError(f"--size: {exc}") from None
        fps = 15 if args.fps is None else args.fps
    if args.students < 1 or fps < 1 or args.seconds <= 0:
        raise CliError("--students, --fps and --seconds must be positive")
    opts = BenchOptions(students=args.students, fps=fps, size=size, seconds=args.seconds,
                        videos=tuple(Path(v) for v in args.videos or ()), config=args.config,
                        overrides=tuple(args.overrides), bitrate=bitrate, profile=args.profile,
                        receive_only=args.receive_only, spy=Path(args.spy) if args.spy else None)
    try:
        result = run_bench(opts)
    except BenchError as exc:
        raise CliError(str(exc)) from None
    return _print_bench(result, args.json, format_result)


def cmd_bench_cluster(args: argparse.Namespace) -> int:
    from bot.bench.cluster import BenchError, ClusterOptions, run_cluster_bench

    missing = [f"--{n}" for n in ("db", "workers", "classes", "students", "minutes") if getattr(args, n) is None]
    if missing:
        raise CliError(f"bench cluster: {', '.join(missing)} required")
    opts = ClusterOptions(db=args.db, workers=args.workers, classes=args.classes, students=args.students,
                          minutes=args.minutes, kill_one=args.kill_one, analyzer=args.analyzer)
    try:
        result = run_cluster_bench(opts)
    except BenchError as exc:
        raise CliError(str(exc)) from None
    return _print_bench(result, args.json, lambda r: "\n".join(f"{key:24} {value}" for key, value in r.items()))


def _print_bench(result: dict[str, Any], as_json: bool, text: Callable[[dict[str, Any]], str]) -> int:
    """A bench's result on stdout: JSON (indented, one trailing newline) or its text form."""
    if as_json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(text(result))
    return 0


def cmd_zoom_webhook(args: argparse.Namespace, config: Config) -> int:
    """The service (the same app as `serve`) on Zoom's host and port, with the webhook route."""
    from bot.service.app import serve
    from bot.service.logs import configure

    if not config.zoom.webhook_secret.get_secret_value():
        raise CliError("zoom.webhook_secret is not set (CLASSPULSE_ZOOM__WEBHOOK_SECRET): "
                       "without it no webhook can be verified")
    if not config.zoom.client_id or not config.zoom.client_secret.get_secret_value():
        raise CliError("zoom.client_id / zoom.client_secret are not set (CLASSPULSE_ZOOM__CLIENT_ID, "
                       "CLASSPULSE_ZOOM__CLIENT_SECRET)")
    configure(debug=args.verbose)
    serve(config, args.host or config.zoom.host, args.port if args.port is not None else config.zoom.port)
    return 0


def cmd_zoom_check(args: argparse.Namespace, config: Config) -> int:
    from bot.connectors.zoom_check import run

    if not config.zoom.client_id or not config.zoom.client_secret.get_secret_value():
        raise CliError("zoom.client_id / zoom.client_secret are not set (CLASSPULSE_ZOOM__CLIENT_ID, "
                       "CLASSPULSE_ZOOM__CLIENT_SECRET)")
    return run(config, args)


def cmd_train(args: argparse.Namespace, config: Config) -> int:
    from training.train import TrainConfig, export, train

    hparams = json.loads(args.hparams) if args.hparams else {}
    if not isinstance(hparams, dict):
        raise CliError("--hparams must be a JSON object, e.g. '{\"widths\": [32, 64, 128, 256]}'")
    run_dir = Path(args.runs) / args.name
    cfg = TrainConfig(data=str(args.data), run_dir=str(run_dir), architecture=args.arch, hparams=hparams,
                      epochs=args.epochs, batch_size=args.batch_size, peak_lr=args.lr, seed=args.seed,
                      precision=args.precision, max_steps_per_epoch=args.max_steps,
                      warmup_epochs=args.warmup, class_weight_power=args.class_weight_power,
                      init_weights=args.init, augment=args.augment, recrop=args.recrop,
                      recrop_prob=args.recrop_prob, save_every_epoch=args.save_every_epoch)
    if args.init and not Path(args.init).exists():
        raise CliError(f"--init {args.init}: no such run folder or weights file")
    if not Path(args.data).exists():
        raise CliError(f"--data {args.data}: no such file or folder")
    train(cfg)
    if args.export:
        out = export(run_dir, args.export)
        print(f"exported {out}")
    return 0


def cmd_ensemble(args: argparse.Namespace, config: Config) -> int:
    from training.ensemble import make_ensemble

    meta = make_ensemble(args.members, args.out, data=args.data, tta=args.tta)
    val = meta.metrics.get("val")
    print(f"wrote ensemble of {len(meta.members)} to {args.out}"
          + (f"; val accuracy {val['accuracy']:.4f}, balanced {val['balanced_accuracy']:.4f}" if val else ""))
    return 0


def cmd_evaluate(args: argparse.Namespace, config: Config) -> int:
    from training.evaluate import evaluate, format_text, plot_confusion, plot_curves

    if not Path(args.data).exists():
        raise CliError(f"--data {args.data}: no such file or folder")
    if args.frames:
        return _evaluate_frames(args, config)
    dup = args.duplicates
    if dup is None and (Path(args.data).parent / "duplicates.csv").exists():
        dup = Path(args.data).parent / "duplicates.csv"
    metrics, _, _ = evaluate(args.model or config.analysis.model_dir, args.data, split=args.split,
                             duplicates_csv=dup)
    plots = Path(args.plots)
    metrics["plots"] = [str(plot_confusion(metrics, plots / "confusion.svg"))]
    from model.bundle import DEFAULT_MODEL_DIR

    history = Path(args.model or config.analysis.model_dir or DEFAULT_MODEL_DIR) / "history.csv"
    curves = plot_curves(history, plots / "training_curves.svg")
    if curves:
        metrics["plots"].append(str(curves))
    if args.json:
        json.dump(metrics, sys.stdout, indent=2)
        print()
    else:
        print(format_text(metrics))
        print("plots: " + ", ".join(metrics["plots"]))
    return 0


def _evaluate_frames(args: argparse.Namespace, config: Config) -> int:
    import dataclasses

    from bot.sessions.analyzer import settings_from
    from training.evaluate_frames import evaluate_frames, format_text

    settings = settings_from(config)
    if args.model:
        settings = dataclasses.replace(settings, model_dir=args.model)
    metrics, _ = evaluate_frames(args.data, settings)
    print(json.dumps(metrics, indent=2) if args.json else format_text(metrics))
    return 0


def cmd_report(args: argparse.Namespace, config: Config) -> int:
    from analysis.store import Store
    from bot.db.store import ServiceStore
    from bot.service.auth import now_iso
    from bot.sessions.live import render_reports
    from bot.sessions.roster_apply import render_with_roster

    formats = ("html", "pdf") if args.format == "both" else (args.format,)
    if args.course is not None:
        return _course_report(args, config, formats)
    if not args.session:
        raise CliError("give a SESSION (see `classpulse sessions`) or --course CLASS")
    store = Store(config.store.url, create=False)
    try:
        store.session(args.session)
        out = Path(args.out or config.reports.out_dir).expanduser().resolve() / args.session
        # a session of a class is rendered with its roster (who never came, the class's thresholds)
        for p in render_with_roster(render_reports, store, ServiceStore(store), args.session, out, formats,
                                    config.reports.paper.lower(), now_iso()):
            print(p)
    finally:
        store.close()
    return 0


def _course_report(args: argparse.Namespace, config: Config, formats: tuple[str, ...]) -> int:
    """`report --course CLASS`: the term view of a class (by id or name); SESSION is not needed."""
    from analysis.store import Store
    from bot.course.inputs import CourseNotFound
    from bot.course.report import write_course_report
    from bot.db.store import ServiceStore

    store = Store(config.store.url, create=False)
    try:
        out = Path(args.out).expanduser().resolve() if args.out else None
        paths = write_course_report(store, ServiceStore(store), config, args.course, out_dir=out,
                                    formats=(*formats, "csv"))
    except CourseNotFound as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()
    for p in paths:
        print(p)
    return 0


def _recorded_store(config: Config) -> Any:
    """The store for a read-only command, or None (said on stderr) when nothing was recorded yet."""
    from analysis.store import Store, StoreError

    try:
        return Store(config.store.url, create=False)
    except StoreError as exc:
        print(f"classpulse: {exc}", file=sys.stderr)
        return None


def cmd_sessions(args: argparse.Namespace, config: Config) -> int:
    from bot.db.store import ServiceStore

    store = _recorded_store(config)
    if store is None:
        return 0
    try:
        db = ServiceStore(store)
        runs = {r.session_id: r for r in db.sessions()[0]}
        measured = {s.session_id: s for s in store.sessions()}
        for sid in sorted(set(runs) | set(measured), key=lambda k: (runs[k].created_at if k in runs
                                                                     else measured[k].started_at)):
            run, info = runs.get(sid), measured.get(sid)
            state = run.state if run else "done"
            name = run.class_name if run else info.class_name if info else ""
            n = len(store.participants(sid)) if info else 0
            gaps = len(store.interruptions(sid))
            extra = f", {gaps} interruption(s)" if gaps else ""
            print(f"{sid}  {state:<11} {(info.started_at if info else '') or '-':<25} {name}  "
                  f"({n} participants{extra})")
    finally:
        store.close()
    return 0


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from bot.service.app import serve
    from bot.service.logs import configure

    configure(debug=args.verbose)
    serve(config, args.host or config.classroom.host,
          args.port if args.port is not None else config.classroom.port)
    return 0


def cmd_worker(args: argparse.Namespace, config: Config) -> int:
    from bot.cluster.worker import run_worker
    from bot.service.logs import configure

    configure(debug=args.verbose)
    capacity = args.capacity if args.capacity is not None else config.cluster.capacity
    if capacity < 1:
        raise CliError("--capacity must be at least 1 student")
    kwargs: dict[str, Any] = {}
    if args.analyzer == "fake":  # tests and dry runs: no TensorFlow, every student reads as absent
        from bot.sim.fake_analyzer import RecordingAnalyzer

        kwargs["analyze_factory"] = RecordingAnalyzer
    try:
        return run_worker(config, capacity, **kwargs)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def cmd_token(args: argparse.Namespace, config: Config) -> int:
    from analysis.store import Store
    from bot.db.store import ServiceStore
    from bot.service.auth import Role, create_token, list_tokens, revoke_token

    store = Store(config.store.url)
    db = ServiceStore(store)
    try:
        if args.token_command == "create":
            try:
                token_id, token = create_token(db, args.name, Role(args.role))
            except ValueError as exc:
                raise CliError(str(exc)) from None
            print(token)
            print(f"classpulse: token {token_id} for {args.name} ({args.role}) created; it is shown only once",
                  file=sys.stderr)
        elif args.token_command == "revoke":
            if not revoke_token(db, args.token_id):
                raise CliError(f"no token {args.token_id!r} (see `classpulse token list`)")
            print(f"classpulse: token {args.token_id} revoked", file=sys.stderr)
        else:
            for t in list_tokens(db):
                state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "active"
                print(f"{t['token_id']}  {t['role']:<8} {t['name']}  created {t['created_at']}  {state}")
    finally:
        store.close()
    return 0


def cmd_timetable(args: argparse.Namespace, config: Config) -> int:
    """`timetable import`: plan, print, apply (the running service schedules the new rows when it syncs)."""
    if args.timetable_command in ("subscribe", "feeds", "unsubscribe"):
        return cmd_timetable_feeds(args, config)
    from datetime import UTC, datetime

    from analysis.store import Store
    from bot.cli.join import _user
    from bot.db.store import ServiceStore
    from bot.service import timetables

    path = Path(args.file).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    owner = args.owner or _user()
    store = Store(config.store.url)
    try:
        db = ServiceStore(store)
        result = timetables.plan_for(db, data, source=str(path), owner=owner, now=datetime.now(UTC),
                                     start=args.start, as_json=args.json, default_tz=args.tz,
                                     classroom_base=config.classroom.public_url.rstrip("/"))
        if result.exit_code or result.plan is None:
            raise CliError(result.stderr.strip().removeprefix("error: "))
        applied = None if args.dry_run else timetables.apply(db, result.plan, owner)
    finally:
        store.close()
    if args.json:
        doc = json.loads(result.stdout)
        doc["applied"] = applied.as_json() if applied else None
        json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        print(result.stdout, end="")
        print(applied.text() if applied else "dry run: nothing was changed", end="" if applied else "\n")
    return 0


def cmd_timetable_feeds(args: argparse.Namespace, config: Config) -> int:
    """`timetable subscribe URL` (save and read once now), `timetable feeds`, `timetable unsubscribe ID`.

    The running service re-reads every feed daily (and schedules what a read wrote when it syncs).
    """
    import asyncio
    from dataclasses import asdict

    from analysis.store import Store
    from bot.cli.join import _user
    from bot.db.store import ServiceStore
    from bot.service.feeds import Feeds, guard_for
    from bot.service.urlguard import RefusedAddress

    store = Store(config.store.url)
    try:
        db = ServiceStore(store)
        if args.timetable_command == "feeds":
            rows = db.feeds()[0]
            if args.json:
                json.dump([asdict(f) for f in rows], sys.stdout, indent=2, ensure_ascii=False)
                print()
            for f in [] if args.json else rows:
                state = f"error: {f.last_error}" if f.last_error else (f"read {f.last_ok_at}" if f.last_ok_at
                                                                         else "never read")
                print(f"{f.feed_id}  {f.owner}  {f.url}  {state}")
            return 0
        if args.timetable_command == "unsubscribe":
            if not db.delete_feed(args.feed_id):
                raise CliError(f"no feed {args.feed_id!r} (see `classpulse timetable feeds`)")
            print(f"unsubscribed {args.feed_id}; its classes and schedules stay")
            return 0
        feeds = Feeds(config, db, guard_for(config))
        try:
            read = asyncio.run(feeds.subscribe(args.owner or _user(), args.url, args.tz or ""))
        except RefusedAddress as exc:
            raise CliError(f"{args.url}: {exc}") from None
    finally:
        store.close()
    if args.json:
        json.dump({"feed": asdict(read.feed), "plan": read.plan, "applied": read.applied}, sys.stdout, indent=2,
                  ensure_ascii=False)
        print()
    else:
        print(f"subscribed {read.feed.feed_id} ({read.feed.url}); read again daily by `classpulse serve`")
        if read.error:
            print(f"the first read failed: {read.error}")
        elif read.applied is not None:
            a = read.applied
            print(f"applied: {len(a['created'])} class(es) created, {len(a['updated'])} updated, "
                  f"{len(a['unchanged'])} unchanged, {len(a['schedules'])} schedule(s) written")
    return 1 if read.error else 0


def cmd_purge(args: argparse.Namespace, config: Config) -> int:
    """Retention by hand: sessions past `store.retention_days`, whatever started them."""
    from bot.db.store import ServiceStore
    from bot.service.retention import expired, expired_rosters, purge, summary_cutoff

    store = _recorded_store(config)
    if store is None:
        return 0
    try:
        db = ServiceStore(store)
        kept_cutoff = summary_cutoff(config)
        old_summaries = [d.session_id for d in store.session_digests()
                         if (d.started_at or d.written_at) < kept_cutoff]
        rosters, roster_cutoff = expired_rosters(db, config)
        if args.dry_run:
            old, cutoff = expired(store, db, config)
            verb = "would delete"
        else:
            old, cutoff = purge(store, db, config, running=set()), expired(store, db, config)[1]
            verb = "deleted"
    finally:
        store.close()
    for sid in old:
        print(sid)
    print(f"classpulse: {verb} {len(old)} session(s) that started before {cutoff} "
          f"(store.retention_days = {config.store.retention_days}); their term summaries stay", file=sys.stderr)
    print(f"classpulse: {verb} the term summaries of {len(old_summaries)} session(s) that started before "
          f"{kept_cutoff} (store.summary_retention_days = {config.store.summary_retention_days})", file=sys.stderr)
    print(f"classpulse: {verb} the rosters of {len(rosters)} class(es), {sum(rosters.values())} student(s), "
          f"last uploaded before {roster_cutoff} (store.roster_retention_days = "
          f"{config.store.roster_retention_days})", file=sys.stderr)
    return 0


# -- parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="classpulse",
        description="ClassPulse: engagement notes for online classes — presence, attention and (optionally) "
                    "facial emotion levels per student, as numbers, never pictures.",
    )
    p.add_argument("--config", metavar="FILE",
                   help="configuration file (default: config.yaml of the project)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a configuration key, e.g. --set analysis.emotions=off (repeatable)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    a = sub.add_parser("analyze", help="find faces and read signals in local images and videos",
                       description="Run face detection and emotion/attention reading on images and on "
                                   "video frames sampled every analysis.sample_interval_s seconds.")
    a.add_argument("paths", nargs="+", metavar="PATH", help="image or video files")
    a.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    a.set_defaults(func=cmd_analyze)

    d = sub.add_parser("demo", help="simulate a class from face videos and render its reports",
                       description="Treat each video as one student, analyse them as one class, store the "
                                   "observations and render class and per-student reports (HTML and PDF). "
                                   "Without --videos it uses ../shared/datasets/videos when present, else "
                                   "built-in students made from a public-domain photograph.")
    d.add_argument("--videos", nargs="*", metavar="VIDEO", help="one video per student")
    d.add_argument("--seconds", type=float, default=None,
                   help="class length; the class runs in real time (default 60; 20 per lesson with --course)")
    d.add_argument("--course", type=int, metavar="N",
                   help="simulate N short lessons of one class (one after another, in real time) and write "
                        "its course report (course.html, course.pdf, attendance.csv) under the reports folder")
    d.add_argument("--builtin-faces", action="store_true",
                   help="use the built-in students (a public-domain photo) even when videos are available")
    d.add_argument("--out", metavar="DIR", help="reports folder (default: reports.out_dir)")
    d.add_argument("--live", action="store_true",
                   help="a real live class: the built-in classroom, simulated students streaming over WebRTC, "
                        "the bot joining (root: runs in a private network namespace; otherwise falls back "
                        "to the offline demo)")
    d.set_defaults(func=cmd_demo)

    j = sub.add_parser("join", help="join a live class now and take engagement notes until it ends",
                       description="Join a meeting as a visible, silent participant, sample every student's "
                                   "camera, store observations and render the reports when the class ends "
                                   "(empty room, --duration, session.max_duration_s or Ctrl-C). URL: "
                                   "janus+http://HOST:PORT/janus?room=ROOM[&pin=PIN] for a Janus VideoRoom, "
                                   "or classroom:CODE to host the built-in classroom (students open "
                                   "<classroom.public_url>/join/CODE).")
    j.add_argument("url", metavar="URL", help="meeting URL (see above)")
    j.add_argument("--duration", metavar="TIME", help="leave after this long, e.g. 45m, 1h30m, 90s")
    j.add_argument("--class-name", default="Live class", help="class name shown in the reports")
    j.add_argument("--teacher", default="", help="teacher name shown in the reports")
    j.add_argument("--out", metavar="DIR", help="reports folder (default: reports.out_dir)")
    j.add_argument("--no-reports", action="store_true", help="store observations only; render later")
    j.set_defaults(func=cmd_join)

    zw = sub.add_parser("zoom-webhook", help="receive Zoom RTMS webhooks and take notes in every class that starts",
                        description="Serve Zoom's event-notification endpoint (zoom.webhook_path): each "
                                    "meeting.rtms_started opens a session over Zoom Realtime Media Streams, "
                                    "meeting.rtms_stopped ends it and renders the reports. Setup: docs/zoom.md.")
    zw.add_argument("--host", help="listen address (default: zoom.host)")
    zw.add_argument("--port", type=int, help="listen port (default: zoom.port)")
    zw.set_defaults(func=cmd_zoom_webhook)

    zc = sub.add_parser("zoom-check", help="follow one real Zoom RTMS stream and print every protocol step",
                        description="For the first real Zoom class: connect to one RTMS stream (from the "
                                    "webhook's fields, or the first meeting.rtms_started received with "
                                    "--listen), print each handshake step, the events, the subscriptions and "
                                    "the frames per student. Stores nothing; leaves the stream running.")
    from bot.connectors.zoom_check import add_arguments as zoom_check_arguments

    zoom_check_arguments(zc)
    zc.set_defaults(func=cmd_zoom_check)

    b = sub.add_parser("bench", help="load benchmark: N simulated students streaming into the bot (root)",
                       description="Stream N simulated students (a pre-encoded VP8 clip made from face videos) "
                                   "into the built-in classroom that the bot runs with the real analyser, "
                                   "inside a private network namespace (needs root), and print sustained "
                                   "samples per student per second, dropped-sample share, frame-to-"
                                   "observation latency p50/p95, the bot's CPU and peak RSS.")
    b.add_argument("mode", nargs="?", choices=("cluster",),
                   help="cluster: W `classpulse worker` processes on a PostgreSQL database, C simulated classes "
                        "at once (--db --workers --classes --students --minutes [--kill-one])")
    b.add_argument("--students", type=int, help="simulated students (per class with `cluster`)")
    b.add_argument("--db", help="cluster: the PostgreSQL URL (postgresql+psycopg://…)")
    b.add_argument("--workers", type=int, help="cluster: worker processes")
    b.add_argument("--classes", type=int, help="cluster: classes at once")
    b.add_argument("--minutes", type=float, help="cluster: length of each class")
    b.add_argument("--kill-one", action="store_true", help="cluster: SIGKILL the busiest worker a third of the way in")
    b.add_argument("--analyzer", choices=("production", "fake"), default="production",
                   help="cluster: the workers' analyser (fake: no TensorFlow, for tests)")
    b.add_argument("--fps", type=int, help="frames per second each student sends (default 15)")
    b.add_argument("--size", help="video size WxH (default 640x480)")
    b.add_argument("--profile", choices=("custom", "classroom"), default="custom",
                   help="classroom: students send what the built-in join page sends (classroom.publish_*: "
                        "640x480 at 5 fps, 300 kbps by default)")
    b.add_argument("--receive-only", action="store_true",
                   help="no analysis: measure what receiving the students alone costs the bot")
    b.add_argument("--spy", metavar="FILE", help="record the bot process with py-spy (collapsed stacks to FILE)")
    b.add_argument("--seconds", type=float, default=60.0, help="measured steady window (default 60)")
    b.add_argument("--videos", nargs="*", metavar="VIDEO", help="source face videos (default: shared videos)")
    b.add_argument("--json", action="store_true", help="print one JSON document")
    b.set_defaults(func=cmd_bench)

    t = sub.add_parser("train", help="train an emotion model on FER-2013 (resumable)",
                       description="Train on train/, select on val/ (the test split is never read). "
                                   "Re-running the same --name resumes from the last finished epoch.")
    t.add_argument("--data", default=str(SHARED_DATA / "fer2013"),
                   help="fer2013.csv or a folder with train/ and val/ <label>/<image> folders")
    t.add_argument("--name", default="vgg", help="run name (folder under --runs)")
    t.add_argument("--runs", default="runs", help="folder for runs (default: runs)")
    t.add_argument("--arch", default="vgg", help="architecture: vgg or cnn4")
    t.add_argument("--hparams", help="architecture hyper-parameters as JSON")
    t.add_argument("--epochs", type=int, default=32)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW, cosine schedule)")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--precision", default="auto", choices=["auto", "mixed_bfloat16", "float32"])
    t.add_argument("--warmup", type=float, default=1.0, help="warm-up epochs before the cosine decay")
    t.add_argument("--class-weight-power", type=float, default=0.5,
                   help="loss weight per class ∝ (1/frequency)^POWER (0 = unweighted)")
    t.add_argument("--init", metavar="RUN_OR_WEIGHTS",
                   help="start from another run's best weights (a fine-tuning stage)")
    t.add_argument("--max-steps", type=int, help="limit steps per epoch (smoke runs)")
    t.add_argument("--augment", default="fer", choices=["fer", "path"],
                   help="augmentation recipe: fer (crops only) or path (what detector, camera and crop do)")
    t.add_argument("--recrop", metavar="NPZ", help="train faces re-cut by the production crop "
                   "(python -m training.framing recrop), mixed in with --recrop-prob")
    t.add_argument("--recrop-prob", type=float, default=0.5)
    t.add_argument("--save-every-epoch", action="store_true", help="keep each epoch's weights in epochs/")
    t.add_argument("--export", metavar="DIR", help="write the best weights as a model folder when done")
    t.set_defaults(func=cmd_train)

    en = sub.add_parser("ensemble", help="average several trained models into one model folder",
                        description="Copy model folders into one ensemble folder whose probabilities are "
                                    "averaged; with --data, record its validation metrics (test is not read).")
    en.add_argument("members", nargs="+", metavar="MODEL_DIR", help="two or more model folders")
    en.add_argument("--out", required=True, metavar="DIR", help="ensemble folder to write")
    en.add_argument("--data", help="FER-2013 folder with val/ (or CSV) to measure validation metrics")
    en.add_argument("--tta", default="flip", choices=["flip", "none"], help="test-time augmentation")
    en.set_defaults(func=cmd_ensemble)

    e = sub.add_parser("evaluate", help="measure a model on labelled faces",
                       description="Accuracy, balanced accuracy, macro-F1, per-class metrics and the "
                                   "confusion matrix, through the bot's own inference path.")
    e.add_argument("--model", metavar="DIR", help="model folder (default: the committed model)")
    e.add_argument("--data", required=True,
                   help="a <label>/<image> folder, a folder with train/val/test, or a CSV")
    e.add_argument("--split", default="test", choices=["train", "val", "test"],
                   help="split to read from a CSV or a folder with splits (default: test)")
    e.add_argument("--duplicates", help="duplicates.csv to also report accuracy without leaked test images")
    e.add_argument("--plots", default="out/evaluate", help="folder for the confusion matrix and curves")
    e.add_argument("--json", action="store_true", help="print one JSON document")
    e.add_argument("--frames", action="store_true",
                   help="--data holds full <label>/<image> photos: score the whole path (detector, crop, "
                        "classifier); a photo without a detected face counts as wrong")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("report", help="render the reports of a stored session, or a class's course report",
                       description="Render a session's class and student reports, or with --course the course "
                                   "report of a class across the term (course.html, course.pdf and "
                                   "attendance.csv under <reports.out_dir>/courses/<class>).")
    r.add_argument("session", nargs="?", help="session id (see `classpulse sessions`); not needed with --course")
    r.add_argument("--course", metavar="CLASS", help="a class id or name: its course report across the term")
    r.add_argument("--format", default="both", choices=["html", "pdf", "both"])
    r.add_argument("--out", metavar="DIR", help="output folder (default: reports.out_dir; with --course, "
                                                "the course report's own folder)")
    r.set_defaults(func=cmd_report)

    s = sub.add_parser("sessions", help="list stored sessions")
    s.set_defaults(func=cmd_sessions)

    sv = sub.add_parser("serve", help="run the service: REST API, dashboard, schedules, built-in classroom",
                        description="Run the ClassPulse service until Ctrl-C/SIGTERM; shutting down ends "
                                    "running sessions cleanly and renders their reports. See docs/service.md.")
    sv.add_argument("--host", help="address to listen on (default: classroom.host, 127.0.0.1)")
    sv.add_argument("--port", type=int, help="port (default: classroom.port, 8080)")
    sv.set_defaults(func=cmd_serve)

    wk = sub.add_parser("worker", help="run classes from the PostgreSQL job queue (a cluster node)",
                        description="Take queued classes from the service's PostgreSQL database and run their "
                                    "bots, as many as fit --capacity students; SIGTERM hands running classes "
                                    "over to other workers (docs/deploy.md).")
    wk.add_argument("--capacity", type=int, default=None, metavar="STUDENTS",
                    help="students this worker takes at once (default: cluster.capacity)")
    wk.add_argument("--analyzer", choices=("production", "fake"), default="production",
                    help="fake: a stand-in that reads every student as absent, for tests and dry runs")
    wk.set_defaults(func=cmd_worker)

    tk = sub.add_parser("token", help="create, revoke and list API tokens of the service")
    tks = tk.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    tc = tks.add_parser("create", help="create a token and print it (once)")
    tc.add_argument("--role", choices=["admin", "teacher"], required=True)
    tc.add_argument("--name", required=True, help="the teacher's (or admin's) name; owner of what the token creates")
    tr = tks.add_parser("revoke", help="revoke a token by its id")
    tr.add_argument("token_id")
    tks.add_parser("list", help="list tokens (ids, roles, names; never the secrets)")
    tk.set_defaults(func=cmd_token)

    pg = sub.add_parser("purge", help="delete sessions past store.retention_days (observations, reports, "
                                      "deliveries), whatever started them, term summaries past "
                                      "store.summary_retention_days and class rosters past "
                                      "store.roster_retention_days")
    pg.add_argument("--dry-run", action="store_true", help="list them, delete nothing")
    pg.set_defaults(func=cmd_purge)

    tt = sub.add_parser("timetable", help="import a school timetable (iCalendar) as classes with schedules")
    tts = tt.add_subparsers(dest="timetable_command", metavar="ACTION", required=True)
    ti = tts.add_parser("import", help="one class and calendar schedule per lesson; re-importing updates by UID")
    ti.add_argument("file", metavar="FILE.ics")
    ti.add_argument("--owner", help="the teacher the classes belong to (default: your user name)")
    ti.add_argument("--from", dest="start", metavar="DATE", help="plan from this date (YYYY-MM-DD)")
    ti.add_argument("--tz", help="zone for floating times in the file (IANA name, e.g. Europe/Berlin)")
    ti.add_argument("--json", action="store_true", help="print the plan as JSON")
    ti.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    ts = tts.add_parser("subscribe", help="subscribe to a timetable feed URL: read now, then daily by the service")
    ts.add_argument("url", metavar="URL")
    ts.add_argument("--owner", help="the teacher the classes belong to (default: your user name)")
    ts.add_argument("--tz", help="zone for floating times in the feed (IANA name)")
    ts.add_argument("--json", action="store_true", help="print the feed, plan and changes as JSON")
    tf = tts.add_parser("feeds", help="list subscribed feeds with their last read or error")
    tf.add_argument("--json", action="store_true")
    tu = tts.add_parser("unsubscribe", help="stop reading a feed (its classes and schedules stay)")
    tu.add_argument("feed_id", metavar="FEED_ID")
    tt.set_defaults(func=cmd_timetable)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config, overrides=args.overrides)
        if args.command in {"analyze", "train", "evaluate", "ensemble"} and not args.verbose:
            preload_tensorflow()
        rc: int = args.func(args, config)
        return rc
    except KeyboardInterrupt:
        print("classpulse: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one readable line, never a traceback unless -v
        if args.verbose:
            raise
        expected = isinstance(exc, _expected_errors())
        msg = str(exc) if expected else f"{type(exc).__name__}: {exc} (run with -v for details)"
        print(f"classpulse: error: {msg}", file=sys.stderr)
        return 2


def _entry() -> Any:
    sys.exit(main())


if __name__ == "__main__":
    _entry()
