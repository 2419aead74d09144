from __future__ import annotations

from django.urls import path

from assistants.api import views

urlpatterns = [
    path("assistants", views.AssistantCreateApi.as_view()),
    path("assistants/search", views.AssistantSearchApi.as_view()),
    path("assistants/count", views.AssistantCountApi.as_view()),
    path("assistants/<str:assistant_id>", views.AssistantDetailApi.as_view()),
    path("assistants/<str:assistant_id>/graph", views.AssistantGraphApi.as_view()),
    path("assistants/<str:assistant_id>/schemas", views.AssistantSchemasApi.as_view()),
    path("assistants/<str:assistant_id>/subgraphs", views.AssistantSubgraphsApi.as_view()),
    path(
        "assistants/<str:assistant_id>/subgraphs/<str:namespace>",
        views.AssistantSubgraphsInNamespaceApi.as_view(),
    ),
    path("assistants/<str:assistant_id>/versions", views.AssistantVersionsApi.as_view()),
    path("assistants/<str:assistant_id>/latest", views.AssistantSetLatestApi.as_view()),
]
