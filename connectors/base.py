"""The connector contract and discovery through the ``b2sync.connectors`` entry points.

A connector owns its API's quirks (auth, paging, limits, error codes) and nothing else: no
mapping, no state, no audit. Metadata are class attributes so the engine can plan before it
opens a connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import metadata
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from connectors.records import (
    Capability,
    ErasureResult,
    Page,
    StreamSchema,
    Subject,
    WriteItem,
    WriteResult,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Connector",
    "SecretResolver",
    "SupportsAssociations",
    "UnknownConnector",
    "available",
    "load",
]

ENTRY_POINT_GROUP = "b2sync.connectors"

#: Resolves ``${ENV}`` / ``${file:...}`` references (and returns literals unchanged).
SecretResolver = Callable[[str], str]


@runtime_checkable
class Connector(Protocol):
    """What every connector provides. ``stream`` is a B2Connect stream or a CRM object name."""

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    capabilities: ClassVar[frozenset[Capability]]

    @classmethod
    def from_config(cls, config: Any, *, secrets: SecretResolver, **options: Any) -> Connector:
        """Build a connector from its validated connection config; ``options`` are
        runtime knobs the config does not carry (waiters, poll intervals, clocks)."""
        ...

    def check(self) -> list[str]:
        """Problems that would stop a sync (auth, missing fields/properties); empty if ready."""
        ...

    def read_changes(self, stream: str, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        """Changes since ``cursor`` (None: everything), page by page, each with its cursor."""
        ...

    def write(self, stream: str, batch: Sequence[WriteItem]) -> list[WriteResult]:
        """Upsert ``batch`` keyed on the B2Connect id; one result per item, in order."""
        ...

    def delete(self, stream: str, keys: Sequence[str]) -> list[WriteResult]:
        """Delete (archive/recycle) records by B2Connect key."""
        ...

    def erase(self, subject: Subject) -> ErasureResult:
        """Permanently remove a person (GDPR Art. 17)."""
        ...

    def lookup(self, stream: str, field: str, values: Sequence[str]) -> dict[str, list[str]]:
        """Identity resolution: ids of existing records whose ``field`` equals each value
        (all candidates; keys lower-cased for case-insensitive fields such as email)."""
        ...

    def describe(self, stream: str) -> StreamSchema:
        """Fields that exist, with types and lengths."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class SupportsAssociations(Protocol):
    """Connectors with :attr:`Capability.ASSOCIATIONS` (HubSpot) also provide this."""

    def associate(
        self, from_object: str, to_object: str, pairs: Sequence[tuple[str, str]], type_id: int
    ) -> list[WriteResult]:
        """Associate (from id, to id) pairs; one result per pair keyed by the from id."""
        ...


class UnknownConnector(LookupError):
    """No connector of that name is installed."""


def available() -> dict[str, metadata.EntryPoint]:
    """Installed connectors by name (built-ins are registered the same way)."""
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def load(name: str) -> type[Connector]:
    """The connector class registered as ``name``; the error lists the known names."""
    found = available()
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise UnknownConnector(f"no connector named '{name}'; installed connectors: {known}")
    cls: type[Connector] = found[name].load()
    return cls
