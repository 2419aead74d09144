"""The Threads pages in a browser, against the live stack: the list, a thread's values and
history, and time travel (a run forked from an older checkpoint, an edited state, a resumed
interrupt). Data is made through the real API (langgraph-sdk), never the ORM: Playwright's
event loop runs on this thread and Django refuses database calls from it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.dashboard.conftest import screenshot, sign_in

pytestmark = pytest.mark.e2e

RUN_PAGE = re.compile(r"/dashboard/runs/([0-9a-f-]{36})/$")


def open_thread(page, stack, thread_id: str, **query: str) -> None:
    suffix = "?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else ""
    page.goto(f"{stack.url}/dashboard/threads/{thread_id}/{suffix}")


def test_a_run_forked_from_an_older_checkpoint_starts_there(page, stack, client):
    thread_id = client.threads.create()["thread_id"]
    first = client.runs.wait(thread_id, "agent", input={"steps": ["first"]})
    client.runs.wait(thread_id, "agent", input={"steps": ["second"]})
    history = client.threads.get_history(thread_id, limit=50)
    # The first run's last checkpoint: nothing next, and none of the second run's steps.
    after_first = next(s for s in history if not s["next"] and s["values"] == first)
    assert first["steps"] == ["first", "thought about it", "answered after 2 step(s)"]

    page.goto(f"{stack.url}/dashboard/threads/")
    row = page.locator(f'tr[data-row="{thread_id}"]')
    expect(row).to_contain_text("agent")
    expect(row.locator("[data-status]")).to_have_text("idle")
    screenshot(page, "threads")

    row.get_by_role("link").click()
    page.wait_for_url(f"**/dashboard/threads/{thread_id}/")
    expect(page.locator("#thread-now .json-tree")).to_contain_text('"second"')
    for state in history:
        expect(page.locator(f'tr[data-checkpoint="{state["checkpoint_id"]}"]')).to_have_count(1)

    page.locator(f'tr[data-checkpoint="{after_first["checkpoint_id"]}"]').get_by_role(
        "link", name="Time travel"
    ).click()
    time_travel = page.locator("#time-travel")
    expect(time_travel).to_contain_text(after_first["checkpoint_id"])
    expect(time_travel).to_be_focused()
    expect(page.get_by_label("Assistant")).to_contain_text("agent")
    fork_input = page.get_by_label("Input (JSON; null runs the checkpoint's next nodes)")
    expect(fork_input).to_have_value("{}")  # a finished checkpoint: a new pass, not nothing
    fork_input.fill('{"steps": ["fork"]}')
    page.get_by_role("button", name="Fork a run from here").click()
    page.wait_for_url(RUN_PAGE)
    run_id = RUN_PAGE.search(page.url).group(1)

    forked = client.runs.join(thread_id, run_id)
    # It started from the first run's state: the second run's steps are not in it.
    assert forked["steps"] == [
        *first["steps"],
        "fork",
        "thought about it",
        "answered after 5 step(s)",
    ]
    assert client.threads.get_state(thread_id)["values"] == forked
    fork_start = next(
        s
        for s in client.threads.get_history(thread_id, limit=50)
        if s["metadata"].get("source") == "input"
        and s["values"] == first
        and s["parent_checkpoint_id"] == after_first["checkpoint_id"]
    )
    assert fork_start["metadata"]["run_id"] == run_id

    open_thread(page, stack, thread_id, checkpoint=after_first["checkpoint_id"])
    expect(page.locator("#thread-now .json-tree")).to_contain_text('"fork"')
    expect(page.locator("#thread-now .json-tree")).not_to_contain_text('"second"')
    expect(page.locator(f'#thread-runs [data-row="{run_id}"]')).to_be_visible()  # live region
    screenshot(page, "thread")


def test_editing_the_state_at_a_checkpoint(page, stack, client):
    thread_id = client.threads.create()["thread_id"]
    client.runs.wait(thread_id, "agent", input={"steps": []})
    oldest_with_steps = next(
        s for s in reversed(client.threads.get_history(thread_id, limit=50)) if s["values"]["steps"]
    )
    open_thread(page, stack, thread_id, checkpoint=oldest_with_steps["checkpoint_id"])

    page.get_by_label("Update (JSON, as the node would return it)").fill('{"steps": "not a list"')
    page.get_by_role("button", name="Update state").click()
    expect(page.locator("#edit-error")).to_contain_text("Invalid JSON")
    expect(page.locator("#edit-values")).to_be_focused()

    page.get_by_label("Update (JSON, as the node would return it)").fill('{"steps": ["edited"]}')
    page.get_by_label("As node").select_option("think")
    page.get_by_role("button", name="Update state").click()
    expect(page.get_by_role("status").filter(has_text="State updated")).to_be_visible()
    state = client.threads.get_state(thread_id)
    assert state["values"]["steps"] == [*oldest_with_steps["values"]["steps"], "edited"]
    assert state["next"] == ["respond"]  # as if think had written it
    expect(page.locator("#thread-now .json-tree")).to_contain_text('"edited"')
    expect(page.locator("#time-travel")).to_contain_text(state["checkpoint_id"])


def test_a_pending_interrupt_is_shown_and_resumed(page, stack, client):
    thread_id = client.threads.create()["thread_id"]
    client.runs.wait(thread_id, "approval", input={"request": "the deploy"})
    assert client.threads.get(thread_id)["status"] == "interrupted"

    open_thread(page, stack, thread_id)
    expect(page.locator(".interrupt-payload")).to_contain_text("Approve the deploy?")
    page.get_by_label("Resume with (JSON, or plain text)").fill("ship it")
    page.get_by_role("button", name="Resume").click()
    page.wait_for_url(RUN_PAGE)
    run_id = RUN_PAGE.search(page.url).group(1)

    assert client.runs.join(thread_id, run_id)["decision"] == "ship it"
    assert client.threads.get(thread_id)["status"] == "idle"


def test_the_thread_pages_fit_a_narrow_screen(browser, stack, staff_user, client):
    thread_id = client.threads.create()["thread_id"]
    client.runs.wait(thread_id, "agent", input={"steps": ["x" * 200]})  # a long value
    checkpoint_id = client.threads.get_state(thread_id)["checkpoint_id"]
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    page = context.new_page()
    sign_in(page, stack.url, staff_user)
    for path in (
        "/dashboard/threads/",
        f"/dashboard/threads/{thread_id}/?checkpoint={checkpoint_id}",
    ):
        page.goto(f"{stack.url}{path}")
        expect(page.locator("main h1")).to_be_visible()
        # Nothing wider than the screen but what scrolls inside its own box (tables, trees).
        assert page.evaluate("document.body.scrollWidth <= window.innerWidth + 1"), path
    context.close()
