"""The `classpulse` command as a user meets it: help, one-line errors, analyze output."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from bot.cli.main import build_parser, main

REPO = Path(__file__).resolve().parent.parent


def test_every_subcommand_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = set(sub.choices)  # type: ignore[arg-type]
    assert {"analyze", "demo", "train", "evaluate", "report", "sessions"} <= names
    for name in names:
        with pytest.raises(SystemExit) as ex:
            parser.parse_args([name, "--help"])
        assert ex.value.code == 0


def test_bad_config_is_one_line_and_nonzero(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--set", "analysis.sample_interval_s=0", "sessions"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0
    assert err.startswith("classpulse: error: config error: analysis.sample_interval_s = 0")


def test_unknown_session_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # In a folder with no store, nothing is created: the error says so.
    rc = main(["--set", f"store.url=sqlite:///{tmp_path}/x.db", "report", "nope"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "nothing has been recorded" in err and "Traceback" not in err
    assert not (tmp_path / "x.db").exists()
    # With a store, an unknown session is one line too.
    from analysis.store import Store
    Store(f"sqlite:///{tmp_path}/x.db").close()
    rc = main(["--set", f"store.url=sqlite:///{tmp_path}/x.db", "report", "nope"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "no session 'nope'" in err and "Traceback" not in err


@pytest.mark.slow  # `train` loads TensorFlow first
def test_train_refuses_a_missing_init_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["train", "--data", str(tmp_path), "--runs", str(tmp_path / "runs"), "--init", str(tmp_path / "nope")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "--init" in err and "nope" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_analyze_json_reports_bad_files_and_carries_on(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8) + np.random.default_rng(0).integers(
        0, 20, (240, 320, 3), dtype=np.uint8))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x01not a video at all")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    res = subprocess.run([sys.executable, "-m", "bot", "analyze", "--json", str(corrupt), str(blank), str(text)],
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    files = {Path(f["path"]).name: f for f in doc["files"]}
    assert "corrupt.mp4" in files["corrupt.mp4"]["error"]
    assert "notes.txt" in files["notes.txt"]["error"]
    assert "error" not in files["blank.png"]
    assert [s["faces"] for s in files["blank.png"]["samples"]] == [[]]
    assert files["blank.png"]["samples"][0]["t"] == 0.0
    assert "Traceback" not in res.stderr


@pytest.mark.slow
@pytest.mark.integration
def test_analyze_finds_one_face_in_nearly_every_sample(videos_dir: Path) -> None:
    clips = sorted(videos_dir.glob("*.mp4"))
    res = subprocess.run([sys.executable, "-m", "bot", "analyze", "--json", *map(str, clips)],
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    for f in json.loads(res.stdout)["files"]:
        samples = f["samples"]
        one = sum(len(s["faces"]) == 1 for s in samples)
        assert samples and one / len(samples) >= 0.9, (f["path"], one, len(samples))
        face = next(s["faces"][0] for s in samples if s["faces"])
        assert set(face["probabilities"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
        assert abs(sum(face["probabilities"].values()) - 1) < 1e-3
        assert face["emotion"] == max(face["probabilities"], key=face["probabilities"].get)
        assert len(face["box"]) == 4


def test_report_rerenders_a_stored_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from analysis.records import FaceReading, Observation, Participant, SessionInfo, State
    from analysis.store import Store

    url = f"sqlite:///{tmp_path}/r.db"
    store = Store(url)
    store.create_session(SessionInfo("s9", "Art", teacher="T", started_at="2026-03-02T10:00:00+00:00",
                                     ended_at="2026-03-02T10:01:00+00:00"))
    store.upsert_participant(Participant("s9", "p1", "Ann"))
    face = FaceReading(1, (10, 10, 80, 80), 0.9, yaw=0.0, pitch=0.0, attentive=True, eyes_open=True,
                       emotions=(0, 0, 0, 0, 0, 0, 1.0))
    store.add_observations([Observation("s9", "p1", float(t), State.PRESENT, (face,)) for t in range(60)])
    rc = main(["--set", f"store.url={url}", "--set", "reports.paper=Letter", "report", "s9",
               "--format", "html", "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out.split()
    assert rc == 0
    assert {Path(p).name for p in printed} == {"class.html", "ann.html"}
    assert "size: Letter;" in (tmp_path / "out" / "s9" / "class.html").read_text()  # reports.paper applied


def test_the_offline_analysis_path_imports_no_webrtc_stack() -> None:
    # `classpulse analyze` loads TensorFlow first; importing PyAV/aiortc after it crashed the
    # process (SIGSEGV) here, so the offline path must not pull the live one in.
    import subprocess
    import sys

    code = ("import sys, bot.cli.analyze, bot.sessions.analyzer\n"
            "bad = [m for m in ('aiortc', 'av') if m in sys.modules]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert res.returncode == 0, res.stdout + res.stderr
