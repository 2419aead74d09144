"""Optional API keys on the worker routes.

The DuraGraph SDK sends no credentials, so by default the worker routes accept anonymous calls
(bind the server to a private network, as for any control plane). With
``DURAGRAPH_WORKER_API_KEYS`` set, every worker call must carry one of those keys in
``X-Api-Key`` (the header DuraGraph's own clients send) or as ``Authorization: Bearer <key>``;
an SDK that cannot is then refused with 401.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request


class WorkerApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[None, str] | None:
        keys: list[str] = settings.DURAGRAPH_WORKER_API_KEYS
        if not keys:
            return None
        given = request.headers.get("X-Api-Key", "")
        if not given and (bearer := request.headers.get("Authorization", "")):
            scheme, _, token = bearer.partition(" ")
            given = token.strip() if scheme.lower() == "bearer" else ""
        if not given:
            raise exceptions.NotAuthenticated(
                "This server requires a worker API key (X-Api-Key header)"
            )
        # Compare with every key, in constant time, so timing tells nothing about the keys.
        matches = [hmac.compare_digest(given.encode(), key.encode()) for key in keys]
        if not any(matches):
            raise exceptions.AuthenticationFailed("Invalid worker API key")
        return (None, given)

    def authenticate_header(self, request: Request) -> str:
        return 'ApiKey header="X-Api-Key"'


class WorkerApiKeyScheme(OpenApiAuthenticationExtension):
    """The scheme in the OpenAPI document (optional: the routes also take anonymous calls
    while no key is configured)."""

    target_class = WorkerApiKeyAuthentication
    name = "WorkerApiKey"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201 - drf-spectacular's
        return {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
