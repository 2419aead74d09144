"""The dashboard's run pages through Django's test client on real PostgreSQL: who gets in,
one query per list (not per row) whatever the page size, keyset pages that stay right while
runs arrive, filters and their bad values, actions, the event history download, and the
Playground's start endpoint refusing bad input without writing anything."""

from __future__ import annotations

import uuid

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from runs import services
from runs.models import Run
from threads import services as thread_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(assistant) -> list[Run]:
    """130 runs on 13 threads, oldest first."""
    made = []
    for _ in range(13):
        thread = thread_services.thread_create()
        for _ in range(10):
            made.append(
                services.run_create(thread_id=thread.thread_id, assistant_id=assistant.assistant_id)
            )
    return made


def row_ids(response) -> list[str]:
    html = response.content.decode()
    return [part.split('"')[0] for part in html.split('data-row="')[1:]]


def test_a_visitor_is_sent_to_sign_in_and_a_non_staff_user_is_refused(client):
    response = client.get("/dashboard/runs/?status=error")
    assert response.status_code == 302
    assert response["Location"] == "/?next=%2Fdashboard%2Fruns%2F%3Fstatus%3Derror"
    user = get_user_model().objects.create_user("someone", password="x")
    client.force_login(user)
    assert client.get("/dashboard/runs/").status_code == 403
    assert client.get("/dashboard/").status_code == 403


def test_sign_in_at_the_root_takes_staff_to_the_overview(client):
    get_user_model().objects.create_user("ops", password="secret-enough", is_staff=True)
    assert "Sign in" in client.get("/").content.decode()
    response = client.post("/", {"username": "ops", "password": "wrong"})
    assert (
        response.status_code == 200 and "correct username and password" in response.content.decode()
    )
    response = client.post(
        "/", {"username": "ops", "password": "secret-enough", "next": "/dashboard/runs/"}
    )
    assert response.status_code == 302 and response["Location"] == "/dashboard/runs/"
    assert client.get("/")["Location"] == "/dashboard/"


def test_the_runs_list_is_a_fixed_number_of_queries_for_a_page_of_fifty(
    client, staff, runs, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):
        response = client.get("/dashboard/runs/")
    assert response.status_code == 200
    newest_first = [str(run.run_id) for run in reversed(runs)]
    assert row_ids(response) == newest_first[:50]


def test_keyset_pages_do_not_shift_when_runs_arrive(client, staff, runs, assistant):
    first = client.get("/dashboard/runs/")
    after = first.context["page"].after
    services.run_create(thread_id=runs[0].thread_id, assistant_id=assistant.assistant_id)
    second = client.get(f"/dashboard/runs/?after={after}")
    newest_first = [str(run.run_id) for run in reversed(runs)]
    assert row_ids(second) == newest_first[50:100]
    third = client.get(f"/dashboard/runs/?after={second.context['page'].after}")
    assert row_ids(third) == newest_first[100:]
    assert third.context["page"].after is None
    # A cursor that is not one is the first page, not an error.
    assert client.get("/dashboard/runs/?after=garbage!").status_code == 200


def test_filters_narrow_and_bad_values_are_said_and_ignored(client, staff, runs):
    thread_id = runs[0].thread_id
    response = client.get(f"/dashboard/runs/?thread={thread_id}")
    assert sorted(row_ids(response)) == sorted(str(r.run_id) for r in runs[:10])
    response = client.get(f"/dashboard/runs/?q={runs[5].run_id}")
    assert row_ids(response) == [str(runs[5].run_id)]
    response = client.get("/dashboard/runs/?status=running")
    assert row_ids(response) == []
    response = client.get("/dashboard/runs/?status=sleeping&q=nope&from=yesterday")
    assert response.status_code == 200
    assert response.context["problems"] == [
        "status: unknown status 'sleeping'",
        "search: 'nope' is not a run or thread id",
        "from: not a date and time",
    ]
    assert len(row_ids(response)) == 50


def test_the_live_refresh_gets_the_rows_only(client, staff, runs):
    response = client.get("/dashboard/runs/", headers={"X-Dashboard-Fragment": "1"})
    html = response.content.decode()
    assert "<table>" in html and "<html" not in html


