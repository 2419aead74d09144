"""The DuraGraph worker protocol over HTTP on real PostgreSQL, with the bodies ``duragraph==0.3.3``
sends (../shared/reference notes, summarised in docs/remote-workers.md): registration in both
graph-definition shapes, polling within capacity, events becoming run events and checkpoints,
fencing (409 and nothing written), hand-back of a restarted worker's runs, optional API keys."""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from assistants.domain import system_assistant_id
from events import store
from runs import services as run_services
from runs.models import Run
from threads import services as thread_services
from threads.models import Checkpoint, Thread
from workers.models import Worker, WorkerGraph

pytestmark = pytest.mark.django_db

BASE = "/api/v1/workers"
HELLO = {  # what duragraph 0.3.3 sends for the reference's hello_world graph
    "graph_id": "hello_world",
    "name": "hello_world",
    "description": "",
    "nodes": [
        {"id": "farewell", "type": "function", "config": {"retry_on": None, "max_retries": 3}},
        {"id": "greet", "type": "function", "config": {"is_entrypoint": True}},
    ],
    "edges": [{"source": "greet", "target": "farewell"}],
    "entry_point": "greet",
}
REVIEW = {
    "graph_id": "review",
    "nodes": [
        {"id": "draft", "type": "function", "config": {"is_entrypoint": True}},
        {"id": "check", "type": "human", "config": {"prompt": "Approve?"}},
    ],
    "edges": [{"source": "draft", "target": "check"}],
    "entry_point": "draft",
}


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def register(api: APIClient, worker_id: str = "w1", graphs=(HELLO,), max_runs: int = 10):
    body = {
        "worker_id": worker_id,
        "name": worker_id,
        "capabilities": {
            "graphs": [g["graph_id"] for g in graphs],
            "max_concurrent_runs": max_runs,
        },
        "graph_definitions": list(graphs),
    }
    response = api.post(f"{BASE}/register", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def post(api: APIClient, worker_id: str, what: str, body: dict | None = None):
    return api.post(f"{BASE}/{worker_id}/{what}", body or {}, format="json")


def event(api: APIClient, worker_id: str, run_id, event_type: str, **data):
    return post(
        api, worker_id, "events", {"run_id": str(run_id), "event_type": event_type, "data": data}
    )


def new_run(graph_id: str = "hello_world", **kwargs) -> Run:
    thread = thread_services.thread_create()
    return run_services.run_create(
        thread_id=thread.thread_id, assistant_id=system_assistant_id(graph_id), kwargs=kwargs
    )


def poll_one(api: APIClient, worker_id: str = "w1") -> dict:
    response = post(api, worker_id, "poll", {"max_tasks": 1})
    assert response.status_code == 200, response.content
    [task] = response.json()["tasks"]
    return task


def run_event_types(run_id) -> list[str]:
    return [e.type for e in store.load(run_id)]


# -- registration ---------------------------------------------------------------------------------
def test_registration_makes_the_graph_a_graph_of_the_registry(api):
    answer = register(api)
    assert answer["worker_id"] == "w1" and answer["registered"] is True
    [listed] = api.get(f"{BASE}/").json()
    assert (listed["worker_id"], listed["id"], listed["kind"], listed["status"]) == (
        "w1",
        "w1",
        "remote",
        "online",
    )
    assert listed["graph_ids"] == ["hello_world"] and listed["max_concurrent_runs"] == 10
    assert api.get(f"{BASE}/w1").json()["worker_id"] == "w1"

    definition = api.get(f"{BASE}/graphs/hello_world").json()
    assert definition["entry_point"] == "greet" and definition["worker_ids"] == ["w1"]
    assert [n["id"] for n in definition["nodes"]] == ["farewell", "greet"]

    # LangGraph's view of it: the default assistant (uuid5 of the graph id) and its drawable graph.
    assistant_id = str(system_assistant_id("hello_world"))
    [found] = api.post("/assistants/search", {"graph_id": "hello_world"}, format="json").json()
    assert found["assistant_id"] == assistant_id
    graph = api.get(f"/assistants/{assistant_id}/graph").json()
    assert sorted(n["id"] for n in graph["nodes"]) == ["__end__", "__start__", "farewell", "greet"]
    assert {(e["source"], e["target"]) for e in graph["edges"]} == {
        ("__start__", "greet"),
        ("greet", "farewell"),
        ("farewell", "__end__"),
    }


def test_the_nested_0_2_1_shape_and_object_edge_targets_are_accepted(api):
    nested = {
        "graph_id": "routed",
        "definition": {
            "version": "1.0",
            "graph": {
                "id": "routed",
                "entrypoint": "route",
                "nodes": [{"id": "route", "type": "router"}, {"id": "a"}, {"id": "b"}],
                "edges": [{"source": "route", "target": {"left": "a", "right": "b"}}],
            },
        },
    }
    register(api, graphs=[nested])
    graph = api.get(f"/assistants/{system_assistant_id('routed')}/graph").json()
    conditional = {
        (e["source"], e["target"], e.get("data")) for e in graph["edges"] if e.get("conditional")
    }
    assert conditional == {("route", "a", "left"), ("route", "b", "right")}
    assert WorkerGraph.objects.get(graph_id="routed").definition["entry_point"] == "route"


def test_registering_again_upserts_and_keeps_one_row(api):
    register(api, max_runs=3)
    register(api, max_runs=5)
    worker = Worker.objects.get()
    assert worker.max_concurrent_runs == 5 and worker.status == "online"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "worker_id"),
        ({"worker_id": ""}, "worker_id"),
        ({"worker_id": "x" * 256}, "worker_id"),
        ({"worker_id": "w", "capabilities": {"graphs": "hello_world"}}, "capabilities.graphs"),
        ({"worker_id": "w", "capabilities": {"max_concurrent_runs": 0}}, "max_concurrent_runs"),
        ({"worker_id": "w", "capabilities": {"max_concurrent_runs": True}}, "max_concurrent_runs"),
        ({"worker_id": "w", "capabilities": {"max_concurrent_runs": 2**31}}, "max_concurrent_runs"),
        ({"worker_id": "w", "graph_definitions": [{"nodes": []}]}, "graph_id"),
        ({"worker_id": "w", "graph_definitions": [{"graph_id": "g", "nodes": "a"}]}, "nodes"),
        (
            {
                "worker_id": "w",
                "graph_definitions": [{"graph_id": "g", "edges": [{"target": "a"}]}],
            },
            "edges",
        ),
        ({"worker_id": "w", "graph_definitions": "g"}, "graph_definitions"),
    ],
)
def test_bad_registrations_are_refused_and_write_nothing(api, log_counter, body, field):
    before = log_counter.snapshot()
    response = api.post(f"{BASE}/register", body, format="json")
    assert response.status_code == 422, response.content
    assert field in response.json()["detail"]
    assert not Worker.objects.exists() and not WorkerGraph.objects.exists()
    assert log_counter.snapshot() == before


