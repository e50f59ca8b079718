"""Class rosters: a teacher's student list, and meeting display names matched to it.

`bot.roster` keeps one participant per person *within* a session; this module links display
names *across* sessions to the students of a class roster, so "Alex (phone)" one week and
"Alex Kim" the next are one student in the course view. Pure functions, no I/O.

A roster is a CSV with the header ``name,aliases,email,student_id`` (aliases separated by ``;``).
Matching tries, in order, and stops at the first tier that finds anyone:

1. confirmed — a match the teacher confirmed earlier (display-name key → student id);
2. exact — the same name after normalisation (case, accents, emoji, device suffixes such as
   "(phone)", "- iPad", "Alex's iPhone", "iPhone von Alex", bracketed notes, "Kim, Alex");
   first and last name in either order;
3. alias — the same as one of the student's aliases;
4. email — a display name that is the student's e-mail address;
5. fuzzy — a shortened name ("Alex" for "Alex Kim", "A. Kim", "Alex K"), or a near spelling
   (difflib ratio ≥ `FUZZY_RATIO`, e.g. "Alexx Kim"). A fuzzy match is a *proposal*: it is shown
   for the teacher to confirm, never used silently.

When a tier finds two or more students, the result is "ambiguous" with the candidates, never a
guess; when none finds anyone, "unmatched" and the name stays visible as it was written.
A fuzzy or ambiguous match that could be an opted-out student counts as opted out until the
teacher confirms otherwise (`counts_as_opted_out`).
"""

from __future__ import annotations

import csv
import difflib
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

FUZZY_RATIO = 0.85
MIN_PREFIX = 3  # "Alex" may stand for "Alexander"; "Al" may not
MAX_ROWS = 5000
MAX_FIELD = 200
HEADER = ("name", "aliases", "email", "student_id")

_DEVICES = ("iphone", "ipad", "ipod", "android", "phone", "mobile", "cell", "handy", "tablet", "laptop", "pc",
            "computer", "desktop", "macbook", "macbook air", "macbook pro", "chromebook", "galaxy", "pixel",
            "surface", "kindle", "smartphone", "telefon", "portable")
