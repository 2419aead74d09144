"""The worker protocol's pure parts (``workers.protocol``): graph definitions in both shapes,
LangGraph's drawable graph, and what a task hands the SDK. No database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from duragraph_site.errors import InvalidInput
from workers import protocol

FLAT = {  # duragraph 0.3.3
    "graph_id": "hello_world",
    "nodes": [
        {"id": "greet", "type": "function", "config": {"is_entrypoint": True}},
        {"id": "farewell", "type": "function", "config": {}},
    ],
    "edges": [{"source": "greet", "target": "farewell"}],
    "entry_point": "greet",
}
NESTED = {  # duragraph-python 0.2.1
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


# -- graph definitions ----------------------------------------------------------------------------
def test_the_flat_shape_is_read_as_sent():
    definition = protocol.parse_graph_definition(FLAT)
    assert definition == protocol.GraphDefinition(
        "hello_world", FLAT["nodes"], FLAT["edges"], "greet"
    )
    assert definition.as_json() == {
        "graph_id": "hello_world",
        "nodes": FLAT["nodes"],
        "edges": FLAT["edges"],
        "entry_point": "greet",
    }


def test_the_nested_shape_is_read_from_its_graph():
    definition = protocol.parse_graph_definition(NESTED)
    assert (definition.graph_id, definition.entry_point) == ("routed", "route")
    assert [n["id"] for n in definition.nodes] == ["route", "a", "b"]


def test_without_an_entry_point_the_node_marked_entrypoint_is_it():
    body = {key: value for key, value in FLAT.items() if key != "entry_point"}
    assert protocol.parse_graph_definition(body).entry_point == "greet"
    body["nodes"] = [{"id": "x"}]
    assert protocol.parse_graph_definition(body).entry_point is None


def test_missing_nodes_and_edges_are_empty_and_unknown_keys_are_ignored():
    definition = protocol.parse_graph_definition({"graph_id": "g", "description": "", "x": 1})
    assert (definition.nodes, definition.edges, definition.entry_point) == ([], [], None)


@pytest.mark.parametrize(
    ("item", "named"),
    [
        ("hello_world", "graph_id"),
        ({"nodes": []}, "graph_id"),
        ({"graph_id": ""}, "graph_id"),
        ({"graph_id": 7}, "graph_id"),
        ({"graph_id": "g", "nodes": "a"}, "graph_definitions[g].nodes"),
        ({"graph_id": "g", "nodes": [{"type": "function"}]}, "graph_definitions[g].nodes"),
        ({"graph_id": "g", "edges": {"source": "a"}}, "graph_definitions[g].edges"),
        ({"graph_id": "g", "edges": [{"target": "a"}]}, "graph_definitions[g].edges"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_field(item, named):
    with pytest.raises(InvalidInput, match=named.replace("[", r"\[").replace("]", r"\]")):
        protocol.parse_graph_definition(item)


# -- drawing --------------------------------------------------------------------------------------
def test_a_definition_is_drawn_with_start_and_end():
    drawn = protocol.drawable(protocol.parse_graph_definition(FLAT).as_json())
    assert [n["id"] for n in drawn["nodes"]] == [protocol.START, "greet", "farewell", protocol.END]
    assert drawn["nodes"][1] == {"id": "greet", "type": "runnable", "data": {"name": "greet"}}
    assert drawn["edges"] == [
        {"source": protocol.START, "target": "greet"},
        {"source": "greet", "target": "farewell"},
        {"source": "farewell", "target": protocol.END},  # no way out: the run ends
    ]


def test_a_map_target_draws_a_conditional_edge_per_route():
    drawn = protocol.drawable(protocol.parse_graph_definition(NESTED).as_json())
    assert {"source": "route", "target": "a", "data": "left", "conditional": True} in drawn["edges"]
    assert {"source": "route", "target": "b", "data": "right", "conditional": True} in drawn[
        "edges"
    ]
    ends = {e["source"] for e in drawn["edges"] if e["target"] == protocol.END}
    assert ends == {"a", "b"}


def test_a_string_edge_marked_conditional_stays_conditional_and_no_entry_draws_no_start_edge():
    definition = {
        "graph_id": "g",
        "nodes": [{"id": "a"}, {"id": "b"}],
        "edges": [{"source": "a", "target": "b", "conditional": True}],
        "entry_point": None,
    }
    edges = protocol.drawable(definition)["edges"]
    assert edges == [
        {"source": "a", "target": "b", "conditional": True},
        {"source": "b", "target": protocol.END},
    ]


# -- tasks ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "thread_values", "expected"),
    [
        ({"input": {"name": "Django"}}, None, {"name": "Django"}),
        ({"input": None}, {"old": 1}, {}),  # never null: the SDK calls .copy() on it
        ({}, None, {}),
        ({"input": "hi"}, None, {"input": "hi"}),  # not an object: wrapped
        ({"input": [1, 2]}, None, {"input": [1, 2]}),
        # A resume starts from the thread's values (the SDK has no resume of its own).
        ({"command": {"resume": "yes"}}, {"draft": "d1"}, {"draft": "d1", "resume": "yes"}),
        ({"command": {"resume": None}}, None, {"resume": None}),
        ({"command": {"resume": "yes"}}, ["not", "a", "dict"], {"resume": "yes"}),
        ({"input": {"a": 1}, "command": {"resume": "yes"}}, {"b": 2}, {"a": 1, "resume": "yes"}),
        ({"command": {"update": {"x": 2}}}, {"x": 1, "y": 1}, {"x": 2, "y": 1}),
        ({"command": {"goto": "node"}}, {"x": 1}, {}),
    ],
)
def test_task_input(kwargs, thread_values, expected):
    assert protocol.task_input(kwargs, thread_values) == expected


def test_task_input_does_not_modify_the_thread_s_values():
    values = {"draft": "d1"}
    protocol.task_input({"command": {"resume": "ok", "update": {"x": 1}}}, values)
    assert values == {"draft": "d1"}


def test_a_task_has_the_legacy_go_server_s_shape():
    run_id, thread_id, assistant_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    created = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    task = protocol.task(
        run_id=run_id,
        thread_id=thread_id,
        assistant_id=assistant_id,
        graph_id="hello_world",
        input_={"name": "Django"},
        config={"configurable": {"k": 1}},
        command=None,
        lease_epoch=3,
        created_at=created,
    )
    assert task == {
        "task_id": str(run_id),
        "run_id": str(run_id),
        "thread_id": str(thread_id),
        "assistant_id": str(assistant_id),
        "graph_id": "hello_world",
        "input": {"name": "Django"},
        "config": {"configurable": {"k": 1}},
        "command": None,
        "lease_epoch": 3,
        "created_at": "2026-01-01T12:00:00+00:00",
    }
