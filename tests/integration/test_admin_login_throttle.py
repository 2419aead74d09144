"""The admin login is throttled per user name and address (accounts.login_throttle): through
the ASGI application and its browser handler, as daphne serves it, five wrong passwords lock
the pair for a while, the right one included, with a clear message; other addresses and
other names are unaffected; a success clears the count; the lock ends."""

from __future__ import annotations

import asyncio
import re
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from asgiref.testing import ApplicationCommunicator
from django.contrib.auth import aauthenticate
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import override_settings

from accounts import login_throttle
from duragraph_site.asgi import application
from tests.asgi import http_scope

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "the-right-password"
THROTTLED = "Too many failed login attempts for this account from your address."


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", email="", password=PASSWORD)


def http(method: str, path: str, *, address: str, body: bytes = b"", cookie: str = ""):
    """One request through ``duragraph_site.asgi.application`` from *address*."""

    async def go() -> tuple[int, dict[str, str], bytes]:
        headers = [(b"host", b"testserver")]
        if cookie:
            headers.append((b"cookie", cookie.encode()))
        if body:
            headers.append((b"content-type", b"application/x-www-form-urlencoded"))
        scope = http_scope(method, path, headers=headers, client=address)
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": body})
        start = await communicator.receive_output(10)
        chunks = []
        while True:
            chunk = await communicator.receive_output(10)
            chunks.append(chunk.get("body", b""))
            if not chunk.get("more_body"):
                break
        await communicator.send_input({"type": "http.disconnect"})
        await communicator.wait(10)
        jar: SimpleCookie = SimpleCookie()
        for name, value in start["headers"]:
            if name.lower() == b"set-cookie":
                jar.load(value.decode())
        return start["status"], {k: m.value for k, m in jar.items()}, b"".join(chunks)

    return asyncio.run(go())


def login(username: str, password: str, *, address: str = "203.0.113.7") -> tuple[int, str]:
    """The admin login form, filled in as a browser does: (status, page text)."""
    _, cookies, page = http("GET", "/admin/login/", address=address)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    form = {
        "csrfmiddlewaretoken": token,
        "username": username,
        "password": password,
        "next": "/admin/",
    }
    status, _, body = http(
        "POST",
        "/admin/login/",
        address=address,
        body=urlencode(form).encode(),
        cookie=f"csrftoken={cookies['csrftoken']}",
    )
    return status, body.decode()


def test_five_failures_lock_the_name_from_that_address(admin_user):
    for _ in range(4):
        status, page = login("root", "wrong")
        assert status == 200 and "Please enter the correct username and password" in page
    status, page = login("root", "wrong")  # the fifth: locked from now on, and it says so
    assert status == 200 and THROTTLED in page and "Try again in 15 minute(s)." in page

    status, page = login("root", PASSWORD)  # the right password does not get through either
    assert status == 200 and THROTTLED in page
    # Another address logs in to the same account (no lock-out from elsewhere)...
    assert login("root", PASSWORD, address="198.51.100.9")[0] == 302
    # ...and the locked address may still try other names.
    assert "Please enter the correct" in login("someone-else", "wrong")[1]


def test_the_name_is_compared_without_case(admin_user):
    for name in ("root", "ROOT", "Root", "rOOt", "RooT"):
        login(name, "wrong")
    assert THROTTLED in login("root", PASSWORD)[1]


def test_a_success_clears_the_count(admin_user):
    for _ in range(4):
        login("root", "wrong")
    assert login("root", PASSWORD)[0] == 302
    for _ in range(4):
        status, page = login("root", "wrong")
        assert THROTTLED not in page
    assert login("root", PASSWORD)[0] == 302


@override_settings(LOGIN_LOCKOUT_SECONDS=1, LOGIN_FAILURE_LIMIT=2)
def test_the_lock_ends(admin_user):
    login("root", "wrong")
    assert THROTTLED in login("root", "wrong")[1]
    assert THROTTLED in login("root", PASSWORD)[1]
    # The lock's own expiry is what is waited for here (the cache forgets it after 1 s).
    deadline = time.monotonic() + 5
    while login_throttle.locked_for("root", "203.0.113.7") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert login("root", PASSWORD)[0] == 302


def test_the_async_authenticate_is_throttled_too(admin_user):
    """``aauthenticate`` (Django's async login path) meets the same lock."""
    for _ in range(5):
        login("root", "wrong")

    class Request:
        META = {"REMOTE_ADDR": "203.0.113.7"}

    with pytest.raises(ValidationError) as refused:
        asyncio.run(aauthenticate(Request(), username="root", password=PASSWORD))
    assert refused.value.code == login_throttle.CODE