def test_a_body_that_is_not_json_is_refused(api):
    response = api.post(f"{BASE}/register", "{not json", content_type="application/json")
    assert response.status_code == 422 and "JSON" in response.json()["detail"]
    assert not Worker.objects.exists()


# -- heartbeats and polls -------------------------------------------------------------------------
def test_unknown_workers_get_404_so_that_the_sdk_registers_again(api):
    for what in ("heartbeat", "poll", "events", "deregister"):
        response = post(
            api, "ghost", what, {"run_id": str(uuid.uuid4()), "event_type": "run_started"}
        )
        assert response.status_code == 404, what
        assert "ghost" in response.json()["detail"]
    assert api.get(f"{BASE}/ghost").status_code == 404
    assert api.get(f"{BASE}/graphs/nothing").status_code == 404


def test_heartbeats_record_what_the_worker_reports(api):
    register(api)
    answer = post(
        api,
        "w1",
        "heartbeat",
        {"status": "ready", "active_runs": 2, "total_runs": 7, "failed_runs": 1},
    )
    assert answer.json() == {"acknowledged": True, "status": "online"}
    worker = Worker.objects.get()
    assert (worker.reported_status, worker.active_runs, worker.total_runs, worker.failed_runs) == (
        "ready",
        2,
        7,
        1,
    )
    assert post(api, "w1", "heartbeat", {"status": "draining"}).json()["status"] == "draining"
    for bad in ({"active_runs": -1}, {"total_runs": 2**31}, {"failed_runs": "many"}):
        assert post(api, "w1", "heartbeat", bad).status_code == 422
    assert Worker.objects.get().failed_runs == 1


