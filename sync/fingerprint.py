"""Mapping fingerprints: a changed mapping re-plans the records synced under the old one.

The fingerprint is a canonical hash of what shapes a pipeline's CRM payloads: its fields
(source, CRM name, transforms, value maps, defaults, rules, directions), its order lines and
associations and its CRM object. It is kept per pipeline in the ``settings`` table and
stored after each successful run; when the next run finds a different one, it reads the
whole stream again, so a field added to the YAML reaches records synced long ago. The
field hashes make that cheap: only the fields whose value changed are written.

A Python-callable transform is fingerprinted by its name: changing its code is not noticed
(run ``b2sync sync --full`` then).
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa

from mapping.config import Pipeline
from sync import state

__all__ = ["mapping_changed", "mapping_fingerprint", "remember_mapping"]

_VERSION = 1


def _key(pipeline: str) -> str:
    return f"mapping_fingerprint:{pipeline}"


def mapping_fingerprint(pipeline: Pipeline) -> str:
    """A stable hash of the parts of ``pipeline`` that decide what is written to the CRM."""
    shape = {
        "v": _VERSION,
        "object": pipeline.crm.object,
        "id_property": pipeline.crm.id_property,
        "fields": [f.model_dump(mode="json") for f in pipeline.fields],
        "associations": [a.model_dump(mode="json") for a in pipeline.associations],
        "lines": pipeline.lines.model_dump(mode="json") if pipeline.lines else None,
    }
    text = json.dumps(shape, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def mapping_changed(conn: sa.Connection, pipeline: str, fingerprint: str) -> bool:
    """Whether a fingerprint was stored for ``pipeline`` and differs from ``fingerprint``.

    None stored (a first run, or a store from before fingerprints) is not a change: the
    first run reads everything anyway, and an upgrade must not re-read every stream at once.
    """
    stored = state.get_setting(conn, _key(pipeline))
    return stored is not None and stored != fingerprint


def remember_mapping(conn: sa.Connection, pipeline: str, fingerprint: str) -> None:
    """Store the fingerprint of the mapping a successful run applied."""
    state.set_setting(conn, _key(pipeline), fingerprint)
