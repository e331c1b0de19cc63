"""JSON Schema of ``config.yaml`` for editors (yaml-language-server, VS Code, IntelliJ)."""

from __future__ import annotations

from typing import Any

from mapping.config._models import Config

__all__ = ["json_schema"]

SCHEMA_ID = "https://b2sync.dev/schema/config-v1.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) describing a valid config file."""
    schema = Config.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "b2sync configuration"
    return schema
