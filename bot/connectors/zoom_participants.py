"""Who is in the Zoom meeting, learned from whatever Zoom sends — pure, no I/O.

Zoom does not document that RTMS replays join or camera-on events for people who were
already in the meeting when the stream started (the host often starts it mid-class), so
nothing here waits for a join. A participant becomes known from ANY message that names
them: a join, an active-speaker change (id and name), a camera-on event (id only), the
``user_id`` / ``user_name`` of a video frame, a leave, or the previous attempt of the same
class (`hint`). Their camera state is what Zoom last said (`ON`/`OFF`) or `UNKNOWN`.

The connector turns the returned effects into session events and rotation moves:

- `Announce` — the name is known: tell the session (`Joined`) — once per participant;
- `Watch` / `Unwatch` — put into / take out of the subscription rotation. Cameras that
  are on AND cameras in an unknown state are watched: subscribing is the only way to find
  out whether an already-present student's camera is on (a probe that yields no frame is
  retried later, never recorded as "camera off");
- `CameraOff` — Zoom said the camera is off (recorded as its own state);
- `Gone` — Zoom said they left.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

UserId = str


class Camera(StrEnum):
    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"  # present before the stream started, or joined: Zoom has not said


@dataclass(frozen=True)
class Announce:
    user: UserId
    name: str
    camera: Camera


@dataclass(frozen=True)
class Watch:
    user: UserId


@dataclass(frozen=True)
class Unwatch:
    user: UserId


@dataclass(frozen=True)
class CameraOff:
    user: UserId


@dataclass(frozen=True)
class Gone:
    user: UserId
    announced: bool


Effect = Announce | Watch | Unwatch | CameraOff | Gone


@dataclass
class Participant:
    user: UserId
    name: str = ""
    camera: Camera = Camera.UNKNOWN
    announced: bool = False
    source: str = ""  # what first named them (join, speaker, video_on, frame, hint): for logs and zoom-check


def fallback_name(user: UserId) -> str:
    return f"Zoom user {user}"


class Participants:
    """The meeting as ClassPulse knows it; every method returns the effects to apply."""

    def __init__(self) -> None:
        self.people: dict[UserId, Participant] = {}

    def _get(self, user: UserId, source: str) -> tuple[Participant, list[Effect]]:
        if user in self.people:
            return self.people[user], []
        p = Participant(user, source=source)
        self.people[user] = p
        return p, [Watch(user)]  # camera unknown: probe it

    def _named(self, p: Participant, name: str) -> list[Effect]:
        if name and not p.name:
            p.name = name
        if p.name and not p.announced:
            p.announced = True
            return [Announce(p.user, p.name, p.camera)]
        return []

    # -- what Zoom said -------------------------------------------------------------------
    def joined(self, user: UserId, name: str) -> list[Effect]:
        p, fx = self._get(user, "join")
        return fx + self._named(p, name)

    def spoke(self, user: UserId, name: str) -> list[Effect]:
        p, fx = self._get(user, "speaker")
        return fx + self._named(p, name)

    def hint(self, user: UserId, name: str) -> list[Effect]:
        """Known from an earlier attempt of this class (a restart): camera state unknown."""
        p, fx = self._get(user, "hint")
        return fx + self._named(p, name)

    def video_on(self, user: UserId) -> list[Effect]:
        p, fx = self._get(user, "video_on")
        was = p.camera
        p.camera = Camera.ON
        if not fx and was is not Camera.ON:
            fx.append(Watch(user))
        return fx

    def video_off(self, user: UserId) -> list[Effect]:
        p, _ = self._get(user, "video_off")
        p.camera = Camera.OFF
        fx: list[Effect] = [Unwatch(user)]
        return fx + ([CameraOff(user)] if p.announced else [])

    def frame(self, user: UserId, name: str) -> list[Effect]:
        """A video frame proves the camera is on and (usually) carries the name."""
        p, fx = self._get(user, "frame")
        if p.camera is Camera.OFF:
            fx.append(Watch(user))
        p.camera = Camera.ON
        fx += self._named(p, name or fallback_name(user))
        return fx

    def left(self, user: UserId) -> list[Effect]:
        p = self.people.pop(user, None)
        if p is None:
            return []
        return [Gone(user, p.announced)]

    # -- questions ------------------------------------------------------------------------
    def camera(self, user: UserId) -> Camera | None:
        p = self.people.get(user)
        return None if p is None else p.camera

    def known(self) -> list[tuple[UserId, str]]:
        """(user id, name) of everybody named so far: the hint for a restarted attempt."""
        return [(p.user, p.name) for p in self.people.values() if p.name]
