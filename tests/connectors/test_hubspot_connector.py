"""HubSpotConnector construction: entry point, config and secret resolution."""

from __future__ import annotations

from connectors.base import load
from connectors.hubspot import HubSpotConnector
from emulators.hubspot import HubSpotEmulator
from mapping.config import HubSpotConnection


def test_entry_point_finds_the_connector() -> None:
    """The b2sync.connectors entry point 'hubspot' loads HubSpotConnector."""
    assert load("hubspot") is HubSpotConnector
    assert HubSpotConnector.config_model is HubSpotConnection


def test_from_config_resolves_secret_references(hubspot_emulator: HubSpotEmulator) -> None:
    """from_config() resolves the url and token references and applies daily_share."""
    env = {"HS_URL": hubspot_emulator.url, "HS_TOKEN": hubspot_emulator.token}
    config = HubSpotConnection(
        type="hubspot", url="${HS_URL}", token="${HS_TOKEN}", daily_share=0.25
    )
    conn = HubSpotConnector.from_config(config, secrets=lambda v: env.get(v[2:-1], v))
    assert conn.governor.daily_share == 0.25
    assert "email" in conn.describe("contacts").fields
    conn.close()


def test_from_config_picks_up_a_rotated_token(hubspot_emulator: HubSpotEmulator) -> None:
    """A token rotated in the secret store after start is used after the first 401."""
    env = {"HS_TOKEN": "pat-old"}
    config = HubSpotConnection(type="hubspot", url=hubspot_emulator.url, token="${HS_TOKEN}")
    conn = HubSpotConnector.from_config(config, secrets=lambda v: env.get(v[2:-1], v))
    env["HS_TOKEN"] = hubspot_emulator.token
    assert conn.check(["contacts"]) == [
        "HubSpot property 'b2connect_id' does not exist on contacts; b2sync creates it on "
        "first write, or create it as a unique single-line text property"
    ]
