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
logged in to the admin keeps the session (the dashboard's pages).

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
from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from rest_framework import exceptions

from accounts import custom_auth, domain
from accounts.authentication import credential_from, principal_for, principal_for_user

logger = logging.getLogger(__name__)

#: The ASGI headers :func:`credential_from` reads, as the ``request.META`` keys it expects.
_HEADERS = {b"x-api-key": "HTTP_X_API_KEY", b"authorization": "HTTP_AUTHORIZATION"}


def _meta(scope: dict) -> dict[str, str]:
    meta: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if (key := _HEADERS.get(name.lower())) is not None and key not in meta:
            meta[key] = value.decode("latin-1")
    return meta


@database_sync_to_async
def _principal_for(credential: str) -> domain.Principal:
    return principal_for(credential)  # queries the keys (and may fetch a JWKS): off the loop


@database_sync_to_async
def _custom_principal(auth: Any, scope: dict) -> domain.Principal:
    """The custom ``authenticate`` handler's principal (it may block: off the loop)."""
    try:
        return custom_auth.principal_for_scope(auth, scope)
    except exceptions.APIException as refused:  # 401, 403 or the handler's own status
        raise domain.CredentialRefused(
            f"the authenticate handler refused ({refused.status_code}): {refused.detail}"
        ) from None


async def authenticate(scope: dict) -> domain.Principal:
    """The principal of a handshake; raises :class:`~accounts.domain.CredentialRefused`."""
    if not settings.AUTH_ENABLED:
        return domain.ANONYMOUS
    session = principal_for_user(scope.get("user"))
    if session is None and (auth := custom_auth.configured()) is not None:
        # As on the API routes: LangGraph custom auth replaces keys and tokens; a user logged
        # in to the admin keeps the session (the dashboard's pages).
        return await _custom_principal(auth, scope)
    credential = credential_from(_meta(scope))
    if credential is not None:
        principal = await _principal_for(credential)
    elif (principal := session) is None:
        raise domain.CredentialRefused("No credentials: x-api-key, Authorization or a session")
    if not principal.may(domain.SCOPE_API):
        raise domain.CredentialRefused(f"{principal.identity} lacks the 'api' scope")
    return principal


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
