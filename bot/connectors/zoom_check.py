"""`classpulse zoom-check`: watch one REAL Zoom RTMS stream and print every protocol step.

For a school's admin on the first real class: it connects to the stream (given
``--meeting-uuid --stream-id --server-url``, or the first ``meeting.rtms_started`` webhook it
receives with ``--listen``), prints each handshake step, every event Zoom sends, every
video subscription and its answer and the first frame of each student, then a summary:
who Zoom named, how, their camera state and the frames received per student. If anything
still differs from Zoom's documentation, the output shows the step where it stops.

It never uses the fake, stores nothing, analyses nothing, and never sends STREAM_CLOSE_REQ:
the class's stream is left running when it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from bot.config import Config
from bot.connectors.base import Closed, ConnectorError
from bot.connectors.zoom_protocol import StreamRef


@dataclass
class CheckResult:
    """What one check saw (the exit status is 0 only when frames arrived)."""

    connected: bool = False
    failure: str = ""
    ended: str = ""
    people: list[tuple[str, str, str, str, int]] = field(default_factory=list)  # id, name, camera, source, frames
    subscriptions: int = 0
    refusals: int = 0

    @property
    def ok(self) -> bool:
        return self.connected and any(frames for *_, frames in self.people)


async def check(ref: StreamRef, config: Config, seconds: float, out: TextIO | None = None,
                clock: Callable[[], float] = time.monotonic) -> CheckResult:
    """Follow the stream for `seconds` (or until Zoom ends it) and report."""
    from bot.connectors.zoom import ZoomConnector  # aiohttp/aiortc: only when a check runs

    out = out if out is not None else sys.stdout
    t0 = clock()

    def say(text: str) -> None:
        print(f"[{clock() - t0:7.2f}s] {text}", file=out, flush=True)

    connector = ZoomConnector(ref, config.zoom, sample_interval_s=config.analysis.sample_interval_s)
    connector.trace = say
    result = CheckResult()
    say(f"checking meeting {ref.meeting_uuid}, RTMS stream {ref.rtms_stream_id}")
    try:
        await asyncio.wait_for(connector.join(), config.zoom.handshake_timeout_s * 3)
    except ConnectorError as exc:
        result.failure = f"{exc.reason.value}: {exc.detail}"
        say(f"STOPPED at the handshake: {result.failure}")
        return result
    except TimeoutError:
        result.failure = "the handshakes did not complete"
        say(f"STOPPED: {result.failure}")
        await connector.leave()
        return result
    result.connected = True

    async def follow() -> None:
        async for event in connector.events():
            if isinstance(event, Closed):
                result.ended = event.detail + (" — its data must be deleted" if event.delete_data else "")

    follower = asyncio.ensure_future(follow())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(follower), seconds)
    await connector.leave()  # closes the sockets only: the stream keeps running for ClassPulse
    follower.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follower
    for p in connector.participants.people.values():
        result.people.append((p.user, p.name or "?", p.camera.value, p.source, connector.frames_by_user.get(p.user, 0)))
    result.subscriptions = len(connector.subscriptions)
    result.refusals = len(connector.refusals)
    print(summary(result), file=out, flush=True)
    return result


def summary(result: CheckResult) -> str:
    lines = ["", "participants Zoom named (id, name, camera, first named by, frames received):"]
    for uid, name, camera, source, frames in sorted(result.people, key=lambda r: r[1]):
        lines.append(f"  {uid:>12}  {name:<30} {camera:<8} {source:<9} {frames}")
    if not result.people:
        lines.append("  nobody: Zoom sent no event naming a participant (nobody spoke, joined or toggled a camera)")
    lines.append(f"video subscriptions sent: {result.subscriptions}, refused: {result.refusals}")
    if result.ended:
        lines.append(f"stream ended: {result.ended}")
    lines.append("RESULT: " + ("video received" if result.ok else "NO video received — see the last steps above"))
    return "\n".join(lines)


async def wait_for_webhook(config: Config, say: Callable[[str], None]) -> StreamRef:
    """Serve the webhook endpoint until the first `meeting.rtms_started` arrives."""
    from aiohttp import web

    from bot.connectors.zoom_webhook import Started, webhook_handler

    started: asyncio.Future[StreamRef] = asyncio.get_running_loop().create_future()

    def on_started(event: Started) -> None:
        say(f"meeting.rtms_started: meeting number {event.meeting_id or '(not sent)'}, "
            f"started by Zoom user {event.operator_id or '(not sent)'}")
        if not started.done():
            started.set_result(event.ref)

    app = web.Application()
    app.router.add_post(config.zoom.webhook_path, webhook_handler(
        config.zoom.webhook_secret.get_secret_value(), on_started, lambda *_: None))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, config.zoom.host, config.zoom.port).start()
    say(f"waiting for meeting.rtms_started on http://{config.zoom.host}:{config.zoom.port}{config.zoom.webhook_path}")
    try:
        return await started
    finally:
        await runner.cleanup()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--meeting-uuid", help="payload.meeting_uuid of the meeting.rtms_started webhook")
    p.add_argument("--stream-id", help="payload.rtms_stream_id")
    p.add_argument("--server-url", help="payload.server_urls (wss://…)")
    p.add_argument("--listen", action="store_true",
                   help="wait for the webhook instead (zoom.host/port/webhook_path, zoom.webhook_secret)")
    p.add_argument("--seconds", type=float, default=60.0, help="how long to follow the stream (default 60)")


def run(config: Config, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """The command: 0 when video arrived from at least one student, 1 otherwise, 2 on bad usage."""
    out = out if out is not None else sys.stdout
    if not args.listen and not (args.meeting_uuid and args.stream_id and args.server_url):
        print("give --meeting-uuid, --stream-id and --server-url, or --listen", file=sys.stderr)
        return 2

    async def main() -> CheckResult:
        if args.listen:
            ref = await wait_for_webhook(config, lambda t: print(t, file=out, flush=True))
        else:
            ref = StreamRef(args.meeting_uuid, args.stream_id, args.server_url)
        return await check(ref, config, args.seconds, out)

    return 0 if asyncio.run(main()).ok else 1


if __name__ == "__main__":  # python -m bot.connectors.zoom_check … (until the CLI wiring lands)
    import logging

    parser = argparse.ArgumentParser(prog="zoom-check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="configuration file")
    add_arguments(parser)
    ns = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from bot.config import load_config

    sys.exit(run(load_config(ns.config), ns))
