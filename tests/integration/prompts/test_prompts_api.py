"""The prompt registry through the API (``/api/v1/prompts``, the DuraGraph SDK's
``PromptStore``) on real PostgreSQL: versions numbered in order and never changed (PostgreSQL
refuses it), variants, listing by namespace and tag, each tenant its own registry, and bad
input a clear 4xx that writes nothing."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connections, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import services as account_services
from prompts import services
from prompts.models import Prompt, PromptVersion

pytestmark = pytest.mark.django_db

BASE = "/api/v1/prompts"
ID = "support/classify_intent"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def create(api, prompt_id=ID, content="Classify: {text}", **fields):
    return api.post(BASE, {"prompt_id": prompt_id, "content": content, **fields}, format="json")


def add(api, content, prompt_id=ID, **fields):
    return api.post(f"{BASE}/{prompt_id}/versions", {"content": content, **fields}, format="json")


def counts() -> tuple[int, int]:
    return Prompt.objects.count(), PromptVersion.objects.count()


def test_a_prompt_is_created_with_its_first_version_and_read_back(api):
    created = create(
        api,
        description="routes tickets",
        tags=["support", "routing"],
        metadata={"owner": "ada"},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body == {
        "prompt_id": ID,
        "namespace": "support",
        "description": "routes tickets",
        "tags": ["support", "routing"],
        "metadata": {"owner": "ada"},
        "version": "1",
        "variant": None,
        "content": "Classify: {text}",
        "change_log": "",
        "created_at": body["created_at"],
    }
    assert api.get(f"{BASE}/{ID}").json() == body


def test_versions_are_numbered_in_order_and_the_latest_is_read_by_default(api):
    create(api)
    second = add(api, "Classify this ticket: {text}", change_log="clearer")
    assert second.status_code == 201 and second.json()["version"] == "2"
    assert second.json()["change_log"] == "clearer"
    named = add(api, "v2.1: {text}", version="2.1.0")
    assert named.json()["version"] == "2.1.0"
    assert add(api, "and then: {text}").json()["version"] == "4", "numbers go on"

    assert api.get(f"{BASE}/{ID}").json()["content"] == "and then: {text}"
    assert api.get(f"{BASE}/{ID}", {"version": "2"}).json()["content"] == (
        "Classify this ticket: {text}"
    )
    assert api.get(f"{BASE}/{ID}", {"version": "2.1.0"}).json()["content"] == "v2.1: {text}"
    versions = api.get(f"{BASE}/{ID}/versions").json()["versions"]
    assert [v["version"] for v in versions] == ["1", "2", "2.1.0", "4"]


def test_a_variant_belongs_to_a_version_and_is_read_by_name(api):
    create(api, version="1.0.0")
    variant = add(api, "B: {text}", variant="b")
    assert variant.status_code == 201
    assert (variant.json()["version"], variant.json()["variant"]) == ("1.0.0", "b")
    assert api.get(f"{BASE}/{ID}").json()["content"] == "Classify: {text}", "the default text"
    assert api.get(f"{BASE}/{ID}", {"variant": "b"}).json()["content"] == "B: {text}"
    add(api, "1.1 A: {text}", version="1.1.0")
    add(api, "1.1 B: {text}", version="1.1.0", variant="b")
    assert api.get(f"{BASE}/{ID}", {"variant": "b"}).json()["content"] == "1.1 B: {text}"
    old_b = api.get(f"{BASE}/{ID}", {"version": "1.0.0", "variant": "b"})
    assert old_b.json()["content"] == "B: {text}"


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ({}, "Prompt 'nope/missing' not found"),
        ({"version": "9"}, "Prompt 'nope/missing' not found"),
    ],
)
def test_an_unknown_prompt_is_a_404(api, query, detail):
    answer = api.get(f"{BASE}/nope/missing", query)
    assert answer.status_code == 404 and answer.json() == {"detail": detail}


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ({"version": "9"}, "has no version '9'"),
        ({"variant": "z"}, "has no variant 'z'"),
        ({"version": "1", "variant": "z"}, "has no version '1' variant 'z'"),
    ],
)
def test_an_unknown_version_or_variant_is_a_404_naming_it(api, query, detail):
    create(api)
    answer = api.get(f"{BASE}/{ID}", query)
    assert answer.status_code == 404 and detail in answer.json()["detail"]


def test_a_taken_id_or_version_is_a_409_that_writes_nothing(api):
    create(api)
    before = counts()
    taken = create(api, content="again")
    assert taken.status_code == 409 and "already exists" in taken.json()["detail"]
    again = add(api, "other", version="1")
    assert again.status_code == 409 and "versions never change" in again.json()["detail"]
    add(api, "b", variant="b")
    assert add(api, "b again", variant="b").status_code == 409
    assert counts() == (before[0], before[1] + 1)
    assert api.get(f"{BASE}/{ID}", {"version": "1"}).json()["content"] == "Classify: {text}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": "x"}, "prompt_id"),
        ({"prompt_id": ID}, "content"),
        ({"prompt_id": ID, "content": ""}, "content"),
        ({"prompt_id": ID, "content": 5}, "content"),
        ({"prompt_id": "", "content": "x"}, "prompt_id"),
        ({"prompt_id": "a//b", "content": "x"}, "prompt_id"),
        ({"prompt_id": "a/../b", "content": "x"}, "prompt_id"),
        ({"prompt_id": "has space", "content": "x"}, "prompt_id"),
        ({"prompt_id": "a/versions", "content": "x"}, "prompt_id"),
        ({"prompt_id": "x" * 256, "content": "x"}, "prompt_id"),
        ({"prompt_id": ID, "content": "x", "tags": "support"}, "tags"),
        ({"prompt_id": ID, "content": "x", "tags": [""]}, "tags"),
        ({"prompt_id": ID, "content": "x", "metadata": [1]}, "metadata"),
        ({"prompt_id": ID, "content": "x", "version": "1 0"}, "version"),
        ({"prompt_id": ID, "content": "x", "version": 1}, "version"),
    ],
)
def test_a_malformed_prompt_is_a_422_naming_the_field_that_writes_nothing(api, body, field):
    answer = api.post(BASE, body, format="json")
    assert answer.status_code == 422, answer.content
    assert set(answer.json()) == {"detail"} and field in answer.json()["detail"]
    assert counts() == (0, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "content"),
        ({"content": ["x"]}, "content"),
        ({"content": "x", "variant": "b b"}, "variant"),
        ({"content": "x", "version": "x" * 65}, "version"),
    ],
)
def test_a_malformed_version_is_a_422_that_writes_nothing(api, body, field):
    create(api)
    before = counts()
    answer = api.post(f"{BASE}/{ID}/versions", body, format="json")
    assert answer.status_code == 422 and field in answer.json()["detail"]
    assert counts() == before


def test_a_version_of_an_unknown_prompt_is_a_404(api):
    answer = add(api, "x", prompt_id="nope")
    assert answer.status_code == 404 and answer.json() == {"detail": "Prompt 'nope' not found"}
    assert api.get(f"{BASE}/nope/versions").status_code == 404
    assert counts() == (0, 0)


def test_prompts_are_listed_by_namespace_and_tag_with_their_latest_version(api):
    create(api, "support/classify_intent", tags=["routing"])
    add(api, "v2", prompt_id="support/classify_intent")
    add(api, "v2 b", prompt_id="support/classify_intent", variant="b")
    create(api, "support/billing/refund", tags=["billing"])
    create(api, "supportive", tags=["routing"])
    create(api, "greeting")

    def listed(**query):
        answer = api.get(BASE, query)
        assert answer.status_code == 200
        return [(p["prompt_id"], p["latest_version"]) for p in answer.json()["prompts"]]

    assert listed() == [
        ("greeting", "1"),
        ("support/billing/refund", "1"),
        ("support/classify_intent", "2"),
        ("supportive", "1"),
    ]
    assert listed(namespace="support") == [
        ("support/billing/refund", "1"),
        ("support/classify_intent", "2"),
    ]
    assert listed(namespace="support/billing") == [("support/billing/refund", "1")]
    assert listed(tag="routing") == [("support/classify_intent", "2"), ("supportive", "1")]
    assert listed(namespace="support", tag="routing") == [("support/classify_intent", "2")]
    assert listed(limit=2, offset=1) == [
        ("support/billing/refund", "1"),
        ("support/classify_intent", "2"),
    ]
    assert api.get(BASE, {"limit": 0}).status_code == 422


def test_postgresql_refuses_to_change_or_delete_a_version():
    text = services.prompt_create(prompt_id=ID, content="original")
    for change in (
        lambda: PromptVersion.objects.filter(pk=text.pk).update(content="rewritten"),
        lambda: PromptVersion.objects.filter(pk=text.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    assert PromptVersion.objects.get(pk=text.pk).content == "original"


def test_each_tenant_has_a_registry_of_its_own(settings):
    settings.AUTH_ENABLED = True
    _, key_a = account_services.create_api_key(name="a", tenant="tenant-a")
    _, key_b = account_services.create_api_key(name="b", tenant="tenant-b")
    a, b = APIClient(HTTP_X_API_KEY=key_a), APIClient(HTTP_X_API_KEY=key_b)
    assert create(a, content="a's").status_code == 201
    assert b.get(f"{BASE}/{ID}").status_code == 404
    assert b.get(BASE).json() == {"prompts": []}
    assert add(b, "b's").status_code == 404
    assert create(b, content="b's").status_code == 201, "the same id in another tenant"
    assert a.get(f"{BASE}/{ID}").json()["content"] == "a's"
    assert b.get(f"{BASE}/{ID}").json()["content"] == "b's"
    assert APIClient().get(BASE).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_concurrent_versions_get_distinct_numbers():
    services.prompt_create(prompt_id=ID, content="v1")
    barrier = threading.Barrier(4)
    made, errors = [], []

    def add_one(n: int) -> None:
        try:
            barrier.wait()
            made.append(services.prompt_version_create(prompt_id=ID, content=f"from {n}"))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=add_one, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(text.version for text in made) == ["2", "3", "4", "5"]


def test_the_admin_shows_prompts_and_their_versions_read_only(admin_client):
    services.prompt_create(prompt_id=ID, content="first text", description="routes tickets")
    services.prompt_version_create(prompt_id=ID, content="second text", change_log="clearer")
    listing = admin_client.get(reverse("admin:prompts_prompt_changelist"))
    assert listing.status_code == 200 and ID in listing.content.decode()
    searched = admin_client.get(reverse("admin:prompts_prompt_changelist"), {"q": "tickets"})
    assert ID in searched.content.decode()
    prompt = Prompt.objects.get(prompt_id=ID)
    page = admin_client.get(reverse("admin:prompts_prompt_change", args=[prompt.pk]))
    assert page.status_code == 200
    assert "first text" in page.content.decode() and "clearer" in page.content.decode()
    assert admin_client.get(reverse("admin:prompts_prompt_add")).status_code == 403
    deleted = admin_client.post(reverse("admin:prompts_prompt_delete", args=[prompt.pk]))
    assert deleted.status_code == 403 and PromptVersion.objects.count() == 2
