"""workflow-graph's REST API and worker protocol through DRF on real PostgreSQL: the shapes and
status codes its Rust worker and TypeScript client read (``null`` claims, 202 runs, 409 on a
lost lease), and the gaps of the original closed (404 for an unknown workflow's cancel, a
stable order, logs tied to the lease)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

RUNTIME_BODY = {
    "name": "Build",
    "trigger": "on: push",
    "jobs": [
        {
            "id": "compile",
            "name": "Compile",
            "command": "make",
            "depends_on": [],
            "required_labels": ["linux"],
            "max_retries": 1,
        },
        {
            "id": "ship",
            "name": "Ship",
            "command": "make ship",
            "depends_on": ["compile"],
            "required_labels": [],
            "max_retries": 0,
        },
    ],
}


@pytest.fixture
def api():
    return APIClient()


def test_a_workflow_runs_through_the_worker_protocol(api):
    created = api.post("/api/workflows", RUNTIME_BODY, format="json")
    assert created.status_code == 201
    workflow = created.json()
    workflow_id = workflow["id"]
    assert workflow["trigger"] == "on: push"
    assert [
        (j["id"], j["status"], j["depends_on"], j["required_labels"], j["max_retries"])
        for j in workflow["jobs"]
    ] == [
        ("compile", "queued", [], ["linux"], 1),
        ("ship", "queued", ["compile"], [], 0),
    ]
    assert (
        api.post(
            "/api/workers/register", {"worker_id": "w1", "labels": ["linux"]}, format="json"
        ).status_code
        == 200
    )
    claim = {"worker_id": "w1", "labels": ["linux"], "lease_ttl_secs": 30}
    nothing = api.post("/api/jobs/claim", claim, format="json")
    assert (nothing.status_code, nothing.content) == (200, b"null")
    run = api.post(f"/api/workflows/{workflow_id}/run")
    assert run.status_code == 202 and run.json()["started"] is True
    again = api.post(f"/api/workflows/{workflow_id}/run")
    assert again.status_code == 202 and again.json()["run_id"] == run.json()["run_id"]
    assert (
        api.post("/api/jobs/claim", {"worker_id": "w2", "labels": []}, format="json").content
        == b"null"
    )
    claimed = api.post("/api/jobs/claim", claim, format="json").json()
    job, lease = claimed["job"], claimed["lease"]
    assert (job["job_id"], job["workflow_id"], job["attempt"], job["required_labels"]) == (
        "compile",
        workflow_id,
        0,
        ["linux"],
    )
    assert job["retry_policy"] == {"max_retries": 1, "backoff": "None"}
    assert job["command"] == "make" and job["upstream_outputs"] == {}
    assert (lease["job_id"], lease["worker_id"], lease["ttl_secs"]) == ("compile", "w1", 30)
    status = api.get(f"/api/workflows/{workflow_id}/status").json()
    compile_job = status["jobs"][0]
    assert compile_job["status"] == "running" and compile_job["started_at"] > 0
    base = f"/api/jobs/{lease['lease_id']}"
    assert api.post(f"{base}/heartbeat").status_code == 200
    chunks = [
        {
            "workflow_id": workflow_id,
            "job_id": "compile",
            "sequence": 0,
            "data": "cc main.c",
            "timestamp_ms": 1,
            "stream": "stdout",
        }
    ]
    assert api.post(f"{base}/logs", {"chunks": chunks}, format="json").json() == {"received": 1}
    assert (
        api.post(f"{base}/complete", {"outputs": {"binary": "app"}}, format="json").status_code
        == 200
    )
    late = api.post(f"{base}/complete", {"outputs": {}}, format="json")
    assert late.status_code == 409 and "lease" in late.json()["detail"]
    logs = api.get(f"/api/workflows/{workflow_id}/jobs/compile/logs").json()
    assert [(c["sequence"], c["data"], c["stream"]) for c in logs] == [(0, "cc main.c", "stdout")]
    ship = api.post("/api/jobs/claim", claim, format="json").json()["job"]
    assert ship["upstream_outputs"] == {"compile": {"binary": "app"}}
    assert api.get(f"/api/jobs/{workflow_id}/ship/cancelled").json() is False
    cancel = api.post(f"/api/workflows/{workflow_id}/cancel")
    assert cancel.status_code == 202 and cancel.json()["status"] == "cancelled"
    assert api.get(f"/api/jobs/{workflow_id}/ship/cancelled").json() is True
    detail = api.get(f"/api/workflows/{workflow_id}/runs/{run.json()['run_id']}").json()
    assert [(j["job_id"], j["status"], j["outputs"]) for j in detail["jobs"]] == [
        ("compile", "success", {"binary": "app"}),
        ("ship", "cancelled", {}),
    ]
    workers = api.get("/api/workers").json()
    assert [(w["worker_id"], w["labels"]) for w in workers] == [("w1", ["linux"])]


def test_bad_requests_are_refused_with_a_detail(api):
    unknown = "00000000-0000-0000-0000-000000000000"
    assert api.post("/api/workflows/nope/cancel").status_code == 404
    assert api.post("/api/workflows/nope/run").status_code == 404
    assert api.get("/api/workflows/nope/status").status_code == 404
    assert api.post(f"/api/jobs/{unknown}/complete", {}, format="json").status_code == 409
    assert api.post("/api/jobs/not-a-lease/complete", {}, format="json").status_code == 422
    refused = api.post("/api/jobs/claim", {"labels": ["x"]}, format="json")
    assert refused.status_code == 422 and "worker_id" in refused.json()["detail"]
    cycle = {
        **RUNTIME_BODY,
        "jobs": [{**RUNTIME_BODY["jobs"][0], "depends_on": ["ship"]}, RUNTIME_BODY["jobs"][1]],
    }
    bad = api.post("/api/workflows", cycle, format="json")
    assert bad.status_code == 422 and "cycle" in bad.json()["detail"]
    yaml_doc = {
        "id": "docs",
        "name": "Docs",
        "on": "push",
        "jobs": {"a": {"run": "x", "needs": ["zz"]}},
    }
    unknown_need = api.post("/api/workflows", yaml_doc, format="json")
    assert unknown_need.status_code == 422 and "jobs.a.needs" in unknown_need.json()["detail"]
    assert api.get("/api/workflows").json() == []


def test_workflows_are_listed_in_a_stable_order_with_their_latest_statuses(api):
    for workflow_id in ("b-flow", "a-flow", "c-flow"):
        document = {
            "id": workflow_id,
            "name": workflow_id,
            "on": "push",
            "jobs": {"only": {"run": "true"}},
        }
        assert api.post("/api/workflows", document, format="json").status_code == 201
    api.post("/api/workflows/c-flow/run")
    listed = api.get("/api/workflows").json()
    assert [w["id"] for w in listed] == ["a-flow", "b-flow", "c-flow"]
    assert [w["id"] for w in api.get("/api/workflows?limit=1&offset=1").json()] == ["b-flow"]
    assert [w["id"] for w in api.get("/api/workflows?status=queued").json()] == ["c-flow"]
    assert api.get("/api/workflows?limit=0").status_code == 422


def test_what_a_program_prints_is_kept_whatever_its_bytes_and_labels_are_printable(api):
    document = {"id": "bytes", "name": "b", "on": "push", "jobs": {"a": {"run": "x"}}}
    assert api.post("/api/workflows", document, format="json").status_code == 201
    api.post("/api/workflows/bytes/run")
    refused = api.post("/api/jobs/claim", {"worker_id": "w", "labels": ["a\nb"]}, format="json")
    assert refused.status_code == 422 and "printable" in refused.json()["detail"]
    lease = api.post("/api/jobs/claim", {"worker_id": "w", "labels": []}, format="json").json()[
        "lease"
    ]
    chunk = {"sequence": 0, "data": "nul\x00 here", "stream": "stdout"}
    assert (
        api.post(
            f"/api/jobs/{lease['lease_id']}/logs", {"chunks": [chunk]}, format="json"
        ).status_code
        == 200
    )
    failed = api.post(
        f"/api/jobs/{lease['lease_id']}/fail", {"error": "bad\x00byte"}, format="json"
    )
    assert failed.status_code == 200
    log = api.get("/api/workflows/bytes/jobs/a/logs").json()
    assert [c["data"] for c in log] == ["nul\ufffd here"]


def test_a_worker_claims_and_completes_many_jobs_per_call(api):
    jobs = [
        {**RUNTIME_BODY["jobs"][1], "id": f"j{n}", "depends_on": [], "command": "true"}
        for n in range(3)
    ]
    workflow_id = api.post("/api/workflows", {**RUNTIME_BODY, "jobs": jobs}, format="json").json()[
        "id"
    ]
    api.post(f"/api/workflows/{workflow_id}/run")
    claim = {"worker_id": "w1", "labels": [], "max_jobs": 2}
    first = api.post("/api/jobs/claim", claim, format="json").json()["jobs"]
    assert len(first) == 2 and all(c["lease"]["worker_id"] == "w1" for c in first)
    rest = api.post("/api/jobs/claim", {**claim, "max_jobs": 100}, format="json").json()
    assert len(rest["jobs"]) == 1
    assert api.post("/api/jobs/claim", claim, format="json").json() == {"jobs": []}
    leases = [c["lease"]["lease_id"] for c in first + rest["jobs"]]
    api.post(f"/api/jobs/{leases[2]}/complete", {"outputs": {}}, format="json")
    completions = [{"lease_id": lease, "outputs": {"n": str(n)}} for n, lease in enumerate(leases)]
    answer = api.post("/api/jobs/complete", {"completions": completions}, format="json")
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [(r["lease_id"], r["status"]) for r in results] == list(
        zip(leases, [200, 200, 409], strict=True)
    )
    assert "lease" in results[2]["detail"], "already completed by its own call"
    status = api.get(f"/api/workflows/{workflow_id}/status").json()
    assert {j["id"]: j["status"] for j in status["jobs"]} == dict.fromkeys(
        ("j0", "j1", "j2"), "success"
    )
    runs = api.get(f"/api/workflows/{workflow_id}/runs").json()
    assert [run["status"] for run in runs] == ["success"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "completions"),
        ({"completions": []}, "completions"),
        ({"completions": [{"outputs": {}}]}, "lease_id"),
        ({"completions": [{"lease_id": "nope"}]}, "lease_id"),
        (
            {"completions": [{"lease_id": "00000000-0000-0000-0000-000000000000", "outputs": 3}]},
            "outputs",
        ),
        (
            {"completions": [{"lease_id": "00000000-0000-0000-0000-000000000000"}] * 101},
            "completions",
        ),
        (
            {"completions": [{"lease_id": "00000000-0000-0000-0000-000000000000"}] * 2},
            "once per call",
        ),
    ],
    ids=["missing", "empty", "no lease", "bad lease", "outputs a number", "too many", "twice"],
)
def test_bad_batch_completions_are_422_naming_the_field(api, body, field):
    refused = api.post("/api/jobs/complete", body, format="json")
    assert refused.status_code == 422 and field in refused.json()["detail"], refused.content


@pytest.mark.parametrize("max_jobs", [0, 101, "many", None])
def test_a_bad_max_jobs_is_422(api, max_jobs):
    body = {"worker_id": "w1", "labels": [], "max_jobs": max_jobs}
    refused = api.post("/api/jobs/claim", body, format="json")
    assert refused.status_code == 422 and "max_jobs" in refused.json()["detail"], refused.content
