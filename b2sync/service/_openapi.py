"""The OpenAPI document of the read-only status API."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_RUN = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "trigger": {"type": "string", "example": "webhook"},
        "status": {
            "type": "string",
            "enum": ["running", "succeeded", "failed", "paused", "interrupted"],
        },
        "started_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": "string", "format": "date-time", "nullable": True},
        "records_read": {"type": "integer"},
        "records_written": {"type": "integer"},
        "records_skipped": {"type": "integer"},
        "records_failed": {"type": "integer"},
        "api_calls": {"type": "integer"},
        "error": {"type": "string", "nullable": True},
    },
}
_PIPELINE = {
    "type": "object",
    "properties": {
        "pipeline": {"type": "string"},
        "enabled": {"type": "boolean"},
        "stream": {"type": "string"},
        "object": {"type": "string"},
        "running_since": {"type": "string", "format": "date-time", "nullable": True},
        "last_run": {"allOf": [{"$ref": "#/components/schemas/Run"}], "nullable": True},
        "last_success_at": {"type": "string", "format": "date-time", "nullable": True},
        "lag_seconds": {"type": "number", "nullable": True},
        "dead_letters_pending": {"type": "integer"},
        "conflicts_open": {"type": "integer"},
        "paused_until": {"type": "string", "format": "date-time", "nullable": True},
        "delete_breaker": {
            "type": "object",
            "nullable": True,
            "description": "A tripped delete breaker: runs wait for `b2sync pipelines resume`",
            "properties": {
                "direction": {"type": "string", "enum": ["to_crm", "to_b2connect"]},
                "deletes": {"type": "integer"},
                "population": {"type": "integer"},
                "limit": {"type": "integer"},
                "tripped_at": {"type": "string", "format": "date-time"},
                "message": {"type": "string"},
            },
        },
    },
}


def openapi_document(version: str) -> dict[str, Any]:
    """OpenAPI 3.0 for ``GET /api/status``."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "b2sync status API",
            "version": version,
            "description": "Read-only view of the daemon's pipelines; personal data never appears.",
        },
        "paths": {
            "/api/status": {
                "get": {
                    "summary": "Per-pipeline state and store-wide backlog",
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": {
                            "description": "Status",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Status"}
                                }
                            },
                        },
                        "401": {"description": "Missing or wrong bearer token"},
                        "404": {"description": "No http.status_token is configured"},
                    },
                }
            }
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Run": _RUN,
                "Pipeline": _PIPELINE,
                "Status": {
                    "type": "object",
                    "properties": {
                        "generated_at": {"type": "string", "format": "date-time"},
                        "scheduler_running": {"type": "boolean"},
                        "conflicts_open": {"type": "integer"},
                        "dead_letters_pending": {"type": "integer"},
                        "erasures_pending": {"type": "integer"},
                        "pipelines": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Pipeline"},
                        },
                    },
                },
            },
        },
    }
