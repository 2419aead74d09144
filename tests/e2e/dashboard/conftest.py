"""Browser tests of the dashboard: Debian's Chromium driven by Playwright, against real
processes (daphne, an executor, the relay, NATS) on the test database.

The browser is the system's ``chromium`` (``CHROMIUM`` names another); Playwright's own
browser downloads are never used. ``DASHBOARD_SCREENSHOTS=<dir>`` keeps each page's
screenshot there (``docs/dashboard/`` is refreshed that way: docs/dashboard.md).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.processes import LiveStack, start_live_stack, stop_live_stack

STAFF = {"username": "operator", "password": "correct horse battery staple"}
#: Big enough for every page's content at the width the issue asks to work at.
VIEWPORT = {"width": 1280, "height": 900}


def chromium_path() -> str:
    path = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if path is None:
        raise RuntimeError(
            "No Chromium: install Debian's (apt-get install chromium) or set CHROMIUM=<path>"
        )
    return path


@pytest.fixture(scope="module")
def browser(stack, staff_user) -> Browser:
    """Chromium, started after everything that uses the database from the test process:
    Playwright's synchronous API runs an event loop on this thread, and Django refuses
    database calls from a thread with a running loop."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def stack(server_env, system_assistants, nats_url, tmp_path_factory) -> LiveStack:
    live = start_live_stack(server_env, nats_url, tmp_path_factory.mktemp("dashboard-logs"))
    yield live
    stop_live_stack(live)


@pytest.fixture(scope="module")
def staff_user(e2e_database, django_db_blocker) -> dict[str, str]:
    from django.contrib.auth import get_user_model

    with django_db_blocker.unblock():
        users = get_user_model()
        if not users.objects.filter(username=STAFF["username"]).exists():
            users.objects.create_superuser(STAFF["username"], email="", password=STAFF["password"])
    return STAFF


@pytest.fixture
def client(stack):
    """The official ``langgraph-sdk`` on the stack: tests make their data through the API
    (never the ORM: Playwright's event loop runs on the test's thread)."""
    with get_sync_client(url=stack.url, api_key=None) as client:
        yield client


def sign_in(page: Page, url: str, credentials: dict[str, str]) -> None:
    page.goto(f"{url}/")
    page.get_by_label("User name").fill(credentials["username"])
    page.get_by_label("Password").fill(credentials["password"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/dashboard/")


@pytest.fixture
def page(browser, stack, staff_user) -> Page:
    """A signed-in staff user's page (a fresh browser context per test)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, stack.url, staff_user)
    yield page
    context.close()


def screenshot(page: Page, name: str) -> Path | None:
    """Keep a screenshot of *page* as ``<name>.png`` when ``DASHBOARD_SCREENSHOTS`` says where."""
    if not (folder := os.environ.get("DASHBOARD_SCREENSHOTS")):
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
