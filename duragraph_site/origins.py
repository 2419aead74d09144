"""Which browser pages may open the WebSockets (cross-site WebSocket hijacking).

A browser lets any page open a WebSocket to any host (no CORS for WebSockets) and says which
page did it in the ``Origin`` header. Without a check, a page on another site, open in the
browser of someone who can reach this server (``make dev`` on their laptop, an intranet
deployment), could read every run's events. So a socket is accepted when:

- it has no ``Origin`` (not a browser: the ``websockets`` library, curl, another server);
- its ``Origin`` is this server as the browser reached it (the origin's host and port equal the
  ``Host`` header): the dashboard's own pages;
- its ``Origin`` is in ``CSRF_TRUSTED_ORIGINS`` (the setting Django already uses for the same
  question about forms; ``https://*.example.com`` covers the subdomains).

Anything else is refused before the handshake completes (HTTP 403).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.utils.http import is_same_domain


def origin_allowed(origin: str | None, host: str | None, trusted: Iterable[str]) -> bool:
    """Whether a WebSocket from *origin* (the ``Origin`` header, None when absent) may connect
    to the server reached as *host* (the ``Host`` header), given the trusted origins."""
    if origin is None:
        return True
    parts = urlsplit(origin.strip())
    if not parts.scheme or not parts.netloc:
        return False  # "null" (sandboxed pages, file://) and garbage
    netloc = parts.netloc.lower()
    if host is not None and netloc == host.strip().lower():
        return True
    for pattern in trusted:
        allowed = urlsplit(pattern)
        domain = allowed.netloc.lower().lstrip("*")  # "*.example.com": subdomains, as Django
        if allowed.scheme == parts.scheme and is_same_domain(netloc, domain):
            return True
    return False


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class BrowserOriginGuard:
    """ASGI middleware for the ``websocket`` scope: refuses sockets whose origin
    :func:`origin_allowed` rejects, with Channels' denier (a 403 to the handshake)."""

    def __init__(self, app: Callable[..., Awaitable[Any]]) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        origin, host = _header(scope, b"origin"), _header(scope, b"host")
        if origin_allowed(origin, host, settings.CSRF_TRUSTED_ORIGINS):
            await self.app(scope, receive, send)
        else:
            await WebsocketDenier()(scope, receive, send)
