"""The long-running service behind ``b2sync run``: scheduler, HTTP server, metrics, status."""

from __future__ import annotations

from sync.service._daemon import Daemon, parse_listen
from sync.service._metrics import CallTracker, Metrics
from sync.service._scheduler import PipelineScheduler, trigger_for
from sync.service._status import pipeline_status, store_totals
from sync.service._webhooks import SeenEvents, b2connect_delivery, hubspot_delivery

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
