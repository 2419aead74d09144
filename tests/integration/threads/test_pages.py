"""The dashboard's thread pages (threads/pages.py) through Django's test client."""

from __future__ import annotations

import re
import uuid
from html import unescape

import pytest

from events.models import Event
from threads import selectors, services
from threads.models import Checkpoint

pytestmark = pytest.mark.django_db

THREADS = "/dashboard/threads/"


def agent_thread(*steps: str):
    """A thread of the ``agent`` graph with one checkpoint per update (``think`` wrote *steps*)."""
    return services.thread_create(
        metadata={"graph_id": "agent", "owner": "ada"},
        supersteps=[
            {"updates": [{"values": {"steps": [step]}, "as_node": "think"}]} for step in steps
        ],
    )


def rows(html: str) -> list[str]:
    return re.findall(r'data-row="([0-9a-f-]{36})"', html)


# -- who may see the pages -----------------------------------------------------------------------
def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(THREADS)
    assert response.status_code == 302
    assert response["Location"] == "/?next=%2Fdashboard%2Fthreads%2F"


def test_signed_in_users_who_are_not_staff_get_403(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("visitor", password="pw"))
    thread = services.thread_create()
    assert client.get(THREADS).status_code == 403
    assert client.get(f"{THREADS}{thread.thread_id}/").status_code == 403
    response = client.post(f"{THREADS}{thread.thread_id}/state", {"values": "{}"})
    assert response.status_code == 403


# -- the list ----------------------------------------------------------------------------------
def test_the_list_pages_120_threads_newest_first_with_a_bounded_number_of_queries(
    client, staff, django_assert_max_num_queries
):
    created = [services.thread_create(metadata={"n": n}).thread_id for n in range(120)]
    newest_first = [str(thread_id) for thread_id in reversed(created)]

    # session, user, the page of threads: no query per row
    with django_assert_max_num_queries(4):
        response = client.get(THREADS)
    assert response.status_code == 200
    html = response.content.decode()
    assert rows(html) == newest_first[:50]
    assert "Older threads" in html and "data-live-refresh" in html

    seen = rows(html)
    cursor = re.search(r'href="\?after=([^"]+)"', html).group(1)
    while cursor:
        with django_assert_max_num_queries(4):
            page = client.get(THREADS, {"after": cursor}).content.decode()
        seen += rows(page)
        match = re.search(r'href="\?after=([^"]+)"', page)
        cursor = match.group(1) if match else None
    assert seen == newest_first

    fragment = client.get(THREADS, headers={"X-Dashboard-Fragment": "1"}).content.decode()
    assert "<table>" in fragment and "<h1>" not in fragment


def test_the_list_filters_by_status_and_exact_id(client, staff):
    idle = services.thread_create(metadata={"owner": "ada"})
    other = services.thread_create()

    html = client.get(THREADS, {"q": str(idle.thread_id)}).content.decode()
    assert rows(html) == [str(idle.thread_id)]
    assert "owner" in html and "ada" in html  # the metadata summary

    assert set(rows(client.get(THREADS, {"status": "idle"}).content.decode())) == {
        str(idle.thread_id),
        str(other.thread_id),
    }
    empty = client.get(THREADS, {"status": "error"}).content.decode()
    assert rows(empty) == [] and "No thread matches these filters" in empty

    bad = client.get(THREADS, {"q": "not-an-id", "status": "sleepy"}).content.decode()
    assert "is not a thread id" in bad and "unknown status" in bad


def test_an_empty_list_says_how_to_make_a_thread(client, staff):
    html = client.get(THREADS).content.decode()
    assert "No threads yet" in html and "client.threads.create()" in html


# -- a thread's page -----------------------------------------------------------------------------
def test_bad_ids_are_404(client, staff):
    thread = agent_thread("x")
    assert client.get(f"{THREADS}not-a-uuid/").status_code == 404
    assert client.get(f"{THREADS}{uuid.uuid4()}/").status_code == 404
    assert client.get(f"{THREADS}{thread.thread_id}/", {"checkpoint": "nope"}).status_code == 404
    assert client.post(f"{THREADS}{uuid.uuid4()}/state", {"values": "{}"}).status_code == 404
    response = client.post(
        f"{THREADS}{thread.thread_id}/state", {"values": "{}", "checkpoint_id": "nope"}
    )
    assert response.status_code == 404


