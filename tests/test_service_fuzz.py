"""Fuzz every operation of the OpenAPI document with schemathesis: valid and invalid inputs, never a 5xx.

The service runs on a real socket in a background thread (schemathesis calls it with
`requests`); sessions go to fake meetings. The figures (requests per mode, statuses seen)
are printed for the closing note: `pytest -s tests/test_service_fuzz.py`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.component

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bot.service.api import PREFIX, ROUTES  # noqa: E402
from bot.service.openapi import document  # noqa: E402
from tests.service_fixtures import ThreadedService  # noqa: E402

EXAMPLES = 8  # per operation and mode: about 380 requests, a few seconds


@pytest.fixture
def running_service(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, teacher token) of a service on a free port, stopped (gracefully) afterwards."""
    with ThreadedService(tmp_path) as svc:
        yield svc.base, svc.token("alice")


@pytest.mark.slow  # hundreds of requests: 25-45 s
def test_no_operation_answers_5xx(running_service: tuple[str, str], tmp_path: Path) -> None:
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(tmp_path / "hypothesis")  # no .hypothesis/ cache in the checkout
    base, token = running_service
    schema = schemathesis.openapi.from_dict(document(ROUTES, PREFIX))
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) == len(ROUTES)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    strategy = st.one_of(*[op.as_strategy(generation_mode=m) for op in operations for m in modes])

    @given(case=strategy)
    @settings(max_examples=EXAMPLES * len(operations) * len(modes), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case: Any) -> None:
        res = case.call(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        statuses[res.status_code] += 1
        if res.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} -> {res.status_code}: {res.text[:200]}")

    fuzz()
    sent = sum(statuses.values())
    print(f"\nschemathesis: {sent} requests, {sum(n for s, n in statuses.items() if s >= 500)} 5xx, "
          f"statuses {dict(sorted(statuses.items()))}")
    assert not failures, failures[:5]
    assert sent >= 100 and any(s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)
