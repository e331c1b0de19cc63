"""Delete handling of a pipeline: what a deletion on one side does to the other, and the
delete breaker that stops a run from deleting too much at once.

``on_delete`` keeps its original scalar form (``on_delete: archive`` is the to-CRM policy)
and accepts one policy per direction::

    on_delete: {to_crm: delete, to_b2connect: ignore}
    delete_breaker: {max_count: 100, max_share: 0.1}
    blank_breaker: {max_share: 0.1, min_count: 10}   # also top-level: every pipeline's default
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

__all__ = [
    "BlankBreaker",
    "DeleteBreaker",
    "DeletePolicy",
    "OnDelete",
    "OnDeleteSetting",
    "SyncDirection",
    "inherit_blank_breaker",
]

#: what a deletion on one side does on the other
DeletePolicy = Literal["ignore", "archive", "delete"]
#: a direction a deletion travels
SyncDirection = Literal["to_crm", "to_b2connect"]


class OnDelete(BaseModel):
    """Per-direction delete policies.

    ``ignore`` leaves the other side's record alone (the link is forgotten), ``archive``
    archives it where the system can (HubSpot archive, B2Connect deactivation; Salesforce has
    no archive and deletes to its recycle bin), ``delete`` deletes it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    to_crm: DeletePolicy = Field(
        default="ignore",
        description="A record deleted in B2Connect: ignore, archive or delete the CRM record",
    )
    to_b2connect: DeletePolicy = Field(
        default="ignore",
        description="A record deleted in the CRM: ignore, archive or delete the B2Connect record",
    )

    def policy(self, direction: SyncDirection) -> DeletePolicy:
        """The policy of one direction."""
        return self.to_crm if direction == "to_crm" else self.to_b2connect


class DeleteBreaker(BaseModel):
    """Stop a run that would delete more than ``max_count`` records or more than
    ``max_share`` of the pipeline's linked records (whichever limit is smaller; the share
    limit is never below one record, so a single deletion never trips it).

    A tripped breaker deletes nothing, pauses the pipeline until an operator runs
    ``b2sync pipelines resume NAME``, logs ``pipeline.delete_breaker_tripped`` and sets the
    ``b2sync_delete_breaker_tripped`` metric.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_count: int = Field(
        default=100, ge=0, description="Most records one run may delete in one direction"
    )
    max_share: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Most share of the pipeline's linked records one run may delete",
    )

    def limit(self, population: int) -> int:
        """How many deletions a run over ``population`` linked records may make."""
        share = max(1, int(self.max_share * max(population, 0)))
        return min(self.max_count, share)


class BlankBreaker(BaseModel):
    """Stop a run that would blank (set to empty) one field in more than ``max_share`` of
    the pipeline's linked records, and never fewer than ``min_count`` records may be blanked
    (so a small shop's few deliberate clears pass).

    A blanking is a write of an empty value over a non-empty one, counted per field and per
    direction over a whole run. Like the delete breaker, a tripped breaker writes nothing of
    that flush, pauses the pipeline until ``b2sync pipelines resume NAME`` (``--allow-deletes``
    lets the next runs make the tripped number of blankings) and logs
    ``pipeline.blank_breaker_tripped``. ``max_share: 1`` turns it off.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_share: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Most share of the pipeline's linked records one run may blank per field",
    )
    min_count: int = Field(
        default=10, ge=0, description="Blankings per field one run may always make"
    )

    def limit(self, population: int) -> int:
        """How many blankings of one field a run over ``population`` linked records may make."""
        if self.max_share >= 1:
            return max(population, self.min_count)
        return max(self.min_count, int(self.max_share * max(population, 0)))


def inherit_blank_breaker(data: Any) -> Any:
    """A top-level ``blank_breaker`` is the default of every pipeline that sets none."""
    if not isinstance(data, dict) or not isinstance(data.get("blank_breaker"), dict):
        return data
    pipes = data.get("pipelines")
    if not isinstance(pipes, list):
        return data
    default = data["blank_breaker"]
    try:
        BlankBreaker.model_validate(default)
    except ValidationError:
        return data  # reported once, at the top level
    inherited = [
        {**pipe, "blank_breaker": default}
        if isinstance(pipe, dict) and "blank_breaker" not in pipe
        else pipe
        for pipe in pipes
    ]
    return {**data, "pipelines": inherited}


def _scalar(value: Any) -> Any:
    """``on_delete: archive`` (the original form) is the to-CRM policy."""
    if isinstance(value, str):
        return {"to_crm": value}
    return value


#: ``on_delete`` as written in YAML: one policy (to the CRM) or one per direction
OnDeleteSetting = Annotated[
    OnDelete, BeforeValidator(_scalar, json_schema_input_type=DeletePolicy | OnDelete)
]
