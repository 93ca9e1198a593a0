"""Prometheus metrics of the serving app, in a registry of its own.

Importing Feast turns on prometheus_client's multiprocess mode for the whole process
(``feast.metrics`` sets ``PROMETHEUS_MULTIPROC_DIR`` to a temporary folder), where samples live
in per-process files keyed by metric name, so two apps in one process would add to the same
counters. A single-process server therefore keeps its samples in memory; only ``relay serve
--workers N`` (which sets ``RELAY_SERVING_METRICS_DIR``) uses multiprocess mode, on purpose: every
worker writes to that folder and ``/metrics`` sums them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values

WORKERS_METRICS_ENV = "RELAY_SERVING_METRICS_DIR"
# Fine buckets around the 30 ms latency target.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
STAGES = ("user_lookup", "retrieval", "features", "ranking", "rules")
DEGRADED_REASONS = ("online_store_unavailable", "online_store_empty")
FALLBACK_REASONS = ("no_user_embedding", "no_candidates", *DEGRADED_REASONS)


@dataclass
class ServingMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        if not os.environ.get(WORKERS_METRICS_ENV):
            values.ValueClass = values.MutexValue  # in-memory samples (see the module docstring)
        r = self.registry
        self.latency = Histogram(
            "relay_request_latency_seconds", "Request latency by route", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.stage_latency = Histogram(
            "relay_stage_latency_seconds", "Latency of each step of a recommendation", ["stage"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.requests = Counter("relay_requests", "Requests by route and status code", ["route", "status"], registry=r)
        self.fallbacks = Counter("relay_fallbacks", "Recommendations served by a fallback", ["reason"], registry=r)
        self.guarded_values = Counter(
            "relay_guarded_feature_values", "Feature values clipped or nulled by the contract guard", registry=r
        )
        self.model_version = Gauge(
            "relay_model_version", "Registered version of the serving champion", registry=r, multiprocess_mode="liveall"
        )
        self.model_info = Gauge(
            "relay_model_info", "The serving champion (value 1)", ["model_version", "embedding_version"],
            registry=r, multiprocess_mode="liveall",
        )  # fmt: skip
        self.swaps = Counter("relay_model_swaps", "Hot swaps to a new champion", registry=r)
        self.load_failures = Counter(
            "relay_model_load_failures", "Champion loads that failed (the old model kept serving)", registry=r
        )
        self.impressions = Counter("relay_served_impressions", "Impressions written to the feedback log", registry=r)
        self.filtered = Counter(
            "relay_filtered_candidates", "Candidates removed by business rules", ["rule"], registry=r
        )
        self.online_errors = Counter(
            "relay_online_store_errors", "Failed online store reads, by exception", ["error"], registry=r
        )
        self.features_source = Counter(
            "relay_features_source", "Recommendations by where their online reads came from", ["source"], registry=r
        )
        self.fallback_share = Gauge(
            "relay_fallback_share", "Share of the last recommendations served by a fallback", registry=r,
            multiprocess_mode="max",
        )  # fmt: skip
        self.online_store_degraded = Gauge(
            "relay_online_store_degraded", "1 while the online store is degraded for this reason", ["reason"],
            registry=r, multiprocess_mode="max",
        )  # fmt: skip
        for reason in FALLBACK_REASONS:
            self.fallbacks.labels(reason=reason)
        for source in ("online", "cache", "none"):
            self.features_source.labels(source=source)
        for reason in DEGRADED_REASONS:
            self.online_store_degraded.labels(reason=reason).set(0)
        for stage in STAGES:
            self.stage_latency.labels(stage=stage)

    def exposition(self, all_workers: bool) -> bytes:
        """The text format; ``all_workers`` aggregates every worker process's samples."""
        if not all_workers:
            return generate_latest(self.registry)
        aggregate = CollectorRegistry()
        multiprocess.MultiProcessCollector(aggregate)
        return generate_latest(aggregate)

    def online_store(self, reason: str | None) -> None:
        """The degraded gauge: 1 for ``reason`` (None: healthy), 0 for the others."""
        for known in DEGRADED_REASONS:
            self.online_store_degraded.labels(reason=known).set(1 if known == reason else 0)

    def serving(self, model_version: int, embedding_version: int) -> None:
        self.model_version.set(model_version)
        self.model_info.clear()
        self.model_info.labels(model_version=str(model_version), embedding_version=str(embedding_version)).set(1)
