"""What a finished integration session left in the store, per display name.

The case scripts run a real session in a network namespace and print JSON for the test to
check; they all need the same view of the store (state counts and first/last sample time
per student), so it is computed once here.
"""

from __future__ import annotations

from typing import Any

from analysis.records import State
from analysis.store import Store


def per_student(store: Store, session_id: str) -> dict[str, Any]:
    """`counts` {name: {state: n}}, `times` {name: {state: [t…]}}, `first_t`/`last_t` {name: t}
    and `present` (samples with a face, all students)."""
    names = {p.participant_id: p.display_name for p in store.participants(session_id)}
    times: dict[str, dict[str, list[float]]] = {n: {} for n in names.values()}
    for o in store.observations(session_id):
        times[names[o.participant_id]].setdefault(o.state.value, []).append(o.t)
    counts = {n: {s: len(ts) for s, ts in by_state.items()} for n, by_state in times.items()}
    every = {n: [t for ts in by_state.values() for t in ts] for n, by_state in times.items()}
    return {
        "counts": counts,
        "times": times,
        "first_t": {n: min(ts) for n, ts in every.items() if ts},
        "last_t": {n: max(ts) for n, ts in every.items() if ts},
        "present": sum(c.get(State.PRESENT.value, 0) for c in counts.values()),
    }
