"""The assistant aggregate: versions, set-latest, context mirroring, with no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from assistants import domain
from duragraph_site.errors import BadRequest, IllegalTransition, InvalidInput, NotFound
from events.testing import play

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def step(state, new_events, at=T0):
    return play(domain.apply, state, new_events, at=at, version_of=lambda s: s.stream_version)


def new_assistant(**overrides) -> domain.AssistantState:
    fields = {"assistant_id": uuid.uuid4(), "graph_id": "agent"}
    fields.update(overrides)
    return step(None, domain.create(**fields))


def test_create_defaults_match_langgraph():
    a = new_assistant()
    assert (a.version, a.name, a.description, a.config, a.context, a.metadata) == (
        1,
        "Untitled",
        None,
        {},
        {},
        {},
    )
    assert [v.version for v in a.versions] == [1]


def test_system_assistant_id_is_langgraphs_uuid5():
    assert domain.system_assistant_id("agent") == uuid.uuid5(
        uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "agent"
    )


@pytest.mark.parametrize(
    ("config", "context", "expected_config", "expected_context"),
    [
        ({"configurable": {"model": "m"}}, {}, {"configurable": {"model": "m"}}, {"model": "m"}),
        ({}, {"model": "m"}, {"configurable": {"model": "m"}}, {"model": "m"}),
        ({"tags": ["t"]}, {}, {"tags": ["t"]}, {}),
        ({"tags": ["t"], "configurable": {}}, {}, {"tags": ["t"], "configurable": {}}, {}),
    ],
)
def test_context_and_configurable_mirror_each_other(
    config, context, expected_config, expected_context
):
    a = new_assistant(config=config, context=context)
    assert (a.config, a.context) == (expected_config, expected_context)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"graph_id": ""}, "graph_id"),
        ({"config": {"configurable": "x"}}, "configurable must be a JSON object"),
        ({"metadata": {"t": datetime(2026, 1, 1)}}, "metadata.t holds a datetime"),
        ({"name": 7}, "name must be"),
        ({"description": 7}, "description must be"),
    ],
)
def test_create_rejects_bad_fields(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        new_assistant(**overrides)


def test_giving_both_configurable_and_context_is_a_bad_request():
    with pytest.raises(BadRequest, match="Cannot specify both configurable and context"):
        new_assistant(config={"configurable": {"a": 1}}, context={"b": 2})


def test_updating_context_alone_keeps_the_rest_of_config_and_mirrors_it():
    a = new_assistant(config={"tags": ["t"], "configurable": {"model": "x"}})
    b = step(a, domain.update(a, context={"model": "y"}))
    assert (b.config, b.context) == (
        {"tags": ["t"], "configurable": {"model": "y"}},
        {"model": "y"},
    )
    c = step(b, domain.update(b, config={"recursion_limit": 5}))
    assert (c.config, c.context) == (
        {"recursion_limit": 5, "configurable": {"model": "y"}},
        {"model": "y"},
    )
    d = step(c, domain.update(c, config={"configurable": {"model": "z"}}))
    assert (d.config, d.context) == ({"configurable": {"model": "z"}}, {"model": "z"})


def test_update_snapshots_a_new_active_version_carrying_unspecified_fields():
    a = new_assistant(name="first", metadata={"a": 1}, context={"model": "x"})
    later = T0 + timedelta(seconds=1)
    b = step(a, domain.update(a, name="second", metadata={"b": 2}), at=later)
    assert (b.version, b.name, b.metadata, b.context, b.graph_id) == (
        2,
        "second",
        {"a": 1, "b": 2},
        {"model": "x"},
        "agent",
    )
    assert [v.version for v in b.versions] == [1, 2]
    assert b.versions[0].name == "first"
    assert b.updated_at == later and b.created_at == T0


def test_set_latest_reactivates_an_old_version_and_next_update_is_max_plus_one():
    a = new_assistant(name="v1")
    b = step(a, domain.update(a, name="v2"))
    c = step(b, domain.set_latest(b, version=1))
    assert (c.version, c.name) == (1, "v1")
    d = step(c, domain.update(c, description="from v1"))
    assert (d.version, d.name, d.description) == (3, "v1", "from v1")
    with pytest.raises(NotFound):
        domain.set_latest(d, version=9)


def test_deleted_assistant_refuses_commands():
    a = new_assistant()
    gone = step(a, domain.delete(a))
    for command in (
        lambda: domain.update(gone, name="x"),
        lambda: domain.set_latest(gone, version=1),
        lambda: domain.delete(gone),
    ):
        with pytest.raises(IllegalTransition):
            command()


def test_every_event_class_of_the_module_can_be_decoded():
    """EVENT_TYPES is how replay turns stored payloads back into events: it must know them all."""
    from events.domain import DomainEvent

    declared = {
        value.type_name
        for value in vars(domain).values()
        if isinstance(value, type) and issubclass(value, DomainEvent) and value is not DomainEvent
    }
    assert declared and all(name in domain.EVENT_TYPES for name in declared)
