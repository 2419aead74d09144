"""Assistants belong to a tenant: another tenant's assistant is an unknown one (404, the same
detail), system assistants are every tenant's to read and run and no tenant's to change, and the
tenant comes back from the log on replay (docs/tenants.md)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts import services as account_services
from assistants import domain, selectors, services
from assistants.models import Assistant
from duragraph_site.errors import Conflict, NotFound
from events.domain import Recorded

pytestmark = pytest.mark.django_db

A, B = "tenant-a", "tenant-b"


@pytest.fixture
def mine() -> Assistant:
    return services.assistant_create(graph_id="agent", name="a's", metadata={"t": 1}, tenant=A)


@pytest.fixture
def system() -> Assistant:
    return services.assistant_ensure_default(graph_id="chat") or selectors.assistant_get(
        domain.system_assistant_id("chat")
    )


def not_found_detail(call, *args, **kwargs) -> str:
    with pytest.raises(NotFound) as raised:
        call(*args, **kwargs)
    return raised.value.message


def test_another_tenants_assistant_is_an_unknown_one(mine):
    unknown = uuid.uuid4()
    for call in (selectors.assistant_get, selectors.assistant_versions):
        assert not_found_detail(call, mine.assistant_id, tenant=B) == not_found_detail(
            call, unknown, tenant=B
        ).replace(str(unknown), str(mine.assistant_id))
    for command in (services.assistant_update, services.assistant_delete):
        assert not_found_detail(command, assistant_id=mine.assistant_id, tenant=B) == (
            f"Assistant {mine.assistant_id} not found"
        )
    assert not_found_detail(
        services.assistant_set_latest, assistant_id=mine.assistant_id, version=1, tenant=B
    )
    # Its own tenant, and an all-tenant caller (None), see it.
    assert selectors.assistant_get(mine.assistant_id, tenant=A).name == "a's"
    assert selectors.assistant_get(mine.assistant_id).name == "a's"
    updated = services.assistant_update(assistant_id=mine.assistant_id, name="a2", tenant=A)
    assert (updated.version, updated.tenant) == (2, A)


def test_searches_and_counts_see_the_tenants_own_and_the_system_assistants(mine, system):
    theirs = services.assistant_create(graph_id="agent", metadata={"t": 1}, tenant=B)

    def ids(tenant):
        rows, total = selectors.assistant_search(tenant=tenant, limit=100)
        assert total == len(rows)
        return {row.assistant_id for row in rows}

    assert ids(A) == {mine.assistant_id, system.assistant_id}
    assert ids(B) == {theirs.assistant_id, system.assistant_id}
    assert ids(None) == {mine.assistant_id, theirs.assistant_id, system.assistant_id}
    assert selectors.assistant_count(tenant=A, metadata={"t": 1}) == 1
    assert selectors.assistant_count(metadata={"t": 1}) == 2
    # The paging total agrees past the last page too (its own count query).
    assert selectors.assistant_search(tenant=A, limit=1, offset=5) == ([], 2)


def test_system_assistants_are_read_and_run_by_all_changed_by_none(system):
    assert system.tenant == domain.SYSTEM_TENANT
    for tenant in (A, B):
        assert selectors.assistant_get(system.assistant_id, tenant=tenant) == system
        with pytest.raises(domain.SystemAssistantReadOnly) as refused:
            services.assistant_update(assistant_id=system.assistant_id, name="x", tenant=tenant)
        assert refused.value.status_code == 403
        assert "system assistant" in refused.value.message
        with pytest.raises(domain.SystemAssistantReadOnly):
            services.assistant_delete(assistant_id=system.assistant_id, tenant=tenant)
    # An all-tenant caller (authentication off, staff, global keys) still may.
    assert services.assistant_update(assistant_id=system.assistant_id, name="x").version == 2


def test_a_taken_id_of_another_tenant_is_never_handed_out(mine):
    with pytest.raises(Conflict):
        services.assistant_create(
            graph_id="agent",
            assistant_id=mine.assistant_id,
            if_exists="do_nothing",
            tenant=B,
            scope=B,
        )
    again = services.assistant_create(
        graph_id="agent", assistant_id=mine.assistant_id, if_exists="do_nothing", tenant=A, scope=A
    )
    assert again.assistant_id == mine.assistant_id


def test_the_tenant_is_in_the_creation_event_and_comes_back_on_rebuild(mine, system):
    from events import store

    [created] = store.load(mine.assistant_id)
    assert created.payload["tenant"] == A
    Assistant.objects.all().delete()
    call_command("rebuild_projections", "--for-real", stdout=io.StringIO())
    assert selectors.assistant_get(mine.assistant_id).tenant == A
    assert selectors.assistant_get(system.assistant_id).tenant == domain.SYSTEM_TENANT


def test_events_recorded_before_tenants_fold_to_the_legacy_tenant():
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def created(assistant_id, graph_id):
        event = domain.AssistantCreated(
            assistant_id=assistant_id,
            graph_id=graph_id,
            config={},
            context={},
            metadata={},
            name="n",
            description=None,
        )
        assert "tenant" not in {k for k, v in event.model_dump().items() if v is not None}
        return domain.apply(None, Recorded(event=event, version=1, at=at))

    assert created(domain.system_assistant_id("chat"), "chat").tenant == domain.SYSTEM_TENANT
    assert created(uuid.uuid4(), "chat").tenant == "default"


def test_the_api_answers_another_tenants_assistant_as_an_unknown_one(settings, mine, system):
    settings.AUTH_ENABLED = True
    _, key_b = account_services.create_api_key(name="b", tenant=B)
    api = APIClient(HTTP_X_API_KEY=key_b)
    unknown = uuid.uuid4()
    for path in ("/assistants/{}", "/assistants/{}/schemas", "/assistants/{}/graph"):
        theirs = api.get(path.format(mine.assistant_id))
        nothing = api.get(path.format(unknown))
        assert (theirs.status_code, nothing.status_code) == (404, 404)
        assert theirs.json() == {"detail": f"Assistant {mine.assistant_id} not found"}
        assert nothing.json() == {"detail": f"Assistant {unknown} not found"}
    assert (
        api.patch(f"/assistants/{mine.assistant_id}", {"name": "x"}, format="json").status_code
        == 404
    )
    assert api.delete(f"/assistants/{mine.assistant_id}").status_code == 404
    found = api.post("/assistants/search", {"limit": 100}, format="json").json()
    assert [row["assistant_id"] for row in found] == [str(system.assistant_id)]
    refused = api.patch(f"/assistants/{system.assistant_id}", {"name": "x"}, format="json")
    assert refused.status_code == 403 and "system assistant" in refused.json()["detail"]
    created = api.post("/assistants", {"graph_id": "agent"}, format="json").json()
    assert selectors.assistant_get(uuid.UUID(created["assistant_id"])).tenant == B
