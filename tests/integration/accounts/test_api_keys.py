"""API keys against the real API (PostgreSQL, DRF, the one authentication class): created,
listed and revoked through ``manage.py apikey``; every way of presenting one; what is refused
and how (401 with a reason, 403 for a missing scope); the per-process cache and revocation;
``last_used_at``."""

from __future__ import annotations

import base64
import io
import re
import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts import domain, selectors, services
from accounts.models import ApiKey
from tests.integration.accounts.conftest import basic

pytestmark = pytest.mark.usefixtures("auth_on")

SEARCH = "/threads/search"
WORKERS = "/api/v1/workers"


def search(api, **headers):
    return api.post(SEARCH, {}, format="json", **headers)


def run_command(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("apikey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# -- manage.py apikey ------------------------------------------------------------------------
def test_create_prints_the_key_alone_on_stdout_and_stores_only_its_digest(
    api, db, django_user_model
):
    ada = django_user_model.objects.create_user("ada")
    out, err = run_command(
        "create", "--name", "ci", "--tenant", "acme", "--scope", "api", "--scope", "worker",
        "--expires-in", "90d", "--owner", "ada",
    )  # fmt: skip
    plaintext = out.strip()
    assert re.fullmatch(r"dg_[0-9a-f]{12}_[\w-]{43}", plaintext)
    prefix, secret = domain.split_key(plaintext)
    key = ApiKey.objects.get()
    assert (key.name, key.prefix, key.tenant, key.owner) == ("ci", prefix, "acme", ada)
    assert key.scopes == ["api", "worker"] and not key.all_tenants
    assert key.digest == domain.digest(secret) and secret not in str(vars(key))
    assert timedelta(days=89, hours=23) < key.expires_at - timezone.now() <= timedelta(days=90)
    assert f"dg_{prefix}_…" in err and "only time" in err and secret not in err
    assert search(api, HTTP_X_API_KEY=plaintext).status_code == 200


def test_create_defaults_to_the_api_scope_the_default_tenant_and_no_expiry(db):
    out, _ = run_command("create", "--name", "plain")
    key = ApiKey.objects.get(prefix=domain.split_key(out.strip())[0])
    assert (key.tenant, key.scopes, key.expires_at, key.all_tenants) == (
        domain.DEFAULT_TENANT, ["api"], None, False,
    )  # fmt: skip
    out, _ = run_command("create", "--name", "ops", "--scope", "worker", "--all-tenants")
    key = ApiKey.objects.get(prefix=domain.split_key(out.strip())[0])
    assert key.scopes == ["worker"] and key.all_tenants


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expires-in", "soon"], "--expires-in: not a duration"),
        (["--owner", "nobody"], "--owner: no user 'nobody'"),
        (["--tenant", " "], "a key needs a name and a tenant"),
    ],
)
def test_create_refuses_bad_options_and_creates_nothing(db, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run_command("create", "--name", "x", *args)
    assert not ApiKey.objects.exists()


def test_list_shows_every_key_without_its_secret_and_revoke_takes_it_out(api, new_key):
    live, live_plaintext = new_key(name="live one", tenant="acme")
    gone, gone_plaintext = new_key(name="gone one", scopes=["worker"])
    out, _ = run_command("revoke", f"dg_{gone.prefix}_…")
    assert f"Revoked 'gone one' (dg_{gone.prefix}_…)" in out
    listing, _ = run_command("list")
    header, *rows = listing.splitlines()
    assert header.split()[:4] == ["prefix", "name", "tenant", "scopes"]
    assert len(rows) == 2
    row = next(row for row in rows if live.prefix in row)
    assert "live one" in row and "acme" in row and row.endswith("active")
    assert "revoked" in next(row for row in rows if gone.prefix in row)
    for plaintext, key in ((live_plaintext, live), (gone_plaintext, gone)):
        assert domain.split_key(plaintext)[1] not in listing and key.digest not in listing
    active, _ = run_command("list", "--active")
    assert live.prefix in active and gone.prefix not in active
    # revoked here: this process refuses it at once, cache or not
    assert search(api, HTTP_X_API_KEY=live_plaintext).status_code == 200
    run_command("revoke", live.prefix)
    refused = search(api, HTTP_X_API_KEY=live_plaintext)
    assert refused.status_code == 401 and refused.json() == {"detail": "This API key was revoked"}


def test_revoke_is_idempotent_and_unknown_keys_are_an_error(new_key):
    key, _ = new_key()
    first = services.revoke_api_key(key.prefix).revoked_at
    assert services.revoke_api_key(key.prefix).revoked_at == first
    with pytest.raises(CommandError, match="API key dg_000000000000_… not found"):
        run_command("revoke", "000000000000")


# -- presenting a key ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "how",
    ["x-api-key", "bearer", "basic-password", "basic-username", "basic-username-alone"],
)
def test_a_key_is_accepted_however_it_is_presented(api, new_key, how):
    _, plaintext = new_key()
    headers = {
        "x-api-key": {"HTTP_X_API_KEY": plaintext},
        "bearer": {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"},
        "basic-password": {"HTTP_AUTHORIZATION": basic("worker", plaintext)},
        "basic-username": {"HTTP_AUTHORIZATION": basic(plaintext, "")},
        "basic-username-alone": {
            "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(plaintext.encode()).decode()
        },
    }[how]
    assert search(api, **headers).status_code == 200


def test_without_credentials_the_answer_is_401_with_a_challenge(api, db):
    response = search(api)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="duragraph"'


@pytest.mark.parametrize(
    ("credential", "detail"),
    [
        ("dg_0123456789ab_" + "x" * 43, "Invalid API key"),  # no such prefix
        ("not-a-key", "Invalid API key or token"),
        ("eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "Invalid API key or token"),  # a JWT, none configured
    ],
)
def test_an_unknown_credential_is_refused_with_401(api, db, credential, detail):
    for headers in ({"HTTP_X_API_KEY": credential}, {"HTTP_AUTHORIZATION": f"Bearer {credential}"}):
        response = search(api, **headers)
        assert response.status_code == 401 and response.json() == {"detail": detail}
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="duragraph"'


def test_a_wrong_secret_for_a_real_prefix_is_refused(api, new_key):
    key, plaintext = new_key()
    forged = f"dg_{key.prefix}_{'A' * len(domain.split_key(plaintext)[1])}"
    response = search(api, HTTP_X_API_KEY=forged)
    assert response.status_code == 401 and response.json() == {"detail": "Invalid API key"}


def test_malformed_basic_credentials_are_refused(api, db):
    response = search(api, HTTP_AUTHORIZATION="Basic not-base64!")
    assert response.status_code == 401
    assert response.json() == {"detail": "Malformed Basic credentials"}


def test_a_revoked_key_is_refused_with_401(api, new_key):
    key, plaintext = new_key()
    services.revoke_api_key(key.prefix)
    response = search(api, HTTP_X_API_KEY=plaintext)
    assert response.status_code == 401
    assert response.json() == {"detail": "This API key was revoked"}


def test_an_expired_key_is_refused_with_401(api, new_key):
    key, plaintext = new_key(expires_at=timezone.now() + timedelta(hours=1))
    assert search(api, HTTP_X_API_KEY=plaintext).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    selectors.forget_cached_keys()  # the cache never outlives an expiry (below), this test's does
    response = search(api, HTTP_X_API_KEY=plaintext)
    assert response.status_code == 401
    assert response.json() == {"detail": "This API key has expired"}


def test_a_key_is_not_created_already_expired(db):
    with pytest.raises(Exception, match="expires_at is in the past"):
        services.create_api_key(name="x", expires_at=timezone.now())


# -- scopes ----------------------------------------------------------------------------------
def test_a_worker_only_key_is_refused_on_the_api_with_403_and_works_on_worker_routes(api, new_key):
    _, worker = new_key(scopes=["worker"])
    refused = search(api, HTTP_X_API_KEY=worker)
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "This credential may not call these routes (it lacks the 'api' scope)"
    }
    assert api.get(WORKERS, HTTP_X_API_KEY=worker).status_code == 200
    body = {"worker_id": "w1", "graph_definitions": []}
    registered = api.post(
        f"{WORKERS}/register", body, format="json", HTTP_AUTHORIZATION=basic("worker", worker)
    )
    assert registered.status_code in (200, 201), registered.json()


def test_an_api_only_key_is_refused_on_worker_routes_with_403(api, new_key):
    _, plaintext = new_key(scopes=["api"])
    refused = api.get(WORKERS, HTTP_X_API_KEY=plaintext)
    assert refused.status_code == 403 and "'worker' scope" in refused.json()["detail"]
    assert api.get(WORKERS).status_code == 401


def test_a_key_with_both_scopes_calls_both(api, new_key):
    _, plaintext = new_key(scopes=["api", "worker"])
    assert search(api, HTTP_X_API_KEY=plaintext).status_code == 200
    assert api.get(WORKERS, HTTP_X_API_KEY=plaintext).status_code == 200


def test_unknown_scopes_are_refused_at_creation(db):
    with pytest.raises(Exception, match="unknown scopes"):
        services.create_api_key(name="x", scopes=["admin"])
    with pytest.raises(Exception, match="at least one scope"):
        services.create_api_key(name="x", scopes=[])


# -- the per-process cache -------------------------------------------------------------------
def test_a_revocation_by_another_process_is_honoured_once_the_cache_ttl_has_passed(
    api, new_key, settings
):
    settings.API_KEY_CACHE_SECONDS = 3600
    key, plaintext = new_key()
    assert search(api, HTTP_X_API_KEY=plaintext).status_code == 200
    # Another process revokes it: this one's cache does not know yet.
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    assert search(api, HTTP_X_API_KEY=plaintext).status_code == 200
    selectors.forget_cached_keys()  # what the TTL's passing does
    assert search(api, HTTP_X_API_KEY=plaintext).status_code == 401


def test_with_a_zero_ttl_every_request_reads_the_key(api, new_key, settings):
    settings.API_KEY_CACHE_SECONDS = 0
    key, plaintext = new_key()
    assert search(api, HTTP_X_API_KEY=plaintext).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    assert search(api, HTTP_X_API_KEY=plaintext).status_code == 401


def test_a_cached_key_costs_no_query(new_key, django_assert_num_queries, settings):
    settings.API_KEY_CACHE_SECONDS = 3600
    _, plaintext = new_key()
    with django_assert_num_queries(2):  # the key, and its last_used_at
        selectors.principal_for_api_key(plaintext)
    with django_assert_num_queries(0):
        principal = selectors.principal_for_api_key(plaintext)
    assert principal.kind == "api_key"


def test_the_cache_never_outlives_the_keys_expiry(new_key, settings):
    settings.API_KEY_CACHE_SECONDS = 3600
    key, plaintext = new_key(expires_at=timezone.now() + timedelta(minutes=5))
    before = time.monotonic()
    selectors.principal_for_api_key(plaintext)
    ((deadline, principal),) = selectors._cache.values()
    assert principal.identity == key.identity
    assert deadline <= before + timedelta(minutes=5).total_seconds()


# -- last_used_at ----------------------------------------------------------------------------
def test_last_used_at_records_when_a_key_was_last_used(api, new_key, settings):
    settings.API_KEY_CACHE_SECONDS = 0
    key, plaintext = new_key()
    assert key.last_used_at is None
    before = timezone.now()
    assert search(api, HTTP_X_API_KEY=plaintext).status_code == 200
    key.refresh_from_db()
    assert before <= key.last_used_at <= timezone.now()
    # Written at most once a minute per key (not a write per request)...
    first = key.last_used_at
    assert search(api, HTTP_X_API_KEY=plaintext).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at == first
    # ... and again once that minute has passed.
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - selectors.LAST_USE_RESOLUTION)
    assert search(api, HTTP_X_API_KEY=plaintext).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at > first


def test_a_refused_key_is_not_marked_used(api, new_key):
    key, plaintext = new_key()
    services.revoke_api_key(key.prefix)
    search(api, HTTP_X_API_KEY=plaintext)
    key.refresh_from_db()
    assert key.last_used_at is None
