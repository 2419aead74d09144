"""DAG jobs in the admin: pages render with their event timelines, and the actions go through
the services (start a run, cancel a run, cancel a job, requeue a job)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from workflows import definitions, services
from workflows.models import JobRun, WorkflowRun

pytestmark = pytest.mark.django_db

DAG = "name: CI\non: push\njobs:\n  a: {run: 'true'}\n  b: {needs: a, run: 'true'}\n"


@pytest.fixture
def run():
    services.workflow_define(
        workflow_id="ci", workflow=definitions.parse(DAG, filename="ci.yml"), source="file"
    )
    return services.workflow_run_start(workflow_id="ci").run


def test_pages_render_with_their_timelines(admin_client, run):
    job = JobRun.objects.get(run_id=run.run_id, job_id="a")
    pages = [
        reverse("admin:workflows_workflowdefinition_changelist"),
        reverse("admin:workflows_workflowdefinition_change", args=["ci"]),
        reverse("admin:workflows_workflowrun_changelist"),
        reverse("admin:workflows_workflowrun_change", args=[run.run_id]),
        reverse("admin:workflows_jobrun_changelist"),
        reverse("admin:workflows_jobrun_change", args=[job.id]),
    ]
    for page in pages:
        assert admin_client.get(page).status_code == 200, page
    timeline = admin_client.get(reverse("admin:workflows_jobrun_change", args=[job.id]))
    assert "JobCreated" in timeline.content.decode() and "JobQueued" in timeline.content.decode()


def test_actions_go_through_the_services(admin_client, run):
    url = reverse("admin:workflows_workflowdefinition_changelist")
    response = admin_client.post(
        url, {"action": "start_runs", "_selected_action": ["ci"]}, follow=True
    )
    assert "a run is going" in response.content.decode()
    job = JobRun.objects.get(run_id=run.run_id, job_id="a")
    url = reverse("admin:workflows_jobrun_changelist")
    admin_client.post(url, {"action": "cancel_jobs", "_selected_action": [str(job.id)]})
    assert dict(JobRun.objects.filter(run_id=run.run_id).values_list("job_id", "status")) == {
        "a": "cancelled",
        "b": "skipped",
    }
    assert WorkflowRun.objects.get(run_id=run.run_id).status == "cancelled"
    response = admin_client.post(
        url, {"action": "cancel_jobs", "_selected_action": [str(job.id)]}, follow=True
    )
    assert "cancelled already" in response.content.decode()
    second = services.workflow_run_start(workflow_id="ci").run
    url = reverse("admin:workflows_workflowrun_changelist")
    admin_client.post(url, {"action": "cancel_runs", "_selected_action": [str(second.run_id)]})
    assert WorkflowRun.objects.get(run_id=second.run_id).status == "cancelled"

    # The cancelled job gets another attempt, and b, skipped for it, waits for it again; the
    # cancelled run's jobs are not requeued (a new run is started for that).
    url = reverse("admin:workflows_jobrun_changelist")
    cancelled_run_job = JobRun.objects.get(run_id=second.run_id, job_id="a")
    response = admin_client.post(
        url,
        {"action": "requeue_jobs", "_selected_action": [str(job.id), str(cancelled_run_job.id)]},
        follow=True,
    )
    assert "1 job(s) requeued" in response.content.decode()
    assert "was cancelled: start a new run" in response.content.decode()
    assert dict(JobRun.objects.filter(run_id=run.run_id).values_list("job_id", "status")) == {
        "a": "queued",
        "b": "waiting",
    }
    assert WorkflowRun.objects.get(run_id=run.run_id).status == "running"
