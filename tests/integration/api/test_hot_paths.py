"""The hot paths of the benchmarked endpoints do less work and give the same results.

``threads.selectors.thread_get`` builds the row like the ORM; ``thread_create`` and
``assistant_create`` with a generated id skip the existence check and the stream replay, and
return the row they wrote without reading it back: the same model the ORM would load;
``assistant_search`` finds, orders and counts what the ORM query it replaces does.
"""

from __future__ import annotations

import itertools
import uuid

import pytest
from django.db import connection
from django.db.models import Count, Window
from django.test.utils import CaptureQueriesContext

from assistants import selectors as assistant_selectors
from assistants import services as assistant_services
from assistants.models import Assistant
from duragraph_site.errors import NotFound
from threads import selectors as thread_selectors
from threads import services as thread_services
from threads.models import Thread

pytestmark = pytest.mark.django_db

METADATA = {"zeta": [1, 2.5, None], "a": {"nested": True}, "é": "x"}


def statements(queries: CaptureQueriesContext) -> list[str]:
    """What each statement does, without the test transaction's savepoints: ``append`` for
    the event store's append (events + outbox: ``events_append_v1``), else its first words."""
    kinds = []
    for query in queries:
        sql = query["sql"]
        if "events_append_v1(" in sql:
            kinds.append("append")
        elif not sql.startswith(("SAVEPOINT", "RELEASE")):
            kinds.append(" ".join(sql.split()[:3]))
    return kinds


def assert_same_row(model, got, pk) -> None:
    loaded = model.objects.get(pk=pk)
    assert type(got) is model
    assert {f.attname: getattr(got, f.attname) for f in model._meta.concrete_fields} == {
        f.attname: getattr(loaded, f.attname) for f in model._meta.concrete_fields
    }
    assert (got._state.adding, got._state.db) == (loaded._state.adding, loaded._state.db)


def test_thread_get_builds_the_row_as_the_orm_does():
    busy = thread_services.thread_create(metadata=METADATA, ttl={"strategy": "delete", "ttl": 2})
    plain = thread_services.thread_create()
    for thread in (busy, plain):
        with CaptureQueriesContext(connection) as queries:
            got = thread_selectors.thread_get(thread.thread_id)
        assert len(queries) == 1
        assert_same_row(Thread, got, thread.thread_id)
    with pytest.raises(NotFound, match="not found"):
        thread_selectors.thread_get(uuid.uuid4())


def test_thread_create_with_a_generated_id_writes_events_and_row_only():
    with CaptureQueriesContext(connection) as queries:
        thread = thread_services.thread_create(
            metadata=METADATA, ttl={"strategy": "delete", "ttl": 5}
        )
    # The event append and the row insert; no reads.
    assert statements(queries) == ["append", 'INSERT INTO "threads_thread"']
    assert_same_row(Thread, thread, thread.thread_id)


def test_a_stateless_run_goes_into_threads_twice():
    """``run_create``: one call into threads for the thread the run needs (created, no lock or
    read back) and one for what the run changes there (status and metadata in one append)."""
    from runs import services as run_services

    assistant = assistant_services.assistant_create(graph_id="agent")
    with CaptureQueriesContext(connection) as queries:
        run = run_services.run_create(thread_id=None, assistant_id=assistant.assistant_id)
    assert statements(queries) == [
        'SELECT "assistants_assistant"."assistant_id", "assistants_assistant"."graph_id",',
        "append",  # ThreadCreated
        'INSERT INTO "threads_thread"',
        "append",  # RunCreated
        'INSERT INTO "runs_run"',
        "append",  # ThreadStatusChanged + ThreadMetadataUpdated
        'UPDATE "threads_thread" SET',
        'SELECT "runs_run"."run_id", "runs_run"."thread_id",',
    ]
    thread = Thread.objects.get(thread_id=run.thread_id)
    assert thread.status == "busy"
    assert thread.metadata == {"graph_id": "agent", "assistant_id": str(assistant.assistant_id)}


def test_thread_create_with_a_given_id_still_checks_and_replays():
    thread_id = uuid.uuid4()
    thread_services.thread_create(thread_id=thread_id)
    thread_services.thread_delete(thread_id=thread_id)
    again = thread_services.thread_create(thread_id=thread_id, metadata={"v": 2})
    assert again.version == 3  # the stream went on: created, deleted, created
    assert_same_row(Thread, again, thread_id)


def test_assistant_create_with_a_generated_id_writes_events_and_rows_only():
    with CaptureQueriesContext(connection) as queries:
        assistant = assistant_services.assistant_create(
            graph_id="agent", metadata=METADATA, config={"tags": ["t"]}, name="n"
        )
    # The event append, the assistant row and its first version; no reads.
    assert statements(queries) == [
        "append",
        'INSERT INTO "assistants_assistant"',
        'INSERT INTO "assistants_assistantversion"',
    ]
    assert_same_row(Assistant, assistant, assistant.assistant_id)


def test_assistant_create_with_a_given_id_still_checks_and_replays():
    assistant_id = uuid.uuid4()
    assistant_services.assistant_create(graph_id="agent", assistant_id=assistant_id)
    assistant_services.assistant_delete(assistant_id=assistant_id)
    again = assistant_services.assistant_create(graph_id="agent", assistant_id=assistant_id)
    assert again.stream_version == 3
    assert_same_row(Assistant, again, assistant_id)


def orm_search(*, metadata, graph_id, name, limit, offset, sort_by, sort_order):
    """``assistant_search`` as the ORM query it replaces."""
    queryset = Assistant.objects.all()
    if metadata:
        queryset = queryset.filter(metadata__contains=metadata)
    if graph_id:
        queryset = queryset.filter(graph_id=graph_id)
    if name:
        queryset = queryset.filter(name__icontains=name)
    direction = "" if sort_order == "asc" else "-"
    rows = list(
        queryset.annotate(total=Window(Count("*"))).order_by(
            f"{direction}{sort_by or 'created_at'}", "assistant_id"
        )[offset : offset + limit]
    )
    return rows, rows[0].total if rows else (queryset.count() if offset else 0)


def test_assistant_search_finds_what_the_orm_query_finds():
    names = ["Alpha", "alpha beta", "50% off", "snake_case", "back\\slash", "Zed", "ÉCOLE"]
    for index, name in enumerate(names):
        assistant_services.assistant_create(
            graph_id="agent" if index % 2 else "chat",
            name=name,
            metadata={"n": index % 3, "tags": ["x"] if index % 2 else []},
        )
    filtered = itertools.product(
        [None, {}, {"n": 1}, {"n": 2, "tags": []}],
        [None, "", "agent"],
        [None, "alpha", "%", "_", "\\", "é", "ZED"],
        [(10, 0), (2, 1), (3, 100)],
        [None],
        [None],
    )
    sorted_ = itertools.product(
        [None], [None], [None], [(3, 2)], [None, *assistant_selectors.SORT_FIELDS], [None, "asc"]
    )
    cases = [*filtered, *sorted_]
    for metadata, graph_id, name, (limit, offset), sort_by, sort_order in cases:
        query = dict(metadata=metadata, graph_id=graph_id, name=name, limit=limit, offset=offset)
        query.update(sort_by=sort_by, sort_order=sort_order)
        rows, total = assistant_selectors.assistant_search(**query)
        expected_rows, expected_total = orm_search(**query)
        assert total == expected_total, query
        assert [row.pk for row in rows] == [row.pk for row in expected_rows], query
        for row, expected in zip(rows, expected_rows, strict=True):
            assert_same_row(Assistant, row, expected.pk)
