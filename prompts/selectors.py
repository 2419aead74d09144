"""Prompt registry reads: one text (a version, a variant, or the latest), a prompt's
versions, and the prompts of a namespace or tag."""

from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery

from accounts.domain import DEFAULT_TENANT
from duragraph_site.errors import NotFound
from prompts import domain
from prompts.models import Prompt, PromptVersion


def prompt_get(
    prompt_id: str,
    *,
    version: str | None = None,
    variant: str | None = None,
    tenant: str = DEFAULT_TENANT,
) -> PromptVersion:
    """The text of *prompt_id* at *version* (the latest when not given) for *variant* (the
    default text when not given), its prompt loaded with it.

    Raises:
        InvalidInput: a malformed id, version or variant.
        NotFound: no such prompt, version or variant (saying which).
    """
    prompt_id = domain.validate_prompt_id(prompt_id)
    version = domain.validate_label(version, "version")
    variant = domain.validate_label(variant, "variant")
    texts = PromptVersion.objects.select_related("prompt").filter(
        prompt__tenant=tenant, prompt__prompt_id=prompt_id, variant=variant or ""
    )
    if version is not None:
        texts = texts.filter(version=version)
    found = texts.order_by("-number").first()
    if found is not None:
        return found
    if not Prompt.objects.filter(tenant=tenant, prompt_id=prompt_id).exists():
        raise NotFound(f"Prompt {prompt_id!r} not found")
    what = " ".join(
        part
        for part in (
            f"version {version!r}" if version is not None else "",
            f"variant {variant!r}" if variant is not None else "",
        )
        if part
    )
    raise NotFound(f"Prompt {prompt_id!r} has no {what}")


def prompt_versions(prompt_id: str, *, tenant: str = DEFAULT_TENANT) -> list[PromptVersion]:
    """Every text of *prompt_id*, oldest first.

    Raises:
        InvalidInput: a malformed id.
        NotFound: no such prompt.
    """
    prompt_id = domain.validate_prompt_id(prompt_id)
    prompt = Prompt.objects.filter(tenant=tenant, prompt_id=prompt_id).first()
    if prompt is None:
        raise NotFound(f"Prompt {prompt_id!r} not found")
    return list(prompt.versions.order_by("number"))


def prompt_list(
    *,
    namespace: str | None = None,
    tag: str | None = None,
    limit: int = 100,
    offset: int = 0,
    tenant: str = DEFAULT_TENANT,
) -> QuerySet[Prompt]:
    """*tenant*'s prompts in *namespace* (and the namespaces under it) carrying *tag*, by id,
    each annotated with ``latest_version`` (its latest default text's label)."""
    prompts = Prompt.objects.filter(tenant=tenant)
    if namespace:
        prompts = prompts.filter(Q(namespace=namespace) | Q(namespace__startswith=f"{namespace}/"))
    if tag:
        prompts = prompts.filter(tags__contains=[tag])
    latest = PromptVersion.objects.filter(prompt=OuterRef("pk"), variant="").order_by("-number")
    return prompts.annotate(latest_version=Subquery(latest.values("version")[:1])).order_by(
        "prompt_id"
    )[offset : offset + limit]
