"""The configuration file: frozen models, a position-aware loader and its JSON Schema."""

from __future__ import annotations

from mapping.config._base import is_reference
from mapping.config._connections import (
    DEFAULT_CONCURRENCY,
    B2ConnectConnection,
    HubSpotConnection,
    SalesforceAuth,
    SalesforceConnection,
)
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
from mapping.config._deletes import (
    BlankBreaker,
    DeleteBreaker,
    DeletePolicy,
    OnDelete,
    SyncDirection,
)
from mapping.config._erasure import ErasureSettings, KeepOrDelete, SalesforceErasure
from mapping.config._file import DEFAULT_CONFIG, ConfigFileError, config_path, load_config
from mapping.config._insights import (
    INSIGHT_FIELDS,
    INSIGHTS_PREFIX,
    InsightsConfig,
    LoyaltyTiers,
    ReportTargets,
    RuleAction,
    Transition,
    WorkflowRule,
)
from mapping.config._loader import (
    SECRET_KEY_RE,
    ConfigCheck,
    ConfigError,
    ConfigIssue,
    Problem,
    locate,
    parse_config,
)
from mapping.config._models import (
    TRANSFORM_NAMES,
    Association,
    AuditSettings,
    B2ConnectSide,
    Config,
    CrmSide,
    Direction,
    FieldMapping,
    HttpSettings,
    Lines,
    MatchKey,
    Pipeline,
    Rule,
    Schedule,
)
from mapping.config._references import UnresolvedReference, references, resolve_reference
from mapping.config._retention import RetentionSettings
from mapping.config._schema import json_schema
from mapping.config._segments import Segment
from mapping.config._thresholds import DEFAULT_SETTINGS, InsightsSettings, LeadPoints, LeadTiers

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_CONFIG",
    "DEFAULT_SETTINGS",
    "INSIGHTS_PREFIX",
    "INSIGHT_FIELDS",
    "SECRET_KEY_RE",
    "TRANSFORM_NAMES",
    "Association",
    "AuditSettings",
    "B2ConnectConnection",
    "B2ConnectSide",
    "BlankBreaker",
    "Config",
    "ConfigCheck",
    "ConfigError",
    "ConfigFileError",
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
    "InsightsSettings",
    "KeepOrDelete",
    "LeadPoints",
    "LeadTiers",
    "Lines",
    "LoyaltyTiers",
    "MatchKey",
    "OnDelete",
    "OnWithdraw",
    "Pipeline",
    "Problem",
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
    "Segment",
    "SyncDirection",
    "Transition",
    "UnresolvedReference",
    "WorkflowRule",
    "config_path",
    "is_reference",
    "json_schema",
    "load_config",
    "locate",
    "parse_config",
    "references",
    "resolve_reference",
]
