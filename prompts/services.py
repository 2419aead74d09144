"""Prompt registry writes: a new prompt (with its first version), a new version. Each is one
transaction that validates its input first (``prompts.domain``): bad input is a 422, a prompt
id taken a 409, a version label taken a 409, and nothing is written."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.domain import DEFAULT_TENANT
from duragraph_site.errors import Conflict, NotFound
from prompts import domain
from prompts.models import Prompt, PromptVersion


def prompt_create(
    *,
    prompt_id: str,
    content: str,
    description: str = "",
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    version: str | None = None,
    tenant: str = DEFAULT_TENANT,
) -> PromptVersion:
    """Register *prompt_id* with its first text (version *version*, else ``1``).

    Raises:
        InvalidInput: a malformed id, label, content, tags or metadata.
        Conflict: *tenant* has a prompt *prompt_id* already.
    """
    prompt_id = domain.validate_prompt_id(prompt_id)
    content = domain.validate_content(content)
    tags = domain.validate_tags(tags)
    metadata = domain.validate_metadata(metadata)
    version = domain.validate_label(version, "version")
    now = timezone.now()
    try:
        with transaction.atomic():
            prompt = Prompt.objects.create(
                tenant=tenant,
                prompt_id=prompt_id,
                namespace=domain.namespace_of(prompt_id),
                description=description or "",
                tags=tags,
                metadata=metadata,
                created_at=now,
                updated_at=now,
            )
            return _add_version(prompt, 1, content, version, None, "", now)
    except IntegrityError:
        raise Conflict(f"Prompt {prompt_id!r} already exists; add a version to it") from None


def prompt_version_create(
    *,
    prompt_id: str,
    content: str,
    change_log: str = "",
    version: str | None = None,
    variant: str | None = None,
    tenant: str = DEFAULT_TENANT,
) -> PromptVersion:
    """Add a text to *prompt_id*: its next version (labelled *version*, else its number), or a
    *variant* of a version (of the latest one when *version* is not given).

    Raises:
        InvalidInput: a malformed id, content or label.
        NotFound: *tenant* has no prompt *prompt_id*.
        Conflict: that version (and variant) exists already: versions never change.
    """
    prompt_id = domain.validate_prompt_id(prompt_id)
    content = domain.validate_content(content)
    version = domain.validate_label(version, "version")
    variant = domain.validate_label(variant, "variant")
    now = timezone.now()
    with transaction.atomic():
        # The prompt's row lock orders concurrent additions: each gets the next number.
        prompt = (
            Prompt.objects.select_for_update().filter(tenant=tenant, prompt_id=prompt_id).first()
        )
        if prompt is None:
            raise NotFound(f"Prompt {prompt_id!r} not found")
        versions = prompt.versions.order_by("-number")
        number = versions.values_list("number", flat=True).first() + 1
        if version is None:
            latest = versions.filter(variant="").values_list("version", flat=True).first()
            version = latest if variant is not None else str(number)
        if prompt.versions.filter(version=version, variant=variant or "").exists():
            what = f"version {version}" + (f" variant {variant}" if variant else "")
            raise Conflict(f"Prompt {prompt_id!r} has {what} already; versions never change")
        prompt.updated_at = now
        prompt.save(update_fields=["updated_at"])
        return _add_version(prompt, number, content, version, variant, change_log, now)


def _add_version(
    prompt: Prompt,
    number: int,
    content: str,
    version: str | None,
    variant: str | None,
    change_log: str,
    now: Any,
) -> PromptVersion:
    return PromptVersion.objects.create(
        prompt=prompt,
        number=number,
        version=version or str(number),
        variant=variant or "",
        content=content,
        change_log=change_log or "",
        created_at=now,
    )