_DEVICE = "|".join(re.escape(d) for d in sorted(_DEVICES, key=len, reverse=True))
_BRACKETS = re.compile(r"[\(\[\{<][^\)\]\}>]*[\)\]\}>]")
_OWNER_DEVICE = re.compile(rf"^(.+?)(?:'s|’s|s')\s+(?:{_DEVICE})\b.*$", re.IGNORECASE)  # Alex's iPhone
_DEVICE_OF = re.compile(rf"^(?:{_DEVICE})\S*\s+(?:von|de|di|van|du|da|of)\s+(.+)$", re.IGNORECASE)  # iPhone von Alex
_TRAILING_DEVICE = re.compile(rf"\s*(?:[-–—|:/@,]|\bon\b|\bvia\b)?\s*(?:{_DEVICE})\S*(?:\s+[\w-]*\d[\w-]*)?\s*$",
                              re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

MatchKind = Literal["confirmed", "exact", "alias", "email", "fuzzy", "ambiguous", "unmatched"]
CERTAIN: frozenset[str] = frozenset({"confirmed", "exact", "alias", "email"})


class RosterError(ValueError):
    """A roster CSV that cannot be used; the message names the line."""


@dataclass(frozen=True)
class RosterStudent:
    student_id: str
    name: str
    aliases: tuple[str, ...] = ()
    email: str = ""


@dataclass(frozen=True)
class Match:
    """How one display name relates to the roster."""

    display_name: str
    kind: MatchKind
    student_id: str | None = None  # set for confirmed, exact, alias, email and fuzzy
    candidates: tuple[str, ...] = ()  # the students it could be (fuzzy: one, ambiguous: several)
    reason: str = ""  # shown next to the proposal

    @property
    def certain(self) -> bool:
        return self.kind in CERTAIN

    @property
    def needs_confirmation(self) -> bool:
        return self.kind in ("fuzzy", "ambiguous")


# -- names -------------------------------------------------------------------------------------

def _plain(text: str) -> str:
    """Lower case, no accents, no emoji or symbols, hyphens and dots as spaces."""
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        cat = unicodedata.category(ch)
        if cat.startswith("M"):  # combining accents
            continue
        if cat.startswith(("L", "N")) or ch == "'":
            out.append(ch)
        else:
            out.append(" ")
    return " ".join("".join(out).casefold().replace("'", "").split())


def strip_decorations(display_name: str) -> str:
    """The person's name inside a display name: without bracketed notes ("(phone)", "[Guest]",
    "(she/her)", "(2)"), device names ("Alex's iPhone", "Alex - iPad", "iPhone von Alex") and
    "Last, First" order."""
    name = unicodedata.normalize("NFKC", display_name).strip()
    name = _BRACKETS.sub(" ", name).strip()
    m = _DEVICE_OF.match(name) or _OWNER_DEVICE.match(name)
    if m:
        name = m.group(1)
    previous = None
    while previous != name:
        previous = name
        name = _TRAILING_DEVICE.sub("", name).strip(" -–—|:/,")
    if name.count(",") == 1:
        last, first = (p.strip() for p in name.split(","))
        if first and last:
            name = f"{first} {last}"
    return name or display_name.strip()


def name_key(display_name: str) -> str:
    """The comparison key of a name: "Álex  KIM 📱 (phone)" → "alex kim"."""
    return _plain(strip_decorations(display_name))


def _tokens(key: str) -> tuple[str, ...]:
    return tuple(key.split())


def _same_tokens(a: str, b: str) -> bool:
    return bool(a) and sorted(_tokens(a)) == sorted(_tokens(b))


def _token_fits(short: str, full: str) -> bool:
    """"a" or "a." fits "alex" (an initial); "alex" fits "alexander" (a prefix of 3+ letters)."""
    if short == full:
        return True
    if len(short) == 1:
        return full.startswith(short)
    return len(short) >= MIN_PREFIX and full.startswith(short)


def _shortened(short: str, full: str) -> bool:
    """Every token of `short` fits a different token of `full`, in order (Alex → Alex Kim,
    A Kim → Alex Kim, Alex K → Alex Kim, Alex → Alexander Rivera), and at least one token is
    a whole word or a prefix of four letters or more (so "Al" alone fits nobody)."""
    s, f = _tokens(short), _tokens(full)
    if not s or len(s) > len(f) or s == f:
        return False
    i = 0
    for tok in s:
        while i < len(f) and not _token_fits(tok, f[i]):
            i += 1
        if i == len(f):
            return False
        i += 1
    return any((tok in f and len(tok) > 1) or len(tok) > MIN_PREFIX for tok in s)


# -- matching ----------------------------------------------------------------------------------

def _keys(student: RosterStudent) -> tuple[str, tuple[str, ...]]:
    return name_key(student.name), tuple(k for k in (name_key(a) for a in student.aliases) if k)


def _result(display: str, kind: MatchKind, ids: list[str], reason: str) -> Match:
    ids = sorted(set(ids))
    if len(ids) == 1:
        return Match(display, kind, ids[0], tuple(ids), reason)
    return Match(display, "ambiguous", None, tuple(ids), f"{reason}: {len(ids)} students fit")


def match_name(display_name: str, roster: Iterable[RosterStudent], *,
               confirmed: Mapping[str, str] | None = None) -> Match:
    """Match one display name (see the module docstring for the tiers); `confirmed` maps
    `name_key`s the teacher confirmed to student ids."""
    students = list(roster)
    key = name_key(display_name)
    if not key:
        return Match(display_name, "unmatched", reason="no letters in the name")
    by_id = {s.student_id for s in students}
    if confirmed and confirmed.get(key) in by_id:
        return Match(display_name, "confirmed", confirmed[key], (confirmed[key],), "confirmed by the teacher")
    keys = {s.student_id: _keys(s) for s in students}
    exact = [sid for sid, (name, _) in keys.items() if _same_tokens(key, name)]
    if exact:
        return _result(display_name, "exact", exact, "same name")
    alias = [sid for sid, (_, aliases) in keys.items() if any(_same_tokens(key, a) for a in aliases)]
    if alias:
        return _result(display_name, "alias", alias, "one of the student's aliases")
    raw = display_name.strip().casefold()
    if _EMAIL.match(raw):
        email = [s.student_id for s in students if s.email and s.email.casefold() == raw]
        if email:
            return _result(display_name, "email", email, "the student's e-mail address")
    fuzzy: list[str] = []
    why = ""
    for sid, (name, aliases) in keys.items():
        for known in (name, *aliases):
            if _shortened(key, known):
                fuzzy.append(sid)
                why = why or f"a shortened form of {known!r}"
                break
            ratio = difflib.SequenceMatcher(None, " ".join(sorted(_tokens(key))),
                                            " ".join(sorted(_tokens(known)))).ratio()
            if ratio >= FUZZY_RATIO:
                fuzzy.append(sid)
                why = why or f"spelled like {known!r} ({ratio:.0%} alike)"
                break
    if fuzzy:
        return _result(display_name, "fuzzy", fuzzy, f"{why}; please confirm" if len(set(fuzzy)) == 1
                       else "a shortened or similar name")
    return Match(display_name, "unmatched", reason="no roster student with this name or alias")


def match_names(display_names: Iterable[str], roster: Iterable[RosterStudent], *,
                confirmed: Mapping[str, str] | None = None) -> dict[str, Match]:
    """`match_name` for every distinct display name seen across sessions, in first-seen order."""
    students = list(roster)
    out: dict[str, Match] = {}
    for name in display_names:
        if name not in out:
            out[name] = match_name(name, students, confirmed=confirmed)
    return out


def counts_as_opted_out(match: Match, opted_out: Iterable[str]) -> bool:
    """True when the name belongs to, or (until confirmed) might belong to, an opted-out student."""
    out = set(opted_out)
    if match.certain:
        return match.student_id in out
    return any(sid in out for sid in match.candidates)


# -- the CSV -----------------------------------------------------------------------------------

def _slug(text: str) -> str:
    return "-".join(_plain(text).split())[:60] or "student"


_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _control(value: str) -> str | None:
    """The first control character in a cell (C0/C1 controls, bidirectional overrides), if any."""
    for ch in value:
        if unicodedata.category(ch) == "Cc" or ch in _BIDI:
            return f"U+{ord(ch):04X}"
    return None


def parse_roster_csv(text: str) -> tuple[RosterStudent, ...]:
    """Students of a ``name,aliases,email,student_id`` CSV (header required, any column order,
    name required; a missing student_id becomes the e-mail or a slug of the name).

    Raises `RosterError` naming the line and column for a missing header, an empty name, an
    over-long field, a control character, a bad e-mail, a duplicate student_id or too many rows."""
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text), strict=True)
    try:
        header = [h.strip().casefold() for h in next(reader)]
    except StopIteration:
        raise RosterError("the roster is empty (expected the header name,aliases,email,student_id)") from None
    except csv.Error as exc:
        raise RosterError(f"line 1: {_csv_problem(exc)}") from None
    if "name" not in header:
        raise RosterError(f"line 1: no 'name' column (expected the header {','.join(HEADER)}; got "
                          f"{','.join(header)[:200]})")
    unknown = [h for h in header if h not in HEADER]
    if unknown:
        raise RosterError(f"line 1: unknown column(s) {', '.join(unknown)[:200]} (expected {','.join(HEADER)})")
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise RosterError(f"line 1: column(s) {', '.join(twice)} appear more than once")
    where = {h: f"column {i + 1} ({h})" for i, h in enumerate(header)}
    students: list[RosterStudent] = []
    seen: dict[str, int] = {}
    while True:
        start = reader.line_num + 1  # where the next record begins (a quoted cell may span lines)
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise RosterError(f"line {start}: {_csv_problem(exc)}") from None
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(students) >= MAX_ROWS:
            raise RosterError(f"line {line}: more than {MAX_ROWS} students")
        if len(row) > len(header):
            raise RosterError(f"line {line}: {len(row)} fields, the header has {len(header)}")
        cells = dict(zip(header, (c.strip() for c in row), strict=False))
        for column, value in cells.items():
            limit = MAX_FIELD * (5 if column == "aliases" else 1)
            if len(value) > limit:
                raise RosterError(f"line {line}, {where[column]}: longer than {limit} characters")
            bad = _control(value)
            if bad:
                raise RosterError(f"line {line}, {where[column]}: control character {bad} is not allowed")
        name = " ".join(cells.get("name", "").split())
        if not name_key(name):
            raise RosterError(f"line {line}, {where['name']}: the name is empty")
        email = cells.get("email", "")
        if email and not _EMAIL.match(email):
            raise RosterError(f"line {line}, {where['email']}: {email!r} is not an e-mail address")
        sid = cells.get("student_id", "") or email.casefold() or _slug(name)
        if sid in seen:
            col = where.get("student_id", "student_id (made from the e-mail or name)")
            raise RosterError(f"line {line}, {col}: student_id {sid!r} is already used on line {seen[sid]}")
        seen[sid] = line
        aliases = tuple(a.strip() for a in cells.get("aliases", "").split(";") if a.strip())
        students.append(RosterStudent(sid, name, aliases, email))
    return tuple(students)


