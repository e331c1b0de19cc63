"""The ``erasure:`` policy turned into what a CRM's erase step removes besides the person.

For a Salesforce connection, with ``orders: delete``: every enabled orders pipeline whose CRM is
that connection contributes its sObject, the Contact lookup field of its mapping (a field whose
transform links to a pipeline syncing ``Contact`` on the same connection) and its line object
with the lines' parent field. An orders pipeline without such a lookup cannot find the
person's orders and is left out (:func:`unreachable_orders` names them for the step detail).
"""

from __future__ import annotations

from connectors.salesforce import OrderObject, RelatedPolicy
from mapping.config import Config, Pipeline

__all__ = ["salesforce_policy", "unreachable_orders"]

CONTACT = "Contact"


def _orders_pipelines(config: Config, connection: str) -> list[Pipeline]:
    return [
        p
        for p in config.pipelines
        if p.enabled and p.b2connect.stream == "orders" and p.crm.connection == connection
    ]


def _contact_field(config: Config, pipeline: Pipeline) -> str | None:
    """The CRM field of ``pipeline`` holding the Contact's Id (a ``link`` transform)."""
    contacts = {
        p.name
        for p in config.pipelines
        if p.crm.connection == pipeline.crm.connection and p.crm.object == CONTACT
    }
    for spec in pipeline.fields:
        for step in spec.transform:
            if isinstance(step, dict) and step.get("link") in contacts:
                return spec.crm
    return None


def salesforce_policy(config: Config, connection: str) -> RelatedPolicy:
    """What an erasure removes in Salesforce connection ``connection`` besides the Contact."""
    settings = config.erasure.salesforce
    orders: list[OrderObject] = []
    if settings.orders == "delete":
        for pipe in _orders_pipelines(config, connection):
            field = _contact_field(config, pipe)
            if field is None:
                continue
            lines = pipe.lines
            children = (
                ((lines.object, lines.parent_field),)
                if lines is not None and lines.parent_field
                else ()
            )
            orders.append(OrderObject(pipe.crm.object, field, children))
    return RelatedPolicy(orders=tuple(orders), consent_records=settings.consent_records == "delete")


def unreachable_orders(config: Config, connection: str) -> list[str]:
    """Orders pipelines of ``connection`` whose records cannot be traced to a Contact."""
    if config.erasure.salesforce.orders != "delete":
        return []
    return [
        p.name for p in _orders_pipelines(config, connection) if _contact_field(config, p) is None
    ]
