"""The dashboard's sign-in, overview, Runs list, run page and Playground in a real browser
(Debian's Chromium through Playwright) against real processes: daphne, a Celery executor, the
outbox relay and NATS. Data is made through the official ``langgraph-sdk``, never the ORM."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.dashboard.conftest import VIEWPORT, screenshot, sign_in

pytestmark = pytest.mark.e2e


def assistant_id(client, graph_id: str) -> str:
    [assistant] = client.assistants.search(graph_id=graph_id, limit=1)
    return assistant["assistant_id"]


def test_a_visitor_is_sent_to_sign_in_and_gets_in(browser, stack, staff_user):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{stack.url}/dashboard/runs/?status=success")
    assert page.url.startswith(f"{stack.url}/?next=")
    screenshot(page, "sign-in")
    page.get_by_label("User name").fill(staff_user["username"])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")
    page.get_by_label("User name").fill(staff_user["username"])
    page.get_by_label("Password").fill(staff_user["password"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{stack.url}/dashboard/runs/?status=success")
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    page.get_by_role("button", name=f"Sign out {staff_user['username']}").click()
    page.wait_for_url(f"{stack.url}/")
    page.goto(f"{stack.url}/dashboard/")
    assert page.url.startswith(f"{stack.url}/?next=")
    context.close()


def record_node_states(page: Page) -> None:
    """Keep every state change of the graph's nodes, in order, in ``window.transitions``."""
    page.evaluate(
        """() => {
        window.transitions = [];
        new MutationObserver((changes) => changes.forEach((change) => {
            const node = change.target;
            window.transitions.push([node.dataset.node, node.dataset.state]);
        })).observe(document.getElementById("graph"),
            {subtree: true, attributes: true, attributeFilter: ["data-state"]});
    }"""
    )


def test_in_the_playground_each_node_runs_then_finishes_in_order(page, stack, client):
    page.goto(f"{stack.url}/dashboard/playground/?assistant={assistant_id(client, 'paced')}")
    expect(page.locator('#graph [data-node="step_3"]')).to_be_visible()
    record_node_states(page)
    page.get_by_role("button", name="Raw JSON").click()
    page.get_by_label("Input (JSON)").fill('{"delay": 0.3}')
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#p-status")).to_have_text("success", timeout=30_000)
    expect(page.locator("#output")).to_contain_text('"done"')
    transitions = page.evaluate("window.transitions")
    lit = [(node, state) for node, state in transitions if state != "idle"]
    assert lit == [
        ("step_1", "running"),
        ("step_1", "done"),
        ("step_2", "running"),
        ("step_2", "done"),
        ("step_3", "running"),
        ("step_3", "done"),
    ]
    assert page.url.endswith("/dashboard/playground/?assistant=" + assistant_id(client, "paced"))
    screenshot(page, "playground")


def test_an_interrupt_is_resumed_from_the_playground(page, stack, client):
    page.goto(f"{stack.url}/dashboard/playground/?assistant={assistant_id(client, 'approval')}")
    page.get_by_label("Request (string)").fill("the deploy")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#interrupt-payload")).to_contain_text(
        "Approve the deploy?", timeout=30_000
    )
    expect(page.locator("#p-status")).to_have_text("interrupted")
    thread_id = page.get_by_label("Thread").input_value()
    page.get_by_label("Resume with (JSON, or plain text)").fill('"ship it"')
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#p-status")).to_have_text("success", timeout=30_000)
    expect(page.locator("#output")).to_contain_text("ship it")
    state = client.threads.get_state(thread_id)
    assert state["values"] == {"request": "the deploy", "decision": "ship it"}


def test_bad_playground_input_is_shown_and_starts_nothing(page, stack, client):
    agent = assistant_id(client, "agent")
    page.goto(f"{stack.url}/dashboard/playground/?assistant={agent}")
    page.get_by_role("button", name="Raw JSON").click()
    page.get_by_label("Input (JSON)").fill('{"steps": "not a list"')
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#input-error")).to_contain_text("Invalid JSON")
    page.get_by_label("Input (JSON)").fill('{"steps": "not a list"}')
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#input-error")).to_contain_text(
        "steps: 'not a list' is not of type 'array'"
    )
    assert page.get_by_label("Thread").input_value() == ""  # no thread, no run was made
    assert page.locator("#p-status").is_hidden()


def test_the_run_page_lists_exactly_the_events_the_api_has(page, stack, client):
    thread = client.threads.create()
    run = client.runs.create(thread["thread_id"], "simple", input={"items": ["x"]})
    client.runs.join(thread["thread_id"], run["run_id"])
    page.goto(f"{stack.url}/dashboard/runs/{run['run_id']}/")
    expect(page.locator("#run-status")).to_have_text("success")
    expect(page.locator('#timeline .span[data-node="a"]')).to_have_attribute("data-state", "done")
    expect(page.locator('#graph [data-node="b"]')).to_have_attribute("data-state", "done")
    screenshot(page, "run")
    page.get_by_role("tab", name="Events").click()
    rows = page.locator("#events tbody tr")
    shown = [
        (int(row.locator("td").nth(0).inner_text()), row.locator("td").nth(1).inner_text())
        for row in rows.all()
    ]
    api = httpx.get(f"{stack.url}/api/v1/runs/{run['run_id']}/events").json()
    assert shown == [(event["version"], event["type"]) for event in api]
    assert [t for _, t in shown][:2] == ["RunCreated", "RunStarted"]
    screenshot(page, "run-events")
    page.get_by_role("tab", name="Replay").click()
    expect(page.locator("[data-replay]")).to_have_attribute("data-replay", "equal")
    page.get_by_role("tab", name="State at each checkpoint").click()
    history = client.threads.get_history(
        thread["thread_id"], metadata={"run_id": run["run_id"]}, limit=100
    )
    shown = page.locator("#checkpoints tbody tr")
    expect(shown).to_have_count(len(history))
    assert [row.get_attribute("data-checkpoint") for row in shown.all()] == [
        state["checkpoint"]["checkpoint_id"] for state in history
    ]
    expect(shown.first.locator("pre")).to_contain_text('"b"')


