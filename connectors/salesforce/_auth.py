"""Getting a simple-salesforce client: a given session id, or an OAuth login.

``session``: the session id comes from a secret (``${file:...}`` or ``${ENV}``); when
Salesforce says it expired, the secret is resolved again and, if someone rotated it, the
client is rebuilt once. ``client_credentials`` and ``jwt`` use simple-salesforce's own login
(``consumer_key``/``consumer_secret`` against ``https://{domain}.salesforce.com``, or the JWT
bearer flow with ``username``/``consumer_key``/``privatekey``); the instance comes from the
token response, so ``instance_url`` is only used in session mode. The connection's
``instance_url`` is deliberately not passed to the JWT login: simple-salesforce would use it
as the token host prefix (``https://{instance_url}.salesforce.com``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jwt
import requests
import structlog
from simple_salesforce.api import Salesforce

from connectors.base import SecretResolver
from connectors.errors import Fatal
from mapping.config import is_reference

__all__ = ["AuthSettings", "Authenticator", "resolve_secret"]

log = structlog.get_logger(__name__)

Method = Literal["session", "client_credentials", "jwt"]


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """How to authenticate; secret-bearing fields hold references (or literals in tests)."""

    method: Method
    instance_url: str
    api_version: str = "59.0"
    session_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    username: str | None = None
    private_key: str | None = None
    domain: str = "login"

    @property
    def version(self) -> str:
        """The API version without a leading ``v``, as simple-salesforce wants it."""
        return self.api_version.removeprefix("v")

    @property
    def login_domain(self) -> str:
        """``domain`` as simple-salesforce's ``https://{domain}.salesforce.com`` expects it."""
        host = self.domain.removeprefix("https://").removeprefix("http://").rstrip("/")
        return host.removesuffix(".salesforce.com")


def resolve_secret(secrets: SecretResolver, value: str | None, what: str) -> str:
    """``secrets(value)``; a missing value or a resolver failure is :class:`Fatal`."""
    if value is None:
        raise Fatal(f"Salesforce auth needs {what}; set it in the connection's auth block")
    try:
        return secrets(value)
    except Exception as exc:  # any resolver failure means "cannot read the secret"
        raise Fatal(f"cannot resolve the Salesforce {what}: {exc}", code="SECRET") from exc


class Authenticator:
    """Builds logged-in clients and decides whether an expired session can be renewed."""

    def __init__(
        self, settings: AuthSettings, secrets: SecretResolver, session: requests.Session
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.session = session
        self._session_id: str | None = None
        if settings.method == "session":
            self._session_id = resolve_secret(secrets, settings.session_id, "session id")
        elif settings.method == "client_credentials" and self.settings.login_domain in {
            "login",
            "test",
        }:
            raise Fatal(
                "Salesforce client_credentials login needs auth.domain set to the org's My "
                "Domain (e.g. 'acme.my'); 'login' and 'test' do not issue such tokens",
                code="CONFIG",
            )
        else:
            self._check_oauth()

    def _check_oauth(self) -> None:
        needed: tuple[str, ...] = ("client_id", "client_secret")
        if self.settings.method == "jwt":
            needed = ("client_id", "username", "private_key")
        for name in needed:
            resolve_secret(self.secrets, getattr(self.settings, name), name.replace("_", " "))

    def login(self) -> Salesforce:
        """A ready client (OAuth modes log in now; the session mode makes no call)."""
        s = self.settings
        if s.method == "session":
            assert self._session_id is not None
            return Salesforce(
                instance_url=s.instance_url,
                session_id=self._session_id,
                version=s.version,
                session=self.session,
            )
        client_id = resolve_secret(self.secrets, s.client_id, "client id")
        if s.method == "client_credentials":
            return Salesforce(
                consumer_key=client_id,
                consumer_secret=resolve_secret(self.secrets, s.client_secret, "client secret"),
                domain=s.login_domain,
                version=s.version,
                session=self.session,
            )
        try:
            return Salesforce(
                username=resolve_secret(self.secrets, s.username, "username"),
                consumer_key=client_id,
                privatekey=resolve_secret(self.secrets, s.private_key, "private key"),
                domain=s.login_domain,
                version=s.version,
                session=self.session,
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise Fatal(
                "the Salesforce JWT private key cannot sign a login assertion "
                f"({type(exc).__name__}); put the connected app's PEM private key in the "
                "auth.private_key secret",
                code="CONFIG",
            ) from exc

    def renew(self) -> bool:
        """After INVALID_SESSION_ID: True if the next :meth:`login` may succeed."""
        if self.settings.method != "session":
            log.info("salesforce.relogin", method=self.settings.method)
            return True
        fresh = resolve_secret(self.secrets, self.settings.session_id, "session id")
        if fresh == self._session_id:
            return False
        self._session_id = fresh
        log.info("salesforce.session_rotated")
        return True

    def expired_message(self) -> str:
        """What to do when the session cannot be renewed."""
        if self.settings.method == "session":
            ref = self.settings.session_id or ""
            where = f" {ref}" if is_reference(ref) else ""  # never print a literal token
            return (
                f"Salesforce session expired; the session id secret{where} still holds the "
                "expired one. Write a fresh session id to it (b2sync re-reads it on expiry), "
                "or switch auth.method to client_credentials or jwt so b2sync can log in by "
                "itself"
            )
        return (
            "Salesforce session expired again right after a fresh login; check the connected "
            "app's session policies and that the integration user is active"
        )
