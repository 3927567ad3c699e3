"""Prometheus metrics, in a registry of our own (so tests can build several apps).

Besides ci-bot's own, the registry carries Python's garbage collector figures
(`python_gc_collections_total`, `python_gc_objects_collected_total`, per generation):
`cibot serve` pauses the collector while it starts and resumes it before serving
(entrypoints/startup.py), and these show that it collects again, and how often.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, GCCollector, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.webhooks = Counter(
            "cibot_webhooks_total",
            "CI requests (/build-complete, /branch-deleted), by route and HTTP status answered.",
            ["route", "status"],
            registry=self.registry,
        )
        self.webhook_seconds = Histogram(
            "cibot_webhook_seconds",
            "Time to answer a CI request.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.jobs = Counter(
            "cibot_jobs_total",
            "Jobs run, by kind and outcome.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        GCCollector(registry=self.registry)
