"""Commands on API keys: the admin (``accounts.admin``) and ``manage.py apikey`` call these."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts import domain, selectors
from accounts.models import ApiKey
from duragraph_site.errors import InvalidInput, NotFound


def create_api_key(
    *,
    name: str,
    tenant: str = domain.DEFAULT_TENANT,
    scopes: Iterable[str] = (domain.SCOPE_API,),
    all_tenants: bool = False,
    owner: Any = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its plaintext, which is shown once and never stored."""
    scopes = sorted(set(scopes))
    if unknown := set(scopes) - set(domain.SCOPES):
        raise InvalidInput(f"unknown scopes {sorted(unknown)}; known: {list(domain.SCOPES)}")
    if not scopes:
        raise InvalidInput("a key needs at least one scope")
    if not name.strip() or not tenant.strip():
        raise InvalidInput("a key needs a name and a tenant")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("expires_at is in the past: the key would never work")
    new = domain.generate_key()
    key = ApiKey.objects.create(
        name=name.strip(),
        prefix=new.prefix,
        digest=new.digest,
        tenant=tenant.strip(),
        scopes=scopes,
        all_tenants=all_tenants,
        owner=owner,
        expires_at=expires_at,
    )
    return key, new.plaintext


@transaction.atomic
def revoke_api_key(prefix: str) -> ApiKey:
    """Revoke a key for good (idempotent: a revoked key keeps its first ``revoked_at``).

    This process forgets it at once; others within ``API_KEY_CACHE_SECONDS``.
    """
    key = ApiKey.objects.select_for_update().filter(prefix=domain.prefix_of(prefix)).first()
    if key is None:
        raise NotFound(f"API key dg_{domain.prefix_of(prefix)}_… not found")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    # Now, and again once committed: a request of this process that read the key between the
    # two (before the revocation was visible) must not keep it cached for the TTL.
    selectors.forget_cached_keys()
    transaction.on_commit(selectors.forget_cached_keys)
    return key
