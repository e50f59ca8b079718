"""One aiortc student in its own process, so a test can cut it off like a lost network.

Publishes a clip over WHIP, prints "joined" and then streams until killed. SIGKILL sends
no WHIP DELETE, no DTLS close and no RTCP BYE: from the bot's side the packets just stop.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import ClientSession

from tests.integration.students import WhipStudent, load_clip


async def main(a: argparse.Namespace) -> None:
    student = WhipStudent(a.base_url, a.code, a.name, load_clip(a.clip, 10, (320, 240)))
    async with ClientSession() as http:
        await student.join(http)
        print("joined", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("base_url")
    p.add_argument("code")
    p.add_argument("name")
    p.add_argument("clip")
    asyncio.run(main(p.parse_args()))
