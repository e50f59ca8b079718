"""Who is in class: platform connections (feeds) → stable students.

Platforms give every connection a fresh id, so a student whose Wi-Fi drops comes back
as a new feed. The report must still show one student, so feeds are mapped to stable
participant ids: a returning feed id keeps its student, and a new feed whose display
name matches a student who is *not currently present* takes that student back. Two
people present at the same time with the same name stay two students ("Alex", "Alex (2)").

Pure logic, no I/O: the session feeds it connector events and writes what it returns.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field


def _key(name: str) -> str:
    """Names compare case-, accent-composition- and whitespace-insensitively."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def clean_name(name: str, fallback: str) -> str:
    """A printable display name of at most 64 characters, or `fallback` when nothing is left."""
    printable = "".join(ch for ch in name if ch.isprintable())
    shown = " ".join(printable.split())[:64]
    return shown or fallback


@dataclass
class Student:
    participant_id: str
    display_name: str
    feeds: set[str] = field(default_factory=set)  # feeds currently connected

    @property
    def present(self) -> bool:
        return bool(self.feeds)


class Roster:
    def __init__(self, prefix: str = "p") -> None:
        self._prefix = prefix
        self._students: dict[str, Student] = {}
        self._by_feed: dict[str, str] = {}  # every feed ever seen → participant id
        self.ever_joined = False

    def joined(self, feed_id: str, display_name: str) -> tuple[Student, bool]:
        """Record a feed joining; returns its student and whether that student is new."""
        pid = self._by_feed.get(feed_id)
        if pid is None:
            name = clean_name(display_name, f"Student {len(self._students) + 1}")
            pid = self._returning(name)
        new = pid is None
        if pid is None:
            pid = f"{self._prefix}{len(self._students) + 1}"
            name = clean_name(display_name, f"Student {len(self._students) + 1}")
            self._students[pid] = Student(pid, self._unique(name))
        self._by_feed[feed_id] = pid
        student = self._students[pid]
        student.feeds.add(feed_id)
        self.ever_joined = True
        return student, new

    def restore(self, students: Iterable[tuple[str, str]]) -> None:
        """Students of an earlier attempt (participant id, name), not present until they come back."""
        for pid, name in students:
            self._students.setdefault(pid, Student(pid, name))

    def left(self, feed_id: str) -> Student | None:
        pid = self._by_feed.get(feed_id)
        if pid is None:
            return None
        student = self._students[pid]
        student.feeds.discard(feed_id)
        return student

    def student(self, feed_id: str) -> Student | None:
        pid = self._by_feed.get(feed_id)
        return None if pid is None else self._students[pid]

    def present(self) -> list[Student]:
        return [s for s in self._students.values() if s.present]

    def all(self) -> list[Student]:
        return list(self._students.values())

    def _returning(self, name: str) -> str | None:
        for s in self._students.values():
            if not s.present and _key(s.display_name) == _key(name):
                return s.participant_id
        return None

    def _unique(self, name: str) -> str:
        taken = {_key(s.display_name) for s in self._students.values()}
        if _key(name) not in taken:
            return name
        n = 2
        while _key(f"{name} ({n})") in taken:
            n += 1
        return f"{name} ({n})"
