"""workflow-graph's routes under ``/api/`` (and ours beside them)."""

from __future__ import annotations

from django.urls import path

from workflows.api import views

urlpatterns = [
    path("workflows", views.WorkflowListApi.as_view()),
    path("workflows/<str:workflow_id>/status", views.WorkflowStatusApi.as_view()),
    path("workflows/<str:workflow_id>/run", views.WorkflowRunApi.as_view()),
    path("workflows/<str:workflow_id>/cancel", views.WorkflowCancelApi.as_view()),
    path("workflows/<str:workflow_id>/runs", views.WorkflowRunsApi.as_view()),
    path("workflows/<str:workflow_id>/runs/<str:run_id>", views.WorkflowRunDetailApi.as_view()),
    path("workflows/<str:workflow_id>/jobs/<str:job_id>/logs", views.JobLogsApi.as_view()),
    path(
        "workflows/<str:workflow_id>/jobs/<str:job_id>/logs/stream",
        views.JobLogStreamApi.as_view(),
    ),
    path("workers", views.WorkerListApi.as_view()),
    path("workers/register", views.WorkerRegisterApi.as_view()),
    path("workers/<str:worker_id>/heartbeat", views.WorkerHeartbeatApi.as_view()),
    path("jobs/claim", views.JobClaimApi.as_view()),
    path("jobs/complete", views.LeasesCompleteApi.as_view()),
    path("jobs/<str:lease_id>/heartbeat", views.LeaseHeartbeatApi.as_view()),
    path("jobs/<str:lease_id>/complete", views.LeaseCompleteApi.as_view()),
    path("jobs/<str:lease_id>/fail", views.LeaseFailApi.as_view()),
    path("jobs/<str:lease_id>/logs", views.LeaseLogsApi.as_view()),
    path("jobs/<str:workflow_id>/<str:job_id>/cancelled", views.JobCancelledApi.as_view()),
]
