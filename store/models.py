"""The b2sync tables (SQLModel). Table modules are split by concern; import from here."""

from __future__ import annotations

from store._consent_tables import ConsentHold, ConsentState, ConsentSubject, ConsentSystemState
from store._enums import ConflictStatus, DeadLetterStatus, ErasureStatus, RunStatus, Side
from store._erasure_tables import ErasureStep, ErasureSubject, TombstoneHit
from store._insights_tables import (
    InsightsCustomer,
    InsightsEngagement,
    InsightsEngagementTotal,
    InsightsOrder,
    InsightsSupport,
    RuleFiring,
)
from store._privacy_tables import (
    AuditEvent,
    AuditSubjectAlias,
    ErasureRequest,
    SubjectKey,
    Tombstone,
)
from store._sync_tables import (
    Conflict,
    Cursor,
    DeadLetter,
    Link,
    Lock,
    PendingLink,
    Run,
    Setting,
)
from store._tenancy import TENANT_COLUMN, scope_tables
from store._types import NAMING_CONVENTION, StrEnumType, UTCDateTime, metadata, utc_now
from store._webhook_tables import ErasureInboxItem, WebhookReceipt

scope_tables(metadata)  # every table: its b2sync_tenant column, natural keys per tenant

__all__ = [
    "NAMING_CONVENTION",
    "TENANT_COLUMN",
    "AuditEvent",
    "AuditSubjectAlias",
    "Conflict",
    "ConflictStatus",
    "ConsentHold",
    "ConsentState",
    "ConsentSubject",
    "ConsentSystemState",
    "Cursor",
    "DeadLetter",
    "DeadLetterStatus",
    "ErasureInboxItem",
    "ErasureRequest",
    "ErasureStatus",
    "ErasureStep",
    "ErasureSubject",
    "InsightsCustomer",
    "InsightsEngagement",
    "InsightsEngagementTotal",
    "InsightsOrder",
    "InsightsSupport",
    "Link",
    "Lock",
    "PendingLink",
    "RuleFiring",
    "Run",
    "RunStatus",
    "Setting",
    "Side",
    "StrEnumType",
    "SubjectKey",
    "Tombstone",
    "TombstoneHit",
    "UTCDateTime",
    "WebhookReceipt",
    "metadata",
    "utc_now",
]
