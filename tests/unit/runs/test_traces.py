"""A run's trace folded from its events, without IO: attempts with their worker and lease
epoch, node spans with their outcome and duration, subgraph nodes named as the drawing names
them, tokens counted where a node's messages report them, and the timeline's proportions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from runs.traces import node_path, trace
from tests.unit.runs.test_frames import NOW, event


def at(seconds: float, version: int, type_: str, payload: dict | None = None):
    return replace(event(version, type_, payload), created_at=NOW + timedelta(seconds=seconds))


def started(seconds, version, node, task, namespace=()):
    payload = {"node": node, "task_id": task, "namespace": list(namespace)}
    return at(seconds, version, "NodeStarted", payload)


def completed(seconds, version, node, task, **outcome):
    return at(seconds, version, "NodeCompleted", {"node": node, "task_id": task, **outcome})


def test_subgraph_nodes_are_named_by_their_parents():
    assert node_path("b", []) == "b"
    assert node_path("inner", ["outer:0a1b", "deeper:9f"]) == "outer:deeper:inner"


def test_attempts_and_spans():
    result = trace(
        [
            at(0, 1, "RunCreated"),
            at(1, 2, "RunStarted", {"attempt": 1, "worker_id": "w1", "lease_epoch": 1}),
            started(1, 3, "a", "t1"),
            at(5, 4, "RunLeaseExpired", {"lease_epoch": 1, "worker_id": "w1"}),
            at(6, 5, "RunRetried", {"available_at": "x", "reason": "lease"}),
            at(7, 6, "RunStarted", {"attempt": 2, "worker_id": "w2", "lease_epoch": 2}),
            started(7, 7, "a", "t1"),
            completed(8, 8, "a", "t1"),
            started(8, 9, "b", "t2"),
            completed(9, 10, "b", "t2", error={"error": "ValueError", "message": "boom"}),
            at(10, 11, "RunFailed", {"lease_epoch": 2, "error": "ValueError", "message": "boom"}),
        ]
    )
    first, second = result.attempts
    assert (first.number, first.worker_id, first.lease_epoch, first.outcome) == (
        1,
        "w1",
        1,
        "RunLeaseExpired",
    )
    assert [(s.node, s.state, s.seconds) for s in first.spans] == [("a", "running", None)]
    assert [(s.node, s.state, s.seconds, s.version) for s in second.spans] == [
        ("a", "done", 1.0, 7),
        ("b", "failed", 1.0, 9),
    ]
    assert second.spans[1].error == {"error": "ValueError", "message": "boom"}
    assert result.node_states() == {"a": "done", "b": "failed"}
    assert result.seconds == 10.0
    rows = result.rows()
    # The dead worker's span runs to the end of its attempt; the bars sit where they happened.
    assert [(bar["left"], bar["width"]) for bar in rows[0]["bars"]] == [(10.0, 40.0)]
    assert [(bar["left"], bar["width"]) for bar in rows[1]["bars"]] == [(70.0, 10.0), (80.0, 10.0)]


def test_interrupted_nodes_and_tokens_of_the_streaming_node():
    chunk = {
        "mode": "messages",
        "data": [{"type": "AIMessageChunk", "usage_metadata": {"total_tokens": 7}}, {}],
    }
    result = trace(
        [
            at(0, 1, "RunCreated"),
            at(0, 2, "RunStarted", {"attempt": 1, "worker_id": "w", "lease_epoch": 1}),
            started(0, 3, "outer", "t1"),
            started(0, 4, "inner", "t2", namespace=["outer:t1"]),
            at(0, 5, "RunOutputStreamed", chunk),
            at(0, 6, "RunOutputStreamed", {"mode": "values", "data": {"usage_metadata": 99}}),
            completed(1, 7, "inner", "t2", interrupted=True),
            completed(1, 8, "outer", "t1", interrupted=True),
        ]
    )
    spans = result.attempts[0].spans
    assert [(s.node, s.state, s.tokens) for s in spans] == [
        ("outer", "interrupted", 0),
        ("outer:inner", "interrupted", 7),
    ]
    assert result.tokens == 7
    assert result.attempts[0].outcome is None  # still going as far as these events say


def test_a_run_not_started_has_no_attempts():
    result = trace([at(0, 1, "RunCreated")])
    assert result.attempts == [] and result.rows() == [] and result.node_states() == {}
