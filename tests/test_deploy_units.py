"""The systemd units in deploy/systemd pass `systemd-analyze verify` (unknown keys, bad values, bad paths).

`verify` reports a bad value as a warning and still exits 0, so any output fails the test. The
units name /opt/classpulse/.venv/bin/classpulse; the copies checked here name this venv's
`classpulse` so the executable exists. Needs Debian's `systemd` package (systemd-analyze):
skipped without it, failed under CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "deploy" / "systemd"


def test_the_unit_files_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is needed under CI (Debian package systemd)")
        pytest.skip("systemd-analyze not installed")
    exe = Path(sys.executable).parent / "classpulse"
    units = sorted(UNITS.glob("*.service"))
    assert {u.name for u in units} == {"classpulse-serve.service", "classpulse-worker@.service"}
    checked = []
    for unit in units:
        text = unit.read_text().replace("/opt/classpulse/.venv/bin/classpulse", str(exe if exe.exists() else
                                                                                       sys.executable))
        name = unit.name.replace("@.", "@1.")  # a template is verified as one of its instances
        (tmp_path / name).write_text(text)
        checked.append(f"./{name}")
    done = subprocess.run([tool, "verify", *checked], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done.stdout + done.stderr