def test_a_run_started_through_the_sdk_appears_in_the_open_runs_page_within_a_second(
    page, stack, client
):
    page.goto(f"{stack.url}/dashboard/runs/")
    expect(page.locator("body")).to_have_attribute("data-live", "on")
    thread = client.threads.create()
    run = client.runs.create(thread["thread_id"], "paced", input={"delay": 0.2})
    started = time.monotonic()
    row = page.locator(f'#runs tr[data-row="{run["run_id"]}"]')
    expect(row).to_be_visible(timeout=1_000)
    appeared = time.monotonic() - started
    assert appeared <= 1.0, f"the run appeared after {appeared:.2f}s"
    # Its status then changes in place, without a reload.
    expect(row.locator("[data-status]")).to_have_text("success", timeout=30_000)
    screenshot(page, "runs")


def test_cancel_from_the_run_page_cancels(page, stack, client):
    thread = client.threads.create()
    run = client.runs.create(thread["thread_id"], "paced", input={"delay": 5})
    page.goto(f"{stack.url}/dashboard/runs/{run['run_id']}/")
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-status")).to_have_text("interrupted")
    assert client.runs.get(thread["thread_id"], run["run_id"])["status"] == "interrupted"


def test_bulk_cancel_from_the_runs_page(page, stack, client):
    thread = client.threads.create()
    first = client.runs.create(thread["thread_id"], "paced", input={"delay": 5})
    second = client.runs.create(
        thread["thread_id"], "paced", input={"delay": 5}, multitask_strategy="enqueue"
    )
    page.goto(f"{stack.url}/dashboard/runs/?thread={thread['thread_id']}")
    for run in (first, second):
        page.get_by_label(f"Select run {run['run_id']}").check()
    page.get_by_role("button", name="Cancel selected").click()
    expect(page.get_by_role("status")).to_contain_text("Cancelled 2 of 2")
    for run in (first, second):
        assert client.runs.get(thread["thread_id"], run["run_id"])["status"] == "interrupted"


def test_the_overview_counts_runs_live(page, stack, client):
    page.goto(f"{stack.url}/dashboard/")
    expect(page.locator("body")).to_have_attribute("data-live", "on")
    running = page.locator('[data-figure="running"]')
    before = int(running.inner_text())
    thread = client.threads.create()
    run = client.runs.create(thread["thread_id"], "paced", input={"delay": 5})
    expect(running).to_have_text(str(before + 1), timeout=10_000)
    screenshot(page, "overview")
    client.runs.cancel(thread["thread_id"], run["run_id"])
    expect(running).to_have_text(str(before), timeout=10_000)


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/runs/", "/dashboard/playground/"])
def test_pages_fit_a_narrow_screen_in_the_dark_and_are_reachable_by_keyboard(
    browser, stack, staff_user, path
):
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    page = context.new_page()
    sign_in(page, stack.url, staff_user)
    page.goto(f"{stack.url}{path}")
    # Nothing wider than the screen but what scrolls inside its own box (tables, the graph).
    assert page.evaluate("document.body.scrollWidth <= window.innerWidth + 1")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)", "the dark palette follows the system's"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "DuraGraph"
    screenshot(page, f"narrow-dark-{path.strip('/').replace('/', '-') or 'home'}")
    context.close()


def test_a_chat_graph_gets_a_chat_box_and_its_tokens_stream_in(page, stack, client):
    page.goto(f"{stack.url}/dashboard/playground/?assistant={assistant_id(client, 'chat')}")
    page.evaluate(
        """() => {
        window.aiTexts = [];
        new MutationObserver(() => {
            const bubble = document.querySelector("#chat .bubble.ai");
            if (bubble && bubble.textContent !== window.aiTexts.at(-1)) {
                window.aiTexts.push(bubble.textContent);
            }
        }).observe(document.getElementById("chat"),
            {subtree: true, childList: true, characterData: true});
    }"""
    )
    page.get_by_label("Message").fill("Hi there")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#chat .bubble.human")).to_have_text("Hi there")
    expect(page.locator("#chat .bubble.ai")).to_have_text(
        "Hello from DuraGraph, token by token.", timeout=30_000
    )
    expect(page.locator("#p-status")).to_have_text("success")
    # Token by token: the reply grew in place, each text a prefix of the next.
    texts = page.evaluate("window.aiTexts")
    assert len(texts) > 3, texts
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:], strict=False))
    thread_id = page.get_by_label("Thread").input_value()
    messages = client.threads.get_state(thread_id)["values"]["messages"]
    assert [(m["type"], m["content"]) for m in messages] == [
        ("human", "Hi there"),
        ("ai", "Hello from DuraGraph, token by token."),
    ]
    # A second message goes on in the same thread: the conversation grows.
    page.get_by_label("Message").fill("Again")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#chat .bubble.ai")).to_have_count(2, timeout=30_000)
    expect(page.locator("#p-status")).to_have_text("success")
    assert len(client.threads.get_state(thread_id)["values"]["messages"]) == 4
    screenshot(page, "playground-chat")
