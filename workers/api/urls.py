from __future__ import annotations

from django.urls import path

from workers.api import views

# Mounted under /api/v1/workers/ only: the DuraGraph SDK's paths (LangGraph has no workers API).
urlpatterns = [
    path("register", views.WorkerRegisterApi.as_view()),
    path("", views.WorkerListApi.as_view()),
    path("graphs/<str:graph_id>", views.WorkerGraphApi.as_view()),
    path("logs", views.WorkerLogsApi.as_view()),  # before <worker_id>: not a worker
    path("<str:worker_id>", views.WorkerDetailApi.as_view()),
    path("<str:worker_id>/heartbeat", views.WorkerHeartbeatApi.as_view()),
    path("<str:worker_id>/poll", views.WorkerPollApi.as_view()),
    path("<str:worker_id>/events", views.WorkerEventsApi.as_view()),
    path("<str:worker_id>/deregister", views.WorkerDeregisterApi.as_view()),
]
