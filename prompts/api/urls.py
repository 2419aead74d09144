from __future__ import annotations

from django.urls import path

from prompts.api import views

# Mounted under /api/v1/prompts/ only: the DuraGraph SDK's paths (LangGraph has no prompts).
# An id holds '/': ".../versions" is tried first (no id may end with it, prompts.domain).
urlpatterns = [
    path("<path:prompt_id>/versions", views.PromptVersionsApi.as_view()),
    path("<path:prompt_id>", views.PromptApi.as_view()),
]