def test_poll_hands_out_a_run_of_a_served_graph_with_input_never_null(api):
    register(api)
    assert post(api, "w1", "poll", {"max_tasks": 1}).status_code == 204
    run = new_run()  # no input at all
    task = poll_one(api)
    assert task["run_id"] == task["task_id"] == str(run.run_id)
    assert (task["graph_id"], task["thread_id"], task["input"]) == (
        "hello_world",
        str(run.thread_id),
        {},
    )
    assert task["assistant_id"] == str(system_assistant_id("hello_world"))
    claimed = Run.objects.get(pk=run.pk)
    assert (claimed.status, claimed.worker_id, claimed.lease_epoch) == (
        "running",
        "w1",
        task["lease_epoch"],
    )
    assert post(api, "w1", "poll", {}).status_code == 204  # nothing else to do


def test_poll_respects_graphs_capacity_and_draining(api):
    register(api, "solo", max_runs=1)
    register(api, "other", graphs=[REVIEW])
    first, second = new_run(input={"n": 1}), new_run(input={"n": 2})
    assert post(api, "other", "poll", {}).status_code == 204  # not its graph
    assert poll_one(api, "solo")["run_id"] == str(first.run_id)
    assert post(api, "solo", "poll", {}).status_code == 204  # at max_concurrent_runs
    event(api, "solo", first.run_id, "run_completed", output={"n": 1})
    post(api, "solo", "heartbeat", {"status": "draining"})
    assert post(api, "solo", "poll", {}).status_code == 204  # draining: nothing new
    assert Run.objects.get(pk=second.pk).status == "pending"
    assert post(api, "solo", "poll", {"max_tasks": 0}).status_code == 422


# -- events ---------------------------------------------------------------------------------------
def test_worker_events_become_run_events_checkpoints_and_thread_values(api):
    register(api)
    run = new_run(input={"name": "Django"})
    poll_one(api)
    for kind, data in [
        ("run_started", {"thread_id": str(run.thread_id)}),
        ("node_started", {"node_id": "greet"}),
        ("node_completed", {"node_id": "greet", "output": {"greeting": "Hello, Django!"}}),
        ("node_started", {"node_id": "farewell"}),
        ("node_completed", {"node_id": "farewell", "output": {"farewell": "bye"}}),
    ]:
        assert event(api, "w1", run.run_id, kind, **data).json() == {"received": True}
    final = {"name": "Django", "greeting": "Hello, Django!", "farewell": "bye"}
    assert event(api, "w1", run.run_id, "run_completed", output=final).status_code == 200

    done = Run.objects.get(pk=run.pk)
    assert (done.status, done.output) == ("success", final)
    log = store.load(run.run_id)
    assert [(e.type, e.payload.get("node")) for e in log if e.type.startswith("Node")] == [
        ("NodeStarted", "greet"), ("NodeCompleted", "greet"),
        ("NodeStarted", "farewell"), ("NodeCompleted", "farewell"),
    ]  # fmt: skip
    chunks = [(e.payload["mode"], e.payload["data"]) for e in log if e.type == "RunOutputStreamed"]
    assert chunks[0] == ("values", {"name": "Django"})
    assert ("updates", {"greet": {"greeting": "Hello, Django!"}}) in chunks
    assert chunks[-1] == ("values", final)
    assert log[-1].type == "RunCompleted"

    # A checkpoint per node, so thread state and history read like any LangGraph thread's.
    checkpoints = list(Checkpoint.objects.filter(thread_id=run.thread_id).order_by("checkpoint_id"))
    assert [c.metadata["step"] for c in checkpoints] == [0, 1]
    assert Thread.objects.get(pk=run.thread_id).values == final
    state = api.get(f"/threads/{run.thread_id}/state").json()
    assert state["values"] == final and state["next"] == []
    assert state["checkpoint"]["checkpoint_id"] == checkpoints[-1].checkpoint_id
    history = api.post(f"/threads/{run.thread_id}/history", {"limit": 10}, format="json").json()
    assert [h["values"] for h in history] == [
        final,
        {"name": "Django", "greeting": "Hello, Django!"},
    ]


def test_a_reported_failure_ends_the_run_in_error_with_the_message(api):
    register(api)
    run = new_run(input={"why": "test"})
    poll_one(api)
    event(api, "w1", run.run_id, "run_failed", error="boom: test", thread_id=str(run.thread_id))
    failed = Run.objects.get(pk=run.pk)
    assert failed.status == "error" and failed.error["message"] == "boom: test"
    assert Thread.objects.get(pk=run.thread_id).status == "error"


