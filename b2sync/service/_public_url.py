"""The URL a vendor called, as signatures cover it: behind a TLS-terminating proxy the daemon
sees ``http://127.0.0.1:8765/...`` while HubSpot signed ``https://sync.example.com/...``.

HubSpot's v3 signature covers ``method + URI + body + timestamp`` where the URI is the full
URL HubSpot called, scheme and host included ("Validating requests from HubSpot", v3:
https://developers.hubspot.com/docs/api/webhooks/validating-requests). So the URI is taken,
in this order, from ``http.public_url`` plus the request path and query; from
``X-Forwarded-Proto`` / ``X-Forwarded-Host`` when (and only when) the peer is one of
``http.trusted_proxies``; otherwise from the request as the daemon received it. Forwarded
headers from any other peer are ignored, so a client cannot pick the URL it is checked against.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from mapping.config import HttpSettings

__all__ = ["signed_uri", "trusted_peer"]


def trusted_peer(peer: str | None, proxies: Sequence[str]) -> bool:
    """``peer`` (an IP address) lies in one of ``proxies`` (addresses or CIDR networks)."""
    if not peer or not proxies:
        return False
    try:
        address = ipaddress.ip_address(peer.strip("[]"))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(p, strict=False) for p in proxies)


def _first(value: str | None) -> str | None:
    """The first (client-most) value of a comma-separated forwarded header, if any."""
    if not value:
        return None
    first = value.split(",")[0].strip()
    return first or None


def signed_uri(
    settings: HttpSettings,
    *,
    peer: str | None,
    scheme: str,
    host: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
) -> str:
    """The full URI the vendor signed for a request the daemon received as ``scheme://host``."""
    suffix = path + (f"?{query}" if query else "")
    if settings.public_url:
        return settings.public_url.rstrip("/") + suffix
    if trusted_peer(peer, settings.trusted_proxies):
        proto = (_first(headers.get("x-forwarded-proto")) or "").lower()
        scheme = proto if proto in {"http", "https"} else scheme
        host = _first(headers.get("x-forwarded-host")) or host
    return f"{scheme}://{host}{suffix}"
