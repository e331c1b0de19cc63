"""The long-running service behind ``b2sync run``: scheduler, HTTP server, metrics, status."""

from __future__ import annotations

from b2sync.service._daemon import Daemon, parse_listen
from b2sync.service._http import HttpServer, build_app
from b2sync.service._metrics import CallTracker, Metrics
from b2sync.service._scheduler import PipelineScheduler, trigger_for
from b2sync.service._status import pipeline_status, store_totals
from b2sync.service._webhook_ledger import Receipt, StoreLedger
from b2sync.service._webhooks import (
    CONSENT_TASK,
    EVENT_ID_HEADER,
    SeenEvents,
    b2connect_delivery,
    hubspot_delivery,
    hubspot_signature_ok,
)

__all__ = [
    "CONSENT_TASK",
    "EVENT_ID_HEADER",
    "CallTracker",
    "Daemon",
    "HttpServer",
    "Metrics",
    "PipelineScheduler",
    "Receipt",
    "SeenEvents",
    "StoreLedger",
    "b2connect_delivery",
    "build_app",
    "hubspot_delivery",
    "hubspot_signature_ok",
    "parse_listen",
    "pipeline_status",
    "store_totals",
    "trigger_for",
]
