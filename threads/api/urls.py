from __future__ import annotations

from django.urls import path

from threads.api import views

urlpatterns = [
    path("threads", views.ThreadCreateApi.as_view()),
    path("threads/search", views.ThreadSearchApi.as_view()),
    path("threads/count", views.ThreadCountApi.as_view()),
    path("threads/prune", views.ThreadPruneApi.as_view()),
    path("threads/<str:thread_id>", views.ThreadDetailApi.as_view()),
    path("threads/<str:thread_id>/copy", views.ThreadCopyApi.as_view()),
]
