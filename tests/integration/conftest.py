"""Fixtures for tests against real components: a private network namespace per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.netns import Netns, available


@pytest.fixture
def netns() -> Iterator[Netns]:
    why = available()
    if why:
        pytest.skip(why)
    try:
        ns = Netns.create()
    except RuntimeError as exc:
        pytest.skip(f"cannot create a network namespace here: {exc}")
    try:
        yield ns
    finally:
        ns.delete()
