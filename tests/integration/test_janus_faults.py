"""Faults in a real Janus class are ours, never the students' (DESIGN.md, "Observation states").

Janus (Debian's package) is restarted for about ten seconds while Ada and Ben publish and
Cy has turned her camera off: the outage must be stored as `no_signal` (and shown as "No
signal" in the class report), not as anybody's camera being off or anybody leaving; Ada
and Ben come back with new Janus feed ids and stay the same two students; Cy's real
camera-off stays camera off. The case script owns the Janus process (see
`janus_fault_case.py`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from reports import format as fmt
from tests.integration.conftest import JANUS_CONF
from tests.integration.netns import Netns

CASE = str(Path(__file__).with_name("janus_fault_case.py"))
OUTAGE_S = 10.0


@pytest.mark.integration
def test_a_janus_restart_is_no_signal_never_camera_off(netns: Netns, videos_dir: Path, tmp_path: Path) -> None:
    binary = shutil.which("janus")
    if binary is None:
        pytest.skip("Janus is not installed (apt-get install -y janus)")
    conf = tmp_path / "janus-conf"
    shutil.copytree(JANUS_CONF, conf)
    clips = [str(p) for p in sorted(videos_dir.glob("*.mp4"))[:3]]
    res = netns.python(CASE, "--janus", binary, "--conf", str(conf), "--outage", str(OUTAGE_S), *clips, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["state"] == "done" and out["leave_reason"] == "requested", out
    times, sums = out["times"], out["summaries"]
    assert sorted(times) == ["Ada", "Ben", "Cy"], "the same three students after the restart, and no bot"
    assert out["progress"]["reconnects"] >= 1
    outage_from, back = out["outage_from"], out["janus_back"]
    for name in ("Ada", "Ben"):
        assert out["rejoins"][name] >= 1, "the student's own client had to rejoin"
        assert "camera_off" not in times[name], f"{name}'s camera was never off: {out['counts'][name]}"
        assert "left" not in times[name] and not sums[name]["left_at"], f"{name} never left"
        lost = [t for t in times[name].get("no_signal", []) if outage_from <= t]
        assert len(lost) >= 2 * (OUTAGE_S - 2), f"{name}: the outage is no signal: {out['counts'][name]}"
        assert sums[name]["no_signal_s"] >= OUTAGE_S - 2 and sums[name]["camera_off_s"] == 0
        assert len([t for t in times[name].get("absent", []) if t > back]) >= 4, "video again after the restart"
        assert len([t for t in times[name].get("absent", []) if t < outage_from]) >= 8
    cy = times["Cy"]
    assert len([t for t in cy.get("camera_off", []) if out["camera_off_at"] + 2 < t < outage_from]) >= 4, \
        f"Cy really turned her camera off: {out['counts']['Cy']}"
    assert not [t for t in cy.get("no_signal", []) if t < outage_from], "Cy's camera-off is not a fault"
    quality = out["class_quality"]
    print(json.dumps({"counts": out["counts"], "summaries": sums, "class_quality": quality,
                      "outage": [outage_from, back]}))
    assert quality["Camera-off time"] == fmt.duration(sums["Cy"]["camera_off_s"]), "only Cy's camera-off counts"
    assert quality["No signal"] == fmt.duration(sum(s["no_signal_s"] for s in sums.values())), quality
    assert sums["Ada"]["no_signal_s"] + sums["Ben"]["no_signal_s"] >= 2 * (OUTAGE_S - 2)
