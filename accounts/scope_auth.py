"""Who is calling, from an ASGI scope rather than a Django request: a WebSocket handshake
(:mod:`accounts.websockets`) or a request to one of ``langgraph.json``'s ``http.app`` routes
when ``http.enable_custom_route_auth`` puts them behind our authentication
(``duragraph_site.custom_app``).

The same credentials as every API request, read by the same functions: an API key
(``dg_...``) in ``x-api-key``, ``Authorization: Bearer`` with a key or (when configured) a JWT,
``Authorization: Basic`` with a key as the password (:func:`accounts.authentication.
credential_from`, :func:`~accounts.authentication.principal_for`); the Django session of a
user logged in to the admin when the scope carries one (Channels' ``AuthMiddleware``). When
``langgraph.json`` names a LangGraph custom auth, its ``authenticate`` handler decides instead
(:func:`accounts.custom_auth.principal_for_scope`), as on the API routes.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from rest_framework import exceptions

from accounts import custom_auth, domain
from accounts.authentication import credential_from, principal_for, principal_for_user

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
            f"the authenticate handler refused ({refused.status_code}): {refused.detail}",
            status=401 if refused.status_code == 401 else 403,
        ) from None


async def authenticate(scope: dict) -> domain.Principal:
    """The principal of *scope*; raises :class:`~accounts.domain.CredentialRefused` (status
    401 without a credential or with one that does not authenticate, 403 for a principal
    without the ``api`` scope or a custom handler's refusal other than 401)."""
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
        raise domain.CredentialRefused(f"{principal.identity} lacks the 'api' scope", status=403)
    return principal


def route_user(principal: domain.Principal) -> custom_auth.User:
    """The ``request.user`` a Starlette route gets (LangGraph's ``ProxyUser``): the custom
    handler's own user, else one made of the principal (``identity``, ``display_name``,
    ``permissions``, ``tenant``; not authenticated when authentication is off)."""
    if principal.user is not None:
        return principal.user
    return custom_auth.User(
        {
            "identity": principal.identity,
            "display_name": principal.display_name or principal.identity,
            "is_authenticated": principal.is_authenticated,
            "permissions": list(principal.permissions),
            "tenant": principal.tenant,
        }
    )
