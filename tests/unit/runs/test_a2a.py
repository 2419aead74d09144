"""A2A's requests and shapes (runs.a2a): what /a2a/{assistant_id} parses and answers, without
I/O."""

from __future__ import annotations

import uuid

import pytest

from runs import a2a

THREAD = uuid.UUID("00000000-0000-0000-0000-00000000000a")
RUN = uuid.UUID("00000000-0000-0000-0000-00000000000b")
TASK = f"{THREAD}:{RUN}"


def send_params(**message) -> dict:
    return {
        "message": {
            "role": "user",
            "messageId": "m1",
            "parts": [{"kind": "text", "text": "hi"}],
            **message,
        }
    }


def run(status: str = "success", result=None, awaiting_input: bool = False) -> a2a.TaskRun:
    return a2a.TaskRun(
        task_id=TASK,
        context_id=str(THREAD),
        run_id=str(RUN),
        status=status,
        awaiting_input=awaiting_input,
        result=result,
        timestamp="2026-01-01T00:00:00+00:00",
    )


@pytest.mark.parametrize(
    ("body", "code", "request_id"),
    [
        ([{"jsonrpc": "2.0", "id": 1, "method": "tasks/get"}], -32600, None),
        ("tasks/get", -32600, None),
        ({"jsonrpc": "2.0", "method": "tasks/get"}, -32600, None),
        ({"jsonrpc": "2.0", "id": True, "method": "tasks/get"}, -32600, None),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "tasks/get"}, -32600, None),
        ({"id": 1, "method": "tasks/get"}, -32600, 1),
        ({"jsonrpc": "2.0", "id": "a"}, -32600, "a"),
        ({"jsonrpc": "2.0", "id": 2, "method": 7}, -32601, 2),
        ({"jsonrpc": "2.0", "id": 3, "method": "tasks/get", "params": [1]}, -32602, 3),
    ],
)
def test_what_is_not_one_json_rpc_request_is_refused_with_its_code(body, code, request_id):
    with pytest.raises(a2a.RpcError) as refused:
        a2a.parse_request(body)
    assert (refused.value.code, refused.value.request_id) == (code, request_id)


def test_a_request_without_params_has_empty_ones():
    request = a2a.parse_request({"jsonrpc": "2.0", "id": 0, "method": "tasks/get"})
    assert (request.id, request.method, request.params) == (0, "tasks/get", {})
    assert a2a.error(None, -32600, "no") == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "no"},
    }


@pytest.mark.parametrize(
    ("params", "code", "why"),
    [
        ({}, -32602, "params.message"),
        (send_params(messageId=""), -32602, "messageId"),
        (send_params(role="system"), -32602, "role"),
        (send_params(parts=[]), -32602, "parts"),
        (send_params(parts=[{"kind": "text", "text": 3}]), -32602, r"parts\[0\]\.text"),
        (send_params(parts=[{"kind": "data", "data": [1]}]), -32602, r"parts\[0\]\.data"),
        (send_params(parts=[{"kind": "file", "file": {}}]), -32602, "bytes or uri"),
        (send_params(parts=[{"kind": "video", "url": "x"}]), -32005, "text, file or data"),
        (send_params(contextId="not-a-thread"), -32602, "contextId"),
        (send_params(taskId=7), -32602, "taskId"),
        ({**send_params(), "configuration": {"blocking": "no"}}, -32602, "blocking"),
        ({**send_params(), "configuration": {"historyLength": -1}}, -32602, "historyLength"),
    ],
)
def test_a_message_that_cannot_be_sent_is_refused_naming_what(params, code, why):
    with pytest.raises(a2a.RpcError, match=why) as refused:
        a2a.parse_send_params(params)
    assert refused.value.code == code


def test_text_becomes_the_runs_message_and_data_its_fields():
    params = a2a.parse_send_params(
        send_params(
            contextId=str(THREAD),
            parts=[{"kind": "text", "text": "hello"}, {"kind": "data", "data": {"topic": "x"}}],
        )
    )
    assert params.blocking is True and params.history_length is None
    assert params.message.context_id == THREAD and params.message.speaks
    assert params.message.run_input() == {
        "topic": "x",
        "messages": [{"role": "human", "content": "hello", "id": "m1"}],
    }


