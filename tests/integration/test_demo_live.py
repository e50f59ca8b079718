"""`classpulse demo --live` end to end: classroom, two streaming students, the bot, HTML reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.sim.netns import available

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.integration
@pytest.mark.slow
def test_live_demo_renders_reports(videos_dir: Path, tmp_path: Path) -> None:
    why = available()
    if why:
        pytest.skip(why)
    clips = [str(p) for p in sorted(videos_dir.glob("*.mp4"))[:2]]
    res = subprocess.run([sys.executable, "-m", "bot", "--set", f"store.url=sqlite:///{tmp_path}/cp.db",
                          "--set", "reports.formats=[html]", "demo", "--live", "--seconds", "8",
                          "--out", str(tmp_path / "reports"), "--videos", *clips],
                         capture_output=True, text=True, cwd=REPO, timeout=400,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stderr[-3000:]
    assert "offline demo instead" not in res.stderr
    paths = [Path(line) for line in res.stdout.split()]
    assert paths and all(p.exists() and p.suffix == ".html" for p in paths), res.stdout
    html = "\n".join(p.read_text() for p in paths)
    assert "Ada" in html and "Ben" in html, "both students were in the live class"
