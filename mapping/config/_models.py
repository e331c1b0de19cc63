"""Frozen pydantic models of ``config.yaml``: connections, pipelines, fields.

The models validate shape and vocabulary only; references such as ``${ENV_VAR}`` are kept
as :class:`SecretRef` strings and resolved when a connection is opened.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from mapping.config._base import Frozen as _Frozen
from mapping.config._base import MaybeRef, SecretRef
from mapping.config._connections import (
    Connection,
)
from mapping.config._consent import ConsentRequirement, ConsentSettings, OnWithdraw
from mapping.config._create import CreateInShop
from mapping.config._dead_letters import DeadLetterSettings
from mapping.config._deletes import (
    BlankBreaker,
    DeleteBreaker,
    OnDelete,
    OnDeleteSetting,
    inherit_blank_breaker,
)
from mapping.config._erasure import ErasureSettings
from mapping.config._insights import InsightsConfig
from mapping.config._retention import RetentionSettings

__all__ = [
    "TRANSFORM_NAMES",
    "Association",
    "AuditSettings",
    "B2ConnectSide",
    "Config",
    "CrmSide",
    "Direction",
    "FieldMapping",
    "HttpSettings",
    "Lines",
    "MatchKey",
    "Pipeline",
    "Rule",
    "Schedule",
]

_DURATION_RE = re.compile(r"^(\d+)\s*(s|m|h|d)$")

#: Names of the closed transform registry (implemented in ``mapping.transforms``).
TRANSFORM_NAMES: tuple[str, ...] = (
    "coalesce",
    "constant",
    "date",
    "datetime",
    "decimal",
    "e164_phone",
    "email",
    "iso_country",
    "link",
    "lower",
    "map",
    "number",
    "strip",
    "template",
    "title",
    "truncate",
    "upper",
)


class Direction(StrEnum):
    """Which way a pipeline or field flows."""

    push = "push"
    pull = "pull"
    both = "both"


class Rule(StrEnum):
    """Per-field conflict rule (HubSpot's vocabulary and beyond)."""

    two_way = "two_way"
    prefer_b2connect = "prefer_b2connect"
    prefer_crm = "prefer_crm"
    prefer_b2connect_unless_blank = "prefer_b2connect_unless_blank"
    prefer_crm_unless_blank = "prefer_crm_unless_blank"
    b2connect_only = "b2connect_only"
    crm_only = "crm_only"
    manual = "manual"


# --------------------------------------------------------------------------- pipelines


TransformStep = str | dict[str, Any]


class FieldMapping(_Frozen):
    """One mapped field: B2Connect name, CRM name, transforms, direction and rule."""

    b2connect: str | None = Field(
        default=None, description="Canonical B2Connect field (dotted path)"
    )
    crm: str = Field(description="CRM property / field API name")
    transform: list[TransformStep] = Field(
        default_factory=list,
        description="Transform chain: names or one-key mappings, e.g. [strip, lower, {truncate: 80}]",
    )
    map: dict[str, Any] | None = Field(
        default=None, description="Value map applied after transforms"
    )
    default: Any = Field(default=None, description="Value when the source is missing or blank")
    direction: Direction | None = Field(
        default=None, description="Overrides the pipeline's direction"
    )
    rule: Rule = Rule.two_way
    required: bool = False

    @field_validator("transform", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, str | dict):
            return [value]
        return value

    @field_validator("transform")
    @classmethod
    def _known_transforms(cls, steps: list[TransformStep]) -> list[TransformStep]:
        for step in steps:
            if isinstance(step, dict):
                if len(step) != 1:
                    raise ValueError(
                        f"a transform with options is a one-key mapping like {{truncate: 80}}, "
                        f"found keys {sorted(step)}"
                    )
                name = next(iter(step))
            else:
                name = step
            if name not in TRANSFORM_NAMES and not name.startswith("custom:"):
                raise ValueError(
                    f"'{name}' is not a transform; known: {', '.join(TRANSFORM_NAMES)} "
                    "(or custom:NAME for one registered in Python)"
                )
        return steps

    @model_validator(mode="after")
    def _source(self) -> FieldMapping:
        constant = any(
            (isinstance(s, dict) and ("constant" in s or "template" in s or "coalesce" in s))
            for s in self.transform
        )
        if self.b2connect is None and not constant and self.default is None:
            raise ValueError(
                "a field needs 'b2connect', a constant/template/coalesce transform or a default"
            )
        return self


class B2ConnectSide(_Frozen):
    """The B2Connect end of a pipeline."""

    connection: str
    stream: Literal["customers", "companies", "orders", "consents", "erasures"]


class CrmSide(_Frozen):
    """The CRM end of a pipeline."""

    connection: str
    object: str = Field(description="HubSpot object type or Salesforce sObject API name")
    id_property: str | None = Field(
        default=None,
        description="Unique CRM property/external-ID field holding the B2Connect id "
        "(default b2connect_id on HubSpot, B2Connect_Id__c on Salesforce)",
    )


class MatchKey(_Frozen):
    """First-time identity resolution: match a B2Connect field to a CRM field."""

    b2connect: str
    crm: str


class Schedule(_Frozen):
    """Either a fixed interval (``every: 5m``) or a cron expression."""

    every: str | None = Field(default=None, description="Interval like 30s, 5m, 1h, 1d")
    cron: str | None = Field(default=None, description="Five-field cron expression")

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("a schedule has exactly one of 'every' or 'cron'")
        if self.every is not None and not _DURATION_RE.match(self.every):
            raise ValueError(f"'{self.every}' is not an interval like 30s, 5m, 1h, 1d")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ValueError(f"'{self.cron}' is not a five-field cron expression")
        return self

    @property
    def seconds(self) -> int | None:
        """The interval in seconds, when ``every`` is set."""
        if self.every is None:
            return None
        match = _DURATION_RE.match(self.every)
        assert match is not None
        factor = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        return int(match.group(1)) * factor


class Association(_Frozen):
    """After writing, associate each record with the CRM record another pipeline synced.

    HubSpot: ``{field: customerId, pipeline: customers-to-hubspot, to_object: contacts,
    type_id: 507}`` creates order→contact associations (v4, batched). When the other record
    is not synced yet the association is deferred and completed by a later run.
    """

    field: str = Field(description="B2Connect field holding the other record's key")
    pipeline: str = Field(description="Pipeline that syncs the other record")
    to_object: str = Field(description="CRM object type of the other record")
    type_id: int = Field(description="HubSpot association type id (e.g. 507 order→contact)")


class Lines(_Frozen):
    """Child records of each record (order lines), synced right after their parent."""

    source: str = Field(default="items", description="B2Connect list field holding the lines")
    key: str = Field(default="id", description="Field of a line holding its B2Connect id")
    object: str = Field(description="CRM object of the lines (line_items, B2C_Order_Line__c)")
    id_property: str | None = None
    parent_field: str | None = Field(
        default=None, description="Salesforce: lookup field on the line set to the parent's id"
    )
    association_type: int | None = Field(
        default=None, description="HubSpot: association type parent→line (513 order→line item)"
    )
    fields: list[FieldMapping] = Field(min_length=1)

    @model_validator(mode="after")
    def _parent(self) -> Lines:
        if (self.parent_field is None) == (self.association_type is None):
            raise ValueError(
                "lines need exactly one of parent_field (Salesforce) or association_type (HubSpot)"
            )
        return self


class Pipeline(_Frozen):
    """One stream between a B2Connect connection and one CRM object."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    b2connect: B2ConnectSide
    crm: CrmSide
    direction: Direction = Direction.push
    match_key: MatchKey | None = None
    schedule: Schedule = Field(default_factory=lambda: Schedule(every="5m"))
    batch_size: int | None = Field(
        default=None, ge=1, le=50_000, description="Records per write flush (default 2,000)"
    )
    concurrency: int | None = Field(
        default=None,
        ge=1,
        le=32,
        description="Write batches of this pipeline in flight at once (default: its CRM"
        " connection's concurrency; 1: one batch at a time)",
    )
    on_delete: OnDeleteSetting = Field(
        default_factory=OnDelete,
        description="What a deletion does on the other side: one policy (to the CRM) or "
        "{to_crm: ignore|archive|delete, to_b2connect: ignore|archive|delete}",
    )
    delete_breaker: DeleteBreaker = Field(
        default_factory=DeleteBreaker,
        description="Pause the pipeline instead of deleting more than this in one run",
    )
    blank_breaker: BlankBreaker = Field(
        default_factory=BlankBreaker,
        description="Pause the pipeline instead of blanking one field in more than this "
        "share of its records in one run",
    )
    require_consent: ConsentRequirement | None = Field(
        default=None, description="Push only people with this consent granted (consent sync)"
    )
    on_withdraw: OnWithdraw = Field(
        default="unsubscribe_only",
        description="A pushed person withdraws the required consent: keep (record stays and "
        "stays synced), unsubscribe_only (record stays, no longer pushed; the unsubscribe is "
        "propagated) or archive (record archived/deleted in the CRM)",
    )
    enabled: bool = True
    fields: list[FieldMapping] = Field(min_length=1)
    associations: list[Association] = Field(default_factory=list)
    lines: Lines | None = None
    create_in_shop: CreateInShop | None = Field(
        default=None,
        description="Create B2Connect customers/companies from CRM records marked for the shop "
        "(off unless set)",
    )

    @model_validator(mode="after")
    def _unique_crm_fields(self) -> Pipeline:
        seen: set[str] = set()
        for field in self.fields:
            if field.crm in seen:
                raise ValueError(f"CRM field '{field.crm}' is mapped twice")
            seen.add(field.crm)
        return self


class AuditSettings(_Frozen):
    """The tamper-evident audit trail (needs B2SYNC_MASTER_KEY or B2SYNC_MASTER_KEY_FILE)."""

    enabled: bool = Field(
        default=False, description="Record every CRM write, delete and replay in audit_events"
    )
    retention_days: int | None = Field(
        default=None, ge=1, description="Purge events older than this (default: keep forever)"
    )
    anchor_path: str | None = Field(
        default=None,
        description=(
            "Append-only file (outside the state database) that receives a signed chain head "
            "per tenant; `b2sync audit verify` checks the chain against its newest lines"
        ),
    )
    anchor_every_minutes: int = Field(
        default=60,
        ge=1,
        description="How often `b2sync run` anchors the chain heads (also after each erasure)",
    )


class HttpSettings(_Frozen):
    """The daemon's HTTP server."""

    listen: str = Field(default="127.0.0.1:8765", pattern=r"^[^:\s]+:\d{1,5}$")
    status_token: SecretRef | None = Field(
        default=None,
        description="Bearer token for the read-only status API; unset: the API answers 404",
    )
    metrics_token: SecretRef | None = Field(
        default=None,
        description=(
            "Bearer token for /metrics; unset: /metrics answers only when listen is a loopback"
            " address (403 otherwise)"
        ),
    )
    grace_period: str = Field(
        default="30s",
        pattern=r"^\d+[smh]$",
        description="How long a shutdown waits for running batches (like 30s, 2m)",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/\s?#]+(/[^\s?#]*)?$",
        description=(
            "Base URL the vendors call (like https://sync.example.com behind a TLS-terminating"
            " proxy); HubSpot v3 webhook signatures are checked against it plus the request"
            " path. Unset: the URL the daemon itself sees (or the trusted proxy's forwarded one)"
        ),
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description=(
            "Addresses or CIDR networks of reverse proxies whose X-Forwarded-Proto and"
            " X-Forwarded-Host headers are honoured; from any other peer they are ignored"
        ),
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"http.trusted_proxies: '{entry}' is not an IP address or CIDR network"
                ) from None
        return value

    @property
    def grace_seconds(self) -> int:
        """The grace period in seconds."""
        factor = {"s": 1, "m": 60, "h": 3600}[self.grace_period[-1]]
        return int(self.grace_period[:-1]) * factor


class Config(_Frozen):
    """The whole ``config.yaml``."""

    version: Literal[1] = 1
    hash_key: SecretRef | None = Field(
        default=None,
        description="HMAC key for field hashes; default: a random key kept in the state store",
    )
    state_url: MaybeRef = Field(
        default="sqlite:///state/b2sync.db",
        description="SQLAlchemy URL of the state store: sqlite:///path or postgresql://...",
    )
    http: HttpSettings = Field(default_factory=HttpSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    insights: InsightsConfig = Field(default_factory=InsightsConfig)
    connections: dict[str, Connection]
    pipelines: list[Pipeline] = Field(default_factory=list)
    consent: ConsentSettings | None = Field(
        default=None, description="Consent sync between B2Connect and the CRMs"
    )
    retention: RetentionSettings | None = Field(
        default=None, description="Purge people inactive for too long (erase or archive)"
    )
    dead_letters: DeadLetterSettings = Field(
        default_factory=DeadLetterSettings,
        description="When pending dead letters make `b2sync sync` exit non-zero",
    )
    erasure: ErasureSettings = Field(
        default_factory=ErasureSettings,
        description="What an erasure removes besides the person's CRM record (orders, consent "
        "records)",
    )
    blank_breaker: BlankBreaker | None = Field(
        default=None, description="The blank_breaker of every pipeline that sets none"
    )

    _inherit_blank_breaker = model_validator(mode="before")(inherit_blank_breaker)

    def reference_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Cross-references the models cannot check alone: (location, message) pairs."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        names: set[str] = set()
        for index, pipe in enumerate(self.pipelines):
            here: tuple[str | int, ...] = ("pipelines", index)
            if pipe.name in names:
                problems.append(((*here, "name"), f"pipeline name '{pipe.name}' is used twice"))
            names.add(pipe.name)
            for side, kinds in (("b2connect", ("b2connect",)), ("crm", ("hubspot", "salesforce"))):
                name = pipe.b2connect.connection if side == "b2connect" else pipe.crm.connection
                problem = self._connection_problem(name, kinds)
                if problem:
                    problems.append(((*here, side, "connection"), problem))
        for index, pipe in enumerate(self.pipelines):
            for a_index, assoc in enumerate(pipe.associations):
                if assoc.pipeline not in names:
                    problems.append(
                        (
                            ("pipelines", index, "associations", a_index, "pipeline"),
                            f"pipeline '{assoc.pipeline}' is not defined",
                        )
                    )
            problems.extend(self._create_problems(index, pipe))
            for f_index, spec in enumerate(pipe.fields):
                for step in spec.transform:
                    if isinstance(step, dict) and "link" in step and step["link"] not in names:
                        problems.append(
                            (
                                ("pipelines", index, "fields", f_index, "transform"),
                                f"link target pipeline '{step['link']}' is not defined",
                            )
                        )
        return problems

    def _create_problems(
        self, index: int, pipe: Pipeline
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """``create_in_shop`` only on customers/companies pipelines; ``contacts`` names a
        customers pipeline on the same CRM connection."""
        spec = pipe.create_in_shop
        if spec is None:
            return []
        here: tuple[str | int, ...] = ("pipelines", index, "create_in_shop")
        stream = pipe.b2connect.stream
        if stream not in ("customers", "companies"):
            return [(here, f"create_in_shop needs a customers or companies pipeline, not {stream}")]
        if spec.contacts is None:
            return []
        if stream != "companies":
            return [((*here, "contacts"), "contacts: is for companies pipelines only")]
        target = next((p for p in self.pipelines if p.name == spec.contacts), None)
        if target is None or target.b2connect.stream != "customers":
            return [((*here, "contacts"), f"'{spec.contacts}' is not a customers pipeline")]
        if target.crm.connection != pipe.crm.connection:
            return [((*here, "contacts"), f"'{spec.contacts}' uses another CRM connection")]
        return []

    def _connection_problem(self, name: str, kinds: tuple[str, ...]) -> str | None:
        conn = self.connections.get(name)
        if conn is None:
            known = ", ".join(sorted(self.connections)) or "none"
            return f"connection '{name}' is not defined; defined connections: {known}"
        if conn.type not in kinds:
            return (
                f"connection '{name}' is of type {conn.type}; {' or '.join(kinds)} is needed here"
            )
        return None

    def pipeline(self, name: str) -> Pipeline:
        """The pipeline called ``name``; KeyError listing the known names otherwise."""
        for pipe in self.pipelines:
            if pipe.name == name:
                return pipe
        raise KeyError(f"no pipeline '{name}'; known: {', '.join(p.name for p in self.pipelines)}")
