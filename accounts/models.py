"""The tables accounts owns: API keys (stored hashed; the plaintext is shown once)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from accounts.domain import DEFAULT_TENANT, SCOPE_API


def _default_scopes() -> list[str]:
    return [SCOPE_API]


class ApiKey(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, help_text="What the key is for.")
    #: Public half of the key (``dg_<prefix>_...``): finds the row; shown in lists.
    prefix = models.CharField(max_length=32, unique=True, editable=False)
    #: SHA-256 of the secret half.
    digest = models.CharField(max_length=64, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="api_keys",
        help_text="The person accountable for the key (optional).",
    )
    tenant = models.CharField(max_length=200, default=DEFAULT_TENANT)
    scopes = ArrayField(models.CharField(max_length=32), default=_default_scopes)
    #: Sees every tenant's objects (operator tooling, remote workers).
    all_tenants = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (dg_{self.prefix}_…)"

    @property
    def identity(self) -> str:
        return f"apikey:{self.prefix}"
