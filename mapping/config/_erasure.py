"""The ``erasure:`` section: what an erasure removes besides the person's CRM record.

::

    erasure:
      salesforce:
        orders: keep             # invoices are kept 10 years (commercial/tax law): keep
        consent_records: delete  # ContactPointTypeConsent records (and an unshared Individual)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ErasureSettings", "KeepOrDelete", "SalesforceErasure"]

KeepOrDelete = Literal["keep", "delete"]


class SalesforceErasure(BaseModel):
    """Salesforce records about the person removed with their Contact (and hard-deleted)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    orders: KeepOrDelete = Field(
        default="keep",
        description="The person's order records (sObjects of the orders pipelines on this "
        "Salesforce connection, found through their Contact lookup field, and their line "
        "objects). Default keep: B2Connect keeps invoices 10 years (commercial and tax "
        "retention), so order data usually has a legal basis to stay; delete removes them "
        "for good (Bulk API 2.0 hardDelete)",
    )
    consent_records: KeepOrDelete = Field(
        default="delete",
        description="The person's ContactPointTypeConsent records, and their Individual when "
        "nothing else references it; removed for good (hardDelete) unless keep",
    )


class ErasureSettings(BaseModel):
    """Erasure policy per CRM type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    salesforce: SalesforceErasure = Field(
        default_factory=SalesforceErasure,
        description="What a Salesforce erasure removes besides the Contact",
    )
