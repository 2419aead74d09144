"""DAG jobs in the workflow-graph model (docs/workflows.md): definitions of jobs with needs and
labels, workflow runs and job runs as event-sourced aggregates, claims under leases with
fencing, logs and outputs, workflow-graph's REST API and worker protocol."""
