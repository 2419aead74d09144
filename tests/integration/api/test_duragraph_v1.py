"""What the original DuraGraph server's ``/api/v1`` answered, for the DuraGraph SDK's clients
(``duragraph_site.api.duragraph_v1`` and the routes and fields it adds; the real clients run in
tests/e2e/test_duragraph_client.py): bodies on every answer under ``/api/v1`` (through the
real ASGI application), the lists LangGraph lacks, a run by its id, and the fields it sends
kept or refused with a clear error."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from runs import services as run_services
from store.models import Item
from tests.integration.test_request_path import request
from threads import services as thread_services

pytestmark = pytest.mark.django_db(transaction=True)

ITEM = json.dumps({"namespace": ["v1"], "key": "k", "value": {"a": 1}}).encode()
JSON = {"content-type": "application/json"}


def test_an_answer_without_a_body_has_one_under_api_v1_only():
    put = request("PUT", "/api/v1/store/items", body=ITEM, headers=JSON)
    assert (put.status, put.body, put.header("content-type")) == (200, b"{}", "application/json")
    root = request("PUT", "/store/items", body=ITEM, headers=JSON)
    assert (root.status, root.body) == (204, b""), "LangGraph's routes answer as LangGraph's"
    unknown_worker = request("POST", "/api/v1/workers/nobody/poll", body=b"{}", headers=JSON)
    assert unknown_worker.status == 404, "the worker protocol's answers are its own"
    deleted = request(
        "DELETE", "/api/v1/store/items", body=b'{"namespace": ["v1"], "key": "k"}', headers=JSON
    )
    assert (deleted.status, deleted.body) == (200, b"{}")
    assert not Item.objects.filter(namespace=["v1"]).exists()


@pytest.fixture
def api(system_assistant) -> APIClient:
    return APIClient()


def test_lists_of_assistants_and_threads_and_a_run_by_its_id(api):
    created = api.post(
        "/api/v1/assistants", {"graph_id": "agent", "name": "listed"}, format="json"
    ).json()
    listed = api.get("/api/v1/assistants", {"limit": 1}).json()
    assert listed["total"] == 2 and len(listed["assistants"]) == 1, "the system one and ours"
    assert listed["assistants"][0]["assistant_id"] == created["assistant_id"], "newest first"
    assert api.get("/assistants").status_code == 405, "LangGraph's routes have no list"
    thread = thread_services.thread_create()
    threads = api.get("/api/v1/threads").json()
    assert threads == {"threads": [api.get(f"/threads/{thread.thread_id}").json()], "total": 1}
    run = run_services.run_create(
        thread_id=thread.thread_id, assistant_id=created["assistant_id"], kwargs={}
    )
    by_id = api.get(f"/api/v1/runs/{run.run_id}")
    assert by_id.json() == api.get(f"/threads/{thread.thread_id}/runs/{run.run_id}").json()
    assert api.get("/api/v1/runs/00000000-0000-4000-8000-000000000000").status_code == 404
    for query in ({"limit": 0}, {"limit": "many"}, {"offset": -1}):
        refused = api.get("/api/v1/assistants", query)
        assert refused.status_code == 422 and next(iter(query)) in refused.json()["detail"], query


def test_an_assistants_model_and_instructions_are_its_context(api):
    created = api.post(
        "/api/v1/assistants",
        {"graph_id": "agent", "model": "m-1", "instructions": "Be brief.", "context": {"x": 1}},
        format="json",
    ).json()
    assert created["context"] == {"model": "m-1", "instructions": "Be brief.", "x": 1}
    path = f"/api/v1/assistants/{created['assistant_id']}"
    updated = api.patch(path, {"model": "m-2"}, format="json").json()
    assert updated["context"] == {"model": "m-2", "instructions": "Be brief.", "x": 1}
    refused = api.post("/api/v1/assistants", {"graph_id": "agent", "model": 3}, format="json")
    assert refused.status_code == 422 and "model" in refused.json()["detail"]


def test_ttl_seconds_is_seconds_and_given_with_ttl_is_refused(api):
    item = {"namespace": ["v1"], "key": "k", "value": {}}
    put = api.put("/api/v1/store/items", {**item, "ttl_seconds": 90}, format="json")
    assert put.status_code == 204, put.content
    assert Item.objects.get(namespace=["v1"]).ttl.total_seconds() == 90
    for bad, message in (
        ({"ttl_seconds": 90, "ttl": 2}, "not both"),
        ({"ttl_seconds": "soon"}, "seconds"),
    ):
        refused = api.put("/api/v1/store/items", {**item, "key": "x", **bad}, format="json")
        assert refused.status_code == 422 and message in refused.json()["detail"], bad
    assert not Item.objects.filter(key="x").exists()


def test_a_crons_payload_is_its_runs_input(api):
    body = {"assistant_id": "agent", "schedule": "0 3 * * *", "payload": {"steps": ["x"]}}
    cron = api.post("/api/v1/runs/crons", body, format="json").json()
    assert cron["payload"]["input"] == {"steps": ["x"]}
    both = api.post("/api/v1/runs/crons", {**body, "input": {"steps": []}}, format="json")
    assert both.status_code == 422 and "payload" in both.json()["detail"]
    assert len(api.post("/runs/crons/search", {}, format="json").json()) == 1
