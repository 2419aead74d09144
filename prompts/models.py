"""The prompt registry (the DuraGraph SDK's ``PromptStore``): prompts and their versions.

A prompt's versions are immutable and never deleted: PostgreSQL refuses to change them
(``append_only``), so ``version="3"`` always means the text it meant when a graph was written
against it. Not event-sourced (plain state, like the store; docs/prompts.md).
"""

from __future__ import annotations

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models


class Prompt(models.Model):
    id = models.BigAutoField(primary_key=True)
    #: Its tenant: each tenant has a registry of its own (docs/tenants.md).
    tenant = models.CharField(max_length=255, default="default")
    #: A path, e.g. ``support/classify_intent``.
    prompt_id = models.TextField()
    #: What comes before its last ``/`` (``support``), for listing by namespace.
    namespace = models.TextField(blank=True, default="")
    description = models.TextField(blank=True, default="")
    tags = ArrayField(models.TextField(), default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    #: When its last version was added.
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "prompt_id"], name="prompt_tenant_id_uniq"),
        ]
        indexes = [
            models.Index(fields=["tenant", "namespace"], name="prompt_tenant_namespace_idx"),
            GinIndex(fields=["tags"], name="prompt_tags_gin"),
        ]

    def __str__(self) -> str:
        return self.prompt_id


class PromptVersion(models.Model):
    """One immutable text of a prompt: a version (and a variant of it, for A/B tests)."""

    id = models.BigAutoField(primary_key=True)
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="versions")
    #: The order versions were added in (1, 2...): the latest is the highest.
    number = models.PositiveIntegerField()
    #: Its label: the caller's (``2.1.0``) or its number.
    version = models.CharField(max_length=64)
    #: "" for the version's default text; else the A/B variant it is.
    variant = models.CharField(max_length=64, blank=True, default="")
    content = models.TextField()
    change_log = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prompt", "number"], name="prompt_version_number_uniq"),
            models.UniqueConstraint(
                fields=["prompt", "version", "variant"], name="prompt_version_label_uniq"
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"v{self.version} ({self.variant})" if self.variant else f"v{self.version}"
