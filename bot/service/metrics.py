"""Prometheus metrics (`GET /metrics`), read from the live sessions at scrape time.

A custom collector instead of counters updated from the hot path: the sampler already
counts samples, drops and latencies per session, so the scrape sums the running sessions
and adds what finished sessions left behind (`Totals`, fed by the session-finished hook).
Each app has its own registry, so several apps in one process (tests) do not collide.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.sessions.runner import Outcome, SessionRunner

registry_key = web.AppKey("metrics_registry", CollectorRegistry)


@dataclass
class Totals:
    """What finished sessions contributed (samples, drops, sessions per final state)."""

    samples: int = 0
    dropped: int = 0
    finished: Counter[str] = field(default_factory=Counter)

    def add(self, _session_id: str, outcome: Outcome) -> None:
        if outcome.result is not None:
            self.samples += outcome.result.samples
            self.dropped += outcome.result.dropped
        self.finished[outcome.state] += 1


class ServiceCollector(Collector):
    def __init__(self, manager: SessionRunner, totals: Totals) -> None:
        self.manager = manager
        self.totals = totals

    def collect(self) -> Iterator[Metric]:
        running = [r.live for r in self.manager.running.values() if r.live is not None]
        stats = [s.sampler.stats for s in running if s.sampler is not None]
        yield GaugeMetricFamily("classpulse_sessions_running", "sessions with the bot in a meeting now",
                                value=len(running))
        done = CounterMetricFamily("classpulse_sessions_finished", "finished sessions by final state",
                                   labels=["state"])
        for state, n in sorted(self.totals.finished.items()):
            done.add_metric([state], n)
        yield done
        yield GaugeMetricFamily("classpulse_students_present", "students present in running sessions",
                                value=sum(len(s.roster.present()) for s in running))
        yield GaugeMetricFamily("classpulse_students_seen", "students seen in running sessions",
                                value=sum(len(s.roster.all()) for s in running))
        yield CounterMetricFamily("classpulse_samples", "samples analysed",
                                  value=self.totals.samples + sum(st.samples for st in stats))
        yield CounterMetricFamily("classpulse_dropped_samples", "samples dropped because inference was busy",
                                  value=self.totals.dropped + sum(st.dropped for st in stats))
        lat = GaugeMetricFamily("classpulse_inference_latency_seconds",
                                "frame-to-observation latency over the running sessions' recent samples",
                                labels=["quantile"])
        recent = np.fromiter((x for st in stats for x in st.latencies), float)
        for q in (0.5, 0.95, 0.99):
            lat.add_metric([str(q)], float(np.quantile(recent, q)) if recent.size else float("nan"))
        yield lat


def make_registry(manager: SessionRunner) -> CollectorRegistry:
    totals = Totals()
    manager.on_finished.append(totals.add)
    registry = CollectorRegistry()
    registry.register(ServiceCollector(manager, totals))
    return registry


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[registry_key])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
