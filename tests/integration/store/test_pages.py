"""The dashboard's Memory pages on real PostgreSQL, through Django's test client: namespaces and
items (bounded queries with many rows), search, and an item's edit and delete forms. Bad input
shows the error next to its field and changes nothing; looking never refreshes a TTL."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from store import services
from store.models import Item

pytestmark = pytest.mark.django_db


def item_url(namespace: str, key: str, tenant: str = "default") -> str:
    query = urlencode({"tenant": tenant, "namespace": namespace, "key": key})
    return f"{reverse('dashboard:memory-item')}?{query}"


def stored(namespace: list[str], key: str, tenant: str = "default") -> tuple | None:
    row = Item.objects.filter(tenant=tenant, namespace=namespace, key=key).first()
    return None if row is None else (row.value, row.ttl, row.expires_at, row.updated_at)


def test_a_visitor_is_sent_to_sign_in_and_non_staff_are_refused(client, django_user_model):
    url = reverse("dashboard:memory")
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == "/?next=%2Fdashboard%2Fmemory%2F"
    client.force_login(django_user_model.objects.create_user("ada", password="pw"))
    assert client.get(url).status_code == 403
    services.store_put_item(namespace=["notes"], key="k", value={"v": 1})
    delete = client.post(
        reverse("dashboard:memory-item-delete"), {"namespace": "notes", "key": "k"}
    )
    assert delete.status_code == 403 and stored(["notes"], "k") is not None


def test_the_list_shows_many_items_with_a_bounded_number_of_queries(
    staff, django_assert_max_num_queries
):
    for number in range(120):
        services.store_put_item(
            namespace=["users", f"u{number % 30:02}"], key=f"k{number:03}", value={"n": number}
        )
    with django_assert_max_num_queries(6):
        response = staff.get(reverse("dashboard:memory"))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("<tr data-row=") == 50
    assert "users.u00" in body and "users.u29" in body  # the namespaces
    assert "k119" in body and "k069" not in body  # most recently updated first
    older = re.search(r'href="\?([^"]*offset=50[^"]*)"', body)[1].replace("&amp;", "&")
    with django_assert_max_num_queries(6):
        second = staff.get(f"{reverse('dashboard:memory')}?{older}").content.decode()
    assert second.count("<tr data-row=") == 50 and "k069" in second and "k119" not in second


def keys(response) -> list[str]:
    """The keys of the listed items, in order."""
    return re.findall(r'data-row="[^"]*/([^"]+)"', response.content.decode())


def test_a_prefix_and_a_filter_narrow_the_items(staff):
    services.store_put_item(namespace=["notes", "a"], key="one", value={"kind": "todo", "n": 1})
    services.store_put_item(namespace=["notes", "a"], key="two", value={"kind": "idea", "n": 5})
    services.store_put_item(namespace=["other"], key="three", value={"kind": "todo", "n": 9})
    assert keys(staff.get(reverse("dashboard:memory"), {"prefix": "notes"})) == ["two", "one"]
    todo = staff.get(reverse("dashboard:memory"), {"filter": '{"kind": "todo"}'})
    assert keys(todo) == ["three", "one"]
    big = staff.get(reverse("dashboard:memory"), {"prefix": "notes", "filter": '{"n": {"$gt": 2}}'})
    assert keys(big) == ["two"]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"filter": "{nope"}, "filter", "filter: not valid JSON"),
        ({"filter": '{"n": {"$near": 1}}'}, "filter", "unknown operator"),
        ({"prefix": "a..b"}, "prefix", "labels cannot be empty"),
    ],
)
def test_a_bad_search_shows_the_error_next_to_its_field(staff, params, field, message):
    services.store_put_item(namespace=["notes"], key="k", value={"v": 1})
    response = staff.get(reverse("dashboard:memory"), params)
    assert response.status_code == 422
    assert message in response.context["errors"][field]
    assert f'id="m-{field}-error"' in response.content.decode()


def test_no_memory_explains_put_item(staff):
    assert "client.store.put_item(" in staff.get(reverse("dashboard:memory")).content.decode()


def test_an_items_page_shows_it_and_looking_does_not_refresh_its_ttl(staff):
    services.store_put_item(namespace=["notes", "x"], key="k", value={"v": 1}, ttl=30)
    before = stored(["notes", "x"], "k")
    response = staff.get(item_url("notes.x", "k"))
    assert response.status_code == 200
    assert "&quot;v&quot;: 1" in response.content.decode()
    assert response.context["form"]["ttl"] == "30"
    staff.get(reverse("dashboard:memory"), {"prefix": "notes"})
    assert stored(["notes", "x"], "k") == before
    assert staff.get(item_url("notes.x", "missing")).status_code == 404


def test_editing_an_item_replaces_its_value_and_ttl(staff):
    services.store_put_item(namespace=["notes"], key="k", value={"v": 1})
    response = staff.post(
        reverse("dashboard:memory-item-put"),
        {"tenant": "default", "namespace": "notes", "key": "k", "value": '{"v": 2}', "ttl": "90"},
    )
    assert response.status_code == 302 and response["Location"] == item_url("notes", "k")
    value, ttl, expires_at, updated_at = stored(["notes"], "k")
    assert value == {"v": 2} and ttl == timedelta(minutes=90)
    assert expires_at - updated_at == timedelta(minutes=90)
    staff.post(
        reverse("dashboard:memory-item-put"),
        {"namespace": "notes", "key": "k", "value": '{"v": 3}', "ttl": ""},
    )
    assert stored(["notes"], "k")[:3] == ({"v": 3}, None, None)  # blank TTL: never expires


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"value": '{"v": '}, "value", "value: not valid JSON"),
        ({"value": "[1]"}, "value", "value: must be a JSON object"),
        ({"value": '{"v": 2}', "ttl": "soon"}, "ttl", "is not a number of minutes"),
        ({"value": '{"v": 2}', "ttl": "-5"}, "ttl", "ttl: must be a positive number"),
    ],
)
def test_bad_input_for_an_item_shows_the_error_and_changes_nothing(staff, form, field, message):
    services.store_put_item(namespace=["notes"], key="k", value={"v": 1}, ttl=10)
    before = stored(["notes"], "k")
    response = staff.post(
        reverse("dashboard:memory-item-put"), {"namespace": "notes", "key": "k", **form}
    )
    assert response.status_code == 422
    assert message in response.context["errors"][field]
    body = response.content.decode()
    assert f'id="i-{field}-error"' in body and message in body
    assert stored(["notes"], "k") == before


def test_deleting_an_item_deletes_it(staff):
    services.store_put_item(namespace=["notes"], key="k", value={"v": 1})
    services.store_put_item(namespace=["notes"], key="kept", value={"v": 2})
    response = staff.post(
        reverse("dashboard:memory-item-delete"),
        {"tenant": "default", "namespace": "notes", "key": "k"},
    )
    assert response.status_code == 302
    assert stored(["notes"], "k") is None and stored(["notes"], "kept") is not None
    page = staff.get(response["Location"]).content.decode()
    assert "Deleted &#x27;k&#x27; from notes" in page and 'data-row="notes/k"' not in page


def test_staff_choose_whose_store_they_see(staff):
    services.store_put_item(namespace=["notes"], key="mine", value={"v": 1})
    services.store_put_item(namespace=["notes"], key="theirs", value={"v": 2}, tenant="acme")
    default = staff.get(reverse("dashboard:memory")).content.decode()
    acme = staff.get(reverse("dashboard:memory"), {"tenant": "acme"}).content.decode()
    assert "mine" in default and "theirs" not in default
    assert "theirs" in acme and "mine" not in acme
    staff.post(
        reverse("dashboard:memory-item-delete"),
        {"tenant": "acme", "namespace": "notes", "key": "theirs"},
    )
    assert stored(["notes"], "theirs", "acme") is None and stored(["notes"], "mine") is not None
