"""Report files on disk: listing, safe resolution of download paths, deletion.

A requested path is accepted only if every segment is a plain file name (letters, digits,
``.``, ``_``, ``-``; no leading dot), it ends in .html or .pdf, and the resolved file lies
inside the session's report folder — so ``..``, absolute paths, encoded separators and
symlinks that lead out of the folder all end in 404.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
SUFFIXES = {".html": "text/html", ".pdf": "application/pdf"}


def session_dir(out_dir: str | Path, session_id: str) -> Path | None:
    if not SESSION_ID_RE.match(session_id) or ".." in session_id:
        return None
    return Path(out_dir) / session_id


def list_files(folder: Path) -> list[tuple[str, int]]:
    """(relative path, size) of every report file, class report first."""
    if not folder.is_dir():
        return []
    found = [(p.relative_to(folder).as_posix(), p.stat().st_size) for p in folder.rglob("*")
             if p.is_file() and p.suffix in SUFFIXES and not p.name.startswith(".")]
    return sorted(found, key=lambda f: (f[0].count("/"), f[0]))


def resolve(folder: Path, rel: str) -> Path | None:
    """The file `rel` inside `folder`, or None when the path is not a plain report path inside it."""
    parts = rel.split("/")
    if not 1 <= len(parts) <= 2 or not all(_SEGMENT.match(p) and ".." not in p for p in parts):
        return None
    if Path(parts[-1]).suffix not in SUFFIXES:
        return None
    base = folder.resolve()
    target = (base / Path(*parts)).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


def delete_folder(folder: Path) -> int:
    n = len(list_files(folder))
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder)
    return n