def test_bulk_cancel_cancels_the_selected_active_runs(client, staff, runs):
    chosen = [runs[0].run_id, runs[1].run_id]
    response = client.post(
        "/dashboard/runs/cancel", {"run_id": [str(r) for r in chosen] + ["not-an-id"]}
    )
    assert response.status_code == 302
    statuses = dict(Run.objects.filter(run_id__in=chosen).values_list("run_id", "status"))
    assert set(statuses.values()) == {"interrupted"}
    assert Run.objects.filter(status="pending").count() == len(runs) - 2


def test_the_run_page_and_its_history(client, staff, runs):
    run = runs[0]
    response = client.get(f"/dashboard/runs/{run.run_id}/")
    assert response.status_code == 200
    assert [e["type"] for e in response.context["events"]] == ["RunCreated"]
    download = client.get(f"/dashboard/runs/{run.run_id}/events.json")
    assert download["Content-Disposition"] == f'attachment; filename="run-{run.run_id}-events.json"'
    body = orjson.loads(download.content)
    assert [e["type"] for e in body["events"]] == ["RunCreated"]
    assert client.get(f"/dashboard/runs/{uuid.uuid4()}/").status_code == 404
    replay = client.get(f"/dashboard/runs/{run.run_id}/replay")
    assert 'data-replay="equal"' in replay.content.decode()


def test_cancel_then_requeue_from_the_run_page(client, staff, runs):
    run = runs[0]
    client.post(f"/dashboard/runs/{run.run_id}/cancel")
    assert Run.objects.get(run_id=run.run_id).status == "interrupted"
    # An interrupted run cannot be requeued: said, nothing changes.
    response = client.post(f"/dashboard/runs/{run.run_id}/requeue", follow=True)
    assert "Not requeued" in response.content.decode()
    assert Run.objects.get(run_id=run.run_id).status == "interrupted"


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ("{not json", 400, "Invalid JSON"),
        ("[1, 2]", 422, "The body must be a JSON object"),
        (
            '{"assistant_id": "ID", "input": {"steps": "nope"}}',
            422,
            "steps: 'nope' is not of type 'array'",
        ),
        ('{"assistant_id": "ID", "input": [1]}', 422, "input"),
        ('{"assistant_id": "no-such-graph", "input": {}}', 422, "no-such-graph"),
        (f'{{"assistant_id": "{uuid.uuid4()}", "input": {{}}}}', 404, "not found"),
        (
            '{"assistant_id": "ID", "stream_mode": ["sideways"]}',
            422,
            "stream_mode: unknown stream mode",
        ),
        ('{"assistant_id": "ID", "thread_id": "not-a-thread"}', 422, "thread_id"),
    ],
)
def test_the_playground_refuses_bad_input_and_writes_nothing(
    client, staff, assistant, log_counter, body, status, detail
):
    before = log_counter.snapshot()
    body = body.replace("ID", str(assistant.assistant_id))
    response = client.post("/dashboard/playground/runs", body, content_type="application/json")
    assert response.status_code == status
    assert detail in response.json()["detail"]
    assert log_counter.snapshot() == before


def test_the_playground_starts_a_run_on_a_new_thread(client, staff, assistant):
    response = client.post(
        "/dashboard/playground/runs",
        {"assistant_id": str(assistant.assistant_id), "input": {"steps": ["hi"]}},
        content_type="application/json",
    )
    assert response.status_code == 200
    run = Run.objects.get(run_id=response.json()["run_id"])
    assert str(run.thread_id) == response.json()["thread_id"]
    assert run.kwargs["input"] == {"steps": ["hi"]}
    assert response.json()["url"] == reverse("dashboard:run", args=[run.run_id])


def test_the_overview_counts(client, staff, runs, django_assert_max_num_queries):
    with django_assert_max_num_queries(10):
        response = client.get("/dashboard/")
    assert response.context["runs"].by_status["pending"] == len(runs)
    assert response.context["runs"].queue_depth == len(runs)


def test_the_state_at_each_checkpoint_of_a_run_not_started_yet(client, staff, runs):
    response = client.get(f"/dashboard/runs/{runs[0].run_id}/checkpoints")
    assert response.status_code == 200
    assert "No checkpoint yet" in response.content.decode()


def test_the_playground_offers_its_graphs_recent_threads(client, staff, assistant, runs):
    response = client.get(f"/dashboard/playground/?assistant={assistant.assistant_id}")
    offered = [str(t.thread_id) for t in response.context["recent_threads"]]
    threads = list(dict.fromkeys(str(run.thread_id) for run in reversed(runs)))
    assert sorted(offered) == sorted(threads)
    assert f'<option value="{offered[0]}">' in response.content.decode()
