"""GDPR erasure: requests taken in, planned as steps, carried out on every system, reported.

``model`` (statuses, ids, backoff), ``store`` (the request and step tables), ``intake`` and
``sources`` (requests from the CLI, webhooks, portals and polls), ``inbox`` (webhook requests
waiting for the erasure task), ``plan`` (the steps of a request), ``process`` (running them),
``local`` (our own store's copy of a person), ``related`` (records tied to a person),
``report`` (status), ``service`` (wiring from the config), ``daemon`` (the privacy tasks).
"""

from __future__ import annotations

from consent.erasure.model import DEADLINE, MAX_ATTEMPTS, Origin, StepStatus, SubjectIds
from consent.erasure.report import erasure_status

__all__ = ["DEADLINE", "MAX_ATTEMPTS", "Origin", "StepStatus", "SubjectIds", "erasure_status"]
