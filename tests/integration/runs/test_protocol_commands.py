"""``POST /threads/{id}/commands`` through the API (runs.api.protocol): what ``run.start`` and
``input.respond`` record, which thread they act on, and that every refusal is the protocol's
error envelope and changes nothing (docs/protocol-v2.md)."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from accounts import services as account_services
from runs import services
from runs.models import Run
from runs.protocol import RUN_STREAM_MODES
from threads import services as thread_services
from threads.models import Thread

pytestmark = pytest.mark.django_db


def command(api: APIClient, thread_id, method: str, params: dict | None = None, id_: int = 1):
    return api.post(
        f"/threads/{thread_id}/commands",
        {"id": id_, "method": method, "params": params or {}},
        format="json",
    )


def interrupted_thread(assistant_id: str, interrupt_id: str = "i-1") -> Thread:
    """A thread whose run stopped at ``interrupt()``."""
    thread = thread_services.thread_create()
    run = services.run_create(thread_id=thread.thread_id, assistant_id=assistant_id)
    claim = services.run_start(run_id=run.run_id, worker_id="w1")
    services.run_interrupt(
        run_id=run.run_id,
        lease_epoch=claim.lease_epoch,
        interrupts={"task-1": [{"id": interrupt_id, "value": {"question": "ok?"}}]},
    )
    return Thread.objects.get(thread_id=thread.thread_id)


def test_run_start_creates_the_thread_and_a_protocol_run(system_assistant):
    thread_id = uuid.uuid4()
    answer = command(
        APIClient(),
        thread_id,
        "run.start",
        {
            "assistant_id": "agent",
            "input": {"steps": []},
            "config": {"configurable": {"user": "ada"}},
            "metadata": {"by": "test"},
            "multitaskStrategy": "reject",
        },
        id_=7,
    )
    assert answer.status_code == 200
    body = answer.json()
    run = Run.objects.get(thread_id=thread_id)
    assert body == {
        "type": "success",
        "id": 7,
        "result": {"run_id": str(run.run_id)},
        "meta": {"applied_through_seq": 0},
    }
    assert run.kwargs["stream_protocol"] == "v2"
    assert run.kwargs["stream_mode"] == list(RUN_STREAM_MODES)
    assert run.kwargs["subgraphs"] is True
    assert run.kwargs["input"] == {"steps": []}
    assert run.kwargs["config"]["configurable"]["user"] == "ada"
    assert run.metadata["by"] == "test"
    assert run.multitask_strategy == "reject"


def test_run_start_with_input_on_an_interrupted_thread_answers_the_interrupt(system_assistant):
    thread = interrupted_thread(system_assistant)
    answer = command(
        APIClient(), thread.thread_id, "run.start", {"assistant_id": "agent", "input": "yes"}
    )
    assert answer.json()["type"] == "success"
    resumed = Run.objects.get(run_id=answer.json()["result"]["run_id"])
    assert resumed.kwargs["command"] == {"resume": "yes"}
    assert resumed.kwargs["input"] is None


def test_input_respond_resumes_the_pending_interrupts_by_id(system_assistant):
    thread = interrupted_thread(system_assistant)
    answer = command(
        APIClient(),
        thread.thread_id,
        "input.respond",
        {"interrupt_id": "i-1", "namespace": [], "response": {"approved": True}},
    )
    assert answer.json() == {
        "type": "success",
        "id": 1,
        "result": {},
        "meta": {"applied_through_seq": 0},
    }
    resumed = Run.objects.filter(thread_id=thread.thread_id).order_by("-created_at").first()
    assert resumed.kwargs["command"] == {"resume": {"i-1": {"approved": True}}}
    assert resumed.kwargs["stream_protocol"] == "v2"
    assert str(resumed.assistant_id) == thread.metadata["assistant_id"]


def test_input_respond_answers_several_interrupts_at_once_with_an_update(system_assistant):
    thread = interrupted_thread(system_assistant)
    answer = command(
        APIClient(),
        thread.thread_id,
        "input.respond",
        {"responses": [{"interrupt_id": "i-1", "response": "yes"}], "update": {"steps": ["x"]}},
    )
    assert answer.json()["type"] == "success"
    resumed = Run.objects.filter(thread_id=thread.thread_id).order_by("-created_at").first()
    assert resumed.kwargs["command"] == {"resume": {"i-1": "yes"}, "update": {"steps": ["x"]}}


@pytest.mark.parametrize(
    ("method", "params", "error", "message"),
    [
        ("run.start", {}, "invalid_argument", "run.start requires an assistant_id."),
        ("run.start", {"assistant_id": "agent", "config": []}, "invalid_argument", "config"),
        (
            "run.start",
            {"assistant_id": "agent", "config": {"configurable": {"checkpoint_id": "nope"}}},
            "invalid_argument",
            "checkpoint_id",
        ),
        ("run.start", {"assistant_id": "no-such-graph"}, "invalid_argument", "no-such-graph"),
        ("run.start", {"assistant_id": "agent", "input": {}, "interrupt_before": 3}, None, None),
        ("input.respond", {"interrupt_id": "i-2"}, "no_such_interrupt", "i-2"),
        ("input.respond", {}, "invalid_argument", "interrupt_id"),
        ("input.respond", {"responses": []}, "invalid_argument", "at least one"),
        (
            "input.respond",
            {"interrupt_id": "i-1", "namespace": "x"},
            "invalid_argument",
            "namespace",
        ),
        ("subscription.subscribe", {"channels": ["values"]}, "not_supported", "stream/events"),
        ("agent.getTree", {}, "no_such_run", "No active run"),
        ("state.get", {}, "unknown_command", "state.get"),
    ],
)
def test_a_refused_command_is_an_error_envelope_and_changes_nothing(
    system_assistant, method, params, error, message
):
    thread = interrupted_thread(system_assistant)
    before = (Run.objects.count(), Thread.objects.count())
    answer = command(APIClient(), thread.thread_id, method, params, id_=5)
    body = answer.json()
    if error is None:  # an unknown param is ignored, as LangGraph does: a run is made
        assert body["type"] == "success"
        return
    assert answer.status_code == 200
    assert (body["type"], body["id"], body["error"]) == ("error", 5, error)
    assert message in body["message"]
    assert (Run.objects.count(), Thread.objects.count()) == before


@pytest.mark.parametrize(
    "body",
    [
        {"method": "run.start"},
        {"id": "1", "method": "run.start"},
        {"id": True, "method": "run.start"},
        {"id": 1},
        {"id": 1, "method": 5},
        ["run.start"],
    ],
)
def test_a_body_that_is_not_a_command_is_a_400(system_assistant, body):
    thread_id = uuid.uuid4()
    answer = APIClient().post(f"/threads/{thread_id}/commands", body, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_argument"
    assert "integer id and string method" in answer.json()["detail"]
    assert not Thread.objects.filter(thread_id=thread_id).exists()


def test_an_id_beyond_what_clients_read_exactly_is_a_422(system_assistant):
    answer = command(APIClient(), uuid.uuid4(), "run.start", {"assistant_id": "agent"}, id_=2**60)
    assert answer.status_code == 422 and "id must be" in answer.json()["detail"]
    assert not Run.objects.exists()


def test_another_tenants_thread_is_neither_resumed_nor_run_on(settings, system_assistant):
    thread = interrupted_thread(system_assistant)
    thread.tenant = "tenant-a"
    thread.save(update_fields=["tenant"])
    settings.AUTH_ENABLED = True
    _, key_b = account_services.create_api_key(name="b", tenant="tenant-b")
    api = APIClient(HTTP_X_API_KEY=key_b)
    runs = Run.objects.count()
    start = command(api, thread.thread_id, "run.start", {"assistant_id": "agent", "input": "x"})
    respond = command(api, thread.thread_id, "input.respond", {"interrupt_id": "i-1"})
    stream = api.post(
        f"/threads/{thread.thread_id}/stream/events", {"channels": ["values"]}, format="json"
    )
    assert start.json()["type"] == respond.json()["type"] == "error"
    assert "not found" in start.json()["message"] and "not found" in respond.json()["message"]
    assert stream.status_code == 404
    assert Run.objects.count() == runs


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "channels"),
        ({"channels": []}, "channels"),
        ({"channels": ["values", "debug"]}, "debug"),
        ({"channels": ["custom:"]}, "custom:"),
        ({"channels": ["values"], "namespaces": [["a", 1]]}, "namespaces"),
        ({"channels": ["values"], "namespaces": "a"}, "namespaces"),
        ({"channels": ["values"], "depth": -1}, "depth"),
        ({"channels": ["values"], "depth": True}, "depth"),
        ({"channels": ["values"], "since": "3"}, "since"),
        (["values"], "channels"),
    ],
)
def test_a_malformed_stream_request_is_a_422_naming_what(system_assistant, body, named):
    thread = thread_services.thread_create()
    answer = APIClient().post(f"/threads/{thread.thread_id}/stream/events", body, format="json")
    assert answer.status_code == 422
    assert named in answer.json()["detail"]


def test_a_stream_of_an_unknown_thread_is_a_404():
    answer = APIClient().post(
        f"/threads/{uuid.uuid4()}/stream/events", {"channels": ["values"]}, format="json"
    )
    assert answer.status_code == 404
