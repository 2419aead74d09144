"""Assistant services on real PostgreSQL: versions are snapshotted, ids are idempotent."""

from __future__ import annotations

import uuid

import pytest

from assistants import services
from assistants.models import Assistant, AssistantVersion
from duragraph_site.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from events import store

pytestmark = pytest.mark.django_db


def versions(assistant_id) -> list[tuple[int, str]]:
    return list(
        AssistantVersion.objects.filter(assistant_id=assistant_id)
        .order_by("version")
        .values_list("version", "name")
    )


def test_create_update_set_latest_snapshots_every_version():
    a = services.assistant_create(
        graph_id="agent", name="one", config={"configurable": {"model": "small"}}
    )
    assert (a.version, a.stream_version, a.context) == (1, 1, {"model": "small"})
    b = services.assistant_update(assistant_id=a.assistant_id, name="two", metadata={"team": "x"})
    assert (b.version, b.name, b.metadata, b.config) == (
        2,
        "two",
        {"team": "x"},
        {"configurable": {"model": "small"}},
    )
    c = services.assistant_set_latest(assistant_id=a.assistant_id, version=1)
    assert (c.version, c.name, c.metadata) == (1, "one", {})
    d = services.assistant_update(assistant_id=a.assistant_id, description="again")
    assert (d.version, d.name, d.description) == (3, "one", "again")
    assert versions(a.assistant_id) == [(1, "one"), (2, "two"), (3, "one")]
    assert [e.type for e in store.load(a.assistant_id)] == [
        "AssistantCreated",
        "AssistantUpdated",
        "AssistantVersionActivated",
        "AssistantUpdated",
    ]


def test_if_exists(log_counter):
    assistant_id = uuid.uuid4()
    a = services.assistant_create(graph_id="agent", assistant_id=assistant_id)
    before = log_counter.snapshot()
    with pytest.raises(Conflict):
        services.assistant_create(graph_id="agent", assistant_id=assistant_id)
    assert (
        services.assistant_create(
            graph_id="chat", assistant_id=assistant_id, if_exists="do_nothing"
        ).graph_id
        == a.graph_id
    )
    assert log_counter.snapshot() == before


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (lambda a: services.assistant_update(assistant_id=uuid.uuid4(), name="x"), NotFound),
        (lambda a: services.assistant_set_latest(assistant_id=a.assistant_id, version=5), NotFound),
        (
            lambda a: services.assistant_update(
                assistant_id=a.assistant_id, metadata={"x": object()}
            ),
            InvalidInput,
        ),
        (
            lambda a: services.assistant_update(assistant_id=a.assistant_id, graph_id=""),
            InvalidInput,
        ),
        (
            lambda a: services.assistant_create(graph_id="agent", if_exists="sometimes"),
            InvalidInput,
        ),
        (lambda a: services.assistant_delete(assistant_id=uuid.uuid4()), NotFound),
        (lambda a: services.assistant_create(graph_id="no-such-graph"), NotFound),
        (
            lambda a: services.assistant_update(
                assistant_id=a.assistant_id, graph_id="no-such-graph"
            ),
            NotFound,
        ),
    ],
)
def test_bad_input_writes_nothing(log_counter, command, error):
    a = services.assistant_create(graph_id="agent")
    before = log_counter.snapshot()
    with pytest.raises(error):
        command(a)
    assert log_counter.snapshot() == before
    assert versions(a.assistant_id) == [(1, "Untitled")]


def test_delete_removes_rows_and_versions_and_the_id_can_return():
    a = services.assistant_create(graph_id="agent", assistant_id=uuid.uuid4())
    services.assistant_update(assistant_id=a.assistant_id, name="v2")
    services.assistant_delete(assistant_id=a.assistant_id)
    assert not Assistant.objects.filter(pk=a.pk).exists() and versions(a.assistant_id) == []
    with pytest.raises(NotFound):
        services.assistant_delete(assistant_id=a.assistant_id)
    again = services.assistant_create(graph_id="agent", assistant_id=a.assistant_id, name="reborn")
    assert (again.version, again.stream_version, again.name) == (1, 4, "reborn")
    assert versions(a.assistant_id) == [(1, "reborn")]


def test_deleted_in_the_log_is_illegal_to_update():
    from assistants import domain

    a = services.assistant_create(graph_id="agent")
    services.assistant_delete(assistant_id=a.assistant_id)
    from assistants import projection

    state = projection.PROJECTION.rebuild(a.assistant_id)
    with pytest.raises(IllegalTransition):
        domain.update(state, name="x")


def test_every_registered_graph_gets_its_default_assistant_once():
    from assistants import domain, graphs

    created = services.assistants_ensure_system()
    assert sorted(a.graph_id for a in created) == graphs.registry().ids()
    for a in created:
        assert a.assistant_id == domain.system_assistant_id(a.graph_id)
        assert (a.name, a.metadata, a.version) == (a.graph_id, {"created_by": "system"}, 1)
    assert services.assistants_ensure_system() == []
