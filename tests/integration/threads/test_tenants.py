"""Threads belong to a tenant: every thread query and command answers another tenant's thread
exactly as an unknown one (404, the same detail); searches and counts see the caller's own; the
tenant is recorded in ThreadCreated and comes back on rebuild (docs/tenants.md)."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from duragraph_site.errors import Conflict, NotFound
from events import store
from threads import selectors, services
from threads.models import Thread

pytestmark = pytest.mark.django_db

A, B = "tenant-a", "tenant-b"


@pytest.fixture
def mine() -> Thread:
    return services.thread_create(metadata={"t": 1}, tenant=A)


def detail(call, *args, **kwargs) -> str:
    with pytest.raises(NotFound) as raised:
        call(*args, **kwargs)
    return raised.value.message


def test_another_tenants_thread_is_an_unknown_one(mine):
    thread_id, unknown = mine.thread_id, uuid.uuid4()
    expected = f"Thread with ID {thread_id} not found"
    queries = (
        selectors.thread_get,
        selectors.thread_state,
        selectors.thread_history,
        selectors.thread_storage,
    )
    for query in queries:
        assert detail(query, thread_id, tenant=B) == expected
        assert detail(query, unknown, tenant=B) == f"Thread with ID {unknown} not found"
    assert detail(services.thread_update, thread_id=thread_id, metadata={"x": 1}, tenant=B) == (
        expected
    )
    assert detail(services.thread_copy, thread_id=thread_id, tenant=B) == expected
    assert detail(services.thread_update_state, thread_id=thread_id, values={"x": 1}, tenant=B) == (
        expected
    )
    assert detail(services.thread_delete, thread_id=thread_id, tenant=B) == expected
    assert services.threads_prune(thread_ids=[thread_id], tenant=B) == 0
    # Nothing of it changed; its tenant (and an all-tenant caller) still see it.
    assert selectors.thread_get(thread_id, tenant=A).metadata == {"t": 1}
    assert selectors.thread_storage(thread_id, tenant=A)["total_bytes"] == 0  # no checkpoint yet
    assert selectors.thread_get(thread_id).tenant == A
    copy = services.thread_copy(thread_id=thread_id, tenant=A)
    assert copy.tenant == A  # a copy stays in its source's tenant
    assert services.threads_prune(thread_ids=[thread_id], tenant=A) == 1


def test_searches_and_counts_see_the_tenants_own(mine):
    theirs = services.thread_create(metadata={"t": 1}, tenant=B)
    rows, total = selectors.thread_search(tenant=B, metadata={"t": 1})
    assert ([row.thread_id for row in rows], total) == ([theirs.thread_id], 1)
    rows, _ = selectors.thread_search(tenant=B, ids=[mine.thread_id])
    assert rows == []
    assert selectors.thread_search(tenant=A, offset=3) == ([], 1)
    assert selectors.thread_count(tenant=A) == 1
    assert selectors.thread_count(metadata={"t": 1}) == 2


def test_a_taken_id_of_another_tenant_is_never_handed_out(mine):
    with pytest.raises(Conflict):
        services.thread_create(thread_id=mine.thread_id, if_exists="do_nothing", tenant=B, scope=B)
    assert services.thread_create(
        thread_id=mine.thread_id, if_exists="do_nothing", tenant=A, scope=A
    ) == Thread.objects.get(thread_id=mine.thread_id)


def test_a_run_cannot_go_on_another_tenants_thread(mine):
    now = timezone.now()
    with pytest.raises(NotFound):
        services.thread_lock_for_run(
            thread_id=mine.thread_id, if_not_exists="reject", now=now, tenant=B, scope=B
        )
    with pytest.raises(Conflict):  # "create" cannot take an id another tenant holds
        services.thread_lock_for_run(
            thread_id=mine.thread_id, if_not_exists="create", now=now, tenant=B, scope=B
        )
    new = services.thread_lock_for_run(
        thread_id=None, if_not_exists="reject", now=now, tenant=B, scope=B
    )
    assert new.tenant == B


def test_the_tenant_is_in_the_creation_event_and_comes_back_on_rebuild(mine):
    assert store.load(mine.thread_id)[0].payload["tenant"] == A
    Thread.objects.all().delete()
    call_command("rebuild_projections", "--for-real", stdout=io.StringIO())
    assert Thread.objects.get(thread_id=mine.thread_id).tenant == A


def test_the_api_answers_another_tenants_thread_as_an_unknown_one(settings, mine):
    settings.AUTH_ENABLED = True
    _, key_b = account_services.create_api_key(name="b", tenant=B)
    api = APIClient(HTTP_X_API_KEY=key_b)
    for method, path in (
        ("get", "/threads/{}"),
        ("get", "/threads/{}/state"),
        ("get", "/threads/{}/history"),
        ("post", "/threads/{}/history"),
        ("post", "/threads/{}/copy"),
        ("patch", "/threads/{}"),
        ("delete", "/threads/{}"),
    ):
        response = getattr(api, method)(path.format(mine.thread_id), {}, format="json")
        assert response.status_code == 404, path
        assert response.json() == {"detail": f"Thread with ID {mine.thread_id} not found"}
    assert api.post("/threads/search", {}, format="json").json() == []
    assert api.post("/threads/count", {}, format="json").json() == 0
    created = api.post("/threads", {}, format="json").json()
    assert Thread.objects.get(thread_id=created["thread_id"]).tenant == B
