"""SIGKILL of `classpulse serve` mid-class, then a restart: attempts closed, gaps recorded, nothing left open.

A real service process with the real analyser, two classes in `sim:` meetings (real faces,
simulated transport): one with a duration (its window is still open after the restart, so
it continues in a new attempt) and one without (it ends `interrupted`, its partial report
rendered and listed). Neither is ever left `joining`/`in_class` with a dead attempt.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SIM = "sim:?students=2&faces=builtin&fps=3"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.sets = [f"store.url=sqlite:///{tmp}/cp.db", f"reports.out_dir={tmp}/reports",
                     "analysis.sample_interval_s=0.5", "analysis.emotions=off", "reports.formats=[html]",
                     "store.flush_s=0.5", "session.nobody_timeout_s=120", "session.empty_timeout_s=120"]
        self.log = tmp / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        cmd = [sys.executable, "-m", "bot", *[x for s in self.sets for x in ("--set", s)], *args]
        return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True, timeout=120).stdout

    def start(self) -> None:
        cmd = [sys.executable, "-m", "bot", *[x for s in self.sets for x in ("--set", s)], "serve",
               "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        raise AssertionError("serve did not start: " + self.log.read_text()[-2000:])

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(120)

    def call(self, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/v1{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as res:
            return json.loads(res.read())


def _until(check: Any, within_s: float, what: str) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"not reached within {within_s:g} s: {what}")


def test_sigkill_then_restart_continues_or_interrupts(tmp_path: Path) -> None:
    serve = Serve(tmp_path)
    token = serve.cli("token", "create", "--role", "teacher", "--name", "alice").strip()
    serve.start()
    try:
        windowed = serve.call("POST", "/sessions", token, {"meeting_url": SIM, "duration_s": 600,
                                                            "class_name": "Biology"})["session_id"]
        open_ended = serve.call("POST", "/sessions", token, {"meeting_url": SIM, "class_name": "History"})["session_id"]

        def sampled(sid: str, n: int) -> bool:
            live = serve.call("GET", f"/sessions/{sid}", token).get("live") or {}
            return live.get("samples", 0) >= n

        for sid in (windowed, open_ended):
            _until(lambda sid=sid: sampled(sid, 6), 180, f"{sid} sampling")
        time.sleep(1.0)  # at least one flush after the samples
        serve.kill()
        serve.start()

        got = serve.call("GET", f"/sessions/{open_ended}", token)
        assert got["state"] == "interrupted", got
        assert [a["end_reason"] for a in got["attempts"]] == ["crash"]
        [gap] = got["interruptions"]
        assert gap["reason"] == "crash" and gap["from"] <= gap["to"]
        listed = serve.call("GET", "/reports", token)["items"]
        assert open_ended in [r["session_id"] for r in listed]  # the partial report is there

        _until(lambda: sampled(windowed, 4), 180, "the windowed class continuing")
        got = serve.call("GET", f"/sessions/{windowed}", token)
        assert got["state"] == "in_class" and [a["end_reason"] for a in got["attempts"]] == ["crash", ""]
        assert [g["reason"] for g in got["interruptions"]] == ["crash"]
        serve.call("POST", f"/sessions/{windowed}/leave", token)
        _until(lambda: serve.call("GET", f"/sessions/{windowed}", token)["state"] == "done", 120, "done")
        report = next(p for p in (tmp_path / "reports" / windowed).rglob("class.html"))
        assert "Analysis interrupted" in report.read_text()
    finally:
        serve.stop()
