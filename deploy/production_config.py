"""Writes deploy/config.production.yaml: the shipped config.yaml's pipelines, consent,
insights and every other section, with production connections (OAuth for Salesforce, no
emulator CA), store and HTTP settings. Run it after changing config.yaml:

    python deploy/production_config.py

tests/deploy checks that the file is up to date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "deploy" / "config.production.yaml"
#: top-level sections the template replaces (the rest comes from config.yaml as it is)
REPLACED = {"version", "state_url", "http", "connections"}

HEAD = """# b2sync production configuration: the container image ships it as /etc/b2sync/config.yaml
# (mount your own over it, or keep this one and set the variables below). Secrets are
# references only: ${ENV_VAR} or ${file:/run/secrets/NAME}; `b2sync check --strict` tells which
# are unset. Unlike the repository's config.yaml (made for the bundled emulators) it logs in
# to Salesforce with OAuth (JWT bearer flow of a connected app) and trusts the system's CA
# certificates: no emulator CA bundle.
version: 1
# SQLite on the image's volume (/var/lib/b2sync); for several replicas use PostgreSQL:
# state_url: ${B2SYNC_STATE_URL}   # postgresql+psycopg://b2sync@db.internal/b2sync
state_url: sqlite:////var/lib/b2sync/state/b2sync.db
http:
  listen: 0.0.0.0:8765
  # public_url: https://sync.example.com   # the URL HubSpot calls (webhook signatures)
  status_token: ${B2SYNC_STATUS_TOKEN}      # bearer token of /api/status
  metrics_token: ${B2SYNC_METRICS_TOKEN}    # bearer token of /metrics (403 without it)
"""

CONNECTIONS = """
connections:
  shop:
    type: b2connect
    url: ${B2SYNC_B2CONNECT_URL}
    token: ${B2SYNC_B2CONNECT_TOKEN}
    tenant_id: ${B2SYNC_B2CONNECT_TENANT_ID}
    webhook_secret: ${B2SYNC_B2CONNECT_WEBHOOK_SECRET}
  hubspot:
    type: hubspot                            # https://api.hubapi.com (the default url)
    token: ${B2SYNC_HUBSPOT_TOKEN}           # private app access token
    app_secret: ${B2SYNC_HUBSPOT_APP_SECRET}
    portal_id: ${B2SYNC_HUBSPOT_PORTAL_ID}
  salesforce:
    type: salesforce
    instance_url: ${B2SYNC_SALESFORCE_URL}   # https://yourdomain.my.salesforce.com
    # OAuth 2.0 JWT bearer flow: a connected app with the integration user pre-authorized
    # and the certificate of this private key uploaded (docs/operations.md, "Configure
    # secrets"). Client credentials instead: method: client_credentials, client_id,
    # client_secret and domain: <your My Domain>.my
    auth:
      method: jwt
      client_id: ${B2SYNC_SALESFORCE_CLIENT_ID}
      username: ${B2SYNC_SALESFORCE_USERNAME}
      private_key: ${B2SYNC_SALESFORCE_PRIVATE_KEY}  # PEM; or ${file:/run/secrets/NAME}
      domain: login                          # test for a sandbox
"""


def blocks(text: str) -> list[tuple[str | None, str]]:
    """(top-level key or None, text) blocks; a block keeps the comment lines right above
    its key (the file's own header comment is a block without a key)."""
    out: list[tuple[str | None, list[str]]] = [(None, [])]
    pending: list[str] = []
    for line in text.splitlines(keepends=True):
        key = re.match(r"^([a-z_]+):", line)
        if key:
            out.append((key[1], [*pending, line]))
            pending = []
        elif line.startswith("#") or not line.strip():
            pending.append(line)
        else:
            out[-1][1].extend([*pending, line])
            pending = []
    out[-1][1].extend(pending)
    return [(key, "".join(lines)) for key, lines in out]


def render(config_text: str) -> str:
    """The production template for ``config_text`` (the shipped config.yaml)."""
    parts = [HEAD]
    for key, text in blocks(config_text):
        if key == "connections":
            parts.append(CONNECTIONS)
        elif key is not None and key not in REPLACED:
            parts.append(text)
    return "".join(parts)


def main() -> int:
    TARGET.write_text(render((ROOT / "config.yaml").read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"wrote {TARGET.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