def test_requires_action_interrupts_and_a_resume_run_delivers_the_payload(api):
    register(api, graphs=[REVIEW])
    run = new_run("review", input={"topic": "leases"})
    poll_one(api)
    event(api, "w1", run.run_id, "node_completed", node_id="draft", output={"draft": "d1"})
    event(api, "w1", run.run_id, "run_requires_action", action_type="human_review", prompt="Approve?",
          state={"topic": "leases", "draft": "d1"})  # fmt: skip
    parked = Run.objects.get(pk=run.pk)
    assert parked.status == "interrupted"
    [[interrupt]] = parked.interrupts.values()
    assert interrupt["value"] == {"action_type": "human_review", "prompt": "Approve?"}
    assert Thread.objects.get(pk=run.thread_id).status == "interrupted"
    state = api.get(f"/threads/{run.thread_id}/state").json()
    assert state["values"]["draft"] == "d1"

    resume = run_services.run_create(
        thread_id=run.thread_id,
        assistant_id=run.assistant_id,
        kwargs={"command": {"resume": "approved"}},
    )
    task = poll_one(api)
    assert task["run_id"] == str(resume.run_id)
    assert task["input"] == {"topic": "leases", "draft": "d1", "resume": "approved"}


def test_events_of_a_run_not_leased_to_the_worker_are_409_and_change_nothing(api, log_counter):
    register(api, "holder")
    register(api, "stranger")
    run = new_run()
    poll_one(api, "holder")
    before = log_counter.snapshot()
    for kind in ("node_started", "node_completed", "run_completed", "run_failed"):
        response = event(api, "stranger", run.run_id, kind, node_id="greet", output={"x": 1})
        assert (
            response.status_code == 409
            and "not leased to worker stranger" in response.json()["detail"]
        )
    assert event(api, "holder", uuid.uuid4(), "run_completed").status_code == 409  # unknown run
    assert log_counter.snapshot() == before
    assert Run.objects.get(pk=run.pk).status == "running"

    event(api, "holder", run.run_id, "run_completed", output={})
    after = log_counter.snapshot()
    assert event(api, "holder", run.run_id, "run_completed", output={"again": 1}).status_code == 409
    assert log_counter.snapshot() == after


@pytest.mark.parametrize(
    "body",
    [
        {"run_id": "not-a-uuid", "event_type": "run_started"},
        {"event_type": "run_started"},
        {"run_id": str(uuid.uuid4()), "event_type": "node_exploded"},
        {"run_id": str(uuid.uuid4()), "event_type": "run_started", "data": [1]},
    ],
)
def test_malformed_events_are_422(api, log_counter, body):
    register(api)
    before = log_counter.snapshot()
    response = post(api, "w1", "events", body)
    assert response.status_code == 422 and "detail" in response.json()
    assert log_counter.snapshot() == before


# -- a worker that comes back, or leaves ----------------------------------------------------------
def test_a_restarted_worker_hands_back_the_runs_it_held(api):
    register(api)
    run = new_run()
    poll_one(api)
    register(api)  # same id again: a new process, which knows nothing of the run
    retried = Run.objects.get(pk=run.pk)
    assert (retried.status, retried.worker_id, retried.attempt) == ("pending", None, 1)
    assert run_event_types(run.run_id)[-2:] == ["RunLeaseExpired", "RunRetried"]
    reason = store.load(run.run_id)[-1].payload["reason"]
    assert "worker 'w1' registered again (a new process) during attempt 1" in reason


def test_deregistering_hands_back_its_runs(api):
    register(api)
    run = new_run()
    poll_one(api)
    assert post(api, "w1", "deregister").status_code == 204
    assert Run.objects.get(pk=run.pk).status == "pending"
    assert Worker.objects.get().status == "offline"
    assert post(api, "w1", "heartbeat").status_code == 404


# -- API keys -------------------------------------------------------------------------------------
@override_settings(DURAGRAPH_WORKER_API_KEYS=["k-one", "k-two"])
def test_with_api_keys_set_the_worker_routes_need_one(api):
    body = {"worker_id": "w1", "graph_definitions": [HELLO]}
    refused = api.post(f"{BASE}/register", body, format="json")
    assert refused.status_code == 401 and "X-Api-Key" in refused.json()["detail"]
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="duragraph"'
    wrong = api.post(f"{BASE}/register", body, format="json", HTTP_X_API_KEY="nope")
    assert wrong.status_code == 401 and not Worker.objects.exists()
    assert (
        api.post(f"{BASE}/register", body, format="json", HTTP_X_API_KEY="k-two").status_code == 200
    )
    bearer = api.post(f"{BASE}/w1/heartbeat", {}, format="json", HTTP_AUTHORIZATION="Bearer k-one")
    assert bearer.status_code == 200
    assert api.get(f"{BASE}/").status_code == 401


