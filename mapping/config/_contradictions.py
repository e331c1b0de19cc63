"""Field settings that contradict each other or their pipeline: each would make a field
silently do nothing, or something else than it says (listed in docs/admin-guide.md).

1. A field ``direction`` its pipeline never runs: ``pull`` or ``both`` in a ``push``
   pipeline (the CRM value is never read), ``push`` or ``both`` in a ``pull`` pipeline (the
   B2Connect value is never sent; the match key's own field may stay ``push``: it names the
   identity and never flows back).
2. A field ``direction`` and a ``rule`` that prefers or keeps the other side: ``push`` with
   ``prefer_crm``, ``prefer_crm_unless_blank``, ``crm_only`` or ``manual``; ``pull`` with
   ``prefer_b2connect``, ``prefer_b2connect_unless_blank``, ``b2connect_only`` or ``manual``.
   A one-way field has nothing to compare, so the rule would never apply (``*_only`` the
   other way: the field would flow nowhere).
3. ``required: true`` on a field that is never pushed (``direction: pull`` or
   ``rule: crm_only``): ``required`` checks the B2Connect value before a push.
"""

from __future__ import annotations

from mapping.config._models import Config, Direction, FieldMapping, Pipeline, Rule

__all__ = ["contradictions"]

Loc = tuple[str | int, ...]

#: rules that give the CRM's value a say: pointless (or contradictory) on a push-only field
_CRM_RULES = frozenset({Rule.prefer_crm, Rule.prefer_crm_unless_blank, Rule.crm_only, Rule.manual})
#: rules that give B2Connect's value a say: pointless on a pull-only field
_SHOP_RULES = frozenset(
    {Rule.prefer_b2connect, Rule.prefer_b2connect_unless_blank, Rule.b2connect_only, Rule.manual}
)


def contradictions(config: Config) -> list[tuple[Loc, str]]:
    """Every contradictory field setting of ``config`` as (key path, message with a hint)."""
    out: list[tuple[Loc, str]] = []
    for p_index, pipe in enumerate(config.pipelines):
        for f_index, spec in enumerate(pipe.fields):
            here: Loc = ("pipelines", p_index, "fields", f_index)
            out.extend(((*here, key), message) for key, message in _field(pipe, spec))
    return out


def _field(pipe: Pipeline, spec: FieldMapping) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    direction = spec.direction
    name = f"field '{spec.crm}'"
    if direction is not None and pipe.direction is not Direction.both:
        if pipe.direction is Direction.push and direction is not Direction.push:
            found.append((
                "direction",
                f"{name} has direction: {direction.value} but pipeline '{pipe.name}' only "
                "pushes, so the CRM value is never read; set the pipeline's direction: both "
                "(see docs/two-way.md) or remove the field's direction",
            ))  # fmt: skip
        elif (
            pipe.direction is Direction.pull
            and direction is not Direction.pull
            and not (direction is Direction.push and _is_match_key(pipe, spec))
        ):
            found.append((
                "direction",
                f"{name} has direction: {direction.value} but pipeline '{pipe.name}' only "
                "pulls, so the B2Connect value is never sent; set the pipeline's direction: "
                "both or remove the field's direction",
            ))  # fmt: skip
    if direction is Direction.push and spec.rule in _CRM_RULES:
        found.append((
            "rule",
            f"{name} has direction: push with rule: {spec.rule.value}, but a push-only field "
            "never reads the CRM value; remove direction: push to let the rule decide both "
            "ways, or use rule: prefer_b2connect",
        ))  # fmt: skip
    elif direction is Direction.pull and spec.rule in _SHOP_RULES:
        found.append((
            "rule",
            f"{name} has direction: pull with rule: {spec.rule.value}, but a pull-only field "
            "never sends the B2Connect value; remove direction: pull to let the rule decide "
            "both ways, or use rule: prefer_crm",
        ))  # fmt: skip
    never_pushed = direction is Direction.pull or spec.rule is Rule.crm_only
    if spec.required and never_pushed:
        why = "direction: pull" if direction is Direction.pull else "rule: crm_only"
        found.append((
            "required",
            f"{name} is required but never pushed ({why}); required checks the B2Connect "
            "value before a push: remove required: true",
        ))  # fmt: skip
    return found


def _is_match_key(pipe: Pipeline, spec: FieldMapping) -> bool:
    key = pipe.match_key
    return key is not None and key.b2connect == spec.b2connect and key.crm == spec.crm
