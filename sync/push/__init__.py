"""The push: B2Connect changes planned, written to the CRM and committed.

``engine`` runs one push (``sync.push.engine.PipelineRun``: import it by its path, it
builds on :mod:`sync.blanks`, which plans with this package); ``reconcile`` plans a flush (pure);
``writer`` executes a plan against the CRM; ``lines`` (order lines), ``pending`` (deferred
links) and ``deletes`` (deletions and restores) are steps the writer runs.
"""

from __future__ import annotations

from sync.plan import Plan, Planned
from sync.push.reconcile import plan_records
from sync.push.writer import Flushed, Writer, needs_lengths

__all__ = ["Flushed", "Plan", "Planned", "Writer", "needs_lengths", "plan_records"]
