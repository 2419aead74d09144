"""Admin building blocks: read-only model admins for projections, a text filter, JSON display.

Read models change only through services, and events never change, so every model admin in
this project is read-only; operations are admin *actions* that call services.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import admin
from django.utils.html import format_html


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """View-only: no add, change or delete through the admin, ever."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class InputFilter(admin.SimpleListFilter):
    """A list filter with a text box (for ids, where a list of choices would be endless)."""

    template = "admin/input_filter.html"
    #: The ORM lookup the typed value is matched against.
    lookup: str = ""

    def lookups(self, request, model_admin):
        return ((None, None),)  # Django only shows filters that have choices

    def choices(self, changelist):
        # Keep the other filters' parameters when this one is submitted.
        query = changelist.get_filters_params()
        query.pop(self.parameter_name, None)
        yield {
            "query_parts": [
                (k, v)
                for k, values in query.items()
                for v in (values if isinstance(values, list) else [values])
            ]
        }

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        if not value:
            return queryset
        try:
            return queryset.filter(**{self.lookup: uuid.UUID(value)})
        except ValueError:
            return queryset.none()


def pretty_json(value: Any) -> str:
    return format_html(
        "<pre style='white-space: pre-wrap; margin: 0'>{}</pre>",
        json.dumps(value, indent=2, sort_keys=True, default=str),
    )
