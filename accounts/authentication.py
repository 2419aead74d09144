"""Who is calling: one DRF authentication class for every API, stream and worker route.

A request proves itself with any of:

- an API key (``dg_...``) in ``x-api-key`` (what ``langgraph-sdk`` sends) or as a bearer token;
- a JWT bearer token, when ``JWT_SECRET`` or ``JWT_JWKS_URL`` is configured (``accounts.tokens``);
- HTTP Basic with a key as the password (or the user name): what httpx sends for a URL with
  userinfo, so the unchanged ``duragraph`` worker SDK pointed at
  ``http://worker:<key>@host:8081`` authenticates without sending a header of its own;
- on the browser paths, a Django session (the admin login), with its CSRF check.

When ``langgraph.json`` names a LangGraph custom auth (``"auth": {"path": ...}``), its
``authenticate`` handler decides instead on the API routes (``accounts.custom_auth``).

With ``AUTH_ENABLED`` false every caller is :data:`~accounts.domain.ANONYMOUS`. The principal
lands in ``request.auth``; its identity and tenant are added to every event the request appends.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import TYPE_CHECKING, Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts import custom_auth, domain, permissions, selectors, tokens
from events import context

if TYPE_CHECKING:
    from rest_framework.request import Request

#: The answer's ``WWW-Authenticate`` (a 401 needs one; DRF answers 403 without it).
CHALLENGE = 'Bearer realm="duragraph"'


def credential_from(meta: dict[str, Any]) -> str | None:
    """The credential in a request's headers (``request.META`` or an ASGI scope's, as
    ``HTTP_*`` keys), else ``None``."""
    if key := meta.get("HTTP_X_API_KEY", "").strip():
        return key
    scheme, _, value = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise domain.CredentialRefused("Malformed Basic credentials") from None
        return password or user or None
    return None


def _static_worker_principal(credential: str) -> domain.Principal | None:
    """``DURAGRAPH_WORKER_API_KEYS``: keys from the environment that only serve workers."""
    keys: list[str] = settings.DURAGRAPH_WORKER_API_KEYS
    # Compared with every key, in constant time: timing tells nothing about the keys.
    matches = [hmac.compare_digest(credential.encode(), key.encode()) for key in keys]
    if not any(matches):
        return None
    return domain.Principal(
        identity=f"worker-key:{matches.index(True)}",
        scopes=frozenset({domain.SCOPE_WORKER}),
        kind="api_key",
        all_tenants=True,
        display_name="DURAGRAPH_WORKER_API_KEYS",
    )


def principal_for(credential: str) -> domain.Principal:
    """The principal a credential proves; raises :class:`~accounts.domain.CredentialRefused`."""
    if domain.split_key(credential) is not None:
        return selectors.principal_for_api_key(credential)
    if (worker := _static_worker_principal(credential)) is not None:
        return worker
    if tokens.configured() and tokens.looks_like_jwt(credential):
        return tokens.principal_for_token(credential)
    raise domain.CredentialRefused("Invalid API key or token")


def principal_for_user(user: Any) -> domain.Principal | None:
    """The principal of a logged-in Django user (the admin session): staff see every tenant."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    return domain.Principal(
        identity=f"user:{user.pk}",
        kind="session",
        all_tenants=user.is_staff,
        display_name=user.get_username(),
    )


def _session_principal(request: Request) -> domain.Principal | None:
    # request.user is set on the browser paths only (their chain has the session middleware).
    principal = principal_for_user(getattr(request._request, "user", None))
    if principal is not None:
        authentication.SessionAuthentication().enforce_csrf(request)
    return principal


def authenticated(request: Request, principal: domain.Principal) -> tuple[None, Any]:
    context.bind_for_request(actor=principal.identity, tenant=principal.tenant)
    return (None, principal)


def _custom_auth_applies(request: Request) -> bool:
    """LangGraph custom auth decides on the API routes; the worker routes keep the worker keys,
    and a user logged in to the admin keeps the session on the browser paths (only their chain
    sets ``request.user``)."""
    view = (request.parser_context or {}).get("view")
    for permission in getattr(view, "permission_classes", ()):
        if issubclass(permission, permissions.HasWorkerScope):
            return False
    user = getattr(request._request, "user", None)
    return not (user is not None and user.is_authenticated)


class CallerAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[None, domain.Principal] | None:
        if (
            settings.AUTH_ENABLED
            and (auth := custom_auth.configured()) is not None  # cached: the cheap test first
            and _custom_auth_applies(request)
        ):
            # As in LangGraph Platform: the authenticate handler replaces keys and tokens.
            return authenticated(request, custom_auth.principal_for_request(auth, request))
        try:
            credential = credential_from(request.META)
            if not settings.AUTH_ENABLED:
                # Only the environment's worker keys still count: they guard the worker routes.
                worker = credential and _static_worker_principal(credential)
                return authenticated(request, worker) if worker else (None, domain.ANONYMOUS)
            if credential is not None:
                return authenticated(request, principal_for(credential))
        except domain.CredentialRefused as refused:
            raise exceptions.AuthenticationFailed(str(refused)) from None
        if (principal := _session_principal(request)) is not None:
            return authenticated(request, principal)
        return None

    def authenticate_header(self, request: Request) -> str:
        return CHALLENGE


def principal_of(request: Request) -> domain.Principal:
    """The caller of an authenticated view (anonymous when authentication is off)."""
    auth = request.auth
    return auth if isinstance(auth, domain.Principal) else domain.ANONYMOUS


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """The credentials in the OpenAPI document, so ``/docs`` (Swagger UI) can authorize.

    Three schemes, any one of which will do: each operation's ``security`` lists them as
    alternatives (``[{"ApiKey": []}, {"Bearer": []}, {"Basic": []}]``), not as one requirement
    naming all three (which OpenAPI reads as "all of them at once").
    """

    target_class = CallerAuthentication
    name = ["ApiKey", "Bearer", "Basic"]

    def get_security_requirement(self, auto_schema):  # noqa: ANN001, ANN201 - drf-spectacular's
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201 - drf-spectacular's
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "x-api-key",
                "description": "An API key (`dg_...`), as `langgraph-sdk` sends it "
                "(`api_key=`, or `LANGGRAPH_API_KEY`).",
            },
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key (`dg_...`) or, when `JWT_SECRET` or `JWT_JWKS_URL` "
                "is configured, a JWT.",
            },
            {
                "type": "http",
                "scheme": "basic",
                "description": "An API key as the password (any user name) or as the user "
                "name: what the `duragraph` worker SDK sends for a control-plane URL with "
                "userinfo (`http://worker:<key>@host:8081`).",
            },
        ]
