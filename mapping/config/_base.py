"""Building blocks every config model shares: the frozen base model and secret references."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["REF_PATTERN", "Frozen", "MaybeRef", "SecretRef", "is_reference"]

REF_PATTERN = r"^\$\{(?:file:[^}]+|[A-Za-z_][A-Za-z0-9_]*)\}$"
_REF_RE = re.compile(REF_PATTERN)


class Frozen(BaseModel):
    """A frozen model that refuses unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


SecretRef = Annotated[
    str,
    Field(
        pattern=REF_PATTERN,
        description="A reference, never the secret itself: ${ENV_VAR} or ${file:/run/secrets/name}",
    ),
]
"""A secret-bearing value: must be a reference."""

MaybeRef = Annotated[str, Field(description="A literal value or a ${ENV_VAR} reference")]


def is_reference(value: str) -> bool:
    """True if ``value`` is ``${ENV}`` or ``${file:...}``."""
    return bool(_REF_RE.match(value))
