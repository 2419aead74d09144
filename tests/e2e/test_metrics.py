"""``/metrics`` of the stack ``manage.py dev`` runs: every series the issue names is there and
moves, including those counted in other processes than daphne (the executor claims and ends
runs, the relay publishes): they reach ``/metrics`` through ``PROMETHEUS_MULTIPROC_DIR``."""

from __future__ import annotations

import re

import httpx
import pytest
from langgraph_sdk import get_sync_client

from duragraph_site.embedded import free_port
from tests.e2e.processes import start_dev, stop, wait_for, wait_ok

pytestmark = pytest.mark.e2e


def value(scraped: str, series: str) -> float | None:
    """The sample of *series* (name and labels exactly as exposed), or None."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", scraped, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_every_series_is_exposed_and_moves(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    dev = start_dev(tmp_path / "home", port)
    try:
        wait_ok(base, dev)
        with get_sync_client(url=base, api_key=None) as client:
            thread = client.threads.create()
            client.runs.wait(thread["thread_id"], "agent", input={"steps": []})
            streamed = list(client.runs.stream(thread["thread_id"], "agent", input={"steps": []}))
            assert streamed[0].event == "metadata" and streamed[-1].event == "values"

        def scrape() -> str:
            return httpx.get(f"{base}/metrics", timeout=10).text

        # The relay publishes asynchronously: wait until it has caught up.
        scraped = wait_for(
            lambda: (
                (s := scrape())
                and (value(s, "duragraph_relay_published_total") or 0) > 0
                and value(s, "duragraph_outbox_pending") == 0
                and s
            ),
            timeout=60,
            what="the relay to publish everything",
        )
    finally:
        stop(dev)

    # Counted in the executor process.
    assert value(scraped, 'duragraph_run_claim_wait_seconds_count{worker_kind="builtin"}') == 2
    assert value(scraped, 'duragraph_run_duration_seconds_count{status="success"}') == 2
    assert (
        value(scraped, 'duragraph_events_appended_total{stream_type="run",type="RunCompleted"}')
        == 2
    )
    # Read from PostgreSQL at scrape time.
    assert value(scraped, 'duragraph_runs{status="success"}') == 2
    assert value(scraped, 'duragraph_runs{status="pending"}') == 0
    assert value(scraped, "duragraph_run_queue_depth") == 0
    assert value(scraped, "duragraph_run_queue_oldest_age_seconds") == 0
    assert value(scraped, 'duragraph_workers{kind="builtin",status="online"}') == 1
    assert value(scraped, "duragraph_relay_lag_seconds") == 0
    # Counted in daphne: the SSE stream has ended; every event it sent is counted by source.
    assert value(scraped, "duragraph_sse_streams_open") == 0
    delivered = sum(
        value(scraped, f'duragraph_stream_events_total{{source="{source}"}}') or 0
        for source in ("nats", "postgres")
    )
    assert delivered > 0
    # Nothing expired or retried in a healthy run.
    assert value(scraped, "duragraph_run_retries_total") == 0
    for outcome in ("retried", "failed"):
        series = f'duragraph_run_lease_expirations_total{{outcome="{outcome}"}}'
        assert value(scraped, series) == 0
