"""Prometheus metrics: counters fed after each run, gauges read from the store at scrape time."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from b2sync.service._status import pipeline_status, store_totals
from mapping.config import Pipeline
from sync.push.in_hand import IN_HAND, InHand
from sync.run import RunSummary

__all__ = ["CONTENT_TYPE", "CallTracker", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
log = structlog.get_logger("b2sync.service.metrics")

#: RunSummary.counts key -> the ``outcome`` label
_OUTCOMES = {
    "read": "read",
    "written": "written",
    "unchanged": "skipped",
    "skipped": "skipped",
    "dead_lettered": "dead_lettered",
}
#: the pull half of a ``direction: both`` run counts under the same labels (sync.dispatch)
_OUTCOMES.update({f"pull_{key}": label for key, label in list(_OUTCOMES.items())})
_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, float("inf"))


class CallTracker:
    """Turns connectors' cumulative ``calls`` counters into deltas (one baseline per object)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, Counter[str]]] = {}
        self._lock = threading.Lock()

    def delta(self, connection: str, connector: object) -> Counter[str]:
        """Calls made by ``connector`` since the last look (all of them for a new object)."""
        calls = Counter(getattr(connector, "calls", {}) or {})
        with self._lock:
            ident, before = self._seen.get(connection, (id(connector), Counter()))
            if ident != id(connector):
                before = Counter()
            self._seen[connection] = (id(connector), Counter(calls))
        calls.subtract(before)
        return Counter({k: v for k, v in calls.items() if v > 0})


class _StoreCollector(Collector):
    """Gauges computed from the store on every scrape (lag, backlog, erasures)."""

    def __init__(
        self,
        db: Callable[[], sa.Engine],
        pipelines: Callable[[], list[Pipeline]],
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._pipelines = pipelines
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "b2sync_pipeline_lag_seconds",
            "Seconds since the start of the pipeline's last successful run",
            labels=["pipeline"],
        )
        dead = GaugeMetricFamily(
            "b2sync_dead_letters_pending", "Dead letters waiting for retry", labels=["pipeline"]
        )
        conflicts = GaugeMetricFamily(
            "b2sync_conflicts_open", "Conflicts parked for a person", labels=["pipeline"]
        )
        erasures = GaugeMetricFamily(
            "b2sync_erasures_pending", "Erasure requests not completed yet"
        )
        overdue = GaugeMetricFamily(
            "b2sync_erasures_overdue", "Erasure requests past their 30-day deadline"
        )
        breaker = GaugeMetricFamily(
            "b2sync_delete_breaker_tripped",
            "1 while the pipeline's delete breaker holds it paused (b2sync pipelines resume)",
            labels=["pipeline"],
        )
        try:
            with self._db().connect() as conn:
                rows = pipeline_status(conn, self._pipelines(), self._clock())
                totals = store_totals(conn)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("metrics.store_unavailable", error=type(exc).__name__)
            return
        for row in rows:
            if row["lag_seconds"] is not None:
                lag.add_metric([row["pipeline"]], float(row["lag_seconds"]))
            dead.add_metric([row["pipeline"]], float(row["dead_letters_pending"]))
            conflicts.add_metric([row["pipeline"]], float(row["conflicts_open"]))
            breaker.add_metric([row["pipeline"]], 0.0 if row["delete_breaker"] is None else 1.0)
        erasures.add_metric([], float(totals["erasures_pending"]))
        overdue.add_metric([], float(totals["erasures_overdue"]))
        yield from (lag, dead, conflicts, erasures, overdue, breaker)


