"""Text people type into the API (class names, e-mail, URLs, token names): no control characters.

A control character in a class name ends up in an e-mail Subject header, a PDF title and
log lines; a CR/LF there breaks the mail and can inject headers. Typed text is refused
with the position of the first offending character (`check_typed`, a 422 through
pydantic). Names that arrive from a meeting are the student's own and are never refused:
`bot.sessions.roster.clean_name` keeps their printable characters only.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories refused in typed names: control, format (bidi overrides, zero-width), unassigned,
#: private use, surrogates, and line/paragraph separators.
_REFUSED = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"})


def bad_character(text: str) -> tuple[int, str] | None:
    """(index, U+XXXX) of the first character a name may not contain, or None."""
    for i, ch in enumerate(text):
        if unicodedata.category(ch) in _REFUSED:
            return i, f"U+{ord(ch):04X}"
    return None


def check_typed(text: str) -> str:
    """A typed name unchanged, or ValueError naming the first control character and its position."""
    found = bad_character(text)
    if found is not None:
        i, code = found
        raise ValueError(f"contains the control character {code} at position {i + 1}: "
                         "use letters, digits, spaces and punctuation only")
    return text

