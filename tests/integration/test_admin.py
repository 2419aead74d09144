"""The Django admin for operations: pages, filters, actions and replay; events stay untouchable."""

from __future__ import annotations

import pytest
from django.urls import reverse

from events import store
from events.models import Event
from runs import services as run_services
from runs.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(thread, assistant):
    pending = run_services.run_create(
        thread_id=thread.thread_id, assistant_id=assistant.assistant_id
    )
    from threads import services as thread_services

    other = thread_services.thread_create()
    failed = run_services.run_create(thread_id=other.thread_id, assistant_id=assistant.assistant_id)
    run_services.run_start(run_id=failed.run_id, worker_id="worker-7")
    run_services.run_fail(run_id=failed.run_id, lease_epoch=1, error="ValueError", message="boom")
    return {"pending": pending, "failed": failed}


@pytest.mark.parametrize(
    "url",
    [
        "admin:runs_run_changelist",
        "admin:threads_thread_changelist",
        "admin:assistants_assistant_changelist",
        "admin:events_event_changelist",
        "admin:events_outbox_changelist",
    ],
)
def test_changelists_render(admin_client, runs, url):
    response = admin_client.get(reverse(url))
    assert response.status_code == 200


def test_run_filters(admin_client, runs):
    url = reverse("admin:runs_run_changelist")
    by_status = admin_client.get(url, {"status__exact": "error"}).content.decode()
    assert str(runs["failed"].run_id) in by_status and str(runs["pending"].run_id) not in by_status
    by_thread = admin_client.get(url, {"thread": str(runs["pending"].thread_id)}).content.decode()
    assert str(runs["pending"].run_id) in by_thread and str(runs["failed"].run_id) not in by_thread
    by_worker = admin_client.get(url, {"worker_id": "worker-7"}).status_code
    assert by_worker == 200
    assert admin_client.get(url, {"thread": "not-a-uuid"}).status_code == 200
    by_search = admin_client.get(url, {"q": str(runs["failed"].run_id)}).content.decode()
    assert str(runs["failed"].run_id) in by_search and str(runs["pending"].run_id) not in by_search


def test_run_page_shows_its_event_timeline(admin_client, runs):
    page = admin_client.get(
        reverse("admin:runs_run_change", args=[runs["failed"].run_id])
    ).content.decode()
    assert "Event timeline (3 events)" in page
    for event_type in ("RunCreated", "RunStarted", "RunFailed"):
        assert event_type in page
    assert "Replay from events" in page


def test_cancel_action_goes_through_the_service_and_records_the_admin(
    admin_client, admin_user, runs
):
    response = admin_client.post(
        reverse("admin:runs_run_changelist"),
        {
            "action": "cancel_runs",
            "_selected_action": [runs["pending"].run_id, runs["failed"].run_id],
        },
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "1 run(s) cancelled" in text
    assert "cannot cancel run" in text  # the failed one is refused, with the domain's reason
    assert Run.objects.get(pk=runs["pending"].pk).status == "interrupted"
    cancelled = store.load(runs["pending"].run_id)[-1]
    assert cancelled.type == "RunCancelled"
    assert cancelled.metadata["actor"] == f"user:{admin_user.pk}"


def test_requeue_action(admin_client, runs):
    admin_client.post(
        reverse("admin:runs_run_changelist"),
        {"action": "requeue_runs", "_selected_action": [runs["failed"].run_id]},
    )
    assert Run.objects.get(pk=runs["failed"].pk).status == "pending"


@pytest.mark.parametrize("kind", ["run", "thread", "assistant"])
def test_replay_pages(admin_client, runs, thread, assistant, kind):
    object_id = {
        "run": runs["failed"].run_id,
        "thread": thread.thread_id,
        "assistant": assistant.assistant_id,
    }[kind]
    app = {"run": "runs_run", "thread": "threads_thread", "assistant": "assistants_assistant"}[kind]
    page = admin_client.get(reverse(f"admin:{app}_replay", args=[object_id])).content.decode()
    assert "matches the state rebuilt from the event log" in page
    assert str(object_id) in page


def test_replay_action_shows_the_diff_of_a_drifted_read_model(admin_client, runs):
    Run.objects.filter(pk=runs["failed"].pk).update(worker_id="forged")
    response = admin_client.post(
        reverse("admin:runs_run_changelist"),
        {"action": "replay_selected", "_selected_action": [runs["failed"].run_id]},
    )
    page = response.content.decode()
    assert "differs from the event log in 1 field" in page and "forged" in page


def test_nothing_in_the_admin_can_edit_or_delete_an_event(admin_client, runs):
    event = Event.objects.order_by("id").first()
    original = (event.type, event.payload)
    change_url = reverse("admin:events_event_change", args=[event.pk])
    assert admin_client.get(change_url).status_code == 200  # viewable
    assert admin_client.post(change_url, {"type": "Forged", "payload": "{}"}).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:events_event_delete", args=[event.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert admin_client.get(reverse("admin:events_event_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:events_event_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk]},
    )
    assert response.status_code in (200, 302)
    event.refresh_from_db()
    assert (event.type, event.payload) == original
    assert Event.objects.filter(pk=event.pk).exists()


def test_outbox_delivery_filter(admin_client, runs):
    page = admin_client.get(
        reverse("admin:events_outbox_changelist"), {"delivery": "pending"}
    ).content.decode()
    assert "RunCreated" in page
    page = admin_client.get(
        reverse("admin:events_outbox_changelist"), {"delivery": "published"}
    ).content.decode()
    assert "RunCreated" not in page
