"""``/a2a/{assistant_id}`` against PostgreSQL: what is not a request, an unknown method, agent or
task is a JSON-RPC error with A2A's code and writes nothing; a message starts a run on its
context's thread; a task is its run (submitted, completed with its answer, waiting for input and
answered by a message on it, cancelled); another tenant's agent and tasks are unknown; the agent
cards. The runs executed end to end with the official client: tests/e2e/test_a2a_client.py."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from rest_framework.test import APIClient

from accounts import selectors as account_selectors
from accounts import services as account_services
from assistants import domain as assistant_domain
from assistants import services as assistant_services
from events.models import Event
from runs import services
from runs.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(db) -> uuid.UUID:
    """The ``chat`` graph's default assistant (its state has ``messages``)."""
    assistant_services.assistant_ensure_default(graph_id="chat")
    return assistant_domain.system_assistant_id("chat")


@pytest.fixture
def approval(db) -> uuid.UUID:
    """The ``approval`` graph's default assistant (it asks with ``interrupt()``)."""
    assistant_services.assistant_ensure_default(graph_id="approval")
    return assistant_domain.system_assistant_id("approval")


def post(api: APIClient, assistant_id, body, **headers):
    return api.post(
        f"/a2a/{assistant_id}", json.dumps(body), content_type="application/json", **headers
    )


def rpc(method: str, params: dict | None = None, request_id: int | str = 1) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}


def send(text: str = "hi", *, blocking: bool = False, message_id: str = "m1", **message) -> dict:
    return rpc(
        "message/send",
        {
            "message": {
                "role": "user",
                "messageId": message_id,
                "parts": [{"kind": "text", "text": text}],
                **message,
            },
            "configuration": {"blocking": blocking},
        },
    )


def refusal(answer) -> tuple[int, str]:
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert set(body) == {"jsonrpc", "id", "error"}
    return body["error"]["code"], body["error"]["message"]


def sse_events(answer) -> list[dict]:
    """The JSON-RPC responses of an A2A SSE answer (its events are all ``message``)."""
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/event-stream")

    async def read() -> bytes:
        return b"".join([chunk async for chunk in answer.streaming_content])

    frames = asyncio.run(read()).decode().split("\r\n\r\n")
    assert all(frame.startswith("event: message\r\ndata: ") for frame in frames if frame)
    return [json.loads(frame.split("data: ", 1)[1].split("\r\n")[0]) for frame in frames if frame]


def finish(run_id: uuid.UUID, **end) -> None:
    """What an executor does: lease the run, then end it as *end* says."""
    claim = services.run_start(run_id=run_id, worker_id="test")
    if "interrupts" in end:
        services.run_interrupt(run_id=run_id, lease_epoch=claim.lease_epoch, **end)
    else:
        services.run_complete(run_id=run_id, lease_epoch=claim.lease_epoch, **end)


@pytest.mark.parametrize(
    ("body", "code", "request_id"),
    [
        ([rpc("tasks/get")], -32600, None),
        ({"id": 4, "method": "tasks/get"}, -32600, 4),
        ({"jsonrpc": "2.0", "method": "tasks/get"}, -32600, None),
        ({"jsonrpc": "2.0", "id": 5, "method": 9}, -32601, 5),
        (rpc("tasks/list", request_id="x"), -32601, "x"),
        (rpc("agent/getAuthenticatedExtendedCard"), -32601, 1),
        (rpc("tasks/pushNotificationConfig/set"), -32003, 1),
        ({"jsonrpc": "2.0", "id": 6, "method": "message/send", "params": "hi"}, -32602, 6),
    ],
)
def test_what_is_not_an_a2a_request_is_a_json_rpc_error_and_writes_nothing(
    chat, body, code, request_id
):
    events = Event.objects.count()
    answer = post(APIClient(), chat, body)
    assert refusal(answer)[0] == code
    assert answer.json()["id"] == request_id
    assert Event.objects.count() == events and not Run.objects.exists()


def test_not_json_is_refused_as_everywhere(chat):
    answer = APIClient().post(f"/a2a/{chat}", "{not json", content_type="application/json")
    assert answer.status_code == 422 and "JSON parse error" in answer.json()["detail"]


