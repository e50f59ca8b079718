"""The one map from meeting-URL scheme to connector, for every entry point.

  janus+http://HOST:PORT/janus?room=ROOM[&pin=PIN][&token=T][&apisecret=S]   a Janus VideoRoom
  janus+https://…                                                           the same over TLS
  classroom:CODE                                 the built-in classroom (students open /join/CODE)
  zoom:?meeting_uuid=U&rtms_stream_id=S&server_urls=wss://…                  one Zoom RTMS stream
  sim:?students=4&seconds=120&…                  a simulated class (bot.sim.meeting; demo, tests)

`Registry.validate` parses a URL without touching the network (the API answers 422 at
once); `Registry.open` yields the connector, with the built-in classroom's web server
running when no service hosts one (the CLI). Platform modules are imported only when used.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Config
from bot.connectors.base import Connector
from bot.sessions.runner import Meeting

if TYPE_CHECKING:
    from bot.web.classroom import Classroom


class MeetingUrlError(ValueError):
    """A meeting URL no connector takes, with what to write instead."""


SCHEMES = ("janus+http", "janus+https", "classroom", "zoom", "sim")
USAGE = ("use janus+http://HOST:PORT/janus?room=ROOM, classroom:CODE, "
         "zoom:?meeting_uuid=…&rtms_stream_id=…&server_urls=… or sim:?students=N")


def scheme_of(url: str) -> str:
    scheme = url.partition(":")[0].lower() if ":" in url else ""
    if scheme not in SCHEMES:
        raise MeetingUrlError(f"{url[:200]!r}: unsupported meeting URL ({USAGE})")
    return scheme


@dataclass
class ClassroomHost:
    """A built-in classroom this process already serves (the service's), and its public base URL."""

    classroom: Classroom
    base_url: str


def class_code(url: str) -> str:
    from bot.web.whip import CODE_RE

    code = url.removeprefix("classroom:").strip("/")
    if not CODE_RE.match(code):
        raise MeetingUrlError(f"class code {code!r}: use 3-40 letters, digits, - or _")
    return code


def validate_url(url: str, extra: tuple[str, ...] = ()) -> str:
    """Parse `url` without touching the network; a description without secrets, or `MeetingUrlError`."""
    scheme = url.partition(":")[0].lower()
    if scheme in extra:
        return f"{scheme} meeting {url.partition(':')[2][:100]}"
    scheme = scheme_of(url)
    if scheme.startswith("janus"):
        from bot.connectors.janus_protocol import JanusUrlError, parse_target

        try:
            target = parse_target(url)
        except JanusUrlError as exc:
            raise MeetingUrlError(str(exc)) from None
        return f"Janus room {target.room}"
    if scheme == "classroom":
        return f"built-in classroom {class_code(url)}"
    if scheme == "zoom":
        from bot.connectors.zoom_protocol import ZoomUrlError, parse_stream_url

        if not url.startswith("zoom:?"):
            raise MeetingUrlError(f"{url[:200]!r}: unsupported meeting URL: a Zoom meeting link cannot be "
                                  "joined; Zoom classes arrive through RTMS webhooks (docs/zoom.md), or "
                                  "give one stream as zoom:?meeting_uuid=…&rtms_stream_id=…&server_urls=…")
        try:
            ref = parse_stream_url(url)
        except ZoomUrlError as exc:
            raise MeetingUrlError(str(exc)) from None
        return f"Zoom RTMS stream {ref.rtms_stream_id}"
    from bot.sim.meeting import SimUrlError, parse_sim_url

    try:
        plan = parse_sim_url(url)
    except SimUrlError as exc:
        raise MeetingUrlError(str(exc)) from None
    return f"simulated class of {len(plan.students)}"


class Registry:
    """`bot.sessions.runner.Meetings` for real platforms (and `sim:`)."""

    def __init__(self, config: Config, classroom: ClassroomHost | None = None,
                 extra: dict[str, Callable[[str, str], Connector]] | None = None,
                 classroom_host: Callable[[], Awaitable[ClassroomHost]] | None = None) -> None:
        self.config = config
        self.classroom = classroom
        self.classroom_host = classroom_host  # a worker's one classroom server, started at first use
        self.extra = extra or {}  # more schemes (tests: "fake")

    def validate(self, url: str) -> str:
        return validate_url(url, tuple(self.extra))

    @staticmethod
    def _class_code(url: str) -> str:
        return class_code(url)

    @contextlib.asynccontextmanager
    async def open(self, url: str, class_name: str) -> AsyncIterator[Meeting]:
        self.validate(url)
        scheme = url.partition(":")[0].lower()
        if scheme in self.extra:
            yield Meeting(self.extra[scheme](url, class_name))
        elif scheme.startswith("janus"):
            from bot.connectors.janus import JanusConnector
            from bot.connectors.janus_protocol import parse_target

            yield Meeting(JanusConnector(parse_target(url), self.config))
        elif scheme == "classroom":
            async with self._classroom(self._class_code(url), class_name) as meeting:
                yield meeting
        elif scheme == "zoom":
            from bot.connectors.zoom import ZoomConnector
            from bot.connectors.zoom_protocol import parse_stream_url

            yield Meeting(ZoomConnector(parse_stream_url(url), self.config.zoom,
                                        sample_interval_s=self.config.analysis.sample_interval_s))
        else:
            from bot.sim.meeting import SimConnector, parse_sim_url

            yield Meeting(SimConnector(parse_sim_url(url)))

    @contextlib.asynccontextmanager
    async def _classroom(self, code: str, class_name: str) -> AsyncIterator[Meeting]:
        from bot.connectors.classroom import ClassroomConnector

        host = self.classroom if self.classroom_host is None else await self.classroom_host()
        if host is not None:
            base = host.base_url
            yield Meeting(ClassroomConnector(host.classroom, code, class_name, base), f"{base}/join/{code}")
            return

        from bot.web.app import classroom_key, init_app, serve_app

        c = self.config.classroom
        app = init_app(self.config)
        try:
            runner = await serve_app(app, c.host, c.port)
        except OSError as exc:
            raise MeetingUrlError(f"cannot serve the classroom on {c.host}:{c.port}: {exc.strerror}") from None
        base = c.public_url.rstrip("/") or f"http://{c.host}:{c.port}"
        try:
            yield Meeting(ClassroomConnector(app[classroom_key], code, class_name, base), f"{base}/join/{code}")
        finally:
            await runner.cleanup()
