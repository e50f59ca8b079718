"""JSON parsing with a depth bound: a deeply nested body is a 400, never a RecursionError.

`json.loads` recurses once per nesting level; ``[[[[…]]]]`` ten thousand deep raises
RecursionError, which used to surface as a 500 with a traceback. `nesting_depth` scans
the bytes once, without recursion, skipping string contents, so the limit is checked
before the parser ever runs. API bodies are flat objects; 32 levels is generous.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class JsonTooDeep(ValueError):
    """The body nests arrays/objects deeper than the limit."""


def nesting_depth(raw: bytes, stop_at: int | None = None) -> int:
    """The deepest nesting of ``[``/``{`` outside strings (stops counting once above `stop_at`)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_at is not None and deepest > stop_at:
                    return deepest
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def loads(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads` for untrusted bodies: JsonTooDeep past `max_depth`, ValueError when malformed."""
    if nesting_depth(raw, stop_at=max_depth) > max_depth:
        raise JsonTooDeep(f"the JSON nests deeper than {max_depth} levels")
    try:
        return json.loads(raw or b"null")
    except RecursionError:  # belt and braces: never a 500
        raise JsonTooDeep(f"the JSON nests deeper than {max_depth} levels") from None
