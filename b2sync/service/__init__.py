"""The long-running service behind ``b2sync run``: scheduler, HTTP server, metrics, status."""

from __future__ import annotations

from b2sync.service._daemon import Daemon, parse_listen
from b2sync.service._metrics import CallTracker, Metrics
from b2sync.service._scheduler import PipelineScheduler, trigger_for
from b2sync.service._status import pipeline_status, store_totals
from b2sync.service._webhooks import SeenEvents, b2connect_delivery, hubspot_delivery

__all__ = [
    "CallTracker",
    "Daemon",
    "Metrics",
    "PipelineScheduler",
    "SeenEvents",
    "b2connect_delivery",
    "hubspot_delivery",
    "parse_listen",
    "pipeline_status",
    "store_totals",
    "trigger_for",
]