REMOTE_REFUSALS = {
    "interrupt_before": {"interrupt_before": ["farewell"]},
    "interrupt_after": {"interrupt_after": "*"},
    "checkpoint_id": {"checkpoint_id": "1f0a0000-0000-6000-8000-000000000000"},
    "command.goto": {"command": {"goto": "farewell"}},
}


@pytest.mark.parametrize("field", sorted(REMOTE_REFUSALS))
@pytest.mark.parametrize("route", ["thread", "stateless", "wait", "cron"])
def test_options_a_remote_worker_cannot_honour_are_refused_naming_them(
    api, log_counter, field, route
):
    """The worker protocol starts every run at the graph's entry with its input alone: a run of
    a remote graph asking to pause between nodes or to start elsewhere is refused at once (422
    naming the option), not run as if it had not asked. Nothing is written."""
    register(api)
    thread = api.post("/threads", {}, format="json").json()
    before = log_counter.snapshot()
    body = {"assistant_id": "hello_world", "input": {"name": "x"}, **REMOTE_REFUSALS[field]}
    path = {
        "thread": f"/threads/{thread['thread_id']}/runs",
        "stateless": "/runs",
        "wait": "/runs/wait",
        "cron": f"/threads/{thread['thread_id']}/runs/crons",
    }[route]
    if route == "cron":
        body["schedule"] = "*/5 * * * *"
    refused = api.post(path, body, format="json")
    assert refused.status_code == 422, refused.content
    detail = refused.json()["detail"]
    assert detail.startswith(f"{field}: not supported for graph 'hello_world'"), detail
    assert "remote workers" in detail
    assert log_counter.snapshot() == before and Run.objects.count() == 0
    assert api.post("/runs/crons/search", {}, format="json").json() == []


def test_a_local_graph_takes_those_options_and_a_remote_one_its_context(api, system_assistant):
    register(api)
    thread = api.post("/threads", {}, format="json").json()
    local = api.post(
        f"/threads/{thread['thread_id']}/runs",
        {"assistant_id": "agent", "input": {}, "interrupt_after": "*"},
        format="json",
    )
    assert local.status_code == 200, local.content
    remote = api.post(
        "/runs",
        {"assistant_id": "hello_world", "input": {}, "context": {"model": "m-1"}},
        format="json",
    )
    assert remote.status_code == 200, remote.content  # carried in the task's config


def test_a_workers_log_is_the_runs_it_started_and_how_each_lease_ended(api):
    """``GET /api/v1/workers/logs`` (what ``duragraph logs`` prints), from the event log."""
    register(api)
    register(api, worker_id="w2")
    done, failed, other = new_run(), new_run(), new_run()
    poll_one(api)
    event(api, "w1", done.run_id, "run_completed", output={"farewell": "bye"})
    poll_one(api)
    event(api, "w1", failed.run_id, "run_failed", error="boom", thread_id=str(failed.thread_id))
    assert post(api, "w2", "poll", {"max_tasks": 1}).status_code == 200  # w2 takes the third
    log = api.get(f"{BASE}/logs", {"worker": "w1"}).json()
    assert [(e["level"], e["message"], e["worker"]) for e in log] == [
        ("INFO", f"run {done.run_id} started (lease 1)", "w1"),
        ("INFO", f"run {done.run_id} succeeded", "w1"),
        ("INFO", f"run {failed.run_id} started (lease 1)", "w1"),
        ("ERROR", f"run {failed.run_id} failed: boom", "w1"),
    ]
    assert [e["timestamp"] for e in log] == sorted(e["timestamp"] for e in log)
    everyone = api.get(f"{BASE}/logs").json()
    assert [e["message"] for e in everyone if e["worker"] == "w2"] == [
        f"run {other.run_id} started (lease 1)"
    ]
    assert len(api.get(f"{BASE}/logs", {"limit": 1}).json()) == 1, "the latest start only"
    assert api.get(f"{BASE}/logs", {"worker": "nobody"}).json() == []
    for bad in ({"limit": 0}, {"limit": "x"}, {"limit": 1001}):
        refused = api.get(f"{BASE}/logs", bad)
        assert refused.status_code == 422 and "limit" in refused.json()["detail"]
