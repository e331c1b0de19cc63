"""``create_in_shop`` on a pipeline: CRM records a CRM user marks for the shop become
B2Connect customers or companies (off unless a pipeline sets it; docs/create-in-shop.md).

```yaml
- name: companies-to-salesforce
  create_in_shop:
    when: {field: B2C_Create_In_Shop__c, equals: true}
    contacts: customers-to-salesforce   # and the company's contacts, through this pipeline
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CreateInShop", "ShopCondition"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ShopCondition(_Frozen):
    """The CRM field whose value marks a record for the shop."""

    field: str = Field(
        min_length=1, description="CRM field or property, e.g. B2C_Create_In_Shop__c"
    )
    equals: bool | int | float | str = Field(
        default=True, description="The value that marks the record (HubSpot sends 'true' as text)"
    )

    def holds(self, fields: Mapping[str, Any]) -> bool:
        """Whether a CRM record's fields meet the condition (text compared case-insensitively,
        so HubSpot's ``"true"`` matches ``equals: true``)."""
        value = fields.get(self.field)
        if value is None:
            return False
        if isinstance(self.equals, bool) or isinstance(value, str):
            return str(value).strip().casefold() == str(self.equals).casefold()
        return bool(value == self.equals)


class CreateInShop(_Frozen):
    """Create the B2Connect record of each CRM record meeting ``when`` (never a duplicate:
    a linked record is left alone, and B2Connect answers a create of a known email or VAT id
    with the record it already has, which is then linked)."""

    when: ShopCondition
    contacts: str | None = Field(
        default=None,
        description="Companies pipelines: the customers pipeline (same CRM connection) whose "
        "mapping creates the marked company's contacts as its customers",
    )
