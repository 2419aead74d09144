"""Which browser pages may open the WebSockets (cross-site WebSocket hijacking, DNS rebinding).

A browser lets any page open a WebSocket to any host (no CORS for WebSockets) and says which
page did it in the ``Origin`` header. Without a check, a page on another site, open in the
browser of someone who can reach this server (``make dev`` on their laptop, an intranet
deployment), could read every run's events. Comparing ``Origin`` with the request's own ``Host``
is no check at all against DNS rebinding: a page on ``http://evil.example`` whose name the
attacker then points at 127.0.0.1 sends ``Host: evil.example`` and ``Origin:
http://evil.example``, which agree. So both are compared with configuration only:

- the ``Host`` header must be one ``ALLOWED_HOSTS`` names (as for every HTTP request);
- a socket without ``Origin`` is not from a browser (the ``websockets`` library, curl, another
  server) and is accepted;
- otherwise its ``Origin``, scheme included, must be in ``CSRF_TRUSTED_ORIGINS`` (the setting
  Django already uses for the same question about forms; ``https://*.example.com`` covers the
  subdomains), in ``CORS_ALLOWED_ORIGINS`` or match ``CORS_ALLOWED_ORIGIN_REGEXES`` (pages
  trusted to call the API), or be one of the server's own loopback origins: when daphne is
  bound to a loopback address (``manage.py dev``, a server behind a local proxy), the pages it
  serves itself as ``http://localhost:<port>``, ``http://127.0.0.1:<port>`` or
  ``http://[::1]:<port>``, the port being the one daphne listens on (from the socket, not from
  a header).

Anything else is refused before the handshake completes (HTTP 403). A deployment that serves
the dashboard under a public name lists that origin in ``CSRF_TRUSTED_ORIGINS``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

#: The names a loopback server's own pages are reached by.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def origin_allowed(
    origin: str | None,
    trusted: Iterable[str],
    *,
    patterns: Iterable[str] = (),
    own: Iterable[str] = (),
) -> bool:
    """Whether a WebSocket from *origin* (the ``Origin`` header, None when absent) may connect.

    Args:
        origin: the ``Origin`` header, None when absent.
        trusted: origins as ``CSRF_TRUSTED_ORIGINS`` and ``CORS_ALLOWED_ORIGINS`` write them
            (``scheme://host[:port]``; ``scheme://*.domain`` for a domain and its subdomains).
        patterns: regular expressions that must match the whole origin
            (``CORS_ALLOWED_ORIGIN_REGEXES``).
        own: the server's own origins (:func:`loopback_origins`), compared exactly.

    Returns:
        True for no ``Origin`` or one the lists name, scheme included; False otherwise,
        ``null`` (sandboxed pages, ``file://``) and unparsable values included.
    """
    if origin is None:
        return True
    origin = origin.strip()
    parts = urlsplit(origin)
    if not parts.scheme or not parts.netloc:
        return False
    scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
    if f"{scheme}://{netloc}" in {value.lower() for value in own}:
        return True
    for pattern in trusted:
        allowed = urlsplit(pattern.strip())
        domain = allowed.netloc.lower()
        if allowed.scheme.lower() != scheme:
            continue
        if domain.startswith("*."):  # "*.example.com": the domain and its subdomains, as Django
            if is_same_domain(netloc, domain[1:]):
                return True
        elif netloc == domain:
            return True
    return any(re.match(pattern, origin) for pattern in patterns)


def loopback_origins(server: tuple[str, int] | list | None) -> list[str]:
    """The origins of the pages a server bound to *server* (an ASGI ``scope["server"]``, the
    local address of the socket) serves itself: its loopback names with its port, or none
    when it is not bound to a loopback address."""
    if not server or server[1] is None:
        return []
    try:
        loopback = ipaddress.ip_address(str(server[0]).strip("[]")).is_loopback
    except ValueError:
        loopback = server[0] == "localhost"
    if not loopback:
        return []
    return [f"http://{name}:{server[1]}" for name in LOOPBACK_NAMES]


def host_allowed(host: str | None) -> bool:
    """Whether the ``Host`` header names this server (``ALLOWED_HOSTS``, as Django's
    ``HttpRequest.get_host``); a socket without one is not a browser's and is not refused."""
    if host is None:
        return True
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:  # Django's own fallback in DEBUG
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class BrowserOriginGuard:
    """ASGI middleware for the ``websocket`` scope: refuses, with Channels' denier (a 403 to
    the handshake), sockets whose ``Host`` :func:`host_allowed` rejects or whose ``Origin``
    :func:`origin_allowed` rejects against the configured origins."""

    def __init__(self, app: Callable[..., Awaitable[Any]]) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        allowed = host_allowed(_header(scope, b"host")) and origin_allowed(
            _header(scope, b"origin"),
            [*settings.CSRF_TRUSTED_ORIGINS, *settings.CORS_ALLOWED_ORIGINS],
            patterns=settings.CORS_ALLOWED_ORIGIN_REGEXES,
            own=loopback_origins(scope.get("server")),
        )
        if allowed:
            await self.app(scope, receive, send)
        else:
            await WebsocketDenier()(scope, receive, send)