@pytest.mark.parametrize("assistant_id", [uuid.uuid4(), "chat", "nope"])
def test_an_unknown_agent_is_an_invalid_params_error(db, assistant_id):
    for body in (send(), rpc("tasks/get", {"id": str(uuid.uuid4())})):
        code, message = refusal(post(APIClient(), assistant_id, body))
        assert code == -32602
        assert message == (
            "Invalid assistant ID: must be a UUID"
            if isinstance(assistant_id, str)
            else f"Assistant '{assistant_id}' not found"
        )
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"id": f"{uuid.uuid4()}:{uuid.uuid4()}"}, -32001),
        ({"id": str(uuid.uuid4())}, -32001),
        ({"id": "not-a-task"}, -32001),
        ({}, -32602),
    ],
)
def test_an_unknown_task_is_task_not_found(chat, params, code):
    for method in ("tasks/get", "tasks/cancel"):
        assert refusal(post(APIClient(), chat, rpc(method, params)))[0] == code
    answer = post(APIClient(), chat, send(taskId=params.get("id", "x")))
    assert refusal(answer)[0] == -32001


@pytest.mark.parametrize(
    ("body", "code", "why"),
    [
        (send(role="nobody"), -32602, "role"),
        (send(contextId="not-a-uuid"), -32602, "contextId"),
        (
            rpc("message/send", {"message": {"role": "user", "messageId": "m", "parts": []}}),
            -32602,
            "parts",
        ),
        (
            rpc(
                "message/send",
                {"message": {"role": "user", "messageId": "m", "parts": [{"kind": "video"}]}},
            ),
            -32005,
            "text, file or data",
        ),
    ],
)
def test_a_message_refused_writes_nothing(chat, body, code, why):
    events = Event.objects.count()
    refused = refusal(post(APIClient(), chat, body))
    assert refused[0] == code and why in refused[1]
    assert Event.objects.count() == events and not Run.objects.exists()


def test_text_to_a_graph_without_messages_is_refused(approval):
    code, message = refusal(post(APIClient(), approval, send()))
    assert code == -32602 and "takes no messages" in message and "request" in message
    assert not Run.objects.exists()


def test_a_message_starts_a_run_on_its_context_and_the_task_is_that_run(chat):
    api = APIClient()
    submitted = post(api, chat, send("hello")).json()["result"]
    run = Run.objects.get()
    assert run.assistant_id == chat
    assert run.kwargs["input"] == {"messages": [{"role": "human", "content": "hello", "id": "m1"}]}
    assert submitted["id"] == f"{run.thread_id}:{run.run_id}"
    assert submitted["contextId"] == str(run.thread_id)
    assert submitted["status"]["state"] == "submitted"
    assert submitted["history"][0]["parts"] == [{"kind": "text", "text": "hello"}]

    pending = post(api, chat, rpc("tasks/get", {"id": submitted["id"]})).json()["result"]
    assert pending["status"]["state"] == "submitted" and "artifacts" not in pending
    assert [m["messageId"] for m in pending["history"]] == ["m1"]

    finish(
        run.run_id,
        output={
            "messages": [
                {"type": "human", "content": "hello", "id": "m1"},
                {"type": "ai", "content": "Hello there", "id": "a1"},
            ]
        },
    )
    done = post(api, chat, rpc("tasks/get", {"id": str(run.run_id)}, "g")).json()
    assert done["id"] == "g"
    task = done["result"]
    assert task["id"] == submitted["id"] and task["status"]["state"] == "completed"
    assert task["artifacts"][0]["parts"] == [{"kind": "text", "text": "Hello there"}]
    assert [(m["role"], m["taskId"]) for m in task["history"]] == [
        ("user", submitted["id"]),
        ("agent", submitted["id"]),
    ]
    short = post(api, chat, rpc("tasks/get", {"id": task["id"], "historyLength": 1})).json()
    assert [m["messageId"] for m in short["result"]["history"]] == ["a1"]

    # The same context goes on in the same thread; the ended task takes no more messages.
    post(api, chat, send("again", message_id="m2", contextId=task["contextId"]))
    assert Run.objects.filter(thread_id=run.thread_id).count() == 2
    code, _ = refusal(post(api, chat, send("more", message_id="m3", taskId=task["id"])))
    assert code == -32004
    assert Run.objects.count() == 2


def test_a_task_that_asks_for_input_is_answered_by_a_message_on_it(approval):
    api = APIClient()
    body = send()
    body["params"]["message"]["parts"] = [{"kind": "data", "data": {"request": "a refund"}}]
    task_id = post(api, approval, body).json()["result"]["id"]
    first = Run.objects.get()
    assert first.kwargs["input"] == {"request": "a refund"}
    asked = [{"id": "i1", "value": {"question": "Approve a refund?"}}]
    finish(first.run_id, interrupts={"ask": asked}, output={"request": "a refund"})

    waiting = post(api, approval, rpc("tasks/get", {"id": task_id})).json()["result"]
    assert waiting["status"]["state"] == "input-required"
    assert waiting["status"]["message"]["parts"][0]["data"]["value"] == asked[0]["value"]
    assert refusal(post(api, approval, rpc("tasks/cancel", {"id": task_id})))[0] == -32002

    answer = send("yes", message_id="m2", taskId=task_id)
    resumed = post(api, approval, answer).json()["result"]
    assert resumed["id"] == task_id and resumed["status"]["state"] == "submitted"
    second = Run.objects.exclude(run_id=first.run_id).get()
    assert second.thread_id == first.thread_id
    assert second.kwargs["command"] == {"resume": "yes"}
    assert second.metadata["a2a"] == {"task_id": task_id}
    # The task is now at its latest run, asked for by any of its ids.
    for asked_as in (task_id, str(first.run_id)):
        latest = post(api, approval, rpc("tasks/get", {"id": asked_as})).json()["result"]
        assert latest["id"] == task_id and latest["status"]["state"] == "submitted"


