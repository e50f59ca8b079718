"""A private network namespace with a veth pair: real ICE on one machine, host network untouched.

aioice never offers 127.0.0.1 and Janus skips loopback, so two WebRTC peers on one machine
need a non-loopback address. Inside a fresh namespace 198.18.0.1 (a benchmarking range,
RFC 2544) lives on a veth whose peer end stays in the same namespace: traffic never
leaves it. Used by `classpulse bench` and the integration tests; needs root.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

ADDRESS = "198.18.0.1"


class NetnsError(RuntimeError):
    """The namespace could not be made (not root, no iproute2, kernel refused)."""


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)


def available() -> str | None:
    """None when namespaces can be made here, else why not (a sentence for the user)."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "creating a network namespace needs root (run it as root, e.g. with sudo)"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    return None


@dataclass
class Netns:
    name: str
    address: str = ADDRESS

    @classmethod
    def create(cls, prefix: str = "cp") -> Netns:
        """Make the namespace with lo up and `address` on a veth; removed again on any failure."""
        why = available()
        if why:
            raise NetnsError(why)
        ns = cls(f"{prefix}-{secrets.token_hex(3)}")
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
                raise NetnsError(f"ip {' '.join(step)}: {res.stderr.strip()}")
        return ns

    def delete(self) -> None:
        _ip("netns", "del", self.name)

    def exists(self) -> bool:
        return self.name in _ip("netns", "list").stdout.split()

    def command(self, args: Sequence[str]) -> list[str]:
        """`args` wrapped to run inside the namespace (children inherit it)."""
        return ["ip", "netns", "exec", self.name, *args]


@contextlib.contextmanager
def namespace(prefix: str = "cp") -> Iterator[Netns]:
    """A namespace for the duration of the block, deleted afterwards even on errors."""
    ns = Netns.create(prefix)
    try:
        yield ns
    finally:
        ns.delete()
