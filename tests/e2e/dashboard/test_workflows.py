"""The dashboard's DAG view in a real browser: a workflow started from its page runs on a real
jobs worker; its jobs light up as they run and finish, and the log panel tails a job's log
to its end."""

from __future__ import annotations

import sys

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.dashboard.conftest import screenshot
from tests.e2e.processes import start

pytestmark = pytest.mark.e2e

JOBS = {
    "fetch": {"run": "echo fetching; sleep 0.5; echo '::set-output name=size::3'"},
    "build": {"needs": "fetch", "run": "for n in 1 2 3; do echo built part $n; sleep 0.7; done"},
    "test": {"needs": "fetch", "run": "echo tested; echo warning >&2"},
    "ship": {
        "needs": ["build", "test", "fetch"],
        "run": "echo shipped $NEEDS_FETCH_OUTPUTS_SIZE parts",
    },
}


@pytest.fixture
def worker(stack, tmp_path):
    argv = [sys.executable, "-m", "workflows.worker", "--server", stack.url, "--worker-id", "w-ui"]
    argv += ["--poll-interval", "0.1", "--log-batch-interval", "0.1"]
    process = start("jobs-worker", argv, stack.env, tmp_path)
    yield process
    process.stop()


def test_a_workflow_runs_from_its_page_with_live_statuses_and_a_log_tail(page, stack, worker):
    body = {"id": "ui-pipeline", "name": "Pipeline", "on": "push", "jobs": JOBS}
    assert httpx.post(f"{stack.url}/api/workflows", json=body, timeout=30).status_code == 201
    page.goto(f"{stack.url}/dashboard/workflows/")
    page.get_by_role("link", name="ui-pipeline").click()
    page.wait_for_url("**/dashboard/workflows/ui-pipeline/")
    expect(page.locator('#graph [data-node="ship"]')).to_be_visible()
    # Every state change of a node from the page's start (running it reloads the page).
    page.add_init_script(
        """window.transitions = [];
        new MutationObserver((changes) => changes.forEach((c) =>
            window.transitions.push([c.target.dataset.node, c.target.dataset.state])
        )).observe(document,
            {subtree: true, attributes: true, attributeFilter: ["data-state"]});"""
    )
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#run-status")).to_have_text("success", timeout=60_000)
    expect(page.locator('#graph [data-node="ship"]')).to_have_attribute("data-state", "done")
    transitions = [tuple(t) for t in page.evaluate("window.transitions") if t[0]]  # graph nodes
    done_order = [node for node, state in transitions if state == "done"]
    # build runs for 2 s: the page's 1 s poll sees it running before it is done.
    assert ("build", "running") in transitions
    assert done_order[0] == "fetch" and done_order[-1] == "ship"
    assert set(done_order) == set(JOBS)
    screenshot(page, "workflow")
    page.locator('#jobs tr[data-job="ship"]').click()
    expect(page.locator("#log")).to_have_attribute("data-ended", "success")
    expect(page.locator("#log")).to_contain_text("shipped 3 parts")
    page.locator('#graph [data-node="test"]').click()
    expect(page.locator("#log")).to_have_attribute("data-ended", "success")
    expect(page.locator("#log .error")).to_have_text("warning\n")