def _delimiter(text: str) -> str:
    """',' — or ';' when the header is written with semicolons and no comma (spreadsheets in
    locales whose decimal mark is a comma, e.g. German Excel, save "CSV" that way)."""
    first = text.split("\n", 1)[0]
    if "," not in first and ";" in first:
        cells = [c.strip().strip('"').casefold() for c in first.split(";")]
        if "name" in cells and set(cells) <= set(HEADER):
            return ";"
    return ","


def _csv_problem(exc: csv.Error) -> str:
    """Python's csv message in a teacher's words (the record's first line is named by the caller)."""
    if "unexpected end of data" in str(exc):
        return "a quoted cell starting here is never closed (a \" is missing)"
    return f"the line is not valid CSV ({exc}); a \" inside a quoted cell must be doubled (\"\")"


# -- export ------------------------------------------------------------------------------------

_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: str) -> str:
    """A cell a spreadsheet will not run: text starting with = + - @ (or a tab / line break,
    or their full-width forms) gets a leading apostrophe (OWASP's CSV-injection advice).
    Display names are chosen by students, so every exported cell goes through this."""
    return f"'{value}" if value.startswith(_FORMULA) else value


def roster_to_csv(students: Iterable[RosterStudent]) -> str:
    """The roster as the CSV it was uploaded as (header, aliases joined by ';'), cells escaped."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(HEADER)
    for s in students:
        writer.writerow([safe_cell(v) for v in (s.name, ";".join(s.aliases), s.email, s.student_id)])
    return buf.getvalue()
