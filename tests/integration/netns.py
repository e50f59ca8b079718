"""A private network namespace with a veth pair, for real ICE without touching the host network.

aioice never offers 127.0.0.1 and Janus skips loopback, so two WebRTC peers on one machine
need a non-loopback address. Inside a fresh namespace 198.18.0.1 (a benchmarking range,
RFC 2544) lives on a veth; traffic never leaves the namespace. Needs root (CI runs as root).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ADDRESS = "198.18.0.1"
REPO = Path(__file__).resolve().parent.parent.parent


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "creating a network namespace needs root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    return None


@dataclass
class Netns:
    name: str
    address: str = ADDRESS

    @classmethod
    def create(cls) -> Netns:
        ns = cls(f"cptest-{secrets.token_hex(3)}")
        steps = [
            ("netns", "add", ns.name),
            ("-n", ns.name, "link", "set", "lo", "up"),
            ("-n", ns.name, "link", "add", "v0", "type", "veth", "peer", "name", "v1"),
            ("-n", ns.name, "addr", "add", f"{ns.address}/24", "dev", "v0"),
            ("-n", ns.name, "link", "set", "v0", "up"),
            ("-n", ns.name, "link", "set", "v1", "up"),
        ]
        for step in steps:
            res = _ip(*step)
            if res.returncode != 0:
                ns.delete()
                raise RuntimeError(f"ip {' '.join(step)}: {res.stderr.strip()}")
        return ns

    def delete(self) -> None:
        _ip("netns", "del", self.name)

    def command(self, args: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def python(self, script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a helper script with the project's interpreter inside the namespace."""
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        return subprocess.run(self.command([sys.executable, script, *args]), capture_output=True, text=True,
                              timeout=timeout, cwd=REPO, env=env)
