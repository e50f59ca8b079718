"""The benchmark's load generator: N students relaying a pre-encoded VP8 clip over WHIP.

Runs as its own process (inside the benchmark's network namespace) so that its CPU is
not counted as the bot's. Each student is an aiortc peer with a send-only transceiver
restricted to VP8 whose track is `MediaPlayer(clip, decode=False)`: packets go out as
they are, with no encoder in the loop. Prints one JSON line per event on stdout
(`joined`, `failed`) and stops when stdin closes or after `--seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from aiohttp import ClientSession
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer


def _say(**event: Any) -> None:
    print(json.dumps(event), flush=True)


class RelayStudent:
    """One simulated student: publish the clip, leave with WHIP DELETE."""

    def __init__(self, base_url: str, code: str, name: str, clip: str) -> None:
        self.base_url = base_url
        self.code = code
        self.name = name
        self.player = MediaPlayer(clip, decode=False)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.location: str | None = None

    async def join(self, http: ClientSession) -> None:
        if self.player.video is None:
            raise RuntimeError("the clip has no video")
        transceiver = self.pc.addTransceiver(self.player.video, direction="sendonly")
        codecs = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences([c for c in codecs if c.mimeType in ("video/VP8", "video/rtx")])
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with http.post(f"{self.base_url}/whip/{self.code}", params={"name": self.name},
                             data=self.pc.localDescription.sdp,
                             headers={"Content-Type": "application/sdp"}) as res:
            text = await res.text()
            if res.status != 201:
                raise RuntimeError(f"WHIP {res.status}: {text.strip()}")
            self.location = res.headers.get("Location")
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=text, type="answer"))

    async def leave(self, http: ClientSession) -> None:
        if self.location:
            try:
                async with http.delete(self.base_url + self.location):
                    pass
            except Exception:  # the bot may already be gone at the end of the run
                pass
        await self.pc.close()


async def _stdin_closed() -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


async def run(base_url: str, code: str, students: int, clips: list[str], seconds: float,
              names: list[str] | None = None) -> None:
    names = names or [f"Student {i + 1:02d}" for i in range(students)]
    crowd = [RelayStudent(base_url, code, names[i % len(names)], clips[i % len(clips)]) for i in range(students)]
    async with ClientSession() as http:
        for s in crowd:  # one after the other, as a class fills up; a refused one does not stop the rest
            try:
                await s.join(http)
                _say(event="joined", name=s.name)
            except Exception as exc:
                _say(event="failed", name=s.name, error=str(exc))
        stop = asyncio.ensure_future(_stdin_closed())
        await asyncio.wait([stop], timeout=seconds)
        await asyncio.gather(*(s.leave(http) for s in crowd), return_exceptions=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--base-url", required=True)
    p.add_argument("--code", required=True)
    p.add_argument("--students", type=int, required=True)
    p.add_argument("--clip", action="append", required=True, help="VP8 clip; repeat for one per student")
    p.add_argument("--names", help="comma-separated display names (default: Student 01, ...)")
    p.add_argument("--seconds", type=float, default=3600)
    a = p.parse_args()
    asyncio.run(run(a.base_url, a.code, a.students, a.clip, a.seconds, a.names.split(",") if a.names else None))


if __name__ == "__main__":
    main()
