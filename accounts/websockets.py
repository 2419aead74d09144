"""Who is on the other end of a WebSocket: the handshake authenticated as every HTTP request is.

A socket proves itself, before it is accepted, with:

- an API key (``dg_...``) in ``x-api-key``, or ``Authorization: Bearer`` with a key or (when
  configured) a JWT, or ``Authorization: Basic`` with a key as the password: the same headers,
  read by the same functions (:func:`accounts.authentication.credential_from` and
  :func:`~accounts.authentication.principal_for`) as :class:`CallerAuthentication`. Clients
  that are not browsers (the ``websockets`` library, another server) send them;
- the Django session cookie of a user logged in to the admin: what a browser page sends, since
  a page's JavaScript cannot add headers to a WebSocket. (Cross-site pages never get that far:
  ``duragraph_site.origins.BrowserOriginGuard`` runs first, and the session cookie is
  ``SameSite=Lax``.)

When ``langgraph.json`` names a LangGraph custom auth, its ``authenticate`` handler decides
instead (:func:`accounts.custom_auth.principal_for_scope`), as on the API routes; a user
logged in to the admin keeps the session (the dashboard's pages). The reading of a scope's
credentials is :func:`accounts.scope_auth.authenticate`, shared with custom routes.

The principal lands in ``scope["principal"]`` (:data:`accounts.domain.ANONYMOUS` when
``AUTH_ENABLED`` is off), for consumers to scope what they stream by its tenant. A socket
without a credential, with one that does not authenticate (unknown, revoked, expired, badly
signed), or whose principal lacks the ``api`` scope (a worker-only key) is refused **before
the handshake completes**: Channels' denier closes it unaccepted and daphne answers the
handshake with **HTTP 403**, the refusal ``BrowserOriginGuard`` gives too. A browser shows no
reason for either (it never does for a failed handshake); the server log says which.
A close code (4401/4403) after accepting was not chosen: accepting first would let an
unauthenticated client hold an open socket, and a consumer could send before the close.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import WebsocketDenier

from accounts import domain
from accounts.scope_auth import authenticate

logger = logging.getLogger(__name__)


class PrincipalMiddleware:
    """ASGI middleware for the ``websocket`` scope: puts the caller in ``scope["principal"]``
    or refuses the handshake (HTTP 403). Needs ``scope["user"]`` from Channels'
    ``AuthMiddleware`` for sessions: wrap with :func:`AuthenticatedStack`."""

    def __init__(self, app: Callable[..., Awaitable[Any]]) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        try:
            principal = await authenticate(scope)
        except domain.CredentialRefused as refused:
            logger.info("WebSocket %s refused: %s", scope.get("path"), refused)
            await WebsocketDenier()(scope, receive, send)
            return
        await self.app({**scope, "principal": principal}, receive, send)


def AuthenticatedStack(app: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:  # noqa: N802 - as Channels' AuthMiddlewareStack
    """Cookies, the Django session and user (Channels' ``AuthMiddlewareStack``), then
    :class:`PrincipalMiddleware` around *app*."""
    return AuthMiddlewareStack(PrincipalMiddleware(app))
