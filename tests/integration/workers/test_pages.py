"""The dashboard's Workers page on real PostgreSQL, through Django's test client: every worker
with the runs it holds (bounded queries with many rows, counted from the runs read model), the
live fragment, and draining one, which really marks it draining."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from runs import services as run_services
from threads import services as thread_services
from workers import services
from workers.models import Worker

pytestmark = pytest.mark.django_db


def run_held_by(worker_id: str, assistant) -> None:
    """A run on a thread of its own, claimed by *worker_id* (running under it)."""
    thread = thread_services.thread_create()
    run_services.run_create(thread_id=thread.thread_id, assistant_id=assistant.assistant_id)
    [claim] = run_services.runs_claim(worker_id=worker_id, limit=1)
    assert claim is not None


def rows(body: str) -> dict[str, tuple[str, str]]:
    """Each listed worker's (status, runs in hand)."""
    return {
        worker: (status, held)
        for worker, status, held in re.findall(
            r'<tr data-row="([^"]+)" data-state="([^"/]+)/(\d+)">', body
        )
    }


def test_a_visitor_is_sent_to_sign_in_and_non_staff_are_refused(client, django_user_model):
    url = reverse("dashboard:workers")
    response = client.get(url)
    assert (
        response.status_code == 302 and response["Location"] == "/?next=%2Fdashboard%2Fworkers%2F"
    )
    client.force_login(django_user_model.objects.create_user("ada", password="pw"))
    assert client.get(url).status_code == 403
    services.worker_register(worker_id="w1", kind="remote")
    assert client.post(reverse("dashboard:worker-drain"), {"worker_id": "w1"}).status_code == 403
    assert Worker.objects.get(worker_id="w1").status == "online"


def test_the_list_shows_many_workers_and_their_runs_with_a_bounded_number_of_queries(
    staff, assistant, django_assert_max_num_queries
):
    for number in range(120):
        services.worker_register(
            worker_id=f"w{number:03}",
            kind="builtin" if number % 2 else "remote",
            graph_ids=["agent"],
            metadata={"zone": f"z{number % 3}"},
        )
    run_held_by("w119", assistant)
    run_held_by("w119", assistant)
    run_held_by("w118", assistant)
    with django_assert_max_num_queries(6):
        response = staff.get(reverse("dashboard:workers"))
    assert response.status_code == 200
    body = response.content.decode()
    listed = rows(body)
    assert len(listed) == 50 and "w119" in listed and "w069" not in listed  # newest first
    assert listed["w119"] == ("online", "2") and listed["w118"] == ("online", "1")
    assert listed["w117"] == ("online", "0")
    assert "120 online" in body and "zone" in body
    older = re.search(r'href="\?([^"]*after=[^"]+)"', body)[1].replace("&amp;", "&")
    with django_assert_max_num_queries(6):
        second = staff.get(f"{reverse('dashboard:workers')}?{older}").content.decode()
    assert len(rows(second)) == 50 and "w069" in rows(second)


def test_the_live_fragment_is_the_table_alone(staff):
    services.worker_register(worker_id="w1", kind="builtin", graph_ids=[])
    full = staff.get(reverse("dashboard:workers")).content.decode()
    assert 'data-live-refresh="/dashboard/workers/"' in full
    fragment = staff.get(reverse("dashboard:workers"), HTTP_X_DASHBOARD_FRAGMENT="1")
    body = fragment.content.decode()
    assert "<html" not in body and rows(body) == {"w1": ("online", "0")}
    assert "all of the registry" in body


def test_filters_by_status_and_kind(staff):
    services.worker_register(worker_id="exec", kind="builtin")
    services.worker_register(worker_id="remote", kind="remote")
    services.worker_register(worker_id="gone", kind="remote")
    services.worker_deregister(worker_id="gone")

    def listed(**query: str) -> dict[str, tuple[str, str]]:
        return rows(staff.get(reverse("dashboard:workers"), query).content.decode())

    assert set(listed(kind="remote")) == {"remote", "gone"}
    assert set(listed(status="offline")) == {"gone"}
    response = staff.get(reverse("dashboard:workers"), {"status": "asleep"})
    assert (
        "unknown status" in response.content.decode() and len(rows(response.content.decode())) == 3
    )


def test_draining_a_worker_marks_it_draining(staff):
    services.worker_register(worker_id="executor:host:42", kind="builtin")
    services.worker_register(worker_id="other", kind="remote")
    response = staff.post(
        reverse("dashboard:worker-drain"),
        {"worker_id": "executor:host:42", "back": "/dashboard/workers/?kind=builtin"},
    )
    assert (
        response.status_code == 302 and response["Location"] == "/dashboard/workers/?kind=builtin"
    )
    assert Worker.objects.get(worker_id="executor:host:42").status == "draining"
    assert Worker.objects.get(worker_id="other").status == "online"
    page = staff.get(response["Location"]).content.decode()
    assert "Worker executor:host:42 is draining." in page
    assert rows(page)["executor:host:42"][0] == "draining"
    assert 'aria-label="Drain worker executor:host:42"' not in page  # no second drain


def test_draining_an_unknown_or_offline_worker_says_so_and_changes_nothing(staff):
    services.worker_register(worker_id="gone", kind="remote")
    services.worker_deregister(worker_id="gone")
    for worker_id in ("gone", "nobody"):
        response = staff.post(
            reverse("dashboard:worker-drain"),
            {"worker_id": worker_id, "back": "https://evil.example/"},
        )
        assert response["Location"] == reverse("dashboard:workers")  # never off the site
        assert "is not registered" in staff.get(response["Location"]).content.decode()
    assert Worker.objects.get(worker_id="gone").status == "offline"
    assert not Worker.objects.filter(worker_id="nobody").exists()
