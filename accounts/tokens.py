"""JWT bearer tokens (PyJWT): HS256 with ``JWT_SECRET``, or RS256/ES256 keys from ``JWT_JWKS_URL``.

Only the configured algorithms are accepted (``alg: none`` and HS/RS confusion never verify),
``exp`` and the identity claim are required, issuer and audience are checked when configured,
with ``JWT_LEEWAY_SECONDS`` of clock skew.

A JWKS is fetched once and kept ``JWT_JWKS_CACHE_SECONDS``: a key removed from the set (rotated
out) stops verifying within that time (no per-key cache keeps it longer). A token signed by a
key the set has not shown yet (rotated in) makes it fetch the set again at once, at most once
per ``JWT_JWKS_COOLDOWN_SECONDS`` (tokens with made-up key ids cannot hammer the identity
provider); no restart either way.
"""

from __future__ import annotations

import functools
from typing import Any

import jwt
from django.conf import settings

from accounts import domain


def configured() -> bool:
    return bool(settings.JWT_SECRET or settings.JWT_JWKS_URL)


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2 and credential.startswith("ey")


@functools.cache
def _jwks_client(url: str, lifespan: float, cooldown: float) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, lifespan=lifespan, cooldown_duration=cooldown, timeout=5)


def jwks_client() -> jwt.PyJWKClient:
    """The process's client of ``JWT_JWKS_URL`` (one per URL and cache settings)."""
    return _jwks_client(
        settings.JWT_JWKS_URL, settings.JWT_JWKS_CACHE_SECONDS, settings.JWT_JWKS_COOLDOWN_SECONDS
    )


def claims_of(token: str) -> dict[str, Any]:
    """The verified claims; raises :class:`~accounts.domain.CredentialRefused`."""
    try:
        if settings.JWT_JWKS_URL:
            key: Any = jwks_client().get_signing_key_from_jwt(token).key
        else:
            key = settings.JWT_SECRET
        return jwt.decode(
            token,
            key,
            algorithms=settings.JWT_ALGORITHMS,
            audience=settings.JWT_AUDIENCE or None,
            issuer=settings.JWT_ISSUER or None,
            leeway=settings.JWT_LEEWAY_SECONDS,
            options={"require": ["exp", settings.JWT_IDENTITY_CLAIM]},
        )
    except jwt.ExpiredSignatureError:
        raise domain.CredentialRefused("The token has expired") from None
    except jwt.PyJWKClientConnectionError:
        raise domain.CredentialRefused("The token's signing keys could not be fetched") from None
    except jwt.PyJWTError as error:
        raise domain.CredentialRefused(f"Invalid token: {error}") from None


def principal_for_token(token: str) -> domain.Principal:
    claims = claims_of(token)
    scopes = claims.get(settings.JWT_SCOPE_CLAIM)
    if isinstance(scopes, str):
        scopes = scopes.split()
    granted = frozenset(scopes or ()) & frozenset(domain.SCOPES) or frozenset({domain.SCOPE_API})
    tenant = claims.get(settings.JWT_TENANT_CLAIM)
    return domain.Principal(
        identity=f"jwt:{claims[settings.JWT_IDENTITY_CLAIM]}",
        tenant=str(tenant) if tenant else domain.DEFAULT_TENANT,
        scopes=granted,
        kind="jwt",
        display_name=str(claims.get("name") or claims[settings.JWT_IDENTITY_CLAIM]),
    )
