"""Config loading: every problem reported with file:line:column, path, found and allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapping.config import ConfigError, parse_config
from sync.settings import load_config
from tests.config.texts import HEADER

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = (ROOT / "config.yaml").read_text(encoding="utf-8")

MINIMAL = (
    HEADER
    + """\
  - name: people
    b2connect: {connection: shop, stream: customers}
    crm: {connection: hs, object: contacts}
    fields:
      - {b2connect: email, crm: email, transform: [strip, lower]}
      - {b2connect: firstName, crm: firstname, rule: prefer_crm}
"""
)


def issues_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "x.yaml")
    return [str(i) for i in info.value.issues]


def test_default_config_is_valid() -> None:
    """The shipped config.yaml validates."""
    config = parse_config(DEFAULT)
    assert {p.name for p in config.pipelines} >= {"customers-to-hubspot", "customers-to-salesforce"}


def test_minimal_config_parses_to_frozen_models() -> None:
    """A minimal config yields frozen pydantic objects."""
    config = parse_config(MINIMAL)
    pipe = config.pipeline("people")
    assert pipe.fields[1].rule.value == "prefer_crm"
    with pytest.raises(ValueError, match="frozen"):
        pipe.name = "other"  # type: ignore[misc]


def test_three_mistakes_give_three_positioned_errors() -> None:
    """Three mistakes in one file are all reported, each with file:line:col and the key path."""
    text = (
        MINIMAL.replace("rule: prefer_crm", "rule: prefer_crmm")
        .replace("stream: customers", "stream: customer")
        .replace("    type: hubspot\n", "    type: hubspot\n    colour: blue\n")
    )
    issues = issues_of(text)
    assert len(issues) == 3, issues
    assert issues[0].startswith(
        "x.yaml:10:5: connections.hs.colour: unknown key 'colour'; allowed:"
    )
    assert (
        "x.yaml:14:43: pipelines[0].b2connect.stream: 'customer' is not one of customers,"
        in issues[1]
    )
    assert issues[2].startswith(
        "x.yaml:18:54: pipelines[0].fields[1].rule: 'prefer_crmm' is not one of two_way, prefer_b2connect"
    )


def test_literal_secret_is_refused_without_echoing_it() -> None:
    """A literal token is refused with how to reference it, and the value never appears."""
    issues = issues_of(MINIMAL.replace("${HS_TOKEN}", "pat-na1-11111111-2222"))
    assert len(issues) == 1
    assert issues[0].startswith(
        "x.yaml:10:12: connections.hs.token: a literal secret is not allowed"
    )
    assert "${HS_TOKEN}" in issues[0] and "${file:/run/secrets/token}" in issues[0]
    assert "pat-na1" not in issues[0]


def test_unknown_connection_reference_points_at_the_key() -> None:
    """A pipeline naming an undefined connection is reported where it is named."""
    issues = issues_of(MINIMAL.replace("{connection: hs,", "{connection: hubspot,"))
    assert issues == [
        "x.yaml:14:23: pipelines[0].crm.connection: connection 'hubspot' is not defined; "
        "defined connections: hs, shop"
    ]


def test_connection_of_the_wrong_kind_is_refused() -> None:
    """A CRM side pointing at a B2Connect connection is an error."""
    issues = issues_of(MINIMAL.replace("{connection: hs,", "{connection: shop,"))
    assert (
        "connection 'shop' is of type b2connect; hubspot or salesforce is needed here" in issues[0]
    )


def test_wrong_type_names_found_value() -> None:
    """A wrongly typed value names what was found."""
    issues = issues_of(MINIMAL.replace("name: people", "name: people\n    batch_size: lots"))
    assert issues == [
        "x.yaml:13:17: pipelines[0].batch_size: Input should be a valid integer, "
        "unable to parse string as an integer; found 'lots'"
    ]


def test_unknown_transform_lists_known_ones() -> None:
    """An unknown transform name lists the registry."""
    issues = issues_of(MINIMAL.replace("[strip, lower]", "[strip, lowr]"))
    assert "'lowr' is not a transform; known: coalesce" in issues[0]


def test_not_yaml_reports_the_position() -> None:
    """Broken YAML gives the parser's line and column."""
    issues = issues_of("version: 1\nconnections: {a: [1, 2}\n")
    assert issues[0].startswith("x.yaml:2:")
    assert "not valid YAML" in issues[0]


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "42\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    """Empty files and non-mappings are refused, not crashed on."""
    issues = issues_of(text)
    assert issues[0].startswith("x.yaml:1:1: expected a mapping at the top")


def test_missing_required_key() -> None:
    """A missing required key is named."""
    issues = issues_of(MINIMAL.replace("    token: ${SHOP_TOKEN}\n", ""))
    assert issues == ["x.yaml:4:5: connections.shop.token: required key 'token' is missing"]


def test_bad_schedule_explains_the_form() -> None:
    """An interval that is not N{s,m,h,d} says which forms are allowed."""
    issues = issues_of(MINIMAL.replace("name: people", "name: people\n    schedule: {every: soon}"))
    assert "'soon' is not an interval like 30s, 5m, 1h, 1d" in issues[0]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing file is one clean error, not a traceback."""
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "file not found" in str(info.value)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    """Binary garbage is refused with the reason."""
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)
