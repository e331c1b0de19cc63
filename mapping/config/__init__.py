"""The configuration file: frozen models, a position-aware loader and its JSON Schema."""

from __future__ import annotations

from mapping.config._consent import (
    ConsentRequirement,
    ConsentSchedule,
    ConsentSettings,
    HubSpotConsent,
    HubSpotSubscription,
    OnWithdraw,
    SalesforceConsent,
    SalesforceConsentField,
    SalesforceConsentRecord,
)
from mapping.config._dead_letters import DeadLetterSettings
from mapping.config._deletes import DeleteBreaker, DeletePolicy, OnDelete, SyncDirection
from mapping.config._erasure import ErasureSettings, KeepOrDelete, SalesforceErasure
from mapping.config._insights import (
    InsightsConfig,
    LoyaltyTiers,
    ReportTargets,
    RuleAction,
    Transition,
    WorkflowRule,
)
from mapping.config._loader import SECRET_KEY_RE, ConfigError, ConfigIssue, parse_config
from mapping.config._models import (
    TRANSFORM_NAMES,
    Association,
    AuditSettings,
    B2ConnectConnection,
    B2ConnectSide,
    Config,
    CrmSide,
    Direction,
    FieldMapping,
    HttpSettings,
    HubSpotConnection,
    Lines,
    MatchKey,
    Pipeline,
    Rule,
    SalesforceAuth,
    SalesforceConnection,
    Schedule,
    is_reference,
)
from mapping.config._references import UnresolvedReference, resolve_reference
from mapping.config._retention import RetentionSettings
from mapping.config._schema import json_schema

__all__ = [
    "SECRET_KEY_RE",
    "TRANSFORM_NAMES",
    "Association",
    "AuditSettings",
    "B2ConnectConnection",
    "B2ConnectSide",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "ConsentRequirement",
    "ConsentSchedule",
    "ConsentSettings",
    "CrmSide",
    "DeadLetterSettings",
    "DeleteBreaker",
    "DeletePolicy",
    "Direction",
    "ErasureSettings",
    "FieldMapping",
    "HttpSettings",
    "HubSpotConnection",
    "HubSpotConsent",
    "HubSpotSubscription",
    "InsightsConfig",
    "KeepOrDelete",
    "Lines",
    "LoyaltyTiers",
    "MatchKey",
    "OnDelete",
    "OnWithdraw",
    "Pipeline",
    "ReportTargets",
    "RetentionSettings",
    "Rule",
    "RuleAction",
    "SalesforceAuth",
    "SalesforceConnection",
    "SalesforceConsent",
    "SalesforceConsentField",
    "SalesforceConsentRecord",
    "SalesforceErasure",
    "Schedule",
    "SyncDirection",
    "Transition",
    "UnresolvedReference",
    "WorkflowRule",
    "is_reference",
    "json_schema",
    "parse_config",
    "resolve_reference",
]
