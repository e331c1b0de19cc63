"""All three emulators at once, seeded with one data set: what tests and the demo start.

``EmulatorStack`` starts B2Connect, HubSpot and Salesforce (in that order, stopped in
reverse), loads :func:`emulators.seed.generate` into each, and writes the connection
details as a JSON state file or as ``KEY=value`` lines for the variables ``config.yaml``
references.

Latency (see :mod:`emulators._latency`) is set per system at start: the ``latency`` argument
``{"hubspot": 250, "salesforce": {"default": 500}}`` or, when it is not given, the same JSON
in the ``B2SYNC_EMULATOR_LATENCY`` environment variable; at runtime through each emulator's
``PUT /_emulator/latency``.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

from emulators._base import BaseEmulator, HttpError
from emulators._latency import LatencyError, parse_latency
from emulators.b2connect import B2ConnectEmulator
from emulators.hubspot import HubSpotEmulator
from emulators.salesforce import SalesforceEmulator
from emulators.seed import SeedData, generate

__all__ = ["ENV_VARS", "LATENCY_ENV", "EmulatorStack", "latency_from_env"]

#: JSON ``{system: latency}`` read when the stack is given no ``latency``
LATENCY_ENV = "B2SYNC_EMULATOR_LATENCY"
SYSTEMS = ("b2connect", "hubspot", "salesforce")

#: environment variable -> (system, key in :meth:`EmulatorStack.state`)
ENV_VARS = {
    "B2SYNC_B2CONNECT_URL": ("b2connect", "url"),
    "B2SYNC_B2CONNECT_TOKEN": ("b2connect", "token"),
    "B2SYNC_B2CONNECT_TENANT_ID": ("b2connect", "tenant_id"),
    "B2SYNC_B2CONNECT_WEBHOOK_SECRET": ("b2connect", "webhook_secret"),
    "B2SYNC_HUBSPOT_URL": ("hubspot", "url"),
    "B2SYNC_HUBSPOT_TOKEN": ("hubspot", "token"),
    "B2SYNC_HUBSPOT_APP_SECRET": ("hubspot", "app_secret"),
    "B2SYNC_SALESFORCE_URL": ("salesforce", "instance_url"),
    "B2SYNC_SALESFORCE_SESSION_ID": ("salesforce", "session_id"),
    "B2SYNC_SALESFORCE_CA_FILE": ("salesforce", "ca_file"),
}
#: lifetime of the B2Connect token written to state/env files (the demo runs for hours)
TOKEN_LIFETIME_S = 24 * 3600


class EmulatorStack:
    """B2Connect + HubSpot + Salesforce emulators on loopback, seeded alike."""

    def __init__(
        self,
        customers: int = 200,
        seed: int = 42,
        *,
        hubspot_kwargs: dict[str, Any] | None = None,
        salesforce_kwargs: dict[str, Any] | None = None,
        b2connect_kwargs: dict[str, Any] | None = None,
        b2connect_port: int = 0,
        hubspot_port: int = 0,
        salesforce_port: int = 0,
        latency: dict[str, Any] | None = None,
    ) -> None:
        self.customers = customers
        self.seed = seed
        self.b2connect = B2ConnectEmulator(**(b2connect_kwargs or {}))
        self.hubspot = HubSpotEmulator(**(hubspot_kwargs or {}))
        self.salesforce = SalesforceEmulator(**(salesforce_kwargs or {}))
        self._ports = {"b2connect": b2connect_port, "hubspot": hubspot_port}
        self._ports["salesforce"] = salesforce_port
        self.seed_data: SeedData | None = None
        #: seed records an emulator refused, as (system, object, error message)
        self.seed_rejects: list[tuple[str, str, str]] = []
        self._started: list[BaseEmulator] = []
        self._b2connect_token: str | None = None
        self.set_latency(latency_from_env() if latency is None else latency)

    @property
    def emulators(self) -> list[BaseEmulator]:
        return [self.b2connect, self.hubspot, self.salesforce]

    def set_latency(self, latency: dict[str, Any]) -> None:
        """Give each named system its latency plan (milliseconds or ``{pattern: delay}``);
        :class:`emulators.HttpError` (400 INVALID_LATENCY) for an unknown system or plan."""
        unknown = sorted(set(latency) - set(SYSTEMS))
        if unknown:
            raise HttpError(
                400, "INVALID_LATENCY", f"latency for unknown systems {unknown}; use {SYSTEMS}"
            )
        by_name = {emu.name: emu for emu in self.emulators}
        for offset, (system, plan) in enumerate(latency.items()):
            by_name[system].set_latency(plan, seed=self.seed + offset)

    # ---- lifecycle

    def start(self) -> EmulatorStack:
        """Start the three servers and load the seed into each; all or nothing."""
        try:
            for emu in self.emulators:
                emu.start(self._ports[emu.name])
                self._started.append(emu)
            self.load_seed()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the servers in reverse start order."""
        while self._started:
            self._started.pop().stop()

    def __enter__(self) -> EmulatorStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def load_seed(self) -> SeedData:
        """Load the seed (generated once, for the B2Connect tenant) into all three emulators.

        Call it after resetting the emulators to get the same starting data again.
        """
        data = self.seed_data or generate(
            self.customers, self.seed, tenant_id=self.b2connect.tenant_id
        )
        self.seed_rejects = []
        self.b2connect.load(data)
        for props in data.hubspot_contacts:
            self._seed("hubspot", "contacts", {"properties": props})
        for props in data.hubspot_companies:
            self._seed("hubspot", "companies", {"properties": props})
        for fields in data.salesforce_accounts:
            self._seed("salesforce", "Account", fields)
        for fields in data.salesforce_contacts:
            self._seed("salesforce", "Contact", fields)
        self.seed_data = data
        return data

    def _seed(self, system: str, obj: str, data: dict[str, Any]) -> None:
        emu: BaseEmulator = self.hubspot if system == "hubspot" else self.salesforce
        try:
            emu.admin_create(obj, data)
        except HttpError as err:
            self.seed_rejects.append((system, obj, err.message))

    # ---- connection details

    @property
    def b2connect_token(self) -> str:
        """The B2Connect service-account token handed out (minted once, valid 24 h)."""
        if self._b2connect_token is None:
            self._b2connect_token = self.b2connect.token_for(lifetime_s=TOKEN_LIFETIME_S)
        return self._b2connect_token

    def state(self) -> dict[str, dict[str, str]]:
        """URLs and credentials of the running emulators."""
        return {
            "b2connect": {
                "url": self.b2connect.url,
                "token": self.b2connect_token,
                "tenant_id": self.b2connect.tenant_id,
                "webhook_secret": self.b2connect.webhook_secret,
            },
            "hubspot": {
                "url": self.hubspot.url,
                "token": self.hubspot.token,
                "app_secret": self.hubspot.app_secret,
            },
            "salesforce": {
                "instance_url": self.salesforce.url,
                "session_id": self.salesforce.session_id,
                "ca_file": self.salesforce.ca_file,
            },
        }

    def env(self) -> dict[str, str]:
        """The ``B2SYNC_*`` variables ``config.yaml`` references, with their values."""
        state = self.state()
        return {var: state[system][key] for var, (system, key) in ENV_VARS.items()}

    def write_state(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`state` as JSON, readable by the owner only."""
        return _write_private(Path(path), json.dumps(self.state(), indent=2) + "\n")

    def write_env(self, path: str | os.PathLike[str]) -> Path:
        """Write ``KEY=value`` lines (shell-quoted) for ``set -a; . FILE``."""
        lines = [f"{k}={shlex.quote(v)}" for k, v in self.env().items()]
        return _write_private(Path(path), "\n".join(lines) + "\n")


def latency_from_env(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``{system: latency}`` of :data:`LATENCY_ENV` (empty when unset)."""
    raw = (os.environ if environ is None else environ).get(LATENCY_ENV, "").strip()
    if not raw:
        return {}
    try:
        value = parse_latency(raw)
    except LatencyError as exc:
        raise HttpError(400, "INVALID_LATENCY", f"{LATENCY_ENV}: {exc}") from exc
    if not isinstance(value, dict):
        raise HttpError(400, "INVALID_LATENCY", f'{LATENCY_ENV}: expected {{"hubspot": 250, ...}}')
    return value


def _write_private(path: Path, text: str) -> Path:
    """Atomically replace ``path`` with ``text``, mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        Path(tmp).chmod(0o600)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
