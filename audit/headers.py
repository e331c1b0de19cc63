"""Security headers on every HTTP response (ASGI middleware), errors and 404s included.

Used by the compliance page and by the daemon's HTTP server: nothing is cached, nothing may
frame the page, the browser sniffs no types and sends no referrer, and a Content-Security-Policy
allows only what the page needs (no script at all). Also the one minimum token length.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["API_CSP", "MIN_TOKEN_LENGTH", "SecurityHeaders", "security_headers"]

#: the shortest bearer token any of our HTTP surfaces should accept (the UI refuses shorter)
MIN_TOKEN_LENGTH = 32

#: CSP for JSON and text endpoints: nothing may load, nothing may frame them
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def security_headers(csp: str) -> list[tuple[bytes, bytes]]:
    """The raw header pairs added to every response."""
    return [
        (b"cache-control", b"no-store"),
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]


class SecurityHeaders:
    """Adds :func:`security_headers` to each ``http.response.start`` (replacing same names)."""

    def __init__(self, app: ASGIApp, csp: str = API_CSP) -> None:
        self.app = app
        self._headers = security_headers(csp)
        self._names = {name for name, _ in self._headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in self._names
                ]
                message = {**message, "headers": kept + self._headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
