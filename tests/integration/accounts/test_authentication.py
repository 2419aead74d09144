"""Who caused what: every event a request appends records its actor and tenant; and Django
sessions, which are principals on the browser paths only.

The sessions part mounts a DRF view under ``/dashboard/`` (a browser path) in this module's URL
table: Django's test client serves every path through ``settings.MIDDLEWARE``, the browser
chain, with its sessions. That the API paths have no sessions at all (``API_MIDDLEWARE``) is
proved against daphne in ``tests/e2e/test_auth_openapi.py``.
"""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from django.test import Client
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import principal_of
from duragraph_site.handlers import is_browser_path
from events.models import Event

pytestmark = pytest.mark.usefixtures("auth_on")

SECRET = "a-shared-secret-of-at-least-32-bytes-for-hs256"


def events_of(stream_id) -> list[Event]:
    return list(Event.objects.filter(stream_id=uuid.UUID(str(stream_id))).order_by("version"))


# -- the actor and tenant of every event ----------------------------------------------------
def test_events_record_the_api_keys_identity_and_tenant(api, new_key):
    key, plaintext = new_key(tenant="acme")
    created = api.post(
        "/threads", {"metadata": {"a": 1}}, format="json", HTTP_X_API_KEY=plaintext,
        HTTP_X_REQUEST_ID="req-42",
    )  # fmt: skip
    assert created.status_code == 200, created.json()
    thread_id = created.json()["thread_id"]
    updated = api.patch(
        f"/threads/{thread_id}", {"metadata": {"b": 2}}, format="json", HTTP_X_API_KEY=plaintext
    )
    assert updated.status_code == 200, updated.json()
    events = events_of(thread_id)
    assert len(events) >= 2
    for event in events:
        assert event.metadata["actor"] == f"apikey:{key.prefix}", event.type
        assert event.metadata["tenant"] == "acme", event.type
    assert events[0].metadata["request_id"] == "req-42"


def test_events_record_a_tokens_subject_and_tenant(api, auth_on, db):
    auth_on.JWT_SECRET = SECRET
    auth_on.JWT_ALGORITHMS = ["HS256"]
    token = jwt.encode(
        {"sub": "ada", "tenant": "globex", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"
    )
    created = api.post("/threads", {}, format="json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert created.status_code == 200, created.json()
    (event,) = events_of(created.json()["thread_id"])
    assert (event.metadata["actor"], event.metadata["tenant"]) == ("jwt:ada", "globex")


def test_a_refused_request_appends_nothing(api, new_key):
    key, plaintext = new_key(scopes=["worker"])
    before = Event.objects.count()
    assert api.post("/threads", {}, format="json").status_code == 401
    assert api.post("/threads", {}, format="json", HTTP_X_API_KEY=plaintext).status_code == 403
    assert (
        api.post("/threads", {}, format="json", HTTP_X_API_KEY=plaintext + "x").status_code == 401
    )
    assert Event.objects.count() == before


# -- sessions: principals on the browser paths ----------------------------------------------
class WhoAmI(APIView):
    """A JSON view on a browser path, as the dashboard may grow (default authentication and
    the ``api`` scope, like every API view)."""

    def get(self, request):
        principal = principal_of(request)
        return Response(
            {
                "identity": principal.identity,
                "kind": principal.kind,
                "all_tenants": principal.all_tenants,
            }
        )

    def post(self, request):
        return self.get(request)


urlpatterns = [
    path("dashboard/whoami", WhoAmI.as_view()),
    path("", include("duragraph_site.urls")),
]


def test_the_dashboard_is_a_browser_path_and_the_api_is_not():
    assert is_browser_path("/dashboard/whoami") and is_browser_path("/admin/")
    assert not is_browser_path("/threads/search") and not is_browser_path("/api/v1/threads")


@pytest.mark.urls(__name__)
def test_a_logged_in_staff_user_is_a_principal_on_a_browser_path(client, admin_user):
    assert client.get("/dashboard/whoami").status_code == 401
    client.force_login(admin_user)
    response = client.get("/dashboard/whoami")
    assert response.status_code == 200
    assert response.json() == {
        "identity": f"user:{admin_user.pk}",
        "kind": "session",
        "all_tenants": True,
    }


@pytest.mark.urls(__name__)
def test_a_session_must_pass_the_csrf_check_to_change_anything(admin_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    refused = browser.post("/dashboard/whoami", {}, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    browser.get("/admin/")  # sets the CSRF cookie, as any admin page does
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(
        "/dashboard/whoami", {}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 200


@pytest.mark.urls(__name__)
def test_an_inactive_users_session_is_no_principal(client, admin_user):
    client.force_login(admin_user)
    admin_user.is_active = False
    admin_user.save()
    assert client.get("/dashboard/whoami").status_code == 401


@pytest.mark.urls(__name__)
def test_a_credential_header_wins_over_a_session(client, admin_user, new_key):
    key, plaintext = new_key(tenant="acme")
    client.force_login(admin_user)
    response = client.get("/dashboard/whoami", HTTP_X_API_KEY=plaintext)
    assert response.json()["identity"] == f"apikey:{key.prefix}"
    refused = client.get("/dashboard/whoami", HTTP_X_API_KEY="dg_0123456789ab_wrong")
    assert refused.status_code == 401  # a wrong key is refused, not ignored for the session
