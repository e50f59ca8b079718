"""Test side of `bot.sim.netns`: run helper scripts with the project's interpreter inside a namespace."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.sim.netns import ADDRESS, NetnsError, available
from bot.sim.netns import Netns as _Netns

__all__ = ["ADDRESS", "REPO", "Netns", "NetnsError", "available"]

REPO = Path(__file__).resolve().parent.parent.parent


@dataclass
class Netns(_Netns):
    @classmethod
    def create(cls, prefix: str = "cptest") -> Netns:
        ns = _Netns.create(prefix)
        return cls(ns.name, ns.address)

    def python(self, script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a helper script with the project's interpreter inside the namespace."""
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        return subprocess.run(self.command([sys.executable, script, *args]), capture_output=True, text=True,
                              timeout=timeout, cwd=REPO, env=env)