def test_several_text_and_file_parts_are_one_message_of_content_blocks():
    params = a2a.parse_send_params(
        send_params(
            role="agent",
            parts=[
                {"text": "look"},  # 0.2's parts have no kind
                {"kind": "file", "file": {"uri": "https://x/cat.png", "mimeType": "image/png"}},
                {"kind": "file", "file": {"bytes": "aGk=", "name": "a.txt"}},
            ],
        )
    )
    (message,) = params.message.run_input()["messages"]
    assert message["role"] == "ai"
    assert message["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image", "url": "https://x/cat.png", "mime_type": "image/png"},
        {"type": "file", "base64": "aGk=", "extras": {"filename": "a.txt"}},
    ]


def test_data_only_is_the_input_as_it_is_and_speaks_no_message():
    params = a2a.parse_send_params(send_params(parts=[{"kind": "data", "data": {"request": "x"}}]))
    assert not params.message.speaks
    assert params.message.run_input() == {"request": "x"}


@pytest.mark.parametrize(
    ("parts", "resume"),
    [
        (
            [{"kind": "data", "data": {"resume": {"ok": True}}}, {"kind": "text", "text": "y"}],
            {"ok": True},
        ),
        ([{"kind": "text", "text": "yes"}, {"kind": "text", "text": "sure"}], "yes\nsure"),
        ([{"kind": "data", "data": {"answer": 1}}], {"answer": 1}),
    ],
)
def test_what_answers_an_interrupt(parts, resume):
    assert a2a.parse_send_params(send_params(parts=parts)).message.resume_value() == resume


def test_task_ids_name_the_context_and_run():
    assert a2a.task_id(THREAD, RUN) == TASK
    assert a2a.parse_task_id(TASK) == (THREAD, RUN)
    assert a2a.parse_task_id(str(RUN)) == (None, RUN)
    assert a2a.parse_task_id("nope") == (None, None)
    query = a2a.parse_task_query({"id": str(RUN), "contextId": str(THREAD), "historyLength": 2})
    assert (query.thread_id, query.run_id, query.history_length) == (THREAD, RUN, 2)
    assert a2a.run_task_id(THREAD, RUN, {"a2a": {"task_id": "t"}}) == "t"
    assert a2a.run_task_id(THREAD, RUN, {}) == TASK


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, -32602),
        ({"id": 5}, -32602),
        ({"id": "nope"}, -32001),
        ({"id": TASK, "contextId": str(uuid.uuid4())}, -32001),
        ({"id": TASK, "contextId": "nope"}, -32001),
        ({"id": TASK, "historyLength": "3"}, -32602),
    ],
)
def test_a_task_query_that_names_no_task_of_ours_is_refused(params, code):
    with pytest.raises(a2a.RpcError) as refused:
        a2a.parse_task_query(params)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("status", "awaiting", "state"),
    [
        ("pending", False, "submitted"),
        ("running", False, "working"),
        ("success", False, "completed"),
        ("error", False, "failed"),
        ("timeout", False, "failed"),
        ("interrupted", True, "input-required"),
        ("interrupted", False, "canceled"),
    ],
)
def test_run_statuses_as_task_states(status, awaiting, state):
    assert a2a.task_state(status, awaiting_input=awaiting) == state


CONVERSATION = [
    {"type": "system", "content": "be nice", "id": "s"},
    {"type": "human", "content": "hi", "id": "m1"},
    {"type": "ai", "content": "", "id": "call", "tool_calls": [{"name": "x"}]},
    {"type": "tool", "content": "42", "id": "t"},
    {"type": "ai", "content": [{"type": "text", "text": "Hello"}], "id": "a1"},
    {"type": "human", "content": "again", "id": "m2"},
    {"type": "ai", "content": "Hi again", "id": "a2"},
]


def test_the_history_is_the_conversation_each_turn_with_its_task():
    history = a2a.history(CONVERSATION, context_id="c", task_of={"m1": "t1", "m2": "t2"})
    assert [(m["role"], m["messageId"], m.get("taskId")) for m in history] == [
        ("user", "m1", "t1"),
        ("agent", "a1", "t1"),
        ("user", "m2", "t2"),
        ("agent", "a2", "t2"),
    ]
    assert history[1]["parts"] == [{"kind": "text", "text": "Hello"}]
    assert all(m["contextId"] == "c" and m["kind"] == "message" for m in history)
    assert [
        m["messageId"] for m in a2a.history(CONVERSATION, context_id="c", task_of={}, length=1)
    ] == ["a2"]
    assert a2a.history(CONVERSATION, context_id="c", task_of={}, length=0) == []
    assert "taskId" not in a2a.history(CONVERSATION, context_id="c", task_of={})[0]