def test_a_thread_page_shows_values_history_and_runs_region(client, staff):
    thread = agent_thread("first", "second")
    html = client.get(f"{THREADS}{thread.thread_id}/").content.decode()
    assert '<div class="json-tree">' in html and "&quot;second&quot;" in html
    history = selectors.thread_history(thread.thread_id)
    for state in history:
        assert f'data-checkpoint="{state["checkpoint_id"]}"' in html
    assert f'data-live-refresh="/dashboard/runs/?thread={thread.thread_id}"' in html
    assert 'id="time-travel"' not in html  # no checkpoint chosen yet

    fragment = client.get(
        f"{THREADS}{thread.thread_id}/", headers={"X-Dashboard-Fragment": "1"}
    ).content.decode()
    assert "Checkpoint history" in fragment and "<h1>" not in fragment


def test_messages_are_shown_as_a_conversation(client, staff):
    thread = services.thread_create(
        metadata={"graph_id": "chat"},
        supersteps=[
            {
                "updates": [
                    {
                        "values": {
                            "messages": [
                                {"type": "human", "content": "Hi <there>"},
                                {"type": "ai", "content": "Hello!"},
                            ]
                        },
                        "as_node": "chat",
                    }
                ]
            }
        ],
    )
    html = client.get(f"{THREADS}{thread.thread_id}/").content.decode()
    assert '<div class="bubble human"><span class="who">human</span>Hi &lt;there&gt;</div>' in html
    assert '<div class="bubble ai"><span class="who">ai</span>Hello!</div>' in html


def test_choosing_a_checkpoint_offers_fork_and_edit(client, staff):
    thread = agent_thread("first", "second")
    oldest = selectors.thread_history(thread.thread_id)[-1]
    html = client.get(
        f"{THREADS}{thread.thread_id}/", {"checkpoint": oldest["checkpoint_id"]}
    ).content.decode()
    assert 'id="time-travel"' in html
    assert f'data-checkpoint="{oldest["checkpoint_id"]}"' in html
    assert "Fork a run from here" in html
    assert "<option>think</option>" in html and "<option>respond</option>" in html
    assert "/dashboard/playground/runs" in html  # where the fork is posted


# -- edit state ----------------------------------------------------------------------------------
def snapshot(thread_id):
    return (
        selectors.thread_state(thread_id),
        Checkpoint.objects.filter(thread_id=thread_id).count(),
        Event.objects.count(),
    )


@pytest.mark.parametrize(
    ("values", "status", "message"),
    [
        ("{not json", 400, "Invalid JSON"),
        ("[1, 2]", 422, "update_state refused: Expected dict, got [1, 2]"),
    ],
)
def test_a_bad_update_shows_the_error_by_the_field_and_changes_nothing(
    client, staff, values, status, message
):
    thread = agent_thread("first", "second")
    checkpoint_id = selectors.thread_history(thread.thread_id)[-1]["checkpoint_id"]
    before = snapshot(thread.thread_id)

    response = client.post(
        f"{THREADS}{thread.thread_id}/state",
        {"values": values, "as_node": "think", "checkpoint_id": checkpoint_id},
    )

    assert response.status_code == status
    html = response.content.decode()
    error = re.search(r'<p id="edit-error" class="field-error" role="alert">([^<]*)</p>', html)
    assert error and message in unescape(error.group(1))
    assert f">{values}</textarea>" in unescape(html)  # the text is kept
    assert "<option selected>think</option>" in html
    assert snapshot(thread.thread_id) == before


def test_an_update_at_an_older_checkpoint_forks_the_state(client, staff):
    thread = agent_thread("first", "second")
    oldest = selectors.thread_history(thread.thread_id)[-1]

    response = client.post(
        f"{THREADS}{thread.thread_id}/state",
        {
            "values": '{"steps": ["edited"]}',
            "as_node": "think",
            "checkpoint_id": oldest["checkpoint_id"],
        },
    )

    assert response.status_code == 302
    current = selectors.thread_state(thread.thread_id)
    assert current["values"] == {"steps": [*oldest["values"]["steps"], "edited"]}
    assert response["Location"].endswith(f"?checkpoint={current['checkpoint_id']}#time-travel")
