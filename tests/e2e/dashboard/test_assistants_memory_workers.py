"""The dashboard's Assistants, Memory and Workers pages in a real browser (Debian's Chromium
through Playwright) against real processes: daphne, a Celery executor, the outbox relay and
NATS. Data is made and checked through the official ``langgraph-sdk``, never the ORM (the
browser's event loop runs in this thread)."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.dashboard.conftest import screenshot

pytestmark = pytest.mark.e2e


def test_an_assistants_page_draws_its_graph_and_makes_a_new_version(page, stack, client):
    name = f"e2e-helper-{uuid.uuid4().hex[:6]}"
    assistant = client.assistants.create(
        "agent", config={"tags": ["e2e"]}, context={"model": "small"}, name=name
    )
    page.goto(f"{stack.url}/dashboard/assistants/")
    expect(page.get_by_role("link", name=name)).to_be_visible()
    screenshot(page, "assistants")

    page.get_by_role("link", name=name).click()
    page.wait_for_url(f"{stack.url}/dashboard/assistants/{assistant['assistant_id']}/")
    for node in ("__start__", "think", "respond", "__end__"):
        expect(page.locator(f'#graph svg g.node[data-node="{node}"]')).to_be_visible()
    expect(page.get_by_role("link", name="Open in Playground")).to_have_attribute(
        "href", f"/dashboard/playground/?assistant={assistant['assistant_id']}"
    )
    expect(page.locator("#versions tbody tr")).to_have_count(1)

    page.get_by_label("Context (JSON object)").fill('{"model": "large"}')
    page.get_by_role("button", name="Create version").click()
    expect(page.get_by_role("status")).to_contain_text("Version 2 created")
    expect(page.locator('#versions tr[data-row="2"]')).to_contain_text("latest")
    expect(page.locator("#assistant-context")).to_contain_text('"model": "large"')
    # The versions list offers the change just made; its diff shows it.
    page.get_by_role("link", name="changes from v1").click()
    expect(
        page.locator("#diff .diff-add").filter(has_text='"model": "large"').first
    ).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot from the top: the bar stays on top
    screenshot(page, "assistant")
    updated = client.assistants.get(assistant["assistant_id"])
    assert (updated["version"], updated["context"]) == (2, {"model": "large"})

    # Bad JSON: the error next to the field, and no new version.
    page.get_by_label("Metadata (JSON object)").fill("{oops")
    page.get_by_role("button", name="Create version").click()
    expect(page.locator("#v-metadata-error")).to_contain_text("metadata: not valid JSON")
    assert client.assistants.get(assistant["assistant_id"])["version"] == 2


def test_a_graphs_subgraph_is_drawn_expanded_and_collapses(page, stack, client):
    [nested] = client.assistants.search(graph_id="nested", limit=1)
    page.goto(f"{stack.url}/dashboard/assistants/{nested['assistant_id']}/")
    expect(page.locator('#graph svg g.node[data-node="child:inner"]')).to_be_visible()
    expect(page.locator('#graph svg g.node[data-node="prepare"]')).to_be_visible()
    page.get_by_label("Expand subgraphs").uncheck()
    expect(page.locator('#graph svg g.node[data-node="child"]')).to_be_visible()
    expect(page.locator('#graph svg g.node[data-node="child:inner"]')).to_have_count(0)
    page.get_by_label("Expand subgraphs").check()
    expect(page.locator('#graph svg g.node[data-node="child:inner"]')).to_be_visible()


def test_the_memory_page_shows_an_item_put_through_the_sdk_and_deletes_it(page, stack, client):
    label = f"e2e-{uuid.uuid4().hex[:6]}"  # "memos": a namespace no other e2e test lists
    client.store.put_item(["memos", label], "todo", {"text": "water the plants", "n": 1}, ttl=60)
    client.store.put_item(["memos", label], "kept", {"text": "stays"})
    page.goto(f"{stack.url}/dashboard/memory/?prefix=memos.{label}")
    expect(page.locator("#items-h")).to_contain_text(f"memos.{label}")
    row = page.locator(f'#items tr[data-row="memos.{label}/todo"]')
    expect(row).to_contain_text("water the plants")
    expect(row).to_contain_text("60 min")
    screenshot(page, "memory")

    row.get_by_role("link", name="todo").click()
    expect(page.locator("#item-value")).to_contain_text('"water the plants"')
    page.get_by_label("Value (JSON object)").fill('{"text": "done", "n": 2}')
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    assert client.store.get_item(["memos", label], "todo")["value"] == {"text": "done", "n": 2}

    page.get_by_role("button", name="Delete item").click()
    expect(page.get_by_role("status")).to_contain_text(f"Deleted 'todo' from memos.{label}")
    expect(page.locator(f'#items tr[data-row="memos.{label}/kept"]')).to_be_visible()
    expect(page.locator(f'#items tr[data-row="memos.{label}/todo"]')).to_have_count(0)
    assert client.store.get_item(["memos", label], "todo") is None
    assert client.store.get_item(["memos", label], "kept")["value"] == {"text": "stays"}
    # The store is shared by the e2e tests (some compare its namespaces with a reference).
    client.store.delete_item(["memos", label], "kept")


def test_the_workers_page_lists_the_stacks_executor_online(page, stack):
    page.goto(f"{stack.url}/dashboard/workers/")
    executor = page.locator("#workers tbody tr").filter(has_text="exec-stream@")
    expect(executor).to_have_count(1)
    expect(executor.locator("[data-status]")).to_have_text("online")
    expect(executor).to_contain_text("builtin")
    expect(page.locator("body[data-live='on']")).to_have_count(1)  # the live region's socket
    screenshot(page, "workers")
