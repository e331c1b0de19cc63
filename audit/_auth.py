"""Who may read the compliance page: a long token, a login form and an HMAC session cookie.

API clients send ``Authorization: Bearer <token>``. Browsers post the token once to
``/login``; the answer sets an HttpOnly, SameSite=Strict cookie holding an expiring HMAC of
the token (never the token itself). The token is never accepted in the URL, where proxies and
access logs would keep it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Mapping
from pathlib import Path

from starlette.requests import Request

from audit.headers import MIN_TOKEN_LENGTH

__all__ = [
    "COOKIE",
    "MIN_TOKEN_LENGTH",
    "SESSION_SECONDS",
    "TOKEN_ENV",
    "TOKEN_FILE_ENV",
    "Gate",
    "TokenError",
    "load_token",
]

SESSION_SECONDS = 8 * 3600
COOKIE = "b2sync_ui_session"
TOKEN_ENV = "B2SYNC_UI_TOKEN"  # noqa: S105  # a variable name, not a secret
TOKEN_FILE_ENV = "B2SYNC_UI_TOKEN_FILE"  # noqa: S105
_HOW = f"e.g. `openssl rand -base64 36` in {TOKEN_ENV} or in a file named by {TOKEN_FILE_ENV}"


class TokenError(ValueError):
    """The UI token is missing, unreadable or too weak."""


def check_token(token: str) -> str:
    """``token`` when it is long enough, else :class:`TokenError`."""
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(
            f"the UI token has {len(token)} characters, at least {MIN_TOKEN_LENGTH} are needed"
            f" ({_HOW})"
        )
    return token


def load_token(token_file: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """The token from ``token_file``, ``$B2SYNC_UI_TOKEN_FILE`` or ``$B2SYNC_UI_TOKEN``.

    Raises:
        TokenError: none is set, the file is unreadable, or the token is too short.
    """
    environ = os.environ if env is None else env
    path = token_file or (Path(environ[TOKEN_FILE_ENV]) if environ.get(TOKEN_FILE_ENV) else None)
    if path is not None:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TokenError(f"cannot read the UI token file {path}: {exc.strerror}") from None
    else:
        token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise TokenError(f"the UI token is not set ({_HOW})")
    return check_token(token)


class Gate:
    """Checks bearer tokens and session cookies against one token (constant-time)."""

    def __init__(self, token: str) -> None:
        self._token = check_token(token).encode()

    def token_ok(self, given: str) -> bool:
        """``given`` is the token."""
        return hmac.compare_digest(given.encode(), self._token)

    def new_session(self, now: float | None = None) -> str:
        """A cookie value: the issue time and an HMAC of it under the token."""
        issued = str(int(time.time() if now is None else now))
        return f"{issued}.{self._sign(issued)}"

    def session_ok(self, value: str, now: float | None = None) -> bool:
        """``value`` was made by :meth:`new_session` less than ``SESSION_SECONDS`` ago."""
        issued, _, mac = value.partition(".")
        if not issued.isdigit() or not hmac.compare_digest(
            mac.encode(), self._sign(issued).encode()
        ):
            return False
        age = (time.time() if now is None else now) - int(issued)
        return 0 <= age < SESSION_SECONDS

    def allows(self, request: Request) -> bool:
        """The request carries the bearer token or a live session cookie."""
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            return self.token_ok(header[7:].strip())
        return self.session_ok(request.cookies.get(COOKIE, ""))

    def _sign(self, issued: str) -> str:
        message = f"b2sync-ui-session:{issued}".encode()
        return hmac.new(self._token, message, hashlib.sha256).hexdigest()
