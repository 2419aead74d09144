from __future__ import annotations

from django.urls import path

from runs.api import streaming, views

urlpatterns = [
    path("runs", views.StatelessRunsApi.as_view()),
    path("runs/wait", views.StatelessRunWaitApi.as_view()),
    path("runs/stream", streaming.StatelessRunStreamApi.as_view()),
    path("runs/batch", views.RunBatchApi.as_view()),
    path("runs/cancel", views.RunsCancelApi.as_view()),
    path("runs/crons", views.CronCreateApi.as_view()),
    path("runs/crons/search", views.CronSearchApi.as_view()),
    path("runs/crons/count", views.CronCountApi.as_view()),
    path("runs/crons/<str:cron_id>", views.CronDetailApi.as_view()),
    # After the cron routes: /runs/crons/<x> is a cron, not a run named "crons".
    path("runs/<str:run_id>/stream", streaming.StatelessRunJoinStreamApi.as_view()),
    path("threads/<str:thread_id>/stream", streaming.ThreadStreamApi.as_view()),
    path("threads/<str:thread_id>/runs/crons", views.ThreadCronCreateApi.as_view()),
    path("threads/<str:thread_id>/runs", views.ThreadRunsApi.as_view()),
    path("threads/<str:thread_id>/runs/wait", views.ThreadRunWaitApi.as_view()),
    path("threads/<str:thread_id>/runs/stream", streaming.ThreadRunStreamApi.as_view()),
    path("threads/<str:thread_id>/runs/<str:run_id>", views.RunDetailApi.as_view()),
    path("threads/<str:thread_id>/runs/<str:run_id>/join", views.RunJoinApi.as_view()),
    path("threads/<str:thread_id>/runs/<str:run_id>/stream", streaming.RunJoinStreamApi.as_view()),
    path("threads/<str:thread_id>/runs/<str:run_id>/cancel", views.RunCancelApi.as_view()),
]
