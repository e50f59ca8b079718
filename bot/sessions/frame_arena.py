"""One tick's frames in shared memory: the parent packs, the analysis process maps and reads.

A tick's BGR frames (50 students at 640x480 are 46 MB) would cost a pickle and two copies
each way through a pipe; instead the parent copies them into one shared-memory segment, one
slot per frame at a 64-byte aligned offset, and sends only the slot table (offset, shape)
over the pipe. One tick is in flight at a time (the sampler's single inference worker), so
one segment is enough: it is sized for the tick and replaced by a larger one (half again as
large as needed) when a tick has more students or larger frames. The old segment's name is
unlinked at once: the analysis process still holds its mapping until it maps the new one,
and the memory goes back to the system when both sides have let go.

The parent creates segments with `multiprocessing.shared_memory`, whose resource tracker
unlinks them should the bot itself die without closing. The analysis process only maps an
existing segment by name (`ArenaReader`, a plain mmap of ``/dev/shm/<name>``): it never owns
one, and attaching through `SharedMemory` would register the segment with a tracker of its
own that unlinks it when the analysis process exits.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

ALIGN = 64
GROWTH = 1.5
SHM_DIR = "/dev/shm"


@dataclass(frozen=True)
class Slot:
    """Where one frame lies in the segment: byte offset and array shape (always uint8)."""

    offset: int
    shape: tuple[int, ...]


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def layout(shapes: Sequence[tuple[int, ...]]) -> tuple[list[Slot], int]:
    """Slots for frames of these shapes packed one after another, and the bytes they need."""
    slots, at = [], 0
    for shape in shapes:
        slots.append(Slot(at, tuple(int(d) for d in shape)))
        at += _aligned(int(np.prod(shape, dtype=np.int64)))
    return slots, at


class FrameArena:
    """The parent's side: owns the segment, copies a tick's frames in, unlinks on `close()`."""

    def __init__(self) -> None:
        self._shm: shared_memory.SharedMemory | None = None
        self.grown = 0  # segments created so far (for tests and diagnostics)

    @property
    def name(self) -> str | None:
        return self._shm.name if self._shm is not None else None

    @property
    def size(self) -> int:
        return self._shm.size if self._shm is not None else 0

    def pack(self, frames: Sequence[np.ndarray]) -> tuple[str, list[Slot]]:
        """Copy `frames` (uint8 arrays) into the segment, growing it first when they do not fit."""
        for f in frames:
            if f.dtype != np.uint8:
                raise ValueError(f"frames must be uint8 BGR arrays, got {f.dtype} of shape {f.shape}")
        slots, need = layout([f.shape for f in frames])
        if self._shm is None or self._shm.size < need:
            self._replace(max(ALIGN, int(need * GROWTH)))
        assert self._shm is not None
        for f, slot in zip(frames, slots, strict=True):
            dst = np.ndarray(slot.shape, dtype=np.uint8, buffer=self._shm.buf, offset=slot.offset)
            np.copyto(dst, f)
            del dst  # no view may outlive the segment (close() refuses while one exists)
        return self._shm.name, slots

    def _replace(self, size: int) -> None:
        old = self._shm
        self._shm = shared_memory.SharedMemory(create=True, size=size)
        self.grown += 1
        if old is not None:
            old.close()
            old.unlink()

    def close(self) -> None:
        """Unlink the segment (idempotent); the reader's mapping, if any, stays valid until unmapped."""
        shm, self._shm = self._shm, None
        if shm is not None:
            shm.close()
            with contextlib.suppress(FileNotFoundError):
                shm.unlink()


class ArenaReader:
    """The analysis process's side: maps the parent's current segment and gives views of its slots."""

    def __init__(self, shm_dir: str = SHM_DIR) -> None:
        self._dir = shm_dir
        self._name: str | None = None
        self._map: mmap.mmap | None = None
        self._retired: list[mmap.mmap] = []  # replaced mappings a view still held at the switch

    def frames(self, name: str, slots: Sequence[Slot]) -> list[np.ndarray]:
        """Read-only views of the slots of segment `name` (mapped on first use, re-mapped on change)."""
        if name != self._name:
            self._attach(name)
        assert self._map is not None
        out = []
        for slot in slots:
            view = np.ndarray(slot.shape, dtype=np.uint8, buffer=self._map, offset=slot.offset)
            view.flags.writeable = False
            out.append(view)
        return out

    def _attach(self, name: str) -> None:
        fd = os.open(Path(self._dir) / name.lstrip("/"), os.O_RDWR)
        try:
            new = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        self._release_old()
        if self._map is not None:
            self._retired.append(self._map)
        self._map, self._name = new, name
        self._release_old()

    def _release_old(self) -> None:
        keep = []
        for m in self._retired:
            try:
                m.close()
            except BufferError:  # a frame view is still alive somewhere: try again at the next switch
                keep.append(m)
        self._retired = keep

    def close(self) -> None:
        if self._map is not None:
            self._retired.append(self._map)
        self._map, self._name = None, None
        self._release_old()
