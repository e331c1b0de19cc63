"""The configuration file: frozen models, a position-aware loader and its JSON Schema."""

from __future__ import annotations

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
    "CrmSide",
    "Direction",
    "FieldMapping",
    "HttpSettings",
    "HubSpotConnection",
    "Lines",
    "MatchKey",
    "Pipeline",
    "Rule",
    "SalesforceAuth",
    "SalesforceConnection",
    "Schedule",
    "UnresolvedReference",
    "is_reference",
    "json_schema",
    "parse_config",
    "resolve_reference",
]