def test_the_reply_is_the_last_ai_message_of_the_turn_else_the_values():
    assert a2a.reply_parts({"messages": CONVERSATION}) == [{"kind": "text", "text": "Hi again"}]
    unanswered = {"messages": [*CONVERSATION, {"type": "human", "content": "?", "id": "m3"}]}
    assert a2a.reply_parts(unanswered) == [{"kind": "text", "text": ""}]
    assert a2a.reply_parts({"items": [1]}) == [{"kind": "data", "data": {"items": [1]}}]


def test_a_completed_task_carries_its_answer_as_an_artifact():
    task = a2a.task(run(result={"messages": CONVERSATION}), history_messages=[])
    assert task["kind"] == "task" and task["id"] == TASK and task["contextId"] == str(THREAD)
    assert task["status"] == {"state": "completed", "timestamp": "2026-01-01T00:00:00+00:00"}
    (artifact,) = task["artifacts"]
    assert artifact["artifactId"] == f"response-{RUN}"
    assert artifact["parts"] == [{"kind": "text", "text": "Hi again"}]
    assert task["history"] == []
    assert "history" not in a2a.task(run(result={}), history_messages=None)


def test_a_task_waiting_for_input_shows_what_it_asks():
    asked = {"__interrupt__": [{"id": "i1", "value": {"question": "Approve?"}}]}
    task = a2a.task(run("interrupted", asked, awaiting_input=True), history_messages=None)
    assert task["status"]["state"] == "input-required"
    expected = [{"kind": "data", "data": {"id": "i1", "value": {"question": "Approve?"}}}]
    assert task["status"]["message"]["parts"] == expected
    assert task["artifacts"][0]["parts"] == expected


def test_a_failed_or_cancelled_task_says_why():
    failed = a2a.task(
        run("error", {"__error__": {"error": "ValueError", "message": "boom"}}),
        history_messages=None,
    )
    assert failed["status"]["state"] == "failed" and "artifacts" not in failed
    assert failed["status"]["message"]["parts"][0]["text"] == "The run failed: ValueError: boom"
    cancelled = a2a.task(run("interrupted", {}), history_messages=None)
    assert cancelled["status"]["state"] == "canceled"


def test_a_stream_says_working_then_the_text_so_far_then_ends_with_the_answer():
    updates = a2a.StreamUpdates(run("running"))
    started = updates.feed("metadata", {"run_id": str(RUN), "attempt": 1})
    assert [u["status"]["state"] for u in started] == ["working"]
    assert all(u["final"] is False and u["kind"] == "status-update" for u in started)
    partial = [{"type": "AIMessageChunk", "content": "Hel", "id": "a1"}]
    (update,) = updates.feed("messages/partial", partial)
    assert update["status"]["message"]["parts"] == [{"kind": "text", "text": "Hel"}]
    assert update["status"]["message"]["messageId"] == "a1"
    assert updates.feed("values", {"messages": []}) == []
    assert updates.feed("messages/metadata", {"a1": {}}) == []
    artifact, final = a2a.StreamUpdates.end(run(result={"messages": CONVERSATION}))
    assert artifact["kind"] == "artifact-update" and artifact["lastChunk"] is True
    assert artifact["artifact"]["parts"] == [{"kind": "text", "text": "Hi again"}]
    assert final["final"] is True and final["status"]["state"] == "completed"
    (failed,) = a2a.StreamUpdates.end(run("error", {"__error__": {"error": "E"}}))
    assert failed["status"]["state"] == "failed" and failed["final"] is True


def test_the_agent_card_is_a_0_3_card_with_its_url_and_one_skill():
    card = a2a.agent_card(
        assistant_id="a",
        name="chat",
        description=None,
        url="http://x/a2a/a",
        version="1",
        input_properties=["messages"],
    )
    assert card["protocolVersion"] == "0.3.0" and card["preferredTransport"] == "JSONRPC"
    assert card["url"] == "http://x/a2a/a" and card["description"] == "chat assistant"
    assert card["capabilities"]["streaming"] is True
    assert card["capabilities"]["pushNotifications"] is False
    assert card["skills"][0]["metadata"]["inputSchema"]["supportsA2A"] is True
