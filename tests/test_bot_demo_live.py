"""`classpulse demo --live` falls back to the offline demo, with a clear message, where it cannot run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from bot.sim import demo, demo_live
from bot.sim.demo_live import LiveDemoUnavailable, run_live_demo


def test_live_demo_says_why_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_live, "available", lambda: "creating a network namespace needs root")
    with pytest.raises(LiveDemoUnavailable, match="needs root"):
        run_live_demo(None, 10, None)


def test_cli_falls_back_to_the_offline_demo(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    def offline(config: Any, **kw: Any) -> list[Path]:
        calls.append(kw)
        return [tmp_path / "class.html"]

    monkeypatch.setattr(demo_live, "available", lambda: "creating a network namespace needs root")
    monkeypatch.setattr(demo, "run_demo", offline)
    monkeypatch.setattr("bot.cli.main.preload_tensorflow", lambda: None)
    assert main(["demo", "--live", "--seconds", "12"]) == 0
    out, err = capsys.readouterr()
    assert "live demo cannot run here (creating a network namespace needs root)" in err
    assert "offline demo instead" in err
    assert calls and calls[0]["seconds"] == 12
    assert out.strip() == str(tmp_path / "class.html")