class _InHandCollector(Collector):
    """The records the process's push runs hold, against ``B2SYNC_RECORDS_IN_MEMORY``."""

    def __init__(self, in_hand: InHand = IN_HAND) -> None:
        self._in_hand = in_hand

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "b2sync_records_in_memory",
            "B2Connect records the push runs of this process hold (read, not yet committed)",
            value=float(self._in_hand.held),
        )
        yield GaugeMetricFamily(
            "b2sync_records_in_memory_bound",
            "The bound on those records (B2SYNC_RECORDS_IN_MEMORY)",
            value=float(self._in_hand.limit),
        )
        yield CounterMetricFamily(
            "b2sync_records_in_memory_drains",
            "Times a push run flushed early and waited for its own commits because the process"
            " held more records than the bound",
            value=float(self._in_hand.drains_total),
        )


class Metrics:
    """The daemon's Prometheus registry."""

    def __init__(
        self,
        db: Callable[[], sa.Engine],
        pipelines: Callable[[], list[Pipeline]],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series are noise
        self.registry = CollectorRegistry()
        self.records = PromCounter(
            "b2sync_records",
            "Records per pipeline, CRM object and outcome (read/written/skipped/dead_lettered)",
            ["pipeline", "object", "outcome"],
            registry=self.registry,
        )
        self.api_calls = PromCounter(
            "b2sync_api_calls",
            "API calls per connection and endpoint template",
            ["connector", "endpoint"],
            registry=self.registry,
        )
        self.runs = PromCounter(
            "b2sync_runs", "Pipeline runs per outcome", ["pipeline", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.webhooks = PromCounter(
            "b2sync_webhooks", "Webhook deliveries per source and outcome", ["source", "outcome"],
            registry=self.registry,
        )  # fmt: skip
        self.budget_remaining = Gauge(
            "b2sync_api_budget_remaining", "API calls left in the vendor's window, as last seen",
            ["connector", "window"], registry=self.registry,
        )  # fmt: skip
        self.budget_limit = Gauge(
            "b2sync_api_budget_limit", "Size of the vendor's API window, as last seen",
            ["connector", "window"], registry=self.registry,
        )  # fmt: skip
        self.duration = Histogram(
            "b2sync_run_duration_seconds", "Wall time of a pipeline run", ["pipeline"],
            buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.registry.register(_StoreCollector(db, pipelines, clock or (lambda: datetime.now(UTC))))
        self.registry.register(_InHandCollector())

    def observe_run(self, pipe: Pipeline, summary: RunSummary, seconds: float | None) -> None:
        """Count one run's records and (unless None) its duration."""
        outcomes: Counter[str] = Counter()
        for key, label in _OUTCOMES.items():
            outcomes[label] += summary.counts[key]
        for label, value in outcomes.items():
            self.records.labels(pipe.name, pipe.crm.object, label).inc(value)
        self.runs.labels(pipe.name, summary.status.value).inc()
        if seconds is not None:
            self.duration.labels(pipe.name).observe(seconds)

    def observe_calls(self, connection: str, calls: Mapping[str, int]) -> None:
        """Add API calls made through ``connection``."""
        for endpoint, n in calls.items():
            self.api_calls.labels(connection, endpoint).inc(n)

    def observe_budget(self, connection: str, connector: object) -> None:
        """Rate-limit headroom a connector learnt from response headers (when it keeps any)."""
        windows: list[tuple[str, object, object]] = []
        governor = getattr(connector, "governor", None)  # HubSpot: 10-second and daily windows
        if governor is not None:
            windows.append(("10s", getattr(governor, "window_remaining", None),
                            getattr(governor, "window_max", None)))  # fmt: skip
            windows.append(("daily", getattr(governor, "daily_remaining", None),
                            getattr(governor, "daily", None)))  # fmt: skip
        budget = getattr(connector, "budget", None)  # Salesforce: 24-hour org allowance
        used, total = getattr(budget, "used", None), getattr(budget, "total", None)
        if isinstance(used, int) and isinstance(total, int):
            windows.append(("daily", total - used, total))
        for window, remaining, limit in windows:
            if isinstance(remaining, int) and isinstance(limit, int):
                self.budget_remaining.labels(connection, window).set(remaining)
                self.budget_limit.labels(connection, window).set(limit)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
