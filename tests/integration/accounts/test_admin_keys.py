"""API keys in the Django admin: created with the plaintext shown once, listed without their
secret or digest, revoked (never deleted), their authority fixed at creation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from accounts import domain
from accounts.models import ApiKey

pytestmark = pytest.mark.usefixtures("auth_on")

ADD = reverse("admin:accounts_apikey_add")
CHANGELIST = reverse("admin:accounts_apikey_changelist")
KEY = re.compile(r"dg_[0-9a-f]{12}_[\w-]{43}")


def add_key(admin_client, **fields):
    data = {
        "name": "ci",
        "tenant": "acme",
        "scopes": ["api"],
        "owner": "",
        "expires_at_0": "",
        "expires_at_1": "",
        **fields,
    }
    return admin_client.post(ADD, data)


def search(api, plaintext):
    return api.post("/threads/search", {}, format="json", HTTP_X_API_KEY=plaintext)


def test_the_add_form_offers_the_scopes_and_the_current_user_as_owner(admin_client, admin_user):
    page = admin_client.get(ADD).content.decode()
    assert 'name="scopes" value="api"' in page and 'name="scopes" value="worker"' in page
    assert f'<option value="{admin_user.pk}" selected>' in page
    assert "digest" not in page


def test_a_key_created_in_the_admin_is_shown_once_and_works(admin_client, admin_user, api):
    response = add_key(admin_client, scopes=["api", "worker"], owner=admin_user.pk)
    assert response.status_code == 302, response.content
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    (plaintext,) = [match for message in shown for match in KEY.findall(message)]
    key = ApiKey.objects.get()
    assert domain.split_key(plaintext)[0] == key.prefix
    assert (key.name, key.tenant, key.scopes, key.owner) == (
        "ci",
        "acme",
        ["api", "worker"],
        admin_user,
    )
    assert search(api, plaintext).status_code == 200
    # Once: the page after the redirect shows it, then never again; the digest never.
    after = admin_client.get(response["Location"]).content.decode()
    assert plaintext in after
    for page in (
        admin_client.get(CHANGELIST).content.decode(),
        admin_client.get(reverse("admin:accounts_apikey_change", args=[key.pk])).content.decode(),
    ):
        assert plaintext not in page and domain.split_key(plaintext)[1] not in page
        assert key.digest not in page
        assert f"dg_{key.prefix}_…" in page


def test_the_list_shows_what_a_key_is_and_its_status(admin_client, new_key, admin_user):
    new_key(name="live", tenant="acme", owner=admin_user)
    expired, _ = new_key(name="old", expires_at=timezone.now() + timedelta(seconds=1))
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    used, _ = new_key(name="used", scopes=["worker"])
    ApiKey.objects.filter(pk=used.pk).update(last_used_at=timezone.now())
    page = admin_client.get(CHANGELIST).content.decode()
    for column in ("Name", "Key", "Tenant", "Scopes", "Owner", "Created at", "Last used at",
                   "Expires at", "Revoked at", "Status"):  # fmt: skip
        assert f">{column}<" in page, column
    assert ">acme<" in page and ">worker<" in page and admin_user.username in page
    assert ">expired<" in page and ">active<" in page
    only_expired = admin_client.get(CHANGELIST, {"status": "expired"}).content.decode()
    assert "old" in only_expired and f"dg_{used.prefix}_…" not in only_expired


def test_the_revoke_action_revokes_and_the_key_is_refused_at_once(admin_client, new_key, api):
    key, plaintext = new_key()
    other, other_plaintext = new_key()
    assert search(api, plaintext).status_code == 200  # cached in this process now
    response = admin_client.post(
        CHANGELIST, {"action": "revoke", "_selected_action": [str(key.pk)]}, follow=True
    )
    assert response.status_code == 200
    assert f"Revoked 1 key(s): dg_{key.prefix}_…" in response.content.decode()
    key.refresh_from_db()
    other.refresh_from_db()
    assert key.revoked_at is not None and other.revoked_at is None
    refused = search(api, plaintext)
    assert refused.status_code == 401 and refused.json() == {"detail": "This API key was revoked"}
    assert search(api, other_plaintext).status_code == 200


def test_keys_are_never_deleted(admin_client, new_key):
    key, _ = new_key()
    assert (
        admin_client.get(reverse("admin:accounts_apikey_delete", args=[key.pk])).status_code == 403
    )
    assert "delete_selected" not in admin_client.get(CHANGELIST).content.decode()
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_a_keys_authority_is_fixed_after_creation(admin_client, new_key):
    key, _ = new_key(name="before", tenant="acme", scopes=["api"])
    change = reverse("admin:accounts_apikey_change", args=[key.pk])
    response = admin_client.post(
        change,
        {
            "name": "after",
            "tenant": "globex",
            "scopes": ["worker"],
            "all_tenants": "on",
            "owner": "",
            "expires_at_0": "",
            "expires_at_1": "",
        },  # fmt: skip
    )
    assert response.status_code == 302, response.content
    key.refresh_from_db()
    assert (key.name, key.tenant, key.scopes, key.all_tenants) == ("after", "acme", ["api"], False)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"scopes": []}, "This field is required."),
        ({"name": ""}, "This field is required."),
        ({"expires_at_0": "2000-01-01", "expires_at_1": "00:00"}, "This moment is past"),
    ],
)
def test_the_add_form_refuses_what_would_not_work(admin_client, fields, error):
    response = add_key(admin_client, **fields)
    assert response.status_code == 200 and error in response.content.decode()
    assert not ApiKey.objects.exists()
