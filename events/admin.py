"""The event log and outbox in the admin: read-only, whatever the user's permissions."""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import path

from duragraph_site.admin_base import InputFilter, ReadOnlyModelAdmin, pretty_json
from events import projections, store
from events.models import Event, Outbox


class EventSourcedAdmin(ReadOnlyModelAdmin):
    """Admin of an event-sourced read model: an event timeline on each page, and replay.

    Subclasses set ``stream_type`` (the projection's name).
    """

    stream_type: str = ""
    change_form_template = "admin/event_sourced_change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "timeline": _timeline(object_id)}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        opts = self.model._meta
        replay = path(
            "<uuid:object_id>/replay/",
            self.admin_site.admin_view(self.replay_view),
            name=f"{opts.app_label}_{opts.model_name}_replay",
        )
        return [replay, *super().get_urls()]

    def replay_view(self, request, object_id: uuid.UUID) -> TemplateResponse:
        return self.replay_response(request, [object_id])

    @admin.action(description="Replay selected from the event log")
    def replay_selected(self, request, queryset) -> TemplateResponse:
        return self.replay_response(request, list(queryset.values_list("pk", flat=True)))

    def replay_response(self, request, ids: list[uuid.UUID]) -> TemplateResponse:
        """Each aggregate rebuilt from its events alone, and how its read model differs."""
        results = []
        for stream_id in ids:
            result = projections.replay(self.stream_type, stream_id)
            differences = [
                {"field": name, "from_log": pretty_json(left), "read_model": pretty_json(right)}
                for name, (left, right) in result.differences.items()
            ]
            results.append(
                {
                    "id": stream_id,
                    "rebuilt": pretty_json(projections.to_plain(result.from_log)),
                    "differences": differences,
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Replay of {len(results)} {self.stream_type}(s) from the event log",
            "opts": self.model._meta,
            "results": results,
        }
        return TemplateResponse(request, "admin/replay.html", context)


def _timeline(object_id: str) -> list[dict]:
    try:
        events = store.load(uuid.UUID(str(object_id)))
    except ValueError:
        return []
    return [
        {"event": e, "payload": pretty_json(e.payload), "metadata": pretty_json(e.metadata)}
        for e in events
    ]


class StreamFilter(InputFilter):
    title = "stream id"
    parameter_name = "stream"
    lookup = "stream_id"


@admin.register(Event)
class EventAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "stream_type", "stream_id", "version", "type", "created_at")
    list_filter = ("stream_type", "type", StreamFilter)
    search_fields = ("=stream_id", "type")
    ordering = ("-id",)
    fields = (
        "id",
        "stream_type",
        "stream_id",
        "version",
        "type",
        "created_at",
        "payload_json",
        "metadata_json",
    )
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="payload")
    def payload_json(self, event: Event) -> str:
        return pretty_json(event.payload)

    @admin.display(description="metadata")
    def metadata_json(self, event: Event) -> str:
        return pretty_json(event.metadata)

    def get_actions(self, request):
        return {}  # not even "delete selected": events are immutable


class DeliveryFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return (("pending", "pending"), ("failed", "failed (retrying)"), ("published", "published"))

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(published_at__isnull=True)
        if self.value() == "failed":
            return queryset.filter(Q(published_at__isnull=True) & Q(attempts__gt=0))
        if self.value() == "published":
            return queryset.filter(published_at__isnull=False)
        return queryset


@admin.register(Outbox)
class OutboxAdmin(ReadOnlyModelAdmin):
    list_display = (
        "id",
        "subject",
        "event_type",
        "attempts",
        "created_at",
        "published_at",
        "last_error",
    )
    list_filter = (DeliveryFilter,)
    search_fields = ("subject",)
    ordering = ("-id",)
    list_select_related = ("event",)
    show_full_result_count = False

    @admin.display(description="event")
    def event_type(self, row: Outbox) -> str:
        return f"{row.event.type} #{row.event_id}"
