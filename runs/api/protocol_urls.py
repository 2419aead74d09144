"""Protocol v2's routes (``runs.api.protocol``): a group of their own, which ``langgraph.json``'s
``http.disable_event_streaming`` removes (and ``disable_runs``: they create runs)."""

from __future__ import annotations

from django.urls import path

from runs.api import protocol

urlpatterns = [
    path("threads/<str:thread_id>/stream/events", protocol.ThreadEventStreamApi.as_view()),
    path("threads/<str:thread_id>/commands", protocol.ThreadCommandsApi.as_view()),
]
