"""Queries: the principal behind a presented API key, remembered briefly per process."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from accounts import domain
from accounts.models import ApiKey

#: ``last_used_at`` is written at most this often per key and process (not on every request).
LAST_USE_RESOLUTION = timedelta(seconds=60)
#: Cached principals per process; the cache is emptied when it grows past this.
CACHE_LIMIT = 10_000

_cache: dict[str, tuple[float, domain.Principal]] = {}


def principal_for_api_key(presented: str) -> domain.Principal:
    """The principal of a ``dg_...`` key; raises :class:`~accounts.domain.CredentialRefused`.

    A valid key is remembered for ``API_KEY_CACHE_SECONDS`` (bounded by its expiry), so most
    requests cost no query; revocation reaches every process within that time.
    """
    cache_key = hashlib.sha256(presented.encode()).hexdigest()
    now = time.monotonic()
    if (hit := _cache.get(cache_key)) is not None and hit[0] > now:
        return hit[1]
    parts = domain.split_key(presented)
    if parts is None:
        raise domain.CredentialRefused("Invalid API key")
    prefix, secret = parts
    key = ApiKey.objects.filter(prefix=prefix).first()
    if key is None or not domain.secret_matches(secret, key.digest):
        raise domain.CredentialRefused("Invalid API key")
    wall = timezone.now()
    if key.revoked_at is not None:
        raise domain.CredentialRefused("This API key was revoked")
    if key.expires_at is not None and key.expires_at <= wall:
        raise domain.CredentialRefused("This API key has expired")
    if key.last_used_at is None or wall - key.last_used_at >= LAST_USE_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=wall)
    principal = domain.Principal(
        identity=key.identity,
        tenant=key.tenant,
        scopes=frozenset(key.scopes),
        kind="api_key",
        all_tenants=key.all_tenants,
        display_name=key.name,
    )
    ttl = settings.API_KEY_CACHE_SECONDS
    if key.expires_at is not None:
        ttl = min(ttl, (key.expires_at - wall).total_seconds())
    if len(_cache) >= CACHE_LIMIT:
        _cache.clear()
    _cache[cache_key] = (now + ttl, principal)
    return principal


def api_keys(*, include_revoked: bool = True) -> QuerySet[ApiKey]:
    """Every key, newest first, with its owner (for lists: the admin, ``manage.py apikey``)."""
    keys = ApiKey.objects.select_related("owner").order_by("-created_at")
    return keys if include_revoked else keys.filter(revoked_at__isnull=True)


def forget_cached_keys() -> None:
    """Drop every remembered key (tests, and after a revocation in this process)."""
    _cache.clear()
