"""Fixtures for tests against real components: a private network namespace per test, Janus in it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.netns import Netns, available

JANUS_CONF = Path(__file__).with_name("janus")


@pytest.fixture
def netns() -> Iterator[Netns]:
    why = available()
    if why:
        pytest.skip(why)
    try:
        ns = Netns.create()
    except RuntimeError as exc:
        pytest.skip(f"cannot create a network namespace here: {exc}")
    try:
        yield ns
    finally:
        ns.delete()


@pytest.fixture
def janus(netns: Netns, tmp_path: Path) -> Iterator[Netns]:
    binary = shutil.which("janus")
    if binary is None:
        pytest.skip("Janus is not installed (apt-get install -y janus)")
    conf = tmp_path / "janus-conf"
    shutil.copytree(JANUS_CONF, conf)
    log = (tmp_path / "janus.log").open("w")
    proc = subprocess.Popen(netns.command([binary, "-F", str(conf), "-C", str(conf / "janus.jcfg")]),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        yield netns
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
