"""Connector for the built-in classroom: the bot hosts the room in its own process.

No second WebRTC hop: the students' peer connections terminate in this process and their
tracks go straight to the sampler. Joining opens (or takes over) the room for a class
code; leaving ends the class for everybody in it.
"""

from __future__ import annotations

from bot.connectors.base import Connector, ConnectorError, FailureReason
from bot.web.classroom import Classroom
from bot.web.whip import WhipError


class ClassroomConnector(Connector):
    def __init__(self, classroom: Classroom, code: str, class_name: str = "Class",
                 public_url: str = "") -> None:
        super().__init__()
        self.classroom = classroom
        self.code = code
        self.class_name = class_name
        self.description = f"ClassPulse built-in classroom {public_url}/join/{code}".replace("  ", " ")
        self._joined = False

    async def join(self) -> None:
        try:
            room = self.classroom.open(self.code, self.class_name)
        except WhipError:
            raise ConnectorError(FailureReason.MEETING_NOT_FOUND,
                                 f"invalid class code {self.code!r}") from None
        if room.channel is not None:
            raise ConnectorError(FailureReason.NOT_ADMITTED,
                                 f"another session already runs class {self.code}")
        room.attach(self.channel)
        self._joined = True

    async def leave(self) -> None:
        if self._joined:
            self._joined = False
            await self.classroom.close_room(self.code)
        self.channel.close()