def test_a_pending_task_is_cancelled_then_is_not_cancelable(chat):
    api = APIClient()
    task_id = post(api, chat, send()).json()["result"]["id"]
    cancelled = post(api, chat, rpc("tasks/cancel", {"id": task_id})).json()["result"]
    assert cancelled["status"]["state"] == "canceled"
    assert Run.objects.get().status == "interrupted"
    code, message = refusal(post(api, chat, rpc("tasks/cancel", {"id": task_id})))
    assert code == -32002 and "canceled" in message
    # Resubscribed once it is over: the task as it ended, and the stream ends.
    (event,) = sse_events(post(api, chat, rpc("tasks/resubscribe", {"id": task_id}, 7)))
    assert event["id"] == 7 and event["result"]["status"]["state"] == "canceled"


def test_a_task_is_its_agents_only(chat, approval):
    api = APIClient()
    task_id = post(api, chat, send()).json()["result"]["id"]
    assert refusal(post(api, approval, rpc("tasks/get", {"id": task_id})))[0] == -32001


def test_another_tenants_agent_and_tasks_are_unknown(settings, chat):
    settings.AUTH_ENABLED = True
    account_selectors.forget_cached_keys()
    theirs = assistant_services.assistant_create(graph_id="chat", name="theirs", tenant="tenant-b")
    _, key_a = account_services.create_api_key(name="a", tenant="tenant-a")
    _, key_b = account_services.create_api_key(name="b", tenant="tenant-b")
    try:
        a, b = APIClient(HTTP_X_API_KEY=key_a), APIClient(HTTP_X_API_KEY=key_b)
        assert refusal(post(a, theirs.assistant_id, send()))[0] == -32602
        assert a.get(f"/a2a/{theirs.assistant_id}").status_code == 404
        task_id = post(b, chat, send()).json()["result"]["id"]
        assert refusal(post(a, chat, rpc("tasks/get", {"id": task_id})))[0] == -32001
        assert refusal(post(a, chat, rpc("tasks/cancel", {"id": task_id})))[0] == -32001
        assert post(APIClient(), chat, rpc("tasks/get", {"id": task_id})).status_code == 401
    finally:
        account_selectors.forget_cached_keys()
    assert Run.objects.get().status == "pending"


def test_the_agent_card_at_every_path_langgraph_serves_it(chat):
    api = APIClient()
    cards = [
        api.get("/.well-known/agent-card.json", {"assistant_id": str(chat)}),
        api.get(f"/a2a/{chat}"),
        api.get(f"/a2a/{chat}/"),
        api.get(f"/a2a/{chat}/.well-known/agent-card.json"),
        api.get(f"/a2a/{chat}/.well-known/agent.json"),
    ]
    assert {response.status_code for response in cards} == {200}
    card = cards[0].json()
    assert all(response.json() == card for response in cards)
    assert card["name"] == "chat" and card["url"] == f"http://testserver/a2a/{chat}"
    assert card["protocolVersion"] == "0.3.0" and card["preferredTransport"] == "JSONRPC"
    assert card["skills"][0]["metadata"]["inputSchema"]["supportsA2A"] is True


def test_an_agent_card_for_nothing_is_a_json_refusal(db):
    api = APIClient()
    assert api.get("/.well-known/agent-card.json").status_code == 422
    assert api.get("/.well-known/agent-card.json", {"assistant_id": "x"}).status_code == 422
    unknown = api.get(f"/a2a/{uuid.uuid4()}/.well-known/agent-card.json")
    assert unknown.status_code == 404 and set(unknown.json()) == {"detail"}


def test_a_stream_refused_is_an_event_a_streaming_client_reads(chat):
    answer = APIClient().post(
        f"/a2a/{chat}",
        json.dumps(rpc("message/stream", {"message": {"role": "user"}}, 3)),
        content_type="application/json",
        HTTP_ACCEPT="text/event-stream",
    )
    (event,) = sse_events(answer)
    assert event["id"] == 3 and event["error"]["code"] == -32602
    assert not Run.objects.exists()
