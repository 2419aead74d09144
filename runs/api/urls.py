from __future__ import annotations

from django.urls import path

from runs.api import crons, runs, streaming, waiting

urlpatterns = [
    path("runs", runs.StatelessRunsApi.as_view()),
    path("runs/wait", waiting.StatelessRunWaitApi.as_view()),
    path("runs/stream", streaming.StatelessRunStreamApi.as_view()),
    path("runs/batch", runs.RunBatchApi.as_view()),
    path("runs/cancel", runs.RunsCancelApi.as_view()),
    path("runs/crons", crons.CronCreateApi.as_view()),
    path("runs/crons/search", crons.CronSearchApi.as_view()),
    path("runs/crons/count", crons.CronCountApi.as_view()),
    path("runs/crons/<str:cron_id>", crons.CronDetailApi.as_view()),
    # After the cron routes: /runs/crons/<x> is a cron, not a run named "crons".
    path("runs/<str:run_id>/stream", streaming.StatelessRunJoinStreamApi.as_view()),
    path("threads/<str:thread_id>/stream", streaming.ThreadStreamApi.as_view()),
    path("threads/<str:thread_id>/runs/crons", crons.ThreadCronCreateApi.as_view()),
    path("threads/<str:thread_id>/runs", runs.ThreadRunsApi.as_view()),
    path("threads/<str:thread_id>/runs/wait", waiting.ThreadRunWaitApi.as_view()),
    path("threads/<str:thread_id>/runs/stream", streaming.ThreadRunStreamApi.as_view()),
    path("threads/<str:thread_id>/runs/<str:run_id>", runs.RunDetailApi.as_view()),
    path("threads/<str:thread_id>/runs/<str:run_id>/join", waiting.RunJoinApi.as_view()),
    path("threads/<str:thread_id>/runs/<str:run_id>/stream", streaming.RunJoinStreamApi.as_view()),
    path("threads/<str:thread_id>/runs/<str:run_id>/cancel", waiting.RunCancelApi.as_view()),
]
