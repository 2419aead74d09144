"""Store items in the admin: read-only, searchable by namespace path and key."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q

from duragraph_site.admin_base import ReadOnlyModelAdmin, pretty_json
from store.models import Item


@admin.register(Item)
class ItemAdmin(ReadOnlyModelAdmin):
    list_display = ("namespace_path", "key", "created_at", "updated_at", "expires_at")
    search_fields = ("key",)
    search_help_text = "A key, or a namespace path (labels joined with '.') or its prefix."
    ordering = ("namespace", "key")
    fields = (
        "namespace_path",
        "key",
        "ttl",
        "expires_at",
        "created_at",
        "updated_at",
        "value_json",
    )
    readonly_fields = fields

    @admin.display(description="namespace", ordering="namespace")
    def namespace_path(self, item: Item) -> str:
        return ".".join(item.namespace)

    @admin.display(description="value")
    def value_json(self, item: Item) -> str:
        return pretty_json(item.value)

    def get_search_results(self, request, queryset, search_term):
        """Keys match by substring; a dotted term also matches namespaces label by label as a
        prefix (``users.ada`` finds ``users.ada.memories`` but not ``users.adam``)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if "\x00" in term:  # PostgreSQL text cannot hold NUL; nothing can match it
            return queryset.none(), False
        condition = Q(key__icontains=term)
        if labels := [label for label in term.split(".") if label]:
            condition |= Q(**{f"namespace__0_{len(labels)}": labels})
        return queryset.filter(condition), False
